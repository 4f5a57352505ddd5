"""Payroll vs attendance for one project-month: per worker, attendance days (from the gate)
against payroll days and amounts (matched to bank payouts).  Feeds W10 and the monthly sheet."""
from __future__ import annotations

import sqlalchemy as sa

from .attendance import days_by_worker
from .codes import yuan
from .store import Store
from .tables import payroll_lines, project_workers


def reconcile(store: Store, project: str, month: str) -> list[dict]:
    pl = payroll_lines.c
    with store.engine.connect() as conn:
        att = days_by_worker(conn, project, month)
        paid: dict[str, dict] = {}
        for wid, days, amount, n in conn.execute(
                sa.select(pl.workerId, sa.func.sum(pl.days), sa.func.sum(pl.actualAmount),
                          sa.func.count()).where(pl.projectCode == project, pl.payMonth == month)
                .group_by(pl.workerId)):
            paid[wid] = {"days": int(days), "amount": int(amount), "lines": n}
        on_project = set(conn.execute(sa.select(project_workers.c.workerId).where(
            project_workers.c.projectCode == project)).scalars())
    out = []
    for wid in sorted(set(att) | set(paid)):
        a, p = att.get(wid, 0), paid.get(wid)
        if p is None:
            status = "unpaid"
        elif a == 0:
            status = "paid_without_attendance"
        elif p["days"] != a:
            status = "days_mismatch"
        else:
            status = "ok"
        out.append({"workerId": wid, "payMonth": month, "attendanceDays": a,
                    "payrollDays": p["days"] if p else None,
                    "actualAmount": yuan(p["amount"]) if p else None,
                    "onProject": wid in on_project, "status": status})
    return out
