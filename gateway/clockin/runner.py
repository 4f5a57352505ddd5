"""The imperative shell around :class:`gateway.lane.LaneMachine`: one thread per lane, each with
its own card reader and camera; lanes share the outbox (thread-safe), the roster, the face
gallery and the relay board (one lock per bus transaction, never held while waiting, so a
lane that waits for a passage or a stuck reader never holds up another lane)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

import numpy as np

from biometrics.faces import bgr_to_rgb, detect
from biometrics.liveness import LivenessPolicy
from drivers.turnstile import PassageWatch

from gateway.clockin import machine as L
from gateway.clockin.faces import FaceService
from gateway.roster.store import Roster

log = logging.getLogger("sitegate.lanes")


class FrameGrabber:
    """Reads a camera continuously in its own thread and keeps only recent frames, so a
    capture never gets stale buffered frames and a slow consumer never stalls the stream."""

    def __init__(self, camera: Any, keep: int = 32) -> None:
        self.camera = camera
        self.keep = keep
        self._frames: list[tuple[float, np.ndarray]] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="grabber")

    def start(self) -> "FrameGrabber":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.camera.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.camera.read()
            if frame is None:
                time.sleep(0.05)
                continue
            with self._cond:
                self._frames.append((time.monotonic(), frame))
                del self._frames[:-self.keep]
                self._cond.notify_all()

    def latest(self) -> np.ndarray | None:
        with self._cond:
            return self._frames[-1][1] if self._frames else None

    def collect(self, n: int, timeout: float, since: float | None = None) -> list[np.ndarray]:
        """Up to ``n`` frames captured after ``since`` (default: now), waiting at most ``timeout``."""
        since = time.monotonic() if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                fresh = [f for t, f in self._frames if t > since]
                left = deadline - time.monotonic()
                if len(fresh) >= n or left <= 0:
                    return fresh[:n]
                self._cond.wait(left)


class SharedGate:
    """A relay board shared by several lanes: each Modbus transaction under one lock. The
    passage sensor is armed *before* the relay closes (a quick walker can trip it during the
    pulse), so :meth:`wait_passage` sees every edge after :meth:`open`."""

    def __init__(self, driver: Any, pulse: float = 0.3, poll: float = 0.05) -> None:
        self.driver, self.pulse, self.poll = driver, pulse, poll
        self._lock = threading.Lock()
        self._watch: dict[int, tuple[PassageWatch, list[bool]]] = {}

    def _sample(self, sensor: int) -> bool:
        watch, fired = self._watch[sensor]
        with self._lock:
            value = self.driver.read_inputs(sensor + 1)[sensor]
        if watch.update(value):
            fired[0] = True
        return fired[0]

    def open(self, relay: int, sensor: int | None = None) -> None:
        if sensor is not None:
            self._watch[sensor] = (PassageWatch(), [False])
            self._sample(sensor)
        with self._lock:
            self.driver.set_relay(relay, True)
        try:
            end = time.monotonic() + self.pulse
            while time.monotonic() < end:
                if sensor is not None:
                    self._sample(sensor)
                time.sleep(min(self.poll, max(0.0, end - time.monotonic())))
        finally:
            with self._lock:
                self.driver.set_relay(relay, False)

    def wait_passage(self, sensor: int, timeout: float) -> bool:
        if sensor not in self._watch:
            self._watch[sensor] = (PassageWatch(), [False])
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self._sample(sensor):
                    return True
                time.sleep(self.poll)
            return False
        finally:
            self._watch.pop(sensor, None)


@dataclass
class LaneDevices:
    reader: Any | None             # drivers.sam.reader.SamReader (card modes)
    grabber: FrameGrabber | None   # face modes
    gate: SharedGate
    relay: int
    sensor: int | None


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
                    self.busy.set()
                    self.feed(ev)
                    self.busy.clear()
                    if isinstance(ev, L.FaceSeen):
                        self._next_face = time.monotonic() + self.opt.face_cooldown
            except Exception as exc:   # a lane must keep running; the supervisor sees errors
                self.errors += 1
                self.busy.clear()
                log.error("lane %s: %s: %s", self.machine.settings.name, type(exc).__name__, exc)
                self.machine.state = L.State.READY
                self._stop.wait(0.5)
            self._stop.wait(self.opt.poll_interval)

    # ------------------------------------------------------------------ inputs
    def _poll(self) -> list[L.Event]:
        from drivers.sam.reader import CardError, CardRead
        s = self.machine.settings
        out: list[L.Event] = []
        if self.dev.reader is not None and s.mode != "face":
            for ev in self.dev.reader.poll():
                if isinstance(ev, CardRead):
                    worker = self.roster.by_id_number(ev.identity.id_number)
                    last = self.roster.last_direction(worker.worker_id) if worker else None
                    if worker is None:
                        self._note_unknown(ev.identity)
                    out.append(L.CardPresented(worker, last))
                elif isinstance(ev, CardError):
                    out.append(L.CardFailed(ev.reason))
        elif s.mode == "face" and self.dev.grabber is not None and time.monotonic() >= self._next_face:
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
        except Exception as exc:
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
            except Exception as exc:   # e.g. a tampered template store: deny and say so
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
                self.dev.gate.open(self.dev.relay, self.dev.sensor)
            except Exception as exc:  # DeviceLost / GateError
                return L.GateFailed(type(exc).__name__)
            return L.GateOpened()
        if isinstance(act, L.WaitPassage):
            if self.dev.sensor is None:
                return L.Passage(True)
            return L.Passage(self.dev.gate.wait_passage(self.dev.sensor, self.opt.passage_timeout))
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
