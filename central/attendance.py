"""Attendance days: derived from stored attendance records, in the same transaction as the
block that carries them (so a record stored exactly once counts exactly once).

present(worker, day) = at least one allowed ``in`` punch that day (China time, UTC+8) on a
gateway of the project (standards.md §4).  ``attendance_days(project, month)`` counts them.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa

from .tables import attendance_days

CN = dt.timezone(dt.timedelta(hours=8))


def day_of(ts_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ms / 1000, CN).date()


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    y, m = int(month[:4]), int(month[5:7])
    first = dt.date(y, m, 1)
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def day_rows(project: str | None, records) -> dict[tuple[str, str], int]:
    """(worker, day) -> first allowed ``in`` punch's ts among ``records``."""
    rows: dict[tuple[str, str], int] = {}
    if not project:
        return rows
    for r in records:
        body = r["body"]
        if r["type"] != "attendance" or body.get("decision") != "allow" or \
                body.get("dir") != "in" or not isinstance(body.get("worker"), str):
            continue
        key = (body["worker"], day_of(r["ts"]))
        if key not in rows or r["ts"] < rows[key]:
            rows[key] = r["ts"]
    return rows


def insert_days(conn, values: list[dict]) -> int:
    """Insert attendance-day rows (idempotent: existing days kept)."""
    if not values:
        return 0
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(attendance_days).on_conflict_do_nothing(), values)
    return len(values)


def derive(conn, project: str | None, records) -> int:
    """Insert attendance days for allowed ``in`` punches (idempotent: existing days kept)."""
    rows = day_rows(project, records)
    return insert_days(conn, [{"projectCode": project, "workerId": w, "day": d, "firstIn": ts}
                              for (w, d), ts in rows.items()])


def days_by_worker(conn, project: str, month: str, upto: dt.date | None = None) -> dict[str, int]:
    first, last = month_bounds(month)
    if upto is not None:
        last = min(last, upto)
    q = sa.select(attendance_days.c.workerId, sa.func.count()).where(
        attendance_days.c.projectCode == project, attendance_days.c.day >= first,
        attendance_days.c.day <= last).group_by(attendance_days.c.workerId)
    return {w: n for w, n in conn.execute(q)}


def month_table(conn, project: str, month: str) -> dict[str, list[int]]:
    """worker -> sorted days of month present (for the labour manager's monthly sheet)."""
    first, last = month_bounds(month)
    out: dict[str, list[int]] = defaultdict(list)
    for w, d in conn.execute(sa.select(attendance_days.c.workerId, attendance_days.c.day).where(
            attendance_days.c.projectCode == project, attendance_days.c.day >= first,
            attendance_days.c.day <= last).order_by(attendance_days.c.day)):
        out[w].append(d.day)
    return dict(out)
