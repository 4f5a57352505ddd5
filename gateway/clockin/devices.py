"""Hot-plug supervision: keep each lane device open, report it lost the moment it disappears, and
re-open it when it comes back, without restarting the daemon.

One :class:`DeviceSupervisor` per device (ID-card reader, camera, gate controller) owns the
device object and a thread. A step of work (poll the reader, grab a frame, check the
controller) that raises :class:`drivers.errors.DeviceLost` (or an ``OSError``) closes the
device and marks it **lost**; re-opens follow a bounded, jittered backoff (:class:`Backoff`),
each one through the configured path again, so a udev symlink that now points at a new
``/dev/ttyUSB*`` is followed. Lanes never hold a stale handle: they ask the supervisor for
the current device (:meth:`DeviceSupervisor.current`) and report a failure back
(:meth:`DeviceSupervisor.report_lost`).

The lane-facing pieces:

* :class:`ReaderFeed` -- the ID-card reader, polled by its supervisor while the lane is idle;
  the lane takes the card events from a queue.
* :class:`FrameGrabber` -- the camera, read continuously; keeps only recent frames.
* :class:`LaneGate` -- one lane's view of a (possibly shared) gate controller.

:func:`device_alarms` turns the supervisors' state into the alarms that go on the retained
state topic, into ``run/health.json`` and from there into ``sitegate status``, ``doctor`` and
the web app.
"""
from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, TypeVar

import numpy as np

from drivers.camera import Camera, display_source
from drivers.errors import DeviceLost, DeviceTimeout
from drivers.sam.reader import ReaderProblem, SamError, SamReader
from drivers.turnstile import GateSilent

log = logging.getLogger("sitegate.devices")
D = TypeVar("D")

LABELS = {"idcard": "ID-card reader", "camera": "camera", "gate": "gate controller"}


@dataclass(frozen=True)
class Backoff:
    """Re-open schedule: exponential from ``first`` up to ``cap`` seconds, with equal jitter."""
    first: float = 0.25
    cap: float = 2.0

    def delay(self, attempt: int, u: float) -> float:
        """Pure: seconds before re-open attempt ``attempt`` (1, 2, ...) for ``u`` in [0, 1).
        Half of the step is fixed and half random, so a site's devices do not retry in step,
        a retry never comes sooner than ``first / 2`` and never later than ``cap``."""
        step = min(self.cap, self.first * 2 ** min(max(0, attempt - 1), 32))
        return step / 2 + u * step / 2


@dataclass(frozen=True)
class DeviceStatus:
    device: str
    state: str          # "connected" | "lost"
    message: str = ""


def _close(device: Any) -> None:
    getattr(device, "close")()


def link_target(path: str) -> str | None:
    """Where a device path points now (``/dev/serial/by-id/…`` -> ``/dev/ttyUSB1``)."""
    if not path or not path.startswith("/") or not os.path.exists(path):
        return None
    return os.path.realpath(path)


class DeviceSupervisor(Generic[D]):
    """Keeps one device open. ``opener()`` builds it (and may check that it answers),
    ``step(device)`` does one unit of work and returns events for ``on_event`` (which also
    receives :class:`DeviceStatus` changes)."""

    def __init__(self, name: str, opener: Callable[[], D], step: Callable[[D], list[Any]],
                 on_event: Callable[[Any], None] = lambda ev: None, *, role: str = "",
                 path: str = "", lanes: Iterable[str] = (), interval: float = 0.1,
                 backoff: Backoff | None = None, retry: float | None = None,
                 close: Callable[[D], None] = _close, rng: Callable[[], float] = random.random) -> None:
        self.name, self.role, self.path, self.lanes = name, role, path, list(lanes)
        self._open, self._step, self._emit, self._close = opener, step, on_event, close
        self.interval = interval
        self.backoff = backoff or (Backoff(retry, retry) if retry is not None else Backoff())
        self._rng = rng
        self.device: D | None = None
        self.state = "unknown"
        self.since: float | None = None         # wall-clock time of the last state change
        self.message = ""
        self.attempts = 0                       # failed re-opens since the device was lost
        self.reopened = 0                       # times it came back
        self.errors = 0                         # step errors that were not a lost device
        self._next_open = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ state
    def _set(self, state: str, message: str = "") -> None:
        with self._lock:
            if state == self.state:
                self.message = message           # still lost, maybe for another reason
                return
            was, self.state, self.message, self.since = self.state, state, message, time.time()
        if state == "connected" and was == "lost":
            self.reopened += 1
        log.log(logging.WARNING if state == "lost" else logging.INFO, "device %s (%s) %s%s",
                self.name, self.path, state, f": {message}" if message else "")
        self._emit(DeviceStatus(self.name, state, message))

    @property
    def available(self) -> bool:
        return self.state == "connected" and self.device is not None

    def current(self) -> D:
        """The open device; DeviceLost (saying why) while it is away."""
        device = self.device
        if device is None:
            label = LABELS.get(self.role, self.role or "device")
            raise DeviceLost(f"{label} {self.path} unavailable: {self.message or 'not open yet'}")
        return device

    def report_lost(self, device: D, exc: BaseException) -> None:
        """A user of ``device`` saw it fail: close it and start re-opening (any thread)."""
        with self._lock:
            if self.device is not device or device is None:
                return                                   # already replaced or closed
            self.device = None
        try:
            self._close(device)
        except Exception:  # noqa: BLE001 - it is gone anyway
            pass
        self.attempts = 0
        self._next_open = time.monotonic() + self.backoff.delay(1, self._rng())
        self._set("lost", str(exc) or type(exc).__name__)

    # ------------------------------------------------------------------ work
    def run_once(self) -> bool:
        """One unit of work; False when the device is absent (the caller should wait)."""
        device = self.device
        if device is None:
            if time.monotonic() < self._next_open:
                return False
            try:
                device = self._open()
            except Exception as exc:  # noqa: BLE001 - any failure to open: still lost, retry later
                self.attempts += 1
                self._next_open = time.monotonic() + self.backoff.delay(self.attempts + 1, self._rng())
                if not isinstance(exc, (DeviceLost, OSError)):
                    log.debug("device %s: opener failed", self.name, exc_info=True)
                self._set("lost", str(exc) or type(exc).__name__)
                return False
            with self._lock:
                self.device = device
            self.attempts = 0
            self._set("connected")
        try:
            events = self._step(device)
        except (DeviceLost, OSError) as exc:
            self.report_lost(device, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - the device answered oddly; it is still there
            self.errors += 1
            log.log(logging.ERROR if self.errors == 1 else logging.DEBUG, "device %s: %s: %s",
                    self.name, type(exc).__name__, exc)
            return True
        for event in events:
            self._emit(event)
        return True

    def _wait(self) -> float:
        return max(0.0, min(self._next_open - time.monotonic(), self.backoff.cap))

    def run(self, interval: float | None = None) -> None:
        interval = self.interval if interval is None else interval
        while not self._stop.is_set():
            if self.run_once():
                if interval:
                    self._stop.wait(interval)
            else:
                self._stop.wait(self._wait() or 0.01)

    def start(self, interval: float | None = None) -> "DeviceSupervisor[D]":
        self._thread = threading.Thread(target=self.run, args=(interval,), daemon=True,
                                        name=f"supervise-{self.name}")
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        with self._lock:
            device, self.device = self.device, None
        if device is not None:
            try:
                self._close(device)
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass

    # ------------------------------------------------------------------ reporting
    def info(self) -> dict:
        """For the health file, status, doctor and the web app (no personal data)."""
        return {"name": self.name, "role": self.role, "path": self.path, "lanes": self.lanes,
                "target": link_target(self.path) if self.state == "connected" else None,
                "state": self.state, "since": self.since, "message": self.message,
                "attempts": self.attempts, "reopened": self.reopened}


def device_alarms(devices: Iterable[dict]) -> list[dict]:
    """Pure: one critical ``device_lost`` alarm per lost device (missing at start included;
    a device whose first open is still under way is not yet an alarm)."""
    out = []
    for d in devices:
        if d.get("state") != "lost":
            continue
        label = LABELS.get(d.get("role", ""), d.get("role") or "device")
        lanes = ", ".join(d.get("lanes") or [])
        out.append({"code": "device_lost", "level": "critical", "device": d["name"], "since": d.get("since"),
                    "message": f"{label} {d.get('path', '')} (lane {lanes}) lost: "
                               f"{d.get('message') or 'no answer'}; re-opening, the lane refuses meanwhile"})
    return out


# ---------------------------------------------------------------------- the ID-card reader
class ReaderFeed:
    """The lane's ID-card reader under supervision. The supervisor polls the reader while the
    lane is idle and queues card events for it; while the lane is busy deciding it only checks
    that the reader is still there (a card tapped meanwhile is read afterwards, as before)."""

    def __init__(self, port: str, *, name: str = "idcard", lanes: Iterable[str] = (),
                 baudrate: int = 115200, timeout: float = 0.5, interval: float = 0.05,
                 check_every: float = 0.5, backoff: Backoff | None = None, retry: float | None = None) -> None:
        self.port, self.baudrate, self.timeout, self.check_every = port, baudrate, timeout, check_every
        self._queue: queue.Queue = queue.Queue(maxsize=64)
        self._paused = threading.Event()
        self._last_check = 0.0
        self.dropped = 0
        self.supervisor: DeviceSupervisor[SamReader] = DeviceSupervisor(
            name, self._open, self._step, self._put, role="idcard", path=port, lanes=lanes,
            interval=interval, backoff=backoff, retry=retry)

    def _open(self) -> SamReader:
        reader = SamReader.open(self.port, self.baudrate, timeout=self.timeout)
        try:
            reader.status()
        except (DeviceTimeout, SamError) as exc:
            reader.close()
            raise DeviceLost(f"ID-card reader on {self.port} does not answer: {exc}") from exc
        except BaseException:
            reader.close()
            raise
        return reader

    def _step(self, reader: SamReader) -> list[Any]:
        if not self._paused.is_set():
            return reader.poll()
        now = time.monotonic()
        if now - self._last_check >= self.check_every:
            self._last_check = now
            try:
                reader.status()
            except (DeviceTimeout, SamError):
                pass                    # a garbled answer is not a lost device; poll() says more
        return []

    def _put(self, ev: Any) -> None:
        if isinstance(ev, (DeviceStatus, ReaderProblem)):
            return
        try:
            self._queue.put(ev, timeout=1.0)
        except queue.Full:
            self.dropped += 1
            log.error("device %s: lane not taking card events; one dropped", self.supervisor.name)

    def events(self) -> list[Any]:
        """Card events since the last call (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def pause(self) -> None:
        self._last_check = time.monotonic()
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    @property
    def available(self) -> bool:
        return self.supervisor.available

    def start(self) -> "ReaderFeed":
        self.supervisor.start()
        return self

    def stop(self) -> None:
        self.supervisor.stop()


# ---------------------------------------------------------------------- the camera
class FrameGrabber:
    """Reads a camera continuously under supervision and keeps only recent frames, so a capture
    never gets stale buffered frames and a slow consumer never stalls the stream. While the
    camera is lost there are no frames at all (never an old picture)."""

    def __init__(self, camera: Camera | str | int, keep: int = 32, *, name: str = "camera",
                 lanes: Iterable[str] = (), backoff: Backoff | None = None,
                 read_timeout: float = 1.0) -> None:
        if not isinstance(camera, Camera):
            camera = Camera(camera, read_timeout=read_timeout)
        self.camera = camera
        self.keep = keep
        self._frames: list[tuple[float, np.ndarray]] = []
        self._cond = threading.Condition()
        self.supervisor: DeviceSupervisor[Camera] = DeviceSupervisor(
            name, camera.connect, lambda cam: [cam.grab()], self._put, role="camera",
            path=display_source(camera.source), lanes=lanes, interval=0.0,
            backoff=backoff or Backoff(0.25, 2.0), close=lambda cam: cam.close())

    def _put(self, ev: Any) -> None:
        with self._cond:
            if isinstance(ev, DeviceStatus):
                if ev.state != "connected":
                    self._frames.clear()
                return
            self._frames.append((time.monotonic(), ev))
            del self._frames[:-self.keep]
            self._cond.notify_all()

    @property
    def available(self) -> bool:
        return self.supervisor.available

    def start(self) -> "FrameGrabber":
        self.supervisor.start()
        return self

    def stop(self) -> None:
        self.supervisor.stop()

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


# ---------------------------------------------------------------------- the gate
def supervise_gate(name: str, opener: Callable[[], Any], *, path: str = "", lanes: Iterable[str] = (),
                   interval: float = 0.5, backoff: Backoff | None = None,
                   retry: float | None = None) -> DeviceSupervisor[Any]:
    """A gate controller under supervision: ``check()`` every ``interval`` seconds between
    passages, so an unplugged controller is noticed before a worker stands at the gate
    (drivers without ``check`` are noticed when an operation fails)."""
    def step(driver: Any) -> list[Any]:
        check = getattr(driver, "check", None)
        if check is not None:
            check()
        return []
    return DeviceSupervisor(name, opener, step, role="gate", path=path, lanes=lanes,
                            interval=interval, backoff=backoff, retry=retry)


class LaneGate:
    """One lane's view of a supervised gate controller (several lanes may share one)."""

    def __init__(self, supervisor: DeviceSupervisor[Any], lane: str) -> None:
        self.supervisor, self.lane = supervisor, lane

    @property
    def available(self) -> bool:
        return self.supervisor.available

    def _use(self, op: Callable[[Any], Any]) -> Any:
        driver = self.supervisor.current()
        try:
            return op(driver)
        except (DeviceLost, GateSilent) as exc:
            self.supervisor.report_lost(driver, exc)
            raise

    def open(self) -> None:
        self._use(lambda d: d.open(self.lane))

    def confirms_passage(self) -> bool:
        driver = self.supervisor.current()
        confirms = getattr(driver, "confirms_passage", None)
        return True if confirms is None else bool(confirms(self.lane))

    def wait_passage(self, timeout: float) -> bool:
        return self._use(lambda d: d.wait_passage(self.lane, timeout))
