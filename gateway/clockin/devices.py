"""Hot-plug supervision: keep a device open, report it lost when it disappears, and re-open it
by the same path when it comes back, without restarting the daemon.

Works for any driver whose operations raise :class:`drivers.errors.DeviceLost`: the opener builds
the driver (e.g. ``lambda: SamReader.open(port)``), the step runs one unit of work (e.g.
``reader.poll()``) and returns events, which go to ``on_event`` together with
:class:`DeviceStatus` changes.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from drivers.errors import DeviceLost

log = logging.getLogger(__name__)
D = TypeVar("D")


@dataclass(frozen=True)
class DeviceStatus:
    device: str
    state: str          # "connected" | "lost"
    message: str = ""


class DeviceSupervisor(Generic[D]):
    def __init__(self, name: str, opener: Callable[[], D], step: Callable[[D], list[Any]],
                 on_event: Callable[[Any], None], *, retry: float = 0.5,
                 close: Callable[[D], None] = lambda d: getattr(d, "close")()) -> None:
        self.name, self._open, self._step, self._emit = name, opener, step, on_event
        self.retry, self._close = retry, close
        self.device: D | None = None
        self.state = "unknown"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _set(self, state: str, message: str = "") -> None:
        if state != self.state:
            self.state = state
            log.log(logging.WARNING if state == "lost" else logging.INFO,
                    "device %s %s %s", self.name, state, message)
            self._emit(DeviceStatus(self.name, state, message))

    def run_once(self) -> bool:
        """One unit of work; returns False when the device is absent (caller should wait)."""
        if self.device is None:
            try:
                self.device = self._open()
            except (DeviceLost, OSError) as exc:
                self._set("lost", str(exc))
                return False
            self._set("connected")
        try:
            for event in self._step(self.device):
                self._emit(event)
        except (DeviceLost, OSError) as exc:
            try:
                self._close(self.device)
            except Exception:
                pass
            self.device = None
            self._set("lost", str(exc))
            return False
        return True

    def run(self, interval: float = 0.1) -> None:
        while not self._stop.is_set():
            self._stop.wait(interval if self.run_once() else self.retry)

    def start(self, interval: float = 0.1) -> "DeviceSupervisor[D]":
        self._thread = threading.Thread(target=self.run, args=(interval,), daemon=True,
                                        name=f"supervise-{self.name}")
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        if self.device is not None:
            self._close(self.device)
            self.device = None
