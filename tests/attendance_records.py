"""Helpers for the attendance ledger and sheet tests: site-local times, record bodies and a real
signed outbox (no fixtures here: import it as a plain module)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway import keys
from uplink.outbox import Outbox

TZ = 480                                           # the sites' default: UTC+8


def local_ms(y: int, m: int, d: int, hh: int = 8, mm: int = 0, ss: int = 0, tz: int = TZ) -> int:
    """Milliseconds since the epoch of a wall-clock time at the site."""
    t = datetime(y, m, d, hh, mm, ss, tzinfo=timezone(timedelta(minutes=tz)))
    return int(t.timestamp() * 1000)


def allow(worker: str, direction: str = "in", lane: str = "entry") -> dict:
    return {"worker": worker, "dir": direction, "method": "card+face", "device": f"gw-t/{lane}",
            "lane": lane, "decision": "allow", "reason": "ok"}


def deny(worker: str | None, reason: str, direction: str = "in") -> dict:
    return {"worker": worker, "dir": direction, "method": "card", "device": "gw-t/entry",
            "lane": "entry", "decision": "deny", "reason": reason}


def void(worker: str, ref: int, direction: str = "in") -> dict:
    return {"worker": worker, "dir": direction, "method": "card+face", "device": "gw-t/entry",
            "lane": "entry", "decision": "void", "reason": "no_passage", "ref": ref}


def signed_outbox(path: Path, gw: str = "gw-ledger-1", **kw) -> Outbox:
    """A real outbox with a real SM2 key made by ``gateway.keys`` (beside the outbox)."""
    signer = keys.generate(path.parent / "keys" / f"{gw}.key.pem")
    return Outbox(path, gw, signer, **kw)


def put(outbox: Outbox, body: dict, ts: int, type_: str = "attendance") -> int:
    return outbox.append(body, type_=type_, ts_ms=ts).seq
