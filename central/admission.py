"""Admission: take a block into the receiver's queue, or answer ``busy`` (docs/wire.md §5).

Sans-I/O: the receiver tells it the queue's depth and bytes, and how fast its worker commits;
it answers per message.  A central past its capacity answers a block it will not process soon
with a signed ``busy`` ack instead of queueing it (where the gateway's ``ack_timeout`` would
fire and the whole window come again: the re-send storm that made central collapse).  The
aim is to *bend*: the worker never idles while gateways wait, and a busy answer is cheap.

* **take** while the estimated wait (depth / measured rate) is at most ``busy_after_ms`` (or
  the queue holds fewer than ``min_depth`` messages), and below the hard bounds ``queue_max``
  messages / ``queue_bytes_max`` bytes.  Below that target central never answers busy,
  whatever the load.
* **busy** otherwise, with a ``retry_after_ms`` that gives the gateway a *turn*: central
  keeps the time its promised work ends (``horizon``): the queue's wait, then the blocks of
  every gateway told busy before, each ``blocks / rate`` long.  A gateway told busy waits
  ``retry_after_ms`` x U[1, 1.5] (its own draw spreads the returns), so it is asked for the
  time to its turn / 1.25: it comes back at its turn on average (asked for the time itself,
  returns came 25 % late and the worker idled at the end of a peak).  The horizon moves on
  by the blocks it is expected to bring (its unreleased blocks as far as its message shows,
  1..``turn_blocks_max``).
  A gateway **back at its turn** is taken for ``turn_s`` (its window and the next one) up to
  *twice* the target: the promise is kept, and the newcomers that find the queue full get
  turns of their own.  So the returning load matches the worker's rate -- too short a wait
  would bring a re-send storm and more busies, too long an idle worker -- and a gateway is
  told busy about once per turn, not once per window.
  The value is rounded to a step of ~25 % (``quantize``) so the receiver can reuse one
  signed busy ack per gateway while its head and step stay the same.
* **busy at the ack** (``after_commit``): when the worker acks a gateway's committed blocks
  and the same rule would tell its next block busy, the ack itself is the busy ack (same
  head: it releases the same records) -- one SM2 signature instead of two, and the gateway
  does not send a block only to have it refused.  Not while more of its messages are queued.
* **drop** (no answer) for a gateway told busy less than its ``retry_after_ms`` ago: the
  gateway sends nothing during that time (§5), so what arrives was in flight already and
  comes again from its first unacknowledged record.  One busy ack per gateway per interval.
  (Moving the horizon on by the backlog the dropped blocks show was tried: turns then
  reached past the real work when a peak ended -- BENCHMARKS.md runs L and M.)

The rate is measured, not configured: blocks committed per second the worker was busy (an
exponential average), learnt from batches of at least ``rate_batch_min`` blocks -- the rate
that matters when a queue is deep (a lightly loaded worker commits batches of one, each with
its own commit, and would look several times slower than it is).
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

RETRY_MIN_MS = 1_000
RETRY_MAX_MS = 60_000
# retry_after_ms steps: 1 s x 1.25^k up to 60 s (so one signed busy ack can be reused)
RETRY_STEPS = sorted({min(RETRY_MAX_MS, int(round(RETRY_MIN_MS * 1.25 ** k, -2)))
                      for k in range(0, 20)})
JITTER_MEAN = 1.25           # gateways wait retry_after_ms x U[1, 1.5] (wire.md §5)


def quantize(ms: float) -> int:
    """The retry step nearest to ``ms`` (1 s .. 60 s)."""
    ms = min(RETRY_MAX_MS, max(RETRY_MIN_MS, ms))
    i = bisect.bisect_left(RETRY_STEPS, ms)
    if i == len(RETRY_STEPS):
        return RETRY_STEPS[-1]
    if i > 0 and ms - RETRY_STEPS[i - 1] < RETRY_STEPS[i] - ms:
        return RETRY_STEPS[i - 1]
    return RETRY_STEPS[i]


@dataclass(frozen=True)
class Decision:
    action: str                  # take | busy | drop
    retry_after_ms: int = 0      # with busy
    wait_ms: int = 0             # the estimated wait of the queue that decided


class Admission:
    def __init__(self, *, busy_after_ms: int = 2_000, queue_max: int = 5_000,
                 queue_bytes_max: int = 64 << 20, min_depth: int = 64,
                 initial_rate: float = 100.0, rate_batch_min: int = 16,
                 turn_blocks_max: int = 16, turn_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.busy_after_ms = busy_after_ms
        self.queue_max = queue_max
        self.queue_bytes_max = queue_bytes_max
        self.min_depth = min_depth
        self.rate = initial_rate          # blocks/s while working (exponential average)
        self.rate_batch_min = rate_batch_min
        self.turn_blocks_max = turn_blocks_max
        # how long a gateway back at its turn is taken past the target: its window, and the
        # next one after the ack (two queue waits)
        self.turn_s = 3 * busy_after_ms / 1000 if turn_s is None else turn_s
        self.clock = clock
        self.horizon = 0.0                # clock: when the work promised so far ends
        self._held: dict[str, float] = {}     # gateway -> until (clock) it was told to wait
        self._serving: dict[str, float] = {}  # gateway at its turn -> until (clock)
        self._lock = threading.Lock()     # offer: the network thread; after_commit: the worker
        # busy_first: a gateway not at its turn; busy_again: one back at its turn that found
        # the queue past twice the target (its turn was promised too early)
        self.counters: Counter[str] = Counter()

    def wait_ms(self, depth: int) -> int:
        return int(depth * 1000 / max(self.rate, 1.0))

    def offer(self, gw: str, depth: int, nbytes: int = 0, blocks: int = 1) -> Decision:
        """One message of ``gw`` arrives with ``depth`` messages (``nbytes``) queued;
        ``blocks``: how many blocks the gateway has unreleased, as far as its message shows
        (what it will bring back on its turn)."""
        with self._lock:
            now = self.clock()
            until = self._held.get(gw)
            if until is not None:
                if now < until:
                    return Decision("drop")
                del self._held[gw]
                self._serving[gw] = now + self.turn_s       # back at its turn
            return self._admit(gw, now, depth, nbytes, blocks)

    def after_commit(self, gw: str, depth: int, nbytes: int = 0, blocks: int = 1,
                     queued: bool = False) -> Decision:
        """The worker committed ``blocks`` of ``gw`` with ``depth`` messages (``nbytes``)
        queued behind: answer ``take`` (its ack says ``ok``) or ``busy`` (its ack says busy
        with the new head) -- the gateway's next block would be told busy when it came, so
        its ack says so already: one signature for both, and no block sent only to be
        refused.  Same rule as ``offer`` (a gateway at its turn is taken up to twice the
        target).  ``queued``: more of its messages wait in the queue (``take``: they come
        next, and a busy now would make it re-send them)."""
        with self._lock:
            if queued:
                return Decision("take")
            return self._admit(gw, self.clock(), depth, nbytes, blocks)

    def _admit(self, gw: str, now: float, depth: int, nbytes: int, blocks: int) -> Decision:
        serving = self._serving.get(gw)
        if serving is not None and now >= serving:
            del self._serving[gw]
            serving = None
        wait = self.wait_ms(depth)
        # a gateway at its turn was promised room: it may fill the queue to twice the target
        # (its promise is kept; the newcomers wait for turns of their own)
        target = self.busy_after_ms * (2 if serving is not None else 1)
        if depth < self.queue_max and nbytes < self.queue_bytes_max and \
                (depth < self.min_depth or wait <= target):
            return Decision("take", wait_ms=wait)
        return self._turn(gw, now, wait, blocks)

    def _turn(self, gw: str, now: float, wait: int, blocks: int) -> Decision:
        again = self._serving.pop(gw, None) is not None
        self.counters["busy_again" if again else "busy_first"] += 1
        # its turn: after the queue, after the gateways told busy before it
        start = max(now + wait / 1000, self.horizon)
        bring = min(self.turn_blocks_max, max(1, blocks))
        self.horizon = start + bring / max(self.rate, 1.0)
        # it waits retry x U[1, 1.5]: on average it comes back at its turn
        retry = quantize((start - now) * 1000 / JITTER_MEAN)
        self._held[gw] = now + retry / 1000
        if len(self._held) > 200_000:                 # bounded: forget the expired ones
            self._held = {g: u for g, u in self._held.items() if u > now}
        if len(self._serving) > 200_000:
            self._serving = {g: u for g, u in self._serving.items() if u > now}
        return Decision("busy", retry_after_ms=retry, wait_ms=wait)

    def done(self, blocks: int, seconds: float) -> None:
        """The worker committed ``blocks`` in ``seconds`` of work."""
        if blocks < self.rate_batch_min or seconds <= 0:
            return
        sample = blocks / seconds
        # weight by batch size: a small batch says little about a loaded worker's rate
        alpha = min(0.5, 0.01 * blocks)
        self.rate = (1 - alpha) * self.rate + alpha * sample
