"""Central storage: SQLite by default, PostgreSQL by URL (SQLAlchemy Core, one code path).

Records are stored idempotently on (gateway, seq); a block is committed together with the
gateway's chain head, under a lock on the gateway's row, so several receivers may share the
load (MQTT shared subscription) without ever storing past a gap.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event

from uplink.wire import ZERO_HASH, Block

from . import attendance
from .tables import blocks, gateways, records, rejections


@dataclass(frozen=True)
class Outcome:
    status: str        # ok | duplicate | gap | rejected | parked (commit_blocks' park)
    seq: int           # the gateway's committed head after this block
    head: str
    reason: str = ""   # "<kind>: <detail>"
    kind: str = ""     # rejection kind: replay, conflict, broken_chain, ...


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _private_file(path: Path) -> None:
    """Create ``path`` 0600 (its -wal/-shm take its mode) whatever the umask; tighten a file we
    own that others could read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        try:
            st = path.stat()
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                path.chmod(0o600)
        except OSError:
            pass


def default_url(home: Path) -> str:
    return f"sqlite:///{home / 'central' / 'central.db'}"


class Store:
    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                _private_file(Path(path))     # personal data: 0600 before SQLite makes it
            self.engine = sa.create_engine(url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        # more derivations in the block's transaction, beside attendance days:
        # derive(conn, gw, project, new_records) -- e.g. central.intake.Intake.derive
        self.derivers: list = []
        from .migrate import upgrade
        upgrade(self.engine)          # Alembic: fresh, pre-migration or current databases

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ registry of keys
    def add_gateway(self, gw: str, public_key: str, project: str | None = None,
                    label: str | None = None, replace: bool = False) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(gateways.c.gw_id).where(gateways.c.gw_id == gw)).first()
            if row and not replace:
                raise ValueError(f"gateway {gw!r} is already registered (use --replace to "
                                 "rotate its key)")
            if row:
                conn.execute(gateways.update().where(gateways.c.gw_id == gw).values(
                    public_key=public_key, project=project, label=label, enabled=True))
            else:
                conn.execute(gateways.insert().values(
                    gw_id=gw, public_key=public_key, project=project, label=label, enabled=True,
                    created_at=now_ms(), head_seq=0, head_hash=ZERO_HASH))

    def gateway(self, gw: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(gateways).where(gateways.c.gw_id == gw)).mappings().first()
            return dict(row) if row else None

    def list_gateways(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                sa.select(gateways).order_by(gateways.c.gw_id)).mappings()]

    # ------------------------------------------------------------ ingest
    def commit_block(self, block: Block) -> Outcome:
        """Store the block's new records atomically with the gateway's head (verified input)."""
        with self.engine.begin() as conn:
            query = sa.select(gateways.c.head_seq, gateways.c.head_hash,
                              gateways.c.project).where(
                gateways.c.gw_id == block.gw)
            if not self.is_sqlite:
                query = query.with_for_update()
            head_seq, head_hash, project = conn.execute(query).one()
            heads = {block.gw: (head_seq, head_hash)}
            outcome = self._commit_in(conn, block, heads, project, now_ms())
            if outcome.kind == "replay":
                self._count_replays(conn, {block.gw: 1})
            return outcome

    def commit_blocks(self, batch: list[tuple[Block, str]], park: bool = False
                      ) -> list[Outcome | None]:
        """Commit several verified blocks (of any gateways, each gateway's in the order given)
        in ONE transaction: what makes a busy central cheap (one commit, one fsync, for many
        blocks).  ``batch`` pairs each block with the public key it was verified with; a block
        whose gateway has since been disabled or given another key gets ``None`` (nothing
        stored: the caller re-reads the registry and answers it on its own).

        The gateways' rows are locked in gw_id order first, so two workers committing batches
        of overlapping gateways cannot deadlock.  Any exception rolls the whole batch back; the
        caller then commits its blocks one by one (to find the one the database refuses).

        ``park`` (shared subscriptions): a block ahead of its predecessor is parked in the same
        transaction (outcome ``parked``: no ack from this worker; one INSERT for the batch's
        parked blocks, at most MAX_PARKED per gateway, else ``gap`` as usual), and the blocks
        parked earlier -- by this worker or another -- for the batch's gateways are read under
        the same locks and committed as soon as they follow the head: the block that moved the
        head gets the ok outcome of the *last* block committed (one cumulative ack).  Every
        park and every drain happens under the gateway's row lock, after reading its head, so
        a parked block is never left behind a committed predecessor."""
        if not batch:
            return []
        t = now_ms()
        gws = sorted({b.gw for b, _ in batch})
        with self.engine.begin() as conn:
            query = sa.select(gateways.c.gw_id, gateways.c.head_seq, gateways.c.head_hash,
                              gateways.c.project, gateways.c.public_key, gateways.c.enabled
                              ).where(gateways.c.gw_id.in_(gws)).order_by(gateways.c.gw_id)
            if not self.is_sqlite:
                query = query.with_for_update()
            rows = {r.gw_id: r for r in conn.execute(query)}
            heads = {gw: (r.head_seq, r.head_hash) for gw, r in rows.items()}
            pool: dict[str, dict[int, Block]] = {}     # parked, by gateway and first seq
            stored_pool: set[tuple[str, int]] = set()  # those that are rows of pending_blocks
            if park:
                pool, stored_pool = self._parked_for(conn, sorted(rows))
            out: list[Outcome | None] = []
            replays: dict[str, int] = {}
            # the batch's writes, made once each: one round trip per table, not per block
            new_records: list[dict] = []
            new_blocks: list[dict] = []
            days: dict[tuple[str, str, object], int] = {}
            drained: set[tuple[str, int]] = set()      # pool blocks committed (or stale)
            to_park: dict[tuple[str, int], Block] = {}

            def store_ok(block: Block, row, skip: int) -> None:
                fresh = block.records[skip:]
                new_records.extend(
                    {"gw_id": block.gw, "seq": r["seq"], "hash": h, "ts": r["ts"],
                     "type": r["type"], "block_first": block.first,
                     "data": data.decode("utf-8")}
                    for r, h, data in zip(fresh, block.hashes[skip:], block.encoded[skip:]))
                # as if committed one by one: a day already taken by an earlier block
                # keeps that block's first punch
                for (w, d), ts in attendance.day_rows(row.project, fresh).items():
                    days.setdefault((row.project, w, d), ts)
                for derive in self.derivers:
                    derive(conn, block.gw, row.project, fresh)
                new_blocks.append(dict(
                    gw_id=block.gw, first=block.first, last=block.last, head=block.head,
                    sealed=block.sealed, signed=block.signed, signature=block.signature,
                    received_at=t))
                heads[block.gw] = (block.last, block.head)

            def drain(gw: str, row) -> Outcome | None:
                """Commit the gateway's parked blocks that follow its head; the last ok."""
                last = None
                parked = pool.get(gw)
                while parked:
                    head_seq = heads[gw][0]
                    for first in [f for f, b in parked.items() if b.last <= head_seq]:
                        drained.add((gw, first))          # stale: stored meanwhile
                        del parked[first]
                    ready = [b for b in parked.values() if b.first <= head_seq + 1]
                    if not ready:
                        break
                    block = max(ready, key=lambda b: b.last)
                    del parked[block.first]
                    drained.add((gw, block.first))
                    outcome, skip = self._decide(conn, block, heads)
                    if outcome.status == "ok":        # else dropped: the re-send gets it
                        store_ok(block, row, skip)
                        last = outcome
                return last

            touched: set[str] = set()
            for block, key in batch:
                row = rows.get(block.gw)
                if row is None or not row.enabled or row.public_key != key:
                    out.append(None)
                    continue
                if park and block.gw not in touched:
                    touched.add(block.gw)
                    drain(block.gw, row)              # re-check what others parked
                outcome, skip = self._decide(conn, block, heads)
                if outcome.status == "ok":
                    store_ok(block, row, skip)
                    if park:
                        outcome = drain(block.gw, row) or outcome
                elif outcome.status == "gap" and park:
                    parked = pool.setdefault(block.gw, {})
                    if block.first in parked or len(parked) < self.MAX_PARKED:
                        if block.first not in parked:
                            parked[block.first] = block
                            to_park[(block.gw, block.first)] = block
                        outcome = Outcome("parked", *heads[block.gw])
                if outcome.kind == "replay":
                    replays[block.gw] = replays.get(block.gw, 0) + 1
                out.append(outcome)
            if new_records:
                conn.execute(records.insert(), new_records)
                conn.execute(blocks.insert(), new_blocks)
                attendance.insert_days(conn, [
                    {"projectCode": p, "workerId": w, "day": d, "firstIn": ts}
                    for (p, w, d), ts in days.items()])
                moved = sorted({b["gw_id"] for b in new_blocks})
                conn.execute(gateways.update().where(gateways.c.gw_id == sa.bindparam("g"))
                             .values(head_seq=sa.bindparam("s"), head_hash=sa.bindparam("h"),
                                     last_seen=t),
                             [{"g": gw, "s": heads[gw][0], "h": heads[gw][1]} for gw in moved])
            if park:
                self._park_writes(conn, stored_pool & drained,
                                  [b for k, b in to_park.items() if k not in drained], t)
            if replays:
                self._count_replays(conn, replays)
            return out

    def _parked_for(self, conn, gws: list[str]
                    ) -> tuple[dict[str, dict[int, Block]], set[tuple[str, int]]]:
        """The parked blocks of ``gws`` (their rows locked; the caller holds the gateways'
        rows already, in the same gw order), decoded: one query for the batch."""
        from uplink.wire import WireError, decode_block
        from .tables import pending_blocks as pb
        query = sa.select(pb.c.gw_id, pb.c.first, pb.c.payload).where(
            pb.c.gw_id.in_(gws)).order_by(pb.c.gw_id, pb.c.first)
        if not self.is_sqlite:
            query = query.with_for_update()
        pool: dict[str, dict[int, Block]] = {}
        keys: set[tuple[str, int]] = set()
        for gw, first, payload in conn.execute(query):
            keys.add((gw, first))
            try:
                block = decode_block(payload, limits=False)   # verified when it was parked
            except WireError:
                continue            # left to expire (cannot happen: it decoded when parked)
            pool.setdefault(gw, {})[first] = block
        return pool, keys

    @staticmethod
    def _park_writes(conn, done: set[tuple[str, int]], new: list[Block], t: int) -> None:
        from .tables import pending_blocks as pb
        if done:
            conn.execute(pb.delete().where(pb.c.gw_id == sa.bindparam("g"),
                                           pb.c.first == sa.bindparam("f")),
                         [{"g": g, "f": f} for g, f in sorted(done)])
        if new:
            conn.execute(pb.insert(), [dict(gw_id=b.gw, first=b.first, last=b.last,
                                            payload=b.payload, received_at=t) for b in new])

    def _decide(self, conn, block: Block, heads: dict[str, tuple[int, str]]
                ) -> tuple[Outcome, int]:
        """The block against ``heads[gw]``: its outcome and, when ok, how many of its records
        are stored already (an overlap)."""
        head_seq, head_hash = heads[block.gw]
        if block.last <= head_seq:
            stored = conn.execute(sa.select(records.c.hash).where(
                records.c.gw_id == block.gw, records.c.seq == block.last)).scalar()
            if stored is not None and stored != block.head:
                return Outcome("rejected", head_seq, head_hash,
                               f"conflict: seq {block.last} is stored with other content",
                               "conflict"), 0
            return Outcome("duplicate", head_seq, head_hash,
                           f"replay: seq {block.first}..{block.last} already stored",
                           "replay"), 0
        if block.first > head_seq + 1:
            return Outcome("gap", head_seq, head_hash,
                           f"gap: expected seq {head_seq + 1}, block starts at {block.first}",
                           "gap"), 0
        skip = head_seq + 1 - block.first          # records already stored
        link = block.prev if skip == 0 else block.hashes[skip - 1]
        if link != head_hash:
            return Outcome("rejected", head_seq, head_hash,
                           f"broken_chain: block does not link to stored seq {head_seq}",
                           "broken_chain"), 0
        return Outcome("ok", block.last, block.head), skip

    def _commit_in(self, conn, block: Block, heads: dict[str, tuple[int, str]],
                   project: str | None, t: int) -> Outcome:
        """One block against ``heads[gw]`` (the locked row's head, updated on success) inside
        the caller's transaction."""
        outcome, skip = self._decide(conn, block, heads)
        if outcome.status != "ok":
            return outcome
        conn.execute(records.insert(), [
            {"gw_id": block.gw, "seq": r["seq"], "hash": h, "ts": r["ts"], "type": r["type"],
             "block_first": block.first, "data": data.decode("utf-8")}
            for r, h, data in zip(block.records[skip:], block.hashes[skip:],
                                  block.encoded[skip:])])
        attendance.derive(conn, project, block.records[skip:])
        for derive in self.derivers:
            derive(conn, block.gw, project, block.records[skip:])
        conn.execute(blocks.insert().values(
            gw_id=block.gw, first=block.first, last=block.last, head=block.head,
            sealed=block.sealed, signed=block.signed, signature=block.signature,
            received_at=t))
        conn.execute(gateways.update().where(gateways.c.gw_id == block.gw).values(
            head_seq=block.last, head_hash=block.head, last_seen=t))
        heads[block.gw] = (block.last, block.head)
        return outcome

    @staticmethod
    def _count_replays(conn, replays: dict[str, int]) -> None:
        t = now_ms()
        for gw, n in sorted(replays.items()):
            conn.execute(gateways.update().where(gateways.c.gw_id == gw).values(
                replays=gateways.c.replays + n, last_replay_at=t))

    def count_replay(self, gw: str, n: int = 1) -> None:
        """Count re-sent messages already taken (damage reports' replays; blocks count theirs
        in their own transaction)."""
        with self.engine.begin() as conn:
            self._count_replays(conn, {gw: n})

    # ------------------------------------------------------------ parking (shared subscriptions)
    MAX_PARKED = 256

    def expire_parked(self, max_age_ms: int, now: int | None = None) -> dict[str, int]:
        """Delete parked blocks older than ``max_age_ms`` (their predecessor never came: the
        gateway's re-send from its first unacknowledged record brings them again) and count
        them on the gateway's row (``parked_expired``).  Returns {gateway: blocks expired}."""
        from .tables import pending_blocks as pb
        now = now_ms() if now is None else now
        cutoff = now - max_age_ms
        expired: dict[str, int] = {}
        with self.engine.begin() as conn:
            gws = sorted(set(conn.execute(sa.select(pb.c.gw_id).where(
                pb.c.received_at < cutoff)).scalars()))
            if not gws:
                return expired
            if not self.is_sqlite:
                # the gateways' rows first, in gw_id order, as a batch does (it parks and
                # drains under them): no deadlock with a batch, no block both drained and
                # counted expired
                conn.execute(sa.select(gateways.c.gw_id).where(gateways.c.gw_id.in_(gws))
                             .order_by(gateways.c.gw_id).with_for_update()).all()
            # DELETE ... RETURNING: two workers sweeping at once count each block once
            for gw in conn.execute(pb.delete().where(pb.c.received_at < cutoff,
                                                     pb.c.gw_id.in_(gws))
                                   .returning(pb.c.gw_id)).scalars():
                expired[gw] = expired.get(gw, 0) + 1
            for gw, n in sorted(expired.items()):
                conn.execute(gateways.update().where(gateways.c.gw_id == gw).values(
                    parked_expired=gateways.c.parked_expired + n, last_parked_expired_at=now))
        return expired

    def record_rejection(self, gw: str | None, topic: str, kind: str, reason: str,
                         size: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(rejections.insert().values(at=now_ms(), gw_id=gw, topic=topic[:200],
                                                    kind=kind, reason=reason[:300], size=size))

    # ------------------------------------------------------------ queries
    def seqs(self, gw: str) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(records.c.seq).where(records.c.gw_id == gw)
                                     .order_by(records.c.seq)).scalars())

    def rejection_counts(self, gw: str | None = None) -> dict[str, int]:
        """Rejections by kind (replay = a re-sent block that was already stored: counted on
        the gateway's row, see ``Ingest._replayed``)."""
        with self.engine.connect() as conn:
            query = sa.select(rejections.c.kind, sa.func.count()).group_by(rejections.c.kind)
            if gw is not None:
                query = query.where(rejections.c.gw_id == gw)
            counts = {kind: n for kind, n in conn.execute(query)}
            # replays are counted on the gateway's row since migration 0007, not as rows here
            replays = sa.select(sa.func.coalesce(sa.func.sum(gateways.c.replays), 0))
            if gw is not None:
                replays = replays.where(gateways.c.gw_id == gw)
            n = conn.execute(replays).scalar() or 0
            if n:
                counts["replay"] = counts.get("replay", 0) + int(n)
            return counts

    def iter_blocks(self, gw: str | None = None) -> Iterator[dict]:
        query = sa.select(blocks, gateways.c.public_key).join(
            gateways, gateways.c.gw_id == blocks.c.gw_id).order_by(blocks.c.gw_id, blocks.c.first)
        if gw is not None:
            query = query.where(blocks.c.gw_id == gw)
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                yield dict(row)

    def counts(self, gw: str) -> dict:
        with self.engine.connect() as conn:
            n_records = conn.execute(sa.select(sa.func.count()).select_from(records).where(
                records.c.gw_id == gw)).scalar()
            n_blocks = conn.execute(sa.select(sa.func.count()).select_from(blocks).where(
                blocks.c.gw_id == gw)).scalar()
            from .tables import pending_blocks as pb
            parked = conn.execute(sa.select(sa.func.count()).select_from(pb).where(
                pb.c.gw_id == gw)).scalar()
        return {"records": n_records, "blocks": n_blocks,
                "rejections": self.rejection_counts(gw), "parked": parked}


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None          # let the "begin" hook issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
__all__ = ["Store", "Outcome"]
