"""Roster downlink, central side: versioned, incremental, per project, signed by central.

A gateway asks on ``sitegate/v1/{gw}/roster-req`` with ``{"have": N, "v": 1}`` (N = the last
roster version it applied, 0 = none); central answers on ``sitegate/v1/{gw}/roster`` with the
changes after N for the gateway's project (the latest entry per worker), at most ``limit``
entries per message, ``more`` telling the gateway to ask again from ``to``.  ``have`` = 0, or a
``have`` central does not know (newer than its head), gets a full snapshot (``full``: replace).
Central records the version each answer brings the gateway to, so ``push_pending`` can send
later changes to gateways without being asked (a gateway that missed a message is out of step
with the next delta, ignores it and asks; it also asks on every reconnect).  Payload = canonical JSON || SM2 signature by
central's roster key (docs/wire.md §8).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import sqlalchemy as sa

from uplink.sm2 import Signer, generate_private_key
from uplink.wire import TOPIC_ROOT, WireError, canonical, check_gateway_id, parse_canonical

from .store import Store, now_ms

from .schema import gateways
from .schema import gateway_roster, roster_changes

log = logging.getLogger("sitegate.central")
LIMIT = 500


def roster_topic(gw: str) -> str:
    return f"{TOPIC_ROOT}/{check_gateway_id(gw)}/roster"


def load_signer(home: Path) -> Signer:
    path = home / "central" / "roster.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_private_key() + "\n")
    return Signer(path.read_text().strip())


class RosterService:
    def __init__(self, store: Store, signer: Signer, limit: int = LIMIT) -> None:
        self.store, self.signer, self.limit = store, signer, limit
        self._pushed: dict[tuple[str, int], float] = {}

    def delta(self, gw: str, have: int) -> dict:
        with self.store.engine.begin() as conn:
            project = conn.execute(sa.select(gateways.c.project).where(
                gateways.c.gw_id == gw)).scalar()
            if project is None:
                raise WireError(f"gateway {gw!r} is unknown or has no project")
            rc = roster_changes.c
            head = conn.execute(sa.select(sa.func.coalesce(sa.func.max(rc.version), 0)).where(
                rc.projectCode == project)).scalar()
            full = have <= 0 or have > head
            since = 0 if full else have
            latest = sa.select(rc.workerId, sa.func.max(rc.version).label("v")).where(
                rc.projectCode == project, rc.version > since).group_by(rc.workerId).subquery()
            rows = conn.execute(sa.select(rc.version, rc.entry).join(
                latest, sa.and_(rc.workerId == latest.c.workerId, rc.version == latest.c.v))
                .order_by(rc.version).limit(self.limit + 1)).all()
            more = len(rows) > self.limit
            rows = rows[:self.limit]
            to = rows[-1][0] if more else head
            self._record(conn, gw, to)     # what the gateway holds once it applies this
        return {"entries": [json.loads(e) for _, e in rows], "from": since, "full": full,
                "gw": gw, "more": more, "project": project, "to": to, "type": "roster", "v": 1}

    def _record(self, conn, gw: str, have: int) -> None:
        t = now_ms()
        if conn.execute(sa.select(gateway_roster.c.gw_id).where(
                gateway_roster.c.gw_id == gw)).first():
            conn.execute(gateway_roster.update().where(gateway_roster.c.gw_id == gw).values(
                version=have, at=t))
        else:
            conn.execute(gateway_roster.insert().values(gw_id=gw, version=have, at=t))

    def payload(self, delta: dict) -> bytes:
        body = canonical(delta)
        return body + self.signer.sign(body)

    def handle_request(self, gw: str, data: bytes) -> tuple[str, bytes]:
        """One request in, (topic, signed answer) out; WireError for a bad request."""
        req = parse_canonical(data, "roster request")
        if not isinstance(req, dict) or set(req) != {"have", "v"} or req["v"] != 1 or \
                not isinstance(req["have"], int) or isinstance(req["have"], bool) or \
                req["have"] < 0:
            raise WireError('roster request: expected {"have": <int >= 0>, "v": 1}')
        return roster_topic(gw), self.payload(self.delta(gw, req["have"]))

    def pending(self) -> list[tuple[str, int, int]]:
        """Gateways known to be behind their project's roster head: (gw, have, head)."""
        rc = roster_changes.c
        heads = sa.select(rc.projectCode, sa.func.max(rc.version).label("head")).group_by(
            rc.projectCode).subquery()
        q = sa.select(gateway_roster.c.gw_id, gateway_roster.c.version, heads.c.head).join(
            gateways, gateways.c.gw_id == gateway_roster.c.gw_id).join(
            heads, heads.c.projectCode == gateways.c.project).where(
            gateway_roster.c.version < heads.c.head)
        with self.store.engine.connect() as conn:
            return [(g, v, h) for g, v, h in conn.execute(q)]

    def push_pending(self, publish, repeat_s: float = 60.0) -> int:
        """Send deltas to gateways known to be behind; the same (gateway, head) at most
        once per ``repeat_s`` (an offline gateway catches up by asking when it is back)."""
        import time
        n, now = 0, time.monotonic()
        for gw, have, head in self.pending():
            if now - self._pushed.get((gw, head), -1e9) < repeat_s:
                continue
            self._pushed[(gw, head)] = now
            delta = self.delta(gw, have)
            publish(roster_topic(gw), self.payload(delta))
            n += 1
        return n


