"""When a job may go and by when it must be held by the platform (pure functions).

The numbers are W19's parameters in force for the project's region (``rules.py``: Hunan's
from seed 001 II(4) and II(6), elsewhere the defaults with their sources), the project's own
push schedule (``daily`` or ``semimonthly``, seed 001 II(4)) and, for the project itself, the
registration deadlines W01 and W03 already compute.  Deadlines are the end of the day (China
time) they fall on.
"""
from __future__ import annotations

import datetime as dt

from ..checks import deadline as rule_deadline
from ..rules import lookup
from ..workdays import Calendar

CN = dt.timezone(dt.timedelta(hours=8))
DAY_MS = 86_400_000


def start_ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=CN).timestamp() * 1000)


def end_ms(day: dt.date) -> int:
    return start_ms(day) + DAY_MS - 1


def day_of(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, CN).date()


def cutoff(day: dt.date, batch_days: str) -> dt.date:
    """The first cut-off day on or after ``day`` (``"15,0"``: the 15th, then month end)."""
    nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last = (nxt - dt.timedelta(days=1)).day
    days = sorted({last if int(x) <= 0 or int(x) > last else int(x)
                   for x in str(batch_days).split(",") if x.strip()})
    for d in days:
        if d >= day.day:
            return day.replace(day=d)
    return nxt.replace(day=days[0]) if days else day


def window(kind: str, project: dict, facts: dict, eff: dict, cal: Calendar,
           now_ms: int) -> tuple[int, int, str]:
    """(not before, deadline, source) in ms for a job of ``kind``.

    ``facts``: ``day`` (attendance, entry/exit), ``entry`` (worker, contract), ``paid``
    (payroll), ``update`` and ``manager`` (project: a later version / one that names the
    labour manager)."""
    def P(key):
        return lookup(eff, "W19", key)

    def vals(rule, key):
        return lookup(eff, rule, key)[0]
    today = day_of(now_ms)
    if kind in ("attendance", "entry_exit"):
        day = facts["day"]
        if project.get("pushSchedule") == "semimonthly":
            bd, src = P("batch_days")
            cut = cutoff(day, bd)
            return max(now_ms, start_ms(cut)), end_ms(cut), f"semimonthly batch_days={bd} [{src}]"
        n, src = P("attendance_days")
        return now_ms, end_ms(day + dt.timedelta(days=n)), f"attendance_days={n} [{src}]"
    if kind in ("worker", "contract"):
        n, src = P("worker_days")
        return now_ms, end_ms(facts["entry"] + dt.timedelta(days=n)), f"worker_days={n} [{src}]"
    if kind == "payroll":
        n, src = P("payroll_days")
        return now_ms, end_ms(facts["paid"] + dt.timedelta(days=n)), f"payroll_days={n} [{src}]"
    if kind == "project":
        # the first version: the registration deadline (W01); a later one that brings the
        # labour manager: W03's; any other change: other_days
        rule = "W01" if not facts.get("update") else ("W03" if facts.get("manager") else None)
        if rule:
            due = rule_deadline(project, vals, rule, cal)
            if due is not None:
                return now_ms, end_ms(due), f"{rule} deadline [{lookup(eff, rule, 'days')[1]}]"
    n, src = P("other_days")
    return now_ms, end_ms(today + dt.timedelta(days=n)), f"other_days={n} [{src}]"
