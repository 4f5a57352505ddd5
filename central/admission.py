"""Admission: take a block into the receiver's queue, or answer ``busy`` (docs/wire.md §5).

Sans-I/O: the receiver tells it the queue's depth and bytes, and how fast its worker commits;
it answers per message.  A central past its capacity answers a block it will not process soon
with a signed ``busy`` ack instead of queueing it (where the gateway's ``ack_timeout`` would
fire and the whole window come again: the re-send storm that made central collapse).

* **take** while the estimated wait (depth / measured rate) is at most ``busy_after_ms`` (or
  the queue holds fewer than ``min_depth`` messages), and below the hard bounds ``queue_max``
  messages / ``queue_bytes_max`` bytes;
* **busy** otherwise, with ``retry_after_ms`` = twice the estimated wait, 1 s at least,
  60 s at most: by then the queue has drained what is in it and the gateways told "busy"
  together come back spread over [1, 1.5] × that (their jitter);
* **drop** (no answer) for a gateway told busy less than its ``retry_after_ms`` ago: the
  gateway sends nothing during that time (§5), so what arrives was in flight already and
  comes again from its first unacknowledged record.  One busy ack per gateway per interval.

The rate is measured, not configured: blocks committed per second the worker was busy (an
exponential average), so it follows the machine and the database.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

RETRY_MIN_MS = 1_000
RETRY_MAX_MS = 60_000


@dataclass(frozen=True)
class Decision:
    action: str                  # take | busy | drop
    retry_after_ms: int = 0      # with busy
    wait_ms: int = 0             # the estimated wait that decided


class Admission:
    def __init__(self, *, busy_after_ms: int = 2_000, queue_max: int = 5_000,
                 queue_bytes_max: int = 64 << 20, min_depth: int = 64,
                 initial_rate: float = 100.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.busy_after_ms = busy_after_ms
        self.queue_max = queue_max
        self.queue_bytes_max = queue_bytes_max
        self.min_depth = min_depth
        self.rate = initial_rate          # blocks/s while working (exponential average)
        self.clock = clock
        self._held: dict[str, float] = {}     # gateway -> until (clock) it was told to wait

    def wait_ms(self, depth: int) -> int:
        return int(depth * 1000 / max(self.rate, 1.0))

    def offer(self, gw: str, depth: int, nbytes: int = 0) -> Decision:
        now = self.clock()
        until = self._held.get(gw)
        if until is not None:
            if now < until:
                return Decision("drop")
            del self._held[gw]
        wait = self.wait_ms(depth)
        if depth < self.queue_max and nbytes < self.queue_bytes_max and \
                (depth < self.min_depth or wait <= self.busy_after_ms):
            return Decision("take", wait_ms=wait)
        retry = min(RETRY_MAX_MS, max(RETRY_MIN_MS, 2 * wait))
        self._held[gw] = now + retry / 1000
        if len(self._held) > 200_000:                 # bounded: forget the expired ones
            self._held = {g: u for g, u in self._held.items() if u > now}
        return Decision("busy", retry_after_ms=retry, wait_ms=wait)

    def done(self, blocks: int, seconds: float) -> None:
        """The worker committed ``blocks`` in ``seconds`` of work."""
        if blocks <= 0 or seconds <= 0:
            return
        sample = blocks / seconds
        # weight by batch size: a batch of 1 says little about a loaded worker's rate
        alpha = min(0.5, 0.02 * blocks)
        self.rate = (1 - alpha) * self.rate + alpha * sample
