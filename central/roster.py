"""Roster downlink, central side: versioned, incremental, per project, signed by central.

A gateway asks on ``sitegate/v1/{gw}/roster-req`` with ``{"have": N, "v": 1}`` (N = the last
roster version it applied, 0 = none); central answers on ``sitegate/v1/{gw}/roster`` with the
changes after N for the gateway's project (the latest entry per worker), at most ``limit``
entries per message, ``more`` telling the gateway to ask again from ``to``.  ``have`` = 0, or a
``have`` central does not know (newer than its head), gets a full snapshot (``full``: replace).
Central records the version each answer brings the gateway to, so ``push_pending`` can send
later changes to gateways without being asked (a gateway that missed a message is out of step
with the next delta, ignores it and asks; it also asks on every reconnect).

Each entry's personal fields (ID number, name, gender, birth date: what the gate needs to
recognise the card) are sealed for the one gateway the update is addressed to, with its
registered SM2 public key (``uplink.roster.seal_private``).  Payload = canonical JSON || SM2
signature by central's signing key, the same key that signs acks (docs/wire.md §5, §8).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import sqlalchemy as sa

from uplink.roster import parse_request, seal_private, sign_update
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import WireError, topic

from .store import Store, now_ms

from .tables import gateways, workers
from .tables import gateway_roster, roster_changes

log = logging.getLogger("sitegate.central")
LIMIT = 500


def roster_topic(gw: str) -> str:
    return topic(gw, "roster")


def signing_key_path(home: Path) -> Path:
    return home / "central" / "signing.key"


def load_signer(home: Path) -> Signer:
    """Central's SM2 signing key (acks and roster updates), made 0600 on first use.  A key
    kept by an older release as ``central/roster.key`` is taken over (renamed), so gateways
    provisioned with its public key keep working."""
    path = signing_key_path(home)
    legacy = home / "central" / "roster.key"
    if not path.exists() and legacy.exists():
        os.replace(legacy, path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_private_key() + "\n")
    return Signer(path.read_text().strip())


class RosterService:
    def __init__(self, store: Store, signer: Signer, cipher=None, limit: int = LIMIT) -> None:
        """``cipher``: central's FieldCipher, to open the personal fields sealed at rest and
        re-seal them for the gateway; without it entries carry no personal fields."""
        self.store, self.signer, self.cipher, self.limit = store, signer, cipher, limit
        self._pushed: dict[tuple[str, int], float] = {}

    def delta(self, gw: str, have: int) -> dict:
        with self.store.engine.begin() as conn:
            reg = conn.execute(sa.select(gateways.c.project, gateways.c.public_key).where(
                gateways.c.gw_id == gw)).first()
            if reg is None or reg[0] is None:
                raise WireError(f"gateway {gw!r} is unknown or has no project")
            project, gw_key = reg
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
            entries = [json.loads(e) for _, e in rows]
            private = self._private(conn, [e["worker"] for e in entries])
            self._record(conn, gw, to)     # what the gateway holds once it applies this
        key, sealed = seal_private(gw, gw_key, private)
        for e in entries:
            e["private"] = sealed.get(e["worker"])
        return {"entries": entries, "from": since, "full": full, "gw": gw, "key": key,
                "more": more, "project": project, "to": to, "type": "roster", "v": 1}

    def _private(self, conn, wids: list[str]) -> dict[str, dict]:
        if self.cipher is None or not wids:
            return {}
        w = workers.c
        out = {}
        for row in conn.execute(sa.select(w.workerId, w.idCardType, w.idCardNumberEnc,
                                          w.workerNameEnc, w.gender, w.birthDate).where(
                w.workerId.in_(wids))):
            out[row.workerId] = {
                "birthDate": row.birthDate.isoformat() if row.birthDate else None,
                "gender": row.gender, "idCardType": row.idCardType,
                "idCardNumber": self.cipher.open(row.idCardNumberEnc, "idCardNumber"),
                "workerName": self.cipher.open(row.workerNameEnc, "workerName")}
        return {wid: out[wid] for wid in wids if wid in out}

    def _record(self, conn, gw: str, have: int) -> None:
        t = now_ms()
        if conn.execute(sa.select(gateway_roster.c.gw_id).where(
                gateway_roster.c.gw_id == gw)).first():
            conn.execute(gateway_roster.update().where(gateway_roster.c.gw_id == gw).values(
                version=have, at=t))
        else:
            conn.execute(gateway_roster.insert().values(gw_id=gw, version=have, at=t))

    def payload(self, delta: dict) -> bytes:
        return sign_update(delta, self.signer)

    def handle_request(self, gw: str, data: bytes) -> tuple[str, bytes]:
        """One request in, (topic, signed answer) out; WireError for a bad request."""
        return roster_topic(gw), self.payload(self.delta(gw, parse_request(data)))

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
