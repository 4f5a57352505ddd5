"""Independent re-verification of what central stored, and the audit export.

``verify_gateway`` re-reads every stored block from the database, checks its SM2 signature
against the registered key, its internal chain, the link to the previous block and that the
records table holds exactly those records -- nothing from the ingest path is trusted.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import IO

import sqlalchemy as sa

from uplink.sm2 import Verifier, public_key_pem, sig_to_der
from uplink.wire import ZERO_HASH, WireError, decode_block

from .store import Store

from .schema import records


@dataclass
class AuditResult:
    gw: str
    verified_records: int = 0
    verified_blocks: int = 0
    last_seq: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_gateway(store: Store, gw: str, progress=None) -> AuditResult:
    """Re-verify ``gw``'s stored blocks; ``progress(seq, head)`` is told after each block."""
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
    for row in store.iter_blocks(gw):
        if progress is not None:
            progress(row["last"], reg["head_seq"])
        where = f"block {row['first']}..{row['last']}"
        if not verifier.verify(row["signed"], row["signature"]):
            result.problems.append(f"{where}: signature does not verify")
            continue
        try:
            block = decode_block(row["signed"] + row["signature"])
        except WireError as exc:
            result.problems.append(f"{where}: {exc}")
            continue
        skip = prev_seq + 1 - block.first
        if skip < 0 or skip >= len(block.records):
            result.problems.append(f"{where}: does not continue seq {prev_seq}")
            continue
        link = block.prev if skip == 0 else block.hashes[skip - 1]
        if link != prev_hash:
            result.problems.append(f"{where}: does not link to seq {prev_seq}")
        for r, h in zip(block.records[skip:], block.hashes[skip:]):
            if stored.get(r["seq"]) != h:
                result.problems.append(f"seq {r['seq']}: stored record differs from signed block")
            else:
                result.verified_records += 1
        result.verified_blocks += 1
        prev_seq, prev_hash = block.last, block.head
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
    for row in store.iter_blocks(gw):
        pem = pems.setdefault(row["public_key"], public_key_pem(row["public_key"]))
        block = json.loads(row["signed"])
        line = {
            "gw": row["gw_id"], "first": row["first"], "last": row["last"],
            "head": row["head"], "sealed": row["sealed"], "received_at": row["received_at"],
            "records": block["records"],
            "signed_b64": base64.b64encode(row["signed"]).decode(),
            "signature_der_b64": base64.b64encode(sig_to_der(row["signature"])).decode(),
            "signature_hex": row["signature"].hex(),
            "public_key_pem": pem,
            "sm2_id": "1234567812345678",
        }
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
        done += row["last"] - row["first"] + 1
        if progress is not None:
            progress(done, None)
    return n
