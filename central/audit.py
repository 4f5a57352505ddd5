"""Independent re-verification of what central stored, and the audit export.

``verify_gateway`` re-reads every stored block from the database, checks its SM2 signature
against the registered key, its internal chain, the link to the previous block and that the
records table holds exactly those records -- nothing from the ingest path is trusted.
"""
from __future__ import annotations

import base64
import heapq
import json
from dataclasses import dataclass, field
from typing import IO, Iterator

import sqlalchemy as sa

from uplink.sm2 import Verifier, public_key_pem, sig_to_der
from uplink.wire import ZERO_HASH, Block, WireError, decode_upload

from .tables import records
from .store import Store
from .unstored import links


@dataclass
class AuditResult:
    gw: str
    verified_records: int = 0
    verified_blocks: int = 0
    last_seq: int = 0
    problems: list[str] = field(default_factory=list)
    # chain links central holds no records for, each (first, last, cause): explained by a
    # signed statement, so they are not problems -- but an auditor must see them
    unstored: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _chain_rows(store: Store, gw: str | None) -> Iterator[dict]:
    """Stored blocks and unstored links (quarantined blocks, damage reports) in chain order,
    each with ``signed``, ``signature``, ``public_key``, ``sealed``, ``received_at``, ``cause``
    ("" for a stored block); blocks stream from the database."""
    keys: dict[str, str] = {}
    extra = []
    for r in links(store, gw):
        key = keys.get(r["gw_id"]) or keys.setdefault(r["gw_id"],
                                                      store.gateway(r["gw_id"])["public_key"])
        extra.append(dict(r, public_key=key, sealed=json.loads(r["signed"])["sealed"],
                          received_at=r["at"]))
    blocks = (dict(r, cause="") for r in store.iter_blocks(gw))
    return heapq.merge(blocks, extra, key=lambda r: (r["gw_id"], r["first"]))


def verify_gateway(store: Store, gw: str, progress=None) -> AuditResult:
    """Re-verify ``gw``'s stored blocks and unstored links; ``progress(seq, head)`` is told
    after each."""
    result = AuditResult(gw)
    reg = store.gateway(gw)
    if reg is None:
        result.problems.append(f"unknown gateway {gw!r}")
        return result
    verifier = Verifier(reg["public_key"])
    prev_seq, prev_hash = 0, ZERO_HASH
    with store.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(records.c.seq, records.c.hash)
                                   .where(records.c.gw_id == gw)).all())
    for row in _chain_rows(store, gw):
        if progress is not None:
            progress(row["last"], reg["head_seq"])
        where = f"{row['cause'] or 'block'} {row['first']}..{row['last']}"
        if not verifier.verify(row["signed"], row["signature"]):
            result.problems.append(f"{where}: signature does not verify")
            continue
        try:
            message = decode_upload(row["signed"] + row["signature"], limits=not row["cause"])
        except WireError as exc:
            result.problems.append(f"{where}: {exc}")
            continue
        skip = prev_seq + 1 - message.first
        if skip < 0 or message.last <= prev_seq or (skip and not isinstance(message, Block)):
            result.problems.append(f"{where}: does not continue seq {prev_seq}")
            continue
        link = message.prev if skip == 0 else message.hashes[skip - 1]
        if link != prev_hash:
            result.problems.append(f"{where}: does not link to seq {prev_seq}")
        if row["cause"]:
            result.unstored.append((prev_seq + 1, message.last, row["cause"]))
        else:
            for r, h in zip(message.records[skip:], message.hashes[skip:]):
                if stored.get(r["seq"]) != h:
                    result.problems.append(f"seq {r['seq']}: stored record differs from signed block")
                else:
                    result.verified_records += 1
        result.verified_blocks += 1
        prev_seq, prev_hash = message.last, message.head
    result.last_seq = prev_seq
    if len(stored) != result.verified_records:
        result.problems.append(f"{len(stored) - result.verified_records} stored records are "
                               "not covered by a verified block")
    if prev_seq != reg["head_seq"]:
        result.problems.append(f"chain ends at {prev_seq} but the head says {reg['head_seq']}")
    return result


def export_jsonl(store: Store, out: IO[str], gw: str | None = None, progress=None) -> int:
    """One line per block: its records plus everything needed to verify it with OpenSSL.
    ``progress(records, None)`` is told the records written so far after each block."""
    n = done = 0
    pems: dict[str, str] = {}
    for row in _chain_rows(store, gw):
        pem = pems.setdefault(row["public_key"], public_key_pem(row["public_key"]))
        block = json.loads(row["signed"])
        line = {
            "gw": row["gw_id"], "first": row["first"], "last": row["last"],
            "head": row["head"], "sealed": row["sealed"], "received_at": row["received_at"],
            "records": block.get("records", []),
            "signed_b64": base64.b64encode(row["signed"]).decode(),
            "signature_der_b64": base64.b64encode(sig_to_der(row["signature"])).decode(),
            "signature_hex": row["signature"].hex(),
            "public_key_pem": pem,
            "sm2_id": "1234567812345678",
        }
        if row["cause"]:    # a link without stored records: quarantined block or damage report
            line.update(unstored=row["cause"], note=row["note"], reason=row["reason"])
        if "hashes" in block:
            line["hashes"] = block["hashes"]
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
        done += row["last"] - row["first"] + 1
        if progress is not None:
            progress(done, None)
    return n
