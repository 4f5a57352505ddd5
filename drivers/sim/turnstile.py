"""Turnstile simulator: a Modbus RTU relay board (hand-written responder, real bytes) on a pty,
wired to a simulated turnstile. When a lane's relay closes, a person walks through after
``walk_time`` and the lane's passage sensor (a discrete input) goes high for ``sensor_time``.
``walk_away`` makes people not pass (the gateway must see a timeout); :meth:`trigger_input`
injects an edge by hand."""
from __future__ import annotations

import threading
import time

from ..modbus import RelayBoard, RequestSplitter
from ..ptydev import PtyDevice


class TurnstileSimulator(PtyDevice):
    name = "turnstile"
    tick_interval = 0.01

    def __init__(self, *, link: str | None = None, slave: int = 1, channels: int = 8,
                 lanes: dict[int, int] | None = None, walk_time: float = 0.2,
                 sensor_time: float = 0.3, walk_away: bool = False, baud: int | None = None) -> None:
        super().__init__(link=link, baud=baud)
        self.board = RelayBoard(slave=slave, channels=channels)
        self.splitter = RequestSplitter()
        self.lanes = {0: 0, 1: 1} if lanes is None else dict(lanes)   # relay -> sensor input
        self.walk_time, self.sensor_time, self.walk_away = walk_time, sensor_time, walk_away
        self.requests: list[tuple[float, bytes]] = []   # every valid request as received
        self.passages: list[int] = []               # relay channels that let someone through
        self.pulses: list[int] = []                 # relay channels that were pulsed
        self._events: list[tuple[float, int, bool]] = []
        self._ev_lock = threading.Lock()
        self._last_rx = 0.0

    def on_plug(self) -> None:
        self.splitter.reset()

    def on_data(self, data: bytes) -> None:
        self._last_rx = time.monotonic()
        for req in self.splitter.feed(data):
            self.requests.append((time.monotonic(), req.raw))
            before = list(self.board.coils)
            reply = self.board.handle(req)
            self._react(before, self.board.coils)
            if reply is not None:
                self.send(reply)

    def _react(self, before: list[bool], after: list[bool]) -> None:
        now = time.monotonic()
        for ch, (was, isnow) in enumerate(zip(before, after)):
            if not was and isnow:
                self.pulses.append(ch)
                if ch in self.lanes and not self.walk_away:
                    self.passages.append(ch)
                    sensor = self.lanes[ch]
                    with self._ev_lock:
                        self._events += [(now + self.walk_time, sensor, True),
                                         (now + self.walk_time + self.sensor_time, sensor, False)]

    def trigger_input(self, index: int, duration: float = 0.3) -> None:
        now = time.monotonic()
        with self._ev_lock:
            self._events += [(now, index, True), (now + duration, index, False)]

    def tick(self, now: float) -> None:
        if self._last_rx and now - self._last_rx > 0.05:     # t3.5 silence ends a partial frame
            self.splitter.reset()
            self._last_rx = 0.0
        with self._ev_lock:
            due = [e for e in self._events if e[0] <= now]
            self._events = [e for e in self._events if e[0] > now]
        for _, index, value in sorted(due):
            self.board.inputs[index] = value
