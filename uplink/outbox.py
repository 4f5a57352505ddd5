"""The gateway's SQLite outbox: append-only, hash-chained, sealed into signed blocks.

Guarantees (ARCHITECTURE.md): a record is committed (WAL, ``synchronous=FULL``) before
``append`` returns, so the caller may tell the worker "OK" only after it returned; nothing is
deleted until central acknowledged it; every bound raises a loud, typed error instead of
dropping anything.

Storage: at the size or free-disk limit, acknowledged rows go first (before their retention
ends) and only then is capture refused; capture leaves room to seal everything committed.
Sealing re-hashes every record against its chain; a record whose bytes no longer match (a
flipped bit that SQLite's own checks cannot see) is sealed as a signed *damage report*
(wire.md §4.3) with a critical alarm, so the chain goes on instead of being refused forever.
A structurally corrupt file raises ``OutboxCorrupt`` (at open: ``PRAGMA quick_check``).
"""
from __future__ import annotations

import functools
import json
import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from .wire import MAX_BLOCK_RECORDS, ZERO_HASH, WireError, block_body_from_stored, canonical, \
    check_record, check_record_limits, make_record, record_hash, seal_damage

log = logging.getLogger("sitegate.outbox")


class OutboxFull(RuntimeError):
    """The outbox refuses a new record: a bound is hit (count, size or disk)."""


class OutboxCorrupt(RuntimeError):
    """The outbox file is structurally damaged (SQLite cannot read it consistently).  Nothing
    more is written to it; the daemon stops with its own exit code (see gateway/daemon.py)."""


class AckMismatch(ValueError):
    """Central acknowledged a record whose hash differs from ours."""


def backlog_bound(workers: int, records_per_worker_day: float, days_offline: float,
                  headroom: float = 1.5) -> int:
    """The default ``max_unacked``: the records a site makes while central is out of reach
    for ``days_offline`` days (enrolled workers x records per worker and day), with headroom
    for shift-change bursts and denials (docs/installer.md "Sizing the outbox")."""
    return max(1000, int(workers * records_per_worker_day * days_offline * headroom))


@dataclass(frozen=True)
class Limits:
    # refuse new records beyond this backlog: 5,000 workers x 8 records a day x 30 days x 1.5
    max_unacked: int = 1_800_000
    max_block_records: int = 256
    max_block_bytes: int = 128 * 1024
    max_db_bytes: int = 0                 # 0 = only the disk limits us
    min_free_bytes: int = 64 * 1024 * 1024
    retention_s: int = 7 * 86400          # keep acknowledged rows this long after capture
    retention_max_rows: int = 500_000     # and never more acknowledged rows than this
    stale_ack_s: int = 3600               # warn when the oldest unacked record is older


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str
    ts: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _is_full_error(exc: sqlite3.Error) -> bool:
    return "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", 0) == 13


def _is_corrupt_error(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF       # SQLITE_CORRUPT, SQLITE_NOTADB
    text = str(exc).lower()
    return code in (11, 26) or "malformed" in text or "not a database" in text


def _guarded(method):
    """Structural corruption met by any outbox call becomes ``OutboxCorrupt`` (and is
    remembered in ``outbox.corrupt``), never an anonymous sqlite3 error."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt_error(exc):
                raise
            self.corrupt = self.corrupt or f"outbox {self.path} is corrupt: {exc}"
            raise OutboxCorrupt(self.corrupt) from exc
    return call


def _within_limits(record: dict, size: int) -> bool:
    try:
        check_record(record, limits=False)
        check_record_limits(record, size)
    except WireError:
        return False
    return True


# room kept per record for its row and, later, its share of a sealed block (B-tree slack)
_ROW_OVERHEAD = 160
_SLACK = 1.25


class Outbox:
    def __init__(self, path: str | Path, gateway_id: str, signer: Any = None,
                 limits: Limits = Limits(), readonly: bool = False,
                 check: bool | None = None) -> None:
        """``check`` (default: when opened for writing) runs ``PRAGMA quick_check`` first -- it
        reads the whole file once, so a corrupt file raises ``OutboxCorrupt`` here rather than
        somewhere later.  Followers that re-open read-only every second skip it."""
        self.path = Path(path)
        self.gw = gateway_id
        self.signer = signer
        self.limits = limits
        self._lock = threading.RLock()
        self.readonly = readonly
        self.corrupt: str | None = None
        self.last_write_error: str | None = None
        self._unsealed: int | None = None   # bytes (+ row overhead) committed, not yet sealed
        self._rows = 0                      # rows held, kept on append and delete (stats)
        self._oldest: tuple[int, int | None] = (-1, None)   # (acked_seq, ts of the next)
        existed = self.path.exists() and self.path.stat().st_size > 0
        self._conn: sqlite3.Connection = self._connect()
        try:
            self._open((not readonly if check is None else check) and existed)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if not _is_corrupt_error(exc):
                raise
            raise OutboxCorrupt(f"outbox {self.path} is corrupt: {exc}") from exc
        self.db = sqlite_utils.Database(self._conn)

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   isolation_level=None, check_same_thread=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30)

    def _open(self, check: bool) -> None:
        if not self.readonly:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        if check:
            problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("database disk image is malformed: "
                                            + "; ".join(problems)[:300])
        if not self.readonly:
            self._create()
            if self.limits.max_db_bytes:
                page = self._conn.execute("PRAGMA page_size").fetchone()[0]
                self._conn.execute(
                    f"PRAGMA max_page_count={max(self.limits.max_db_bytes // page, 16)}")
        self._load_meta()

    # ------------------------------------------------------------ schema and meta
    def _create(self) -> None:
        db = sqlite_utils.Database(self._conn)
        db.table("records").create({"seq": int, "hash": str, "ts": int, "data": bytes}, pk="seq",
                                   not_null={"hash", "ts", "data"}, if_not_exists=True)
        db.table("blocks").create({"first": int, "last": int, "sealed_at": int,
                                   "payload": bytes}, pk="first", not_null={"last", "payload"},
                                  if_not_exists=True)
        db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
        owner = self._conn.execute("SELECT value FROM meta WHERE key='gw'").fetchone()
        # records from here on were made by make_record, under the wire limits
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('checked_from', "
                           "coalesce((SELECT value + 1 FROM meta WHERE key='head_seq'), 1))")
        if owner is None:
            self._conn.execute("INSERT INTO meta VALUES ('gw', ?)", (self.gw,))
        elif owner[0] != self.gw:
            raise ValueError(f"outbox {self.path} belongs to gateway {owner[0]!r}, not {self.gw!r}")

    def _meta(self, key: str, default: str) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, **values: Any) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [(k, str(v)) for k, v in values.items()])

    def _load_meta(self) -> None:
        self.head_seq = int(self._meta("head_seq", "0"))
        self.head_hash = self._meta("head_hash", ZERO_HASH)
        self.sealed_seq = int(self._meta("sealed_seq", "0"))
        self.acked_seq = int(self._meta("acked_seq", "0"))
        self.damaged = [tuple(r) for r in json.loads(self._meta("damaged", "[]"))]
        self._checked_from = int(self._meta("checked_from", "1"))
        self._rows = self._count_rows()

    def _count_rows(self) -> int:
        """Rows held, from the ends of the primary key (two B-tree look-ups, not a scan):
        records are appended in order and deleted only from the front, so they are
        contiguous -- ``count(*)`` over a month's backlog took most of a core."""
        # one aggregate per SELECT: SQLite answers a lone min() or max() from the B-tree's
        # end, but ``SELECT min(seq), max(seq)`` scans the table
        low, high = self._conn.execute("SELECT (SELECT min(seq) FROM records), "
                                       "(SELECT max(seq) FROM records)").fetchone()
        return 0 if low is None else high - low + 1

    def _sealed_hash(self) -> str:
        """Chain hash of record ``sealed_seq`` (what the next block's ``prev`` must be)."""
        if self.sealed_seq == 0:
            return ZERO_HASH
        known = self._meta("sealed_hash", "") or self.hash_of(self.sealed_seq)
        if not known and self.acked_seq == self.sealed_seq:
            known = self._meta("acked_hash", "")
        if not known:
            row = self._conn.execute("SELECT data FROM records WHERE seq = ?",
                                     (self.sealed_seq + 1,)).fetchone()
            known = json.loads(row[0])["prev"] if row else ""
        if not known:
            raise sqlite3.DatabaseError(f"database disk image is malformed: no chain hash for "
                                        f"sealed seq {self.sealed_seq}")
        return known

    # ------------------------------------------------------------ append
    def append(self, body: dict, type_: str = "attendance", ts_ms: int | None = None) -> Appended:
        return self.append_many([body], type_, ts_ms)[0]

    @_guarded
    def append_many(self, bodies: list[dict], type_: str = "attendance",
                    ts_ms: int | None = None) -> list[Appended]:
        """Commit records durably; returns only after the commit (raise = nothing stored)."""
        with self._lock:
            backlog = self.head_seq - self.acked_seq
            if backlog + len(bodies) > self.limits.max_unacked:
                raise OutboxFull(f"outbox full: {backlog} unacknowledged records, "
                                 f"limit {self.limits.max_unacked}; capture refused")
            ts = now_ms() if ts_ms is None else ts_ms
            seq, prev, rows, out = self.head_seq, self.head_hash, [], []
            for body in bodies:
                seq += 1
                data = canonical(make_record(self.gw, seq, prev, ts, type_, body))
                prev = record_hash(data)
                rows.append((seq, prev, ts, data))
                out.append(Appended(seq, prev, ts))
            self._make_room(sum(len(r[3]) for r in rows), len(rows))
            for attempt in (1, 2):
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
                    self._set_meta(head_seq=seq, head_hash=prev)
                    self._conn.execute("COMMIT")
                    break
                except sqlite3.Error as exc:
                    self._rollback()
                    if not _is_full_error(exc):
                        raise
                    if attempt == 1 and self.purge_acked():
                        continue
                    self.last_write_error = f"storage full: {exc}"
                    raise OutboxFull(self.last_write_error + "; capture refused") from exc
            self.head_seq, self.head_hash = seq, prev
            self._rows += len(rows)
            self.last_write_error = None
            if self._unsealed is not None:
                self._unsealed += sum(len(r[3]) for r in rows) + len(rows) * _ROW_OVERHEAD
            return out

    def _room(self, new_bytes: int, n: int) -> str | None:
        """Why ``n`` new records of ``new_bytes`` do not fit (None: they do).  The size limit
        keeps room to seal every committed record: each record costs its row now and its
        share of a block later."""
        free = self.disk_free()
        spare = self._free_pages_bytes()
        if free is not None and free + spare < self.limits.min_free_bytes:
            return f"disk almost full: {free} bytes free"
        if self.limits.max_db_bytes:
            if self._unsealed is None:       # known again after each seal: the query is short
                self._unsealed = self._conn.execute(
                    "SELECT coalesce(sum(length(data)), 0) + count(*) * ? FROM records "
                    "WHERE seq > ?", (_ROW_OVERHEAD, self.sealed_seq)).fetchone()[0]
            unsealed = self._unsealed
            page = self._conn.execute("PRAGMA page_size").fetchone()[0]
            need = int(_SLACK * (unsealed + 2 * (new_bytes + n * _ROW_OVERHEAD))) + 16 * page
            used = self._used_bytes()
            if used + need > self.limits.max_db_bytes:
                return (f"storage full: outbox database at {used} of {self.limits.max_db_bytes} "
                        f"bytes (room kept to seal {unsealed} bytes committed)")
        return None

    def _make_room(self, new_bytes: int, n: int) -> None:
        why = self._room(new_bytes, n)
        if why is not None and self.purge_acked():
            why = self._room(new_bytes, n)
        if why is not None:
            self.last_write_error = why
            raise OutboxFull(why + "; capture refused")

    def _free_pages_bytes(self) -> int:
        """Bytes of free pages inside the file: SQLite reuses them before growing it."""
        return (self._conn.execute("PRAGMA freelist_count").fetchone()[0]
                * self._conn.execute("PRAGMA page_size").fetchone()[0])

    def _used_bytes(self) -> int:
        page_size, pages = (self._conn.execute("PRAGMA page_size").fetchone()[0],
                            self._conn.execute("PRAGMA page_count").fetchone()[0])
        return page_size * pages - self._free_pages_bytes()

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    # ------------------------------------------------------------ sealing
    def pending(self) -> int:
        return self.head_seq - self.sealed_seq

    @_guarded
    def seal(self, sealed_ms: int | None = None, max_blocks: int | None = None) -> int:
        """Seal every committed-but-unsealed record into signed blocks (at most ``max_blocks``
        of them: the lock is not held for a month's backlog at once); returns blocks made.
        Each record is re-hashed against its chain first: a run of damaged records is sealed
        as a signed damage report instead (critical alarm ``record_damaged``).  A record beyond
        the wire's limits (committed by an older version) is sealed in a block of its own, so
        central's refusal -- and an operator's quarantine -- concern that record alone."""
        made = 0
        with self._lock:
            prev = self._sealed_hash() if self.sealed_seq < self.head_seq else ""
            while self.sealed_seq < self.head_seq and (max_blocks is None or made < max_blocks):
                rows = self._conn.execute(
                    "SELECT seq, hash, data FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                    (self.sealed_seq, self.limits.max_block_records)).fetchall()
                good, bad = self._intact_prefix(rows, prev)
                stamp = now_ms() if sealed_ms is None else sealed_ms
                if good:
                    take: list[tuple[int, str, bytes]] = []
                    size = 512
                    for row in rows[:good]:
                        if take and size + len(row[2]) + 1 > self.limits.max_block_bytes:
                            break
                        take.append(row)
                        size += len(row[2]) + 1
                    first, last, head = take[0][0], take[-1][0], take[-1][1]
                    body = block_body_from_stored(self.gw, first, last, prev, head,
                                                  [r[2] for r in take], stamp)
                    payload = body + self.signer.sign(body)
                else:
                    first, last, head = rows[0][0], rows[bad - 1][0], rows[bad - 1][1]
                    payload = seal_damage(self.signer, self.gw, first, prev,
                                          [r[1] for r in rows[:bad]], stamp)
                    log.critical("outbox records %d..%d are damaged on disk (their bytes no "
                                 "longer match their chain hashes): reporting them to central "
                                 "as lost", first, last)
                if not self._store_block(first, last, head, payload, damaged=not good):
                    return made
                prev = head
                made += 1
        return made

    def _intact_prefix(self, rows: list, prev: str) -> tuple[int, int]:
        """(n leading intact rows, 0) or (0, n leading damaged rows).  Intact: the bytes hash to
        the stored chain hash (committed together with them, so a match proves the bytes);
        records committed before this version (below ``checked_from``) must also hold the
        record with that seq, this gateway and the expected ``prev``, and one beyond the wire
        limits ends the run, or is the whole run (1, 0) when it comes first.  A damaged row's
        stored hash is what survives of it."""
        expected = self.sealed_seq + 1
        good = bad = 0
        alone = False
        for seq, stored_hash, data in rows:
            if seq != expected:
                raise sqlite3.DatabaseError(f"database disk image is malformed: record "
                                            f"{expected} is missing")
            ok = isinstance(data, bytes) and record_hash(data) == stored_hash
            legacy = ok and seq < self._checked_from
            if legacy:
                try:
                    r = json.loads(data)
                    ok = isinstance(r, dict) and r.get("seq") == seq and r.get("prev") == prev \
                        and r.get("gw") == self.gw
                except ValueError:
                    ok = False
            if ok and bad:
                break
            if not ok and good:
                break
            if legacy and ok and not _within_limits(r, len(data)):
                if good:
                    break
                alone = True
            good, bad = (good + 1, 0) if ok else (0, bad + 1)
            prev, expected = stored_hash, seq + 1
            if alone:
                break
        return good, bad

    def _store_block(self, first: int, last: int, head: str, payload: bytes,
                     damaged: bool) -> bool:
        extra = {}
        if damaged:
            extra["damaged"] = json.dumps(self.damaged + [(first, last)])
        for attempt in (1, 2):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("INSERT INTO blocks VALUES (?, ?, ?, ?)",
                                   (first, last, now_ms(), payload))
                self._set_meta(sealed_seq=last, sealed_hash=head, **extra)
                self._conn.execute("COMMIT")
                break
            except sqlite3.Error as exc:
                self._rollback()
                if not _is_full_error(exc):
                    raise
                if attempt == 1 and self.purge_acked():
                    continue
                self.last_write_error = f"storage full while sealing: {exc}"
                return False
        self.sealed_seq = last
        self._unsealed = None
        if damaged:
            self.damaged.append((first, last))
        return True

    @_guarded
    def blocks_after(self, seq: int, limit: int) -> list[tuple[int, int, bytes]]:
        """Sealed blocks holding records after ``seq``, oldest first.  A block holds at most
        the wire's 256 records, so the primary key bounds the search (acknowledged blocks kept
        for retention are not walked on every call)."""
        with self._lock:
            return self._conn.execute(
                "SELECT first, last, payload FROM blocks WHERE first > ? AND last > ? "
                "ORDER BY first LIMIT ?", (seq - MAX_BLOCK_RECORDS, seq, limit)).fetchall()

    # ------------------------------------------------------------ acknowledgement
    def hash_of(self, seq: int) -> str | None:
        if seq == 0:
            return ZERO_HASH
        row = self._conn.execute("SELECT hash FROM records WHERE seq=?", (seq,)).fetchone()
        return row[0] if row else None

    def ts_of(self, seq: int) -> int | None:
        """Capture time (ms) of record ``seq``, or None when there is no such row."""
        with self._lock:
            row = self._conn.execute("SELECT ts FROM records WHERE seq=?", (seq,)).fetchone()
        return row[0] if row else None

    @_guarded
    def ack(self, seq: int, head: str) -> bool:
        """Central committed records up to ``seq``; returns True when that released rows."""
        with self._lock:
            if seq <= self.acked_seq:
                return False
            if seq > self.sealed_seq:
                raise AckMismatch(f"ack for seq {seq} beyond the last sealed {self.sealed_seq}")
            ours = self.hash_of(seq)
            if ours != head:
                raise AckMismatch(f"ack for seq {seq} names hash {head[:12]}..., ours is "
                                  f"{(ours or 'missing')[:12]}...")
            # no fsync of its own: an ack lost to a power cut only makes us re-send what central
            # already holds (it de-duplicates); WAL order keeps it ahead of any later commit,
            # so rows are never deleted on an ack that did not survive
            self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._set_meta(acked_seq=seq, acked_hash=head, acked_at=now_ms())
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
            finally:
                self._conn.execute("PRAGMA synchronous=FULL")
            self.acked_seq = seq
            return True

    @_guarded
    def purge(self, now: int | None = None, max_rows: int | None = None) -> int:
        """Retention: drop acknowledged rows older than the window or beyond the row cap; at
        most ``max_rows`` of the oldest at a time (a drained month is not deleted in one
        transaction under the lock while clock-ins wait)."""
        with self._lock:
            cutoff = (now_ms() if now is None else now) - self.limits.retention_s * 1000
            keep_from = self.acked_seq - self.limits.retention_max_rows
            row = self._conn.execute(
                "SELECT max(seq) FROM records WHERE seq <= ? AND (ts < ? OR seq <= ?)",
                (self.acked_seq, cutoff, keep_from)).fetchone()
            upto = row[0] or 0
            if max_rows is not None and upto:
                upto = min(upto, self.head_seq - self._rows + max_rows)
            return self._delete_upto(upto)

    def purge_acked(self) -> int:
        """Storage pressure: drop every acknowledged row now, before its retention ends (central
        has them; the attendance ledger has long read them).  Returns rows dropped."""
        with self._lock:
            n = self._delete_upto(self.acked_seq)
            if n:
                log.warning("outbox at its storage limit: dropped %d acknowledged rows before "
                            "their retention ended", n)
            return n

    def _delete_upto(self, upto: int) -> int:
        if not upto:
            return 0
        damaged = [d for d in self.damaged if d[1] > upto]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            n = self._conn.execute("DELETE FROM records WHERE seq <= ?", (upto,)).rowcount
            if n < 0:
                n = 0
            self._conn.execute("DELETE FROM blocks WHERE last <= ?", (upto,))
            if damaged != self.damaged:
                self._set_meta(damaged=json.dumps(damaged))
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise
        self.damaged = damaged
        self._rows = max(0, self._rows - n)
        return n

    # ------------------------------------------------------------ health
    def disk_free(self) -> int | None:
        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return None

    @_guarded
    def stats(self) -> dict:
        """Counters kept as records come and go, and three look-ups by key: cheap enough to
        call every second during a month's drain (no scan, the lock held for microseconds)."""
        with self._lock:
            if self.readonly:
                self._load_meta()
            acked = self.acked_seq
            if self._oldest[0] != acked or self._oldest[1] is None:
                row = self._conn.execute("SELECT ts FROM records WHERE seq = ?",
                                         (acked + 1,)).fetchone()
                self._oldest = (acked, row[0] if row else None)
            oldest = self._oldest[1]
            page_size, pages = (self._conn.execute("PRAGMA page_size").fetchone()[0],
                                self._conn.execute("PRAGMA page_count").fetchone()[0])
            spare = self._free_pages_bytes()
            rows = self._rows
        return {
            "gateway": self.gw,
            "head_seq": self.head_seq, "sealed_seq": self.sealed_seq,
            "acked_seq": self.acked_seq, "backlog": self.head_seq - self.acked_seq,
            "oldest_unacked_age_s": (round((now_ms() - oldest) / 1000, 1)
                                     if oldest is not None and self.head_seq > acked else 0.0),
            "rows": rows, "db_bytes": page_size * pages, "db_free_bytes": spare,
            "disk_free_bytes": self.disk_free(),
            "last_write_error": self.last_write_error,
            "damaged": [list(d) for d in self.damaged],
        }

    @_guarded
    def quick_check(self) -> None:
        """Raise ``OutboxCorrupt`` unless ``PRAGMA quick_check`` says ok."""
        with self._lock:
            problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("database disk image is malformed: "
                                        + "; ".join(problems)[:300])

    def iter_records(self, after: int = 0) -> Iterator[dict]:
        """Committed records after ``after``, in order.  A row whose bytes no longer hash to its
        chain hash (damaged on disk) is skipped with a warning, never handed on as a record
        (a follower sees a gap in ``seq`` instead)."""
        for seq, stored_hash, data in self._conn.execute(
                "SELECT seq, hash, data FROM records WHERE seq > ? ORDER BY seq", (after,)):
            try:
                if not isinstance(data, bytes) or record_hash(data) != stored_hash:
                    raise ValueError("bytes do not match the chain hash")
                yield json.loads(data)
            except ValueError as exc:
                log.warning("outbox record %d is damaged on disk (%s): skipped", seq, exc)

    # fields a follower (the attendance ledger) reads: SQLite's JSON functions pick them out
    # in C, with Python's GIL released, instead of json.loads of every record on the uplink's
    # interpreter
    LEDGER_FIELDS = ("type", "body.worker", "body.dir", "body.decision", "body.reason",
                     "body.method", "body.lane", "body.device", "body.ref")
    _LEDGER_SQL = (
        "SELECT seq, hash, data, ts, "
        + ", ".join(f"CASE WHEN ok THEN json_extract(t, '$.{f}') END" for f in LEDGER_FIELDS)
        + " FROM (SELECT seq, hash, data, ts, CAST(data AS TEXT) AS t, "
          "json_valid(CAST(data AS TEXT)) AS ok FROM records WHERE seq > ? ORDER BY seq LIMIT ?)")

    def ledger_rows(self, after: int, limit: int) -> list[tuple]:
        """Up to ``limit`` records after ``after`` as ``(seq, ts, type, worker, dir, decision,
        reason, method, lane, device, ref)``, in order.  As :meth:`iter_records`, a row whose
        bytes no longer hash to its chain hash is skipped with a warning (a gap in ``seq``)."""
        out = []
        for row in self._conn.execute(self._LEDGER_SQL, (after, limit)).fetchall():
            seq, stored_hash, data = row[0], row[1], row[2]
            if not isinstance(data, bytes) or record_hash(data) != stored_hash or row[4] is None:
                log.warning("outbox record %d is damaged on disk (bytes do not match the chain "
                            "hash): skipped", seq)
                continue
            out.append((seq,) + tuple(row[3:]))
        return out

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def alarms(stats: dict, limits: Limits) -> list[dict]:
    """Pure: the alarms a set of outbox stats raises (shared by the daemon and `status`)."""
    out = []
    ratio = stats["backlog"] / max(limits.max_unacked, 1)
    if ratio >= 1:
        out.append({"code": "outbox_full", "level": "critical",
                    "message": f"outbox full ({stats['backlog']} unacknowledged): capture refused"})
    elif ratio >= 0.8:
        out.append({"code": "outbox_high", "level": "critical",
                    "message": f"outbox {ratio:.0%} full ({stats['backlog']} unacknowledged)"})
    elif ratio >= 0.5:
        out.append({"code": "outbox_half", "level": "warning",
                    "message": f"outbox {ratio:.0%} full ({stats['backlog']} unacknowledged)"})
    used = stats["db_bytes"] - stats.get("db_free_bytes", 0)
    if limits.max_db_bytes and used >= 0.9 * limits.max_db_bytes:
        out.append({"code": "db_size", "level": "critical",
                    "message": f"outbox database {used} bytes used of "
                               f"{limits.max_db_bytes} allowed"})
    free = stats.get("disk_free_bytes")
    if free is not None and free + stats.get("db_free_bytes", 0) < limits.min_free_bytes:
        out.append({"code": "disk_low", "level": "critical",
                    "message": f"disk almost full: {free} bytes free"})
    ranges = stats.get("damaged") or []
    if ranges:
        open_ = [r for r in ranges if r[1] > stats["acked_seq"]]
        shown = ", ".join(f"{a}..{b}" for a, b in ranges[:3]) + (" …" if len(ranges) > 3 else "")
        out.append({"code": "record_damaged", "level": "critical" if open_ else "warning",
                    "message": f"records {shown} were damaged on disk (their bytes no longer "
                               "match the chain): " + ("reporting them to central as lost"
                                                       if open_ else "central has the report")})
    if stats.get("last_write_error"):
        out.append({"code": "storage_error", "level": "critical",
                    "message": stats["last_write_error"]})
    if stats["oldest_unacked_age_s"] > limits.stale_ack_s:
        out.append({"code": "ack_stale", "level": "warning",
                    "message": f"oldest unacknowledged record is "
                               f"{stats['oldest_unacked_age_s']:.0f} s old"})
    return out
