"""Working days in mainland China: the maintained ``holidays`` library (public holidays and the
State Council's swapped working weekends, 调休) plus an optional data file an operator can
update when a new year's schedule is published before the library knows it.

Data file (TOML, optional): ``$SITEGATE_HOME/central/workdays.toml``::

    holidays = ["2027-10-08"]        # extra days off
    workdays = ["2027-09-26"]        # weekend days that are working days

The file wins over the library for the days it names.  Everything here is a pure function of
the calendar once loaded; ``Calendar`` caches per year.
"""
from __future__ import annotations

import datetime as dt
import os
import tomllib
from functools import lru_cache
from pathlib import Path

import holidays as _holidays

SOURCE = ("State Council holiday schedule via the `holidays` library (CN, with swapped "
          "working weekends); overrides in $SITEGATE_HOME/central/workdays.toml")


class Calendar:
    def __init__(self, extra_holidays: set[dt.date] = frozenset(),
                 extra_workdays: set[dt.date] = frozenset()) -> None:
        self.extra_holidays = set(extra_holidays)
        self.extra_workdays = set(extra_workdays)
        self._years: dict[int, object] = {}
        self._cache: dict[dt.date, bool] = {}

    @classmethod
    def from_file(cls, path: Path | None) -> "Calendar":
        if path is None or not Path(path).exists():
            return cls()
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        try:
            hol = {dt.date.fromisoformat(str(d)) for d in data.get("holidays", [])}
            work = {dt.date.fromisoformat(str(d)) for d in data.get("workdays", [])}
        except ValueError as exc:
            raise ValueError(f"{path}: dates must be yyyy-MM-dd ({exc})") from None
        if hol & work:
            raise ValueError(f"{path}: {sorted(hol & work)[0]} is both a holiday and a workday")
        return cls(hol, work)

    def is_working_day(self, d: dt.date) -> bool:
        hit = self._cache.get(d)
        if hit is not None:
            return hit
        if d in self.extra_holidays:
            ok = False
        elif d in self.extra_workdays:
            ok = True
        else:
            cn = self._years.get(d.year)
            if cn is None:
                cn = self._years[d.year] = _holidays.China(years=d.year)
            ok = cn.is_working_day(d)
        self._cache[d] = ok
        return ok

    def working_days_after(self, a: dt.date, b: dt.date, cap: int) -> int:
        """Working days d with a < d <= b, counted up to ``cap`` + 1 (enough to compare)."""
        n, d = 0, a
        while d < b and n <= cap:
            d += dt.timedelta(days=1)
            if self.is_working_day(d):
                n += 1
        return n

    def add_working_days(self, d: dt.date, n: int) -> dt.date:
        """The n-th working day after ``d`` (n >= 0; 0 = ``d`` itself)."""
        while n > 0:
            d += dt.timedelta(days=1)
            if self.is_working_day(d):
                n -= 1
        return d


@lru_cache(maxsize=4)
def _load(path: str | None, mtime: float) -> Calendar:
    return Calendar.from_file(Path(path) if path else None)


def default_calendar() -> Calendar:
    """The calendar for this process: library + ``$SITEGATE_HOME/central/workdays.toml``."""
    home = os.environ.get("SITEGATE_HOME")
    path = (Path(home).expanduser() if home else Path.home() / ".sitegate") / "central" / \
        "workdays.toml"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return _load(None, 0.0)
    return _load(str(path), mtime)
