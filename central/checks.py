"""The conditions of W01-W15 as pure functions: project data as of a day in, findings out.

``ProjectData`` is everything the rules look at for one project, already cut at ``as_of`` (data
dated later is invisible), so evaluating a past day gives what the platform would have said
that day.  No database here; ``warnings.py`` loads the data and applies the findings.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .rules import param


@dataclass
class ProjectData:
    p: dict
    region: str
    account_opened: dt.date | None = None
    inflow: dict[str, int] = field(default_factory=dict)          # month -> labour cost in
    balance: int = 0
    deposits: list[dict] = field(default_factory=list)            # with "events"
    att: dict[str, dict[str, int]] = field(default_factory=dict)  # month -> worker -> days
    last_att: dt.date | None = None
    paid: dict[str, dict[str, int]] = field(default_factory=dict)  # month -> worker -> fen
    exits: list[tuple[str, dt.date]] = field(default_factory=list)
    finals: set[str] = field(default_factory=set)
    complaints: list[dict] = field(default_factory=list)
    rejections: int = 0
    has_gateway: bool = False


@dataclass(frozen=True)
class Finding:
    rule: str
    subject_type: str
    subject_id: str
    period: str
    level: str
    details: dict


def month_of(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def add_months(month: str, n: int) -> str:
    y, m = int(month[:4]), int(month[5:7]) - 1 + n
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def month_day(month: str, day: int) -> dt.date:
    """Day ``day`` of ``month``; 0 or past the end = the last day."""
    first = dt.date(int(month[:4]), int(month[5:7]), 1)
    last = dt.date.fromisoformat(add_months(month, 1) + "-01") - dt.timedelta(days=1)
    return last if day <= 0 or day > last.day else first.replace(day=day)


def add_working_days(d: dt.date, n: int) -> dt.date:
    """Monday-Friday working days (public holidays are not modelled: a [P] simplification)."""
    while n > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def months(start: dt.date, as_of: dt.date) -> list[str]:
    out, m, end = [], month_of(start), month_of(as_of)
    while m <= end:
        out.append(m)
        m = add_months(m, 1)
    return out


def evaluate(d: ProjectData, as_of: dt.date, ov: dict | None = None) -> list[Finding]:
    out: list[Finding] = []
    p, reg, code = d.p, d.region, d.p["projectCode"]

    def P(rule, key):
        return param(rule, key, reg, ov)

    def add(rule, level, period="-", details=None, subject=("project", code)):
        out.append(Finding(rule, subject[0], subject[1], period, level, details or {}))

    start, signed = p["startDate"], p["contractSignDate"]
    building = p["prjStatus"] == "003"
    started = start is not None and start <= as_of
    # W01 registration incomplete
    if started:
        missing = [f for f in ("builderLicenseNum", "laborManagerIdIndex") if not p[f]]
        if missing:
            late = (as_of - start).days > P("W01", "red_after_days")
            add("W01", "red" if late else "yellow", details={"missing": missing})
    # W02 no special account
    if signed and (as_of - signed).days > P("W02", "open_days") and d.account_opened is None:
        add("W02", "red", details={"contractSignDate": signed.isoformat()})
    # W03 no labour manager
    if building and started and (as_of - start).days > P("W03", "grace_days") \
            and not p["laborManagerIdIndex"]:
        add("W03", "yellow")
    # W04 deposit missing
    invest = p["invest"] or 0
    if signed and not p["depositExempt"] and invest >= P("W04", "exempt_below_yuan") * 100:
        due = add_working_days(signed, P("W04", "working_days"))
        if as_of > due:
            need = invest * P("W04", "ratio_permille") // 1000
            have = sum(_deposit_cover(dep, as_of) for dep in d.deposits)
            if have < need:
                add("W04", "red", details={"due": due.isoformat(), "required_fen": need,
                                           "covered_fen": have})
    # W05 deposit used and not topped up
    for dep in d.deposits:
        for use in [e for e in dep["events"] if e["type"] == "use"]:
            due = add_working_days(use["date"], P("W05", "working_days"))
            topped = sum(e["amount"] for e in dep["events"]
                         if e["type"] == "top_up" and e["date"] >= use["date"])
            if as_of > due and topped < use["amount"]:
                add("W05", "red", use["date"].isoformat(),
                    {"guaranteeNo": dep["guaranteeNo"], "used_fen": use["amount"],
                     "topped_up_fen": topped})
    # W06 attendance gap
    if building and started:
        last = d.last_att if d.last_att and d.last_att >= start else start - dt.timedelta(days=1)
        gap = (as_of - last).days
        if gap > P("W06", "gap_days"):
            spans_month_end = month_of(last + dt.timedelta(days=1)) != month_of(as_of) or \
                as_of == month_day(month_of(as_of), 0)
            add("W06", "red" if spans_month_end else "yellow",
                (last + dt.timedelta(days=1)).isoformat(), {"days_without": gap})
    # W07 labour cost transfer late or short
    first = max(x for x in (start, d.account_opened) if x) if (start and d.account_opened) \
        else start
    if first and first <= as_of:
        required = p["labourCostMonthly"] or 1
        for m in months(first, as_of):
            deadline = month_day(m, P("W07", "transfer_day"))
            if as_of > deadline and d.inflow.get(m, 0) < required:
                add("W07", "red", m, {"deadline": deadline.isoformat(), "required_fen": required,
                                      "received_fen": d.inflow.get(m, 0)})
    # W08 balance below what the last month still needs
    if as_of.day <= P("W08", "check_until_day"):
        m = add_months(month_of(as_of), -1)
        expected = sum(d.paid.get(add_months(m, -1), {}).values())
        outstanding = expected - sum(d.paid.get(m, {}).values())
        if outstanding > 0 and d.balance < outstanding:
            add("W08", "yellow", m, {"balance_fen": d.balance, "needed_fen": outstanding})
    # W09 / W10 / W11 per attendance or payroll month
    for m in sorted(set(d.att) | set(d.paid)):
        attended = {w for w, n in d.att.get(m, {}).items() if n > 0}
        paid = d.paid.get(m, {})
        if attended and not paid and as_of >= dt.date.fromisoformat(add_months(m, 2) + "-01"):
            add("W09", "red", m, {"workers": len(attended)})
        pay_due = month_day(add_months(m, 1), P("W10", "pay_day"))
        if attended and (paid or as_of > pay_due):
            missing = sorted(attended - set(paid))
            if missing:
                share = len(missing) * 1000 // len(attended)
                level = "red" if share > P("W10", "red_permille") else "yellow"
                add("W10", level, m, {"attended": len(attended), "unpaid": len(missing),
                                      "unpaid_workers": missing})
        if paid:
            avg = sum(paid.values()) // len(paid)
            high = sorted(w for w, v in paid.items() if v > P("W11", "max_month_yuan") * 100)
            if avg < P("W11", "floor_yuan") * 100 or high:
                add("W11", "red", m, {"average_fen": avg, "above_max": high})
    # W12 leavers without settlement
    for wid, exit_day in d.exits:
        if (as_of - exit_day).days > P("W12", "settle_days") and wid not in d.finals:
            add("W12", "red", exit_day.isoformat(), {"exitDate": exit_day.isoformat()},
                ("worker", wid))
    # W13 complaints
    for c in d.complaints:
        if c["openedDate"] <= as_of and (c["closedDate"] is None or c["closedDate"] > as_of):
            add("W13", c["severity"], c["openedDate"].isoformat(), {"complaint": c["id"]},
                ("complaint", str(c["id"])))
    # W14 notice board
    if started and (as_of - start).days > P("W14", "grace_days") and \
            not (p["noticeBoardDate"] and p["noticeBoardDate"] <= as_of):
        add("W14", "yellow")
    # W15 upload failures
    if d.rejections:
        add("W15", "technical", as_of.isoformat(), {"rejected_blocks": d.rejections})
    return out


def _deposit_cover(dep: dict, as_of: dt.date) -> int:
    if dep["validFrom"] > as_of or (dep["validTo"] and dep["validTo"] < as_of):
        return 0
    bal = 0
    for e in dep["events"]:
        if e["date"] <= as_of:
            if e["type"] in ("deposit", "top_up"):
                bal += e["amount"]
            elif e["type"] == "return":          # a use is W05's business, not W04's
                bal -= e["amount"]
    return bal
