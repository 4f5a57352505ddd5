"""One turnstile lane as an explicit, sans-I/O state machine.

Events go in (a card was read, frames were captured and analysed, the record was committed,
the gate opened, a passage was seen or not); actions come out (look up, capture, commit, open,
wait, note presence). The shell in :mod:`gateway.lanes` performs the actions and feeds the
results back. Nothing here sleeps or touches a device, so every path is a plain unit test.

Order of an allowed passage (ARCHITECTURE guarantee 1 wins over "commit after passage"): the
attendance record is committed **before** the gate opens; if nobody walks through before the
timeout, a second record (``decision: "void"``, ``reason: "no_passage"``, ``ref``: the first
seq) says so. A normal passage therefore commits exactly one record.

States: ready → capture → commit → open → confirm → ready (denials: any state → commit → ready).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any

from gateway.clockin.rules import Rules, eligibility, passback
from gateway.roster.worker import Worker


class State(Enum):
    READY = "ready"
    CAPTURE = "capture"
    COMMIT = "commit"
    OPEN = "open"
    CONFIRM = "confirm"


# ---------------------------------------------------------------- events
@dataclass(frozen=True)
class CardPresented:
    worker: Worker | None          # roster lookup result (None: card not on the roster)
    last_dir: str | None = None    # for anti-passback
    offline: tuple[str, ...] = ()  # devices the lane needs that are lost now ("gate", "camera")


@dataclass(frozen=True)
class CardFailed:
    reason: str                    # bad_id_number, read_failed, ...


@dataclass(frozen=True)
class FaceSeen:
    pass


@dataclass(frozen=True)
class Captured:
    """Result of capture + analysis. ``face_error`` is a FaceError reason; liveness/match are
    dicts from biometrics (``Liveness.as_dict()``, ``Match.as_dict()``); in face-only mode the
    shell also supplies the identified worker's roster entry."""
    face_error: str | None = None
    liveness: dict | None = None
    match: dict | None = None
    worker: Worker | None = None
    last_dir: str | None = None


@dataclass(frozen=True)
class Committed:
    seq: int


@dataclass(frozen=True)
class CommitFailed:
    reason: str                    # outbox_full, ...


@dataclass(frozen=True)
class GateOpened:
    pass


@dataclass(frozen=True)
class GateFailed:
    reason: str


@dataclass(frozen=True)
class Passage:
    seen: bool


Event = (CardPresented | CardFailed | FaceSeen | Captured | Committed | CommitFailed | GateOpened
         | GateFailed | Passage)


# ---------------------------------------------------------------- actions
@dataclass(frozen=True)
class Capture:
    claimed: str | None            # worker id for 1:1, None for 1:N


@dataclass(frozen=True)
class Commit:
    body: dict


@dataclass(frozen=True)
class OpenGate:
    pass


@dataclass(frozen=True)
class WaitPassage:
    pass


@dataclass(frozen=True)
class NotePresence:
    worker: str
    dir: str


@dataclass(frozen=True)
class Alarm:
    message: str


Action = Capture | Commit | OpenGate | WaitPassage | NotePresence | Alarm


@dataclass(frozen=True)
class LaneSettings:
    name: str = "lane1"
    direction: str = "in"          # in | out
    mode: str = "card+face"        # card+face | face | card
    device: str = "lane1"
    anti_passback: bool = False
    rules: Rules = field(default_factory=Rules)


def milli(v: float | None) -> int | None:
    return None if v is None else int(round(v * 1000))


@dataclass
class LaneMachine:
    settings: LaneSettings
    state: State = State.READY
    _worker: str | None = None
    _method: str = "card+face"
    _pending: dict | None = None
    _seq: int | None = None
    _allow: bool = False
    history: list[tuple[str, str]] = field(default_factory=list)   # (from, to) for tests/health

    def _go(self, new: State) -> None:
        self.history.append((self.state.value, new.value))
        self.state = new

    def _body(self, decision: str, reason: str, **extra: Any) -> dict:
        s = self.settings
        body = {"worker": self._worker, "dir": s.direction, "method": self._method, "device": s.device,
                "lane": s.name, "decision": decision, "reason": reason}
        body.update({k: v for k, v in extra.items() if v is not None})
        return body

    def _commit(self, body: dict, allow: bool) -> list[Action]:
        self._pending, self._allow = body, allow
        self._go(State.COMMIT)
        return [Commit(body)]

    def _deny(self, reason: str, **extra: Any) -> list[Action]:
        return self._commit(self._body("deny", reason, **extra), allow=False)

    def _check_worker(self, worker: Worker | None, last_dir: str | None, today: date) -> str:
        ok, reason = eligibility(worker, today, self.settings.rules)
        if ok:
            ok, reason = passback(last_dir, self.settings.direction, self.settings.anti_passback)
        return reason

    def handle(self, ev: Event, today: date) -> list[Action]:
        s = self.settings
        st = self.state
        if st is State.READY:
            if isinstance(ev, CardFailed):
                self._worker, self._method = None, "card" if s.mode == "card" else "card+face"
                return self._deny(f"card_{ev.reason}")
            if isinstance(ev, CardPresented):
                self._method = "card" if s.mode == "card" else "card+face"
                self._worker = ev.worker.worker_id if ev.worker else None
                reason = self._check_worker(ev.worker, ev.last_dir, today)
                if reason != "ok":
                    return self._deny(reason)
                if ev.offline:             # refuse clearly rather than capture or open in vain
                    return self._deny(f"{ev.offline[0]}_offline")
                if s.mode == "card":
                    return self._commit(self._body("allow", "ok"), allow=True)
                self._go(State.CAPTURE)
                return [Capture(claimed=self._worker)]
            if isinstance(ev, FaceSeen) and s.mode == "face":
                self._worker, self._method = None, "face"
                self._go(State.CAPTURE)
                return [Capture(claimed=None)]
            return []
        if st is State.CAPTURE and isinstance(ev, Captured):
            return self._after_capture(ev, today)
        if st is State.COMMIT:
            if isinstance(ev, Committed):
                self._seq = ev.seq
                if self._allow:
                    self._go(State.OPEN)
                    return [OpenGate()]
                self._go(State.READY)
                return []
            if isinstance(ev, CommitFailed):
                # nothing was stored: the worker must not pass, the operator must know
                self._go(State.READY)
                return [Alarm(f"lane {s.name}: record not stored ({ev.reason}); gate kept closed")]
        if st is State.OPEN:
            if isinstance(ev, GateOpened):
                self._go(State.CONFIRM)
                return [WaitPassage()]
            if isinstance(ev, GateFailed):
                return self._void(f"gate_{ev.reason}")
        if st is State.CONFIRM and isinstance(ev, GateFailed):
            return self._void(f"gate_{ev.reason}")
        if st is State.CONFIRM and isinstance(ev, Passage):
            if ev.seen:
                self._go(State.READY)
                return [NotePresence(self._worker, s.direction)] if self._worker else []
            return self._void("no_passage")
        return []

    def _void(self, reason: str) -> list[Action]:
        body = self._body("void", reason, ref=self._seq)
        self._pending, self._allow = body, False
        self._go(State.COMMIT)
        return [Commit(body)]

    def _after_capture(self, ev: Captured, today: date) -> list[Action]:
        live = ev.liveness or {}
        m = ev.match or {}
        scores = dict(distance_milli=milli(m.get("distance")), margin_milli=milli(m.get("margin")),
                      liveness=live.get("reason"), turn_milli=live.get("turn_milli"))
        if ev.face_error:
            return self._deny(ev.face_error, **scores)
        if live and not live.get("passed"):
            return self._deny("liveness_" + live.get("reason", "failed"), **scores)
        if self.settings.mode == "face":
            self._worker = m.get("worker_id")
        if m.get("decision") != "match":
            reason = {"not_enrolled": "not_enrolled"}.get(m.get("reason"), "face_mismatch")
            if self.settings.mode == "face":
                reason = "face_not_identified"
            return self._deny(reason, match=m.get("reason"), **scores)
        if self.settings.mode == "face":
            reason = self._check_worker(ev.worker, ev.last_dir, today)
            if reason != "ok":
                return self._deny(reason, **scores)
        return self._commit(self._body("allow", "ok", **scores), allow=True)
