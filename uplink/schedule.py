"""Push schedule: when sealed records may leave the gateway.

Records are committed and sealed when they are made; the schedule only decides *release*.
``realtime`` releases everything at once.  ``semimonthly`` (linear transport and water
projects) releases batches on the 15th and at month end: at local midnight starting the 15th
and starting the 1st, everything captured before that moment becomes sendable, and stays
sendable -- a gateway that was offline on release day catches up when it comes back.

A schedule is a pure function ``cutoff_ms(now_ms) -> int``: records whose capture time is
before the cutoff may be sent.  The uplink asks it before publishing each block.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass

MODES = ("realtime", "semimonthly")
FOREVER = 2 ** 62


@dataclass(frozen=True)
class Schedule:
    mode: str = "realtime"
    tz_offset_min: int = 480          # China Standard Time; no DST

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"push schedule {self.mode!r}: allowed {', '.join(MODES)}")

    def cutoff_ms(self, now_ms: int) -> int:
        """Records captured before this instant (ms since the epoch, UTC) may be released."""
        if self.mode == "realtime":
            return FOREVER
        off = self.tz_offset_min * 60_000
        local = now_ms + off
        days = local // 86_400_000
        y, m, d = _ymd(days)
        if d >= 15:
            cut = _days(y, m, 15)
        else:
            cut = _days(y, m, 1)            # start of the 1st = end of the previous month
        return cut * 86_400_000 - off

    def next_release_ms(self, now_ms: int) -> int | None:
        """When the next batch is released (None in real time)."""
        if self.mode == "realtime":
            return None
        off = self.tz_offset_min * 60_000
        y, m, d = _ymd((now_ms + off) // 86_400_000)
        if d < 15:
            nxt = _days(y, m, 15)
        else:
            y2, m2 = (y + 1, 1) if m == 12 else (y, m + 1)
            nxt = _days(y2, m2, 1)
        return nxt * 86_400_000 - off

    def held(self, capture_ms: int, now_ms: int) -> bool:
        return capture_ms >= self.cutoff_ms(now_ms)


def _days(y: int, m: int, d: int) -> int:
    return calendar.timegm((y, m, d, 0, 0, 0)) // 86_400


def _ymd(days: int) -> tuple[int, int, int]:
    import time
    t = time.gmtime(days * 86_400)
    return t.tm_year, t.tm_mon, t.tm_mday
