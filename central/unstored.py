"""Links of a gateway's chain that central accepts without storing their records.

Two causes, both resting on a statement signed by the gateway (docs/wire.md §4.3, §4.4):

* **damaged** -- the gateway reports that records ``first..last`` were damaged on its disk before
  they were sealed; the signed report carries their chain hashes, so the chain goes on from its
  ``head`` (``commit_damage``, called by ingest);
* **quarantined** -- a correctly signed block that can never be stored (refused for a limit, or
  refused by the database) is *held* when it is rejected; an operator quarantines it
  (``quarantine``, `sitegate-central quarantine accept`): its exact signed bytes are kept as
  evidence and the chain goes on from the block's signed ``head``, so the gateway's next
  re-send is answered ``duplicate`` and everything after it flows again.

Each link is one row of ``unstored``; `sitegate-central verify` checks their signatures and
links like any block and reports their ranges instead of records.
"""
from __future__ import annotations

import sqlalchemy as sa

from uplink.sm2 import Verifier
from uplink.wire import Block, Damage, WireError, decode_upload

from .tables import gateways, held_blocks, unstored
from .store import Outcome, Store, now_ms

MAX_HELD = 64          # held blocks per gateway (each at most the receiver's max payload)


class QuarantineError(ValueError):
    """The held block cannot be quarantined (named reason); nothing was changed."""


def is_unstorable(exc: BaseException) -> bool:
    """Did the database (or the derivation next to it) refuse this data for good?  Value too
    long, a character the column cannot hold, a constraint, a date out of range -- as opposed to
    a lost connection or a lock timeout, which a re-send may get past."""
    if isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError)):
        return True
    if isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError):
        exc = exc.orig if exc.orig is not None else exc
    return isinstance(exc, (ValueError, OverflowError, TypeError)) and \
        not isinstance(exc, sa.exc.SQLAlchemyError)


def _lock_head(conn, store: Store, gw: str) -> tuple[int, str]:
    query = sa.select(gateways.c.head_seq, gateways.c.head_hash).where(gateways.c.gw_id == gw)
    if not store.is_sqlite:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise QuarantineError(f"unknown gateway {gw!r}")
    return row[0], row[1]


def _advance(conn, gw: str, message: Block | Damage, cause: str, kind: str, reason: str,
             note: str) -> None:
    conn.execute(unstored.insert().values(
        gw_id=gw, first=message.first, last=message.last, prev=message.prev, head=message.head,
        cause=cause, kind=kind, reason=reason[:300], note=note[:300], signed=message.signed,
        signature=message.signature, at=now_ms()))
    conn.execute(gateways.update().where(gateways.c.gw_id == gw).values(
        head_seq=message.last, head_hash=message.head, last_seen=now_ms()))


# ---------------------------------------------------------------- damage reports

def commit_damage(store: Store, report: Damage) -> Outcome:
    """Accept a verified damage report that continues the stored chain."""
    with store.engine.begin() as conn:
        head_seq, head_hash = _lock_head(conn, store, report.gw)
        if report.last <= head_seq:
            return Outcome("duplicate", head_seq, head_hash,
                           f"replay: damage report {report.first}..{report.last} already taken",
                           "replay")
        if report.first > head_seq + 1:
            return Outcome("gap", head_seq, head_hash,
                           f"gap: expected seq {head_seq + 1}, report starts at {report.first}",
                           "gap")
        if report.first != head_seq + 1 or report.prev != head_hash:
            return Outcome("rejected", head_seq, head_hash,
                           f"broken_chain: damage report {report.first}..{report.last} does not "
                           f"link to stored seq {head_seq}", "broken_chain")
        _advance(conn, report.gw, report, "damaged", "damaged",
                 f"records {report.first}..{report.last} damaged on the gateway's disk", "")
        return Outcome("ok", report.last, report.head)


# ---------------------------------------------------------------- held blocks and quarantine

def hold(store: Store, block: Block, kind: str, reason: str) -> bool:
    """Keep a verified block refused for good (bounded: MAX_HELD per gateway; a re-send of one
    already held changes nothing).  False when the bound is reached."""
    with store.engine.begin() as conn:
        if conn.execute(sa.select(held_blocks.c.first).where(
                held_blocks.c.gw_id == block.gw, held_blocks.c.first == block.first)).first():
            return True
        n = conn.execute(sa.select(sa.func.count()).select_from(held_blocks).where(
            held_blocks.c.gw_id == block.gw)).scalar()
        if n >= MAX_HELD:
            return False
        conn.execute(held_blocks.insert().values(
            gw_id=block.gw, first=block.first, last=block.last, kind=kind, reason=reason[:300],
            payload=block.payload, received_at=now_ms()))
    return True


def held(store: Store, gw: str | None = None) -> list[dict]:
    query = sa.select(held_blocks.c.gw_id, held_blocks.c.first, held_blocks.c.last,
                      held_blocks.c.kind, held_blocks.c.reason, held_blocks.c.received_at,
                      sa.func.length(held_blocks.c.payload).label("bytes")).order_by(
        held_blocks.c.gw_id, held_blocks.c.first)
    if gw is not None:
        query = query.where(held_blocks.c.gw_id == gw)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def held_payload(store: Store, gw: str, first: int) -> bytes | None:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(held_blocks.c.payload).where(
            held_blocks.c.gw_id == gw, held_blocks.c.first == first)).scalar()


def links(store: Store, gw: str | None = None) -> list[dict]:
    """Rows of ``unstored`` (with their signed bytes), oldest first."""
    query = sa.select(unstored).order_by(unstored.c.gw_id, unstored.c.first)
    if gw is not None:
        query = query.where(unstored.c.gw_id == gw)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def quarantine(store: Store, gw: str, first: int, note: str) -> Outcome:
    """Quarantine the held block ``first`` of ``gw``: re-verified against the registered key, it
    must continue the stored chain; its bytes and signature are kept, the chain head moves to
    its signed head.  ``note`` is the operator's statement (who decided, why)."""
    note = note.strip()
    if not note:
        raise QuarantineError("say why (--note): the statement is kept with the evidence")
    with store.engine.begin() as conn:
        head_seq, head_hash = _lock_head(conn, store, gw)
        row = conn.execute(sa.select(held_blocks).where(
            held_blocks.c.gw_id == gw, held_blocks.c.first == first)).mappings().first()
        if row is None:
            raise QuarantineError(f"no held block {first} of {gw!r} "
                                  "(`sitegate-central quarantine list` shows them)")
        try:
            block = decode_upload(row["payload"], limits=False)
        except WireError as exc:
            raise QuarantineError(f"held block no longer decodes: {exc}") from exc
        key = conn.execute(sa.select(gateways.c.public_key).where(
            gateways.c.gw_id == gw)).scalar()
        if not isinstance(block, Block) or block.gw != gw or \
                not Verifier(key).verify(block.signed, block.signature):
            raise QuarantineError("held block does not verify with the registered key")
        if block.last <= head_seq:
            conn.execute(held_blocks.delete().where(held_blocks.c.gw_id == gw,
                                                    held_blocks.c.first == first))
            raise QuarantineError(f"the chain is already at seq {head_seq}: nothing to do")
        skip = head_seq + 1 - block.first
        if skip < 0:
            raise QuarantineError(f"block {block.first}..{block.last} does not continue the "
                                  f"stored chain (head {head_seq}): deal with what comes "
                                  "before it first")
        link = block.prev if skip == 0 else block.hashes[skip - 1]
        if link != head_hash:
            raise QuarantineError(f"block does not link to stored seq {head_seq}")
        _advance(conn, gw, block, "quarantined", row["kind"], row["reason"], note)
        conn.execute(held_blocks.delete().where(held_blocks.c.gw_id == gw,
                                                held_blocks.c.first == first))
        return Outcome("ok", block.last, block.head)
