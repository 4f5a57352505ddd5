"""The imperative shell around :class:`gateway.clockin.machine.LaneMachine`: one thread per lane,
each with its own card reader and camera; lanes share the outbox (thread-safe), the roster, the
face gallery and the gate controller (the driver serialises its own bus transactions and never
holds its lock while waiting, so a lane that waits for a passage never holds up another lane).

Every device is supervised (:mod:`gateway.clockin.devices`): while one this lane needs is lost,
a card is refused with ``gate_offline`` / ``camera_offline`` (committed like any refusal) and a
face-only lane stops looking for faces; the lane resumes by itself when the device is back."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

from biometrics.faces import bgr_to_rgb, detect
from biometrics.liveness import LivenessPolicy

from gateway.clockin import machine as L
from gateway.clockin.devices import FrameGrabber, LaneGate, ReaderFeed
from gateway.clockin.faces import FaceService
from gateway.roster.store import Roster

log = logging.getLogger("sitegate.lanes")


@dataclass
class LaneDevices:
    """The lane's devices, each under a supervisor (:mod:`gateway.clockin.devices`)."""
    reader: ReaderFeed | None      # card modes
    grabber: FrameGrabber | None   # face modes
    gate: LaneGate

    def offline(self, mode: str) -> tuple[str, ...]:
        """Devices this lane needs for a decision that are lost right now."""
        out = [] if self.gate.available else ["gate"]
        if mode != "card" and self.grabber is not None and not self.grabber.available:
            out.append("camera")
        return tuple(out)


@dataclass
class LaneOptions:
    capture_frames: int = 6
    capture_timeout: float = 2.5
    passage_timeout: float = 8.0
    poll_interval: float = 0.1
    face_poll_interval: float = 0.3
    face_cooldown: float = 3.0      # face-only lanes: pause after a decision (the person walks on)
    detect_width: int = 320
    liveness: LivenessPolicy | None = field(default_factory=LivenessPolicy)


class LaneRunner:
    def __init__(self, settings: L.LaneSettings, devices: LaneDevices, roster: Roster,
                 faces: FaceService | None, outbox: Any, options: LaneOptions = LaneOptions(),
                 today: Callable[[], date] = date.today) -> None:
        self.machine = L.LaneMachine(settings)
        self.dev, self.roster, self.faces, self.outbox = devices, roster, faces, outbox
        self.opt, self.today = options, today
        self.alarms: list[str] = []
        self.committed: list[tuple[int, dict]] = []   # (seq, body) this run, for health/tests
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, daemon=True, name=f"lane-{settings.name}")
        self.busy = threading.Event()
        self._next_face = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LaneRunner":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                for ev in self._poll():
                    self._busy(True)
                    self.feed(ev)
                    self._busy(False)
                    if isinstance(ev, L.FaceSeen):
                        self._next_face = time.monotonic() + self.opt.face_cooldown
            except Exception as exc:  # noqa: BLE001 - a lane thread must not die
                self.errors += 1
                self._busy(False)
                log.error("lane %s: %s: %s", self.machine.settings.name, type(exc).__name__, exc)
                self.machine.state = L.State.READY
                self._stop.wait(0.5)
            self._stop.wait(self.opt.poll_interval)

    def _busy(self, on: bool) -> None:
        """While the lane decides, its reader is only checked, not polled for cards."""
        (self.busy.set if on else self.busy.clear)()
        if self.dev.reader is not None:
            (self.dev.reader.pause if on else self.dev.reader.resume)()

    def out_of_service(self) -> tuple[str, ...]:
        """Devices this lane needs that are lost now (for health and screens)."""
        s = self.machine.settings
        lost = list(self.dev.offline(s.mode))
        if s.mode != "face" and self.dev.reader is not None and not self.dev.reader.available:
            lost.insert(0, "idcard")
        return tuple(lost)

    # ------------------------------------------------------------------ inputs
    def _poll(self) -> list[L.Event]:
        from drivers.sam.reader import CardError, CardRead
        s = self.machine.settings
        out: list[L.Event] = []
        if self.dev.reader is not None and s.mode != "face":
            for ev in self.dev.reader.events():
                if isinstance(ev, CardRead):
                    worker = self.roster.by_id_number(ev.identity.id_number)
                    last = self.roster.last_direction(worker.worker_id) if worker else None
                    if worker is None:
                        self._note_unknown(ev.identity)
                    out.append(L.CardPresented(worker, last, offline=self.dev.offline(s.mode)))
                elif isinstance(ev, CardError):
                    out.append(L.CardFailed(ev.reason))
        elif s.mode == "face" and self.dev.grabber is not None and time.monotonic() >= self._next_face \
                and not self.dev.offline(s.mode):
            frame = self.dev.grabber.latest()
            engine = self.faces.engine() if self.faces is not None else None
            if frame is not None and detect(bgr_to_rgb(frame), self.opt.detect_width, 0, engine):
                out.append(L.FaceSeen())
            else:
                self._next_face = time.monotonic() + self.opt.face_poll_interval
        return out

    def _note_unknown(self, identity: Any) -> None:
        """Queue a card that is not on the roster for the labour manager (register or reject);
        the lane still denies it. Failing to queue never stops the lane."""
        try:
            self.roster.note_unknown(vars(identity), self.machine.settings.name)
        except Exception as exc:  # noqa: BLE001 - the refusal is still committed
            self.errors += 1
            log.error("lane %s: unknown card not queued: %s", self.machine.settings.name,
                      type(exc).__name__)

    # ------------------------------------------------------------------ the loop body
    def feed(self, ev: L.Event) -> None:
        actions = self.machine.handle(ev, self.today())
        while actions:
            act = actions.pop(0)
            result = self._do(act)
            if result is not None:
                actions = self.machine.handle(result, self.today()) + actions

    def _do(self, act: L.Action) -> L.Event | None:
        s = self.machine.settings
        if isinstance(act, L.Capture):
            try:
                return self._capture(act.claimed)
            # any capture failure (e.g. a tampered template store) is a denial, committed and logged
            except Exception as exc:  # noqa: BLE001 - see above
                self.errors += 1
                log.error("lane %s: capture failed: %s: %s", s.name, type(exc).__name__, exc)
                return L.Captured(face_error="internal_error")
        if isinstance(act, L.Commit):
            from uplink.outbox import OutboxFull
            try:
                rec = self.outbox.append(act.body)
            except OutboxFull as exc:
                return L.CommitFailed(f"outbox_full: {exc}")
            self.committed.append((rec.seq, act.body))
            log.info("lane %s: seq %d %s %s", s.name, rec.seq, act.body["decision"], act.body["reason"])
            return L.Committed(rec.seq)
        if isinstance(act, L.OpenGate):
            try:
                self.dev.gate.open()
            # any failure to open (DeviceLost, GateError, a vendor driver's own error) voids the grant
            except Exception as exc:  # noqa: BLE001 - see above
                log.error("lane %s: gate did not open: %s: %s", s.name, type(exc).__name__, exc)
                return L.GateFailed(type(exc).__name__)
            return L.GateOpened()
        if isinstance(act, L.WaitPassage):
            try:
                if not self.dev.gate.confirms_passage():
                    return L.Passage(True)
                return L.Passage(self.dev.gate.wait_passage(self.opt.passage_timeout))
            except Exception as exc:  # noqa: BLE001 - gate gone mid-passage: voided
                log.error("lane %s: passage not confirmed: %s: %s", s.name, type(exc).__name__, exc)
                return L.GateFailed(type(exc).__name__)
        if isinstance(act, L.NotePresence):
            self.roster.record_passage(act.worker, act.dir, time.time_ns() // 1_000_000)
            return None
        if isinstance(act, L.Alarm):
            self.alarms.append(act.message)
            log.critical(act.message)
            return None
        raise TypeError(act)

    def _capture(self, claimed: str | None) -> L.Captured:
        if self.faces is None or self.dev.grabber is None:
            return L.Captured(face_error="no_camera")
        t0 = time.perf_counter()
        frames = self.dev.grabber.collect(self.opt.capture_frames, self.opt.capture_timeout)
        waited = (time.perf_counter() - t0) * 1e3
        d = self.faces.match_sequence([bgr_to_rgb(f) for f in frames], claimed, liveness=self.opt.liveness,
                                      detect_width=self.opt.detect_width)
        res, tm = d.result, d.timings_ms or {}
        if log.isEnabledFor(logging.DEBUG):
            log.debug("lane %s: face steps: capture %.0f ms (%d frames), %s; fused %d, model %s%s",
                      self.machine.settings.name, waited, len(frames),
                      ", ".join(f"{k} {v:.1f} ms" for k, v in tm.items() if k != "frames"),
                      res.fused, d.match.model if d.match else res.model, ", learned" if d.learned else "")
        live = res.liveness.as_dict() if res.liveness else None
        if res.face_error:
            return L.Captured(face_error=res.face_error, liveness=live)
        match = d.match
        worker = last = None
        if claimed is None and match.worker_id:
            worker = self.roster.get(match.worker_id)
            last = self.roster.last_direction(match.worker_id) if worker else None
        return L.Captured(liveness=live, match=match.as_dict(), worker=worker, last_dir=last)
