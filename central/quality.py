"""Monthly data-quality check (seed 001 III(3): completeness, timeliness and logical
consistency of what the platform holds), per project of a region for one month.

Each issue: ``{projectCode, region, group, item, count, detail, source}`` with ``group`` one of
``completeness`` (an indicator of seed 001's annex is missing), ``timeliness`` (a record reached
central after the province's deadline; ``receivedAt`` is stored with every bank and guarantee
record) and ``logic`` (records contradict each other).  Pure reads; ``report.py`` puts the
result in the monthly workbook.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from . import checks
from .rules import BATCH_PUSH_SECTORS, effective, lookup
from .tables import (account_flows, attendance_days, contracts, deposits, payment_guarantees,
                     payroll_lines, project_workers, projects, special_accounts, workers)
from .store import Store
from .warnings import _day_of, overrides
from .workdays import Calendar, default_calendar

ANNEX = "seed 001 annex"
QC = "seed 001 III(3)"


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    first = dt.date.fromisoformat(month + "-01")
    return first, checks.month_day(month, 0)


def check(store: Store, month: str, region: str | None = None,
          calendar: Calendar | None = None) -> dict:
    cal = calendar or default_calendar()
    first, last = month_bounds(month)
    issues: list[dict] = []
    with store.engine.connect() as conn:
        ov = overrides(conn)
        q = sa.select(projects)
        if region:
            q = q.where(projects.c.areaCode.like(f"{region}%"))
        plist = [dict(r) for r in conn.execute(q.order_by(projects.c.projectCode)).mappings()]
        for p in plist:
            reg = p["areaCode"][:2]
            eff = effective(reg, ov)
            vals = {k: v[0] for k, v in eff.items()}

            def P(rule, key):
                v = vals.get((rule, key))
                return vals[("*", key)] if v is None else v

            def add(group, item, count=1, detail="", source=QC):
                if count:
                    issues.append({"projectCode": p["projectCode"], "region": reg,
                                   "group": group, "item": item, "count": count,
                                   "detail": detail, "source": source})
            _project(p, P, cal, first, last, add)
            _workers(conn, p, first, last, add)
            _money(conn, p, P, cal, first, last, add)
    summary = {g: sum(i["count"] for i in issues if i["group"] == g)
               for g in ("completeness", "timeliness", "logic")}
    return {"month": month, "region": region, "projects": len(plist), "summary": summary,
            "issues": issues}


def _project(p, P, cal, first, last, add) -> None:
    code = p["projectCode"]
    needed = ["address", "sector", "contractStartDate", "startDate", "buildCorpCode"]
    if checks.permit_needed(p):
        needed += ["builderLicenseNum", "permitDate"]
    missing = [f for f in needed if not p.get(f)]
    missing += [r for r in ("laborManager", "projectManager", "projectLead")
                if not p.get(f"{r}IdIndex")]
    if missing:
        add("completeness", "project", len(missing), ",".join(missing),
            f"{ANNEX} 一(一), 二(四); seed 003 II(1)")
    # registered (first stored by central) after the province's registration deadline
    due = checks.deadline(p, P, "W01", cal)
    created = _day_of(p["createdAt"])
    if due is not None and first <= created <= last and created > due:
        add("timeliness", "project registered late", 1, f"{code}: due {due}, received {created}",
            "W01 deadline (rules show)")
    due = checks.deadline(p, P, "W03", cal)
    if p.get("laborManagerSetAt") and due is not None:
        got = _day_of(p["laborManagerSetAt"])
        if first <= got <= last and got > due:
            add("timeliness", "labour manager recorded late", 1, f"due {due}, received {got}",
                "W03 deadline (rules show)")
    if p.get("pushSchedule") == "semimonthly" and p.get("sector") not in BATCH_PUSH_SECTORS:
        add("logic", "semimonthly push on a project that is not transport or water", 1,
            f"sector {p.get('sector')}", "seed 001 II(4)")
    if checks.permit_needed(p) and p.get("permitDate") and p.get("startDate") and \
            p["startDate"] < p["permitDate"]:
        add("logic", "works started before the construction permit", 1,
            f"start {p['startDate']}, permit {p['permitDate']}", f"{ANNEX} 一(一)")


def _workers(conn, p, first, last, add) -> None:
    code = p["projectCode"]
    pw, w = project_workers.c, workers.c
    rows = conn.execute(sa.select(w.workerId, w.addressEnc, w.nativePlaceEnc,
                                  w.householdRegionEnc, w.nation, w.cultureLevelType,
                                  pw.exitDate, pw.entryDate).select_from(
        project_workers.join(workers, workers.c.workerId == pw.workerId)).where(
        pw.projectCode == code, pw.entryDate <= last,
        sa.or_(pw.exitDate.is_(None), pw.exitDate >= first))).all()
    for col, item in (("addressEnc", "address"), ("nativePlaceEnc", "nativePlace"),
                      ("householdRegionEnc", "householdRegionCode"), ("nation", "nation"),
                      ("cultureLevelType", "cultureLevelType")):
        n = sum(1 for r in rows if getattr(r, col) is None)
        add("completeness", f"worker {item}", n, f"{n} of {len(rows)} workers",
            f"{ANNEX} 二(一)")
    c = contracts.c
    crows = conn.execute(sa.select(c.wageMethod, c.payDay, c.signDate).where(
        c.projectCode == code, c.startDate <= last)).all()
    for col in ("wageMethod", "payDay", "signDate"):
        n = sum(1 for r in crows if getattr(r, col) is None)
        add("completeness", f"contract {col}", n, f"{n} of {len(crows)} contracts",
            f"{ANNEX} 二(三)")
    # attendance after the worker's exit
    a = attendance_days.c
    n = conn.execute(sa.select(sa.func.count()).select_from(attendance_days.join(
        project_workers, sa.and_(pw.projectCode == a.projectCode, pw.workerId == a.workerId)))
        .where(a.projectCode == code, a.day >= first, a.day <= last,
               pw.exitDate.is_not(None), a.day > pw.exitDate)).scalar()
    add("logic", "attendance after the worker left", n, f"{n} worker-days", f"{ANNEX} 二(二)")


def _money(conn, p, P, cal, first, last, add) -> None:
    code = p["projectCode"]
    month = checks.month_of(first)
    f = account_flows.c
    flows = [dict(r) for r in conn.execute(sa.select(account_flows).where(
        f.projectCode == code, f.valueDate >= first, f.valueDate <= last).order_by(
        f.valueDate, f.receivedAt, f.bankSerial)).mappings()]
    n = sum(1 for r in flows if r["direction"] == "in" and
            not (r["counterpartyName"] and r["counterpartyAccountEnc"]))
    add("completeness", "inflow counterparty", n, f"{n} inflows", f"{ANNEX} 4(一)")
    n = sum(1 for r in flows if r["balanceAfter"] is None)
    add("completeness", "flow balanceAfter", n, f"{n} flows", f"{ANNEX} 4(一)")
    prev = None
    for r in flows:                      # balance after each flow follows from the previous
        if prev is not None and prev["balanceAfter"] is not None and \
                r["balanceAfter"] is not None:
            expect = prev["balanceAfter"] + (r["amount"] if r["direction"] == "in"
                                             else -r["amount"])
            if expect != r["balanceAfter"]:
                add("logic", "balanceAfter does not follow from the previous flow", 1,
                    f"bankSerial {r['bankSerial']}", f"{ANNEX} 4(一)")
        prev = r
    limit = P("W17", "flow_days")
    if limit >= 0:
        late = sum(1 for r in flows if r["receivedAt"] and
                   _day_of(r["receivedAt"]) > r["valueDate"] + dt.timedelta(days=limit))
        add("timeliness", "flows received late", late, f"limit {limit} days",
            lookup(effective(p["areaCode"][:2]), "W17", "flow_days")[1])
    limit = P("W17", "account_working_days")
    if limit >= 0:
        s = special_accounts.c
        late = 0
        for opened, rat, closed, cat in conn.execute(sa.select(
                s.openedDate, s.receivedAt, s.closedDate, s.closedReceivedAt).where(
                s.projectCode == code)):
            for dated, at in ((opened, rat), (closed, cat)):
                if dated and at and first <= _day_of(at) <= last and \
                        _day_of(at) > cal.add_working_days(dated, limit):
                    late += 1
        add("timeliness", "account events received late", late,
            f"limit {limit} working days", "seed 001 II(5)")
    limit = P("W17", "guarantee_working_days")
    g = payment_guarantees.c
    grows = conn.execute(sa.select(g.receivedDate, g.receivedAt, g.issuerCorpCode).where(
        g.projectCode == code)).all()
    add("completeness", "payment guarantee issuer code",
        sum(1 for r in grows if not r.issuerCorpCode), "", f"{ANNEX} 6")
    if limit >= 0:
        late = sum(1 for r in grows if r.receivedDate and r.receivedAt and
                   first <= _day_of(r.receivedAt) <= last and
                   _day_of(r.receivedAt) > cal.add_working_days(r.receivedDate, limit))
        add("timeliness", "payment guarantees received late", late,
            f"limit {limit} working days", "seed 001 II(8)")
    d = deposits.c
    drows = conn.execute(sa.select(d.payerName, d.amountDue).where(d.projectCode == code)).all()
    add("completeness", "deposit payer/amount due",
        sum(1 for r in drows if not r.payerName or r.amountDue is None), "", f"{ANNEX} 5(一)")
    pl = payroll_lines.c
    days_in_month = (last - first).days + 1
    n = conn.execute(sa.select(sa.func.count()).where(
        pl.projectCode == code, pl.payMonth == month, pl.days > days_in_month)).scalar()
    add("logic", "payroll days above the days of the month", n, "", f"{ANNEX} 4(二)")
