"""Simulated clock-ins (``[simulate]``): a load source for demos, soak tests and benchmarks,
committed through the same outbox as the lanes and the phone page.

The source is restart-safe: with ``total`` set it continues from the outbox's last seq and
stops at exactly ``total`` records, however often the daemon is killed in between.  A record
counts as made only once ``Outbox.append_many`` returned (committed).
"""
from __future__ import annotations

import logging
import threading

from uplink.outbox import Outbox, OutboxFull

log = logging.getLogger("sitegate.simulate")


def clock_in(seq: int, workers: int) -> dict:
    """The body of simulated clock-in number ``seq`` (a pseudonymous worker id, never PII)."""
    worker = (seq * 7919) % max(workers, 1)
    return {"worker": f"W{worker:06d}", "dir": "in" if (seq // workers) % 2 == 0 else "out",
            "method": "sim", "device": f"lane-{worker % 4 + 1}", "decision": "allow"}


def run_source(outbox: Outbox, stop: threading.Event, rate: float, total: int = 0,
               workers: int = 200, on_made=None) -> None:
    tick = 0.05
    per_tick = max(rate * tick, 0.0)
    credit = 0.0
    while not stop.is_set():
        if total and outbox.head_seq >= total:
            return
        credit += per_tick
        n = int(credit)
        if total:
            n = min(n, total - outbox.head_seq)
        if n > 0:
            start = outbox.head_seq + 1
            try:
                outbox.append_many([clock_in(start + i, workers) for i in range(n)],
                                   type_="attendance")
                credit -= n
                if on_made:
                    on_made(n)
            except OutboxFull as exc:
                log.error("clock-in refused: %s", exc)
                credit = 0.0
                stop.wait(1.0)
                continue
        stop.wait(tick)
