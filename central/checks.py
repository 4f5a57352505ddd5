"""The conditions of W01-W19 as pure functions: project data as of a day in, findings out.

``ProjectData`` is everything the rules look at for one project, already cut at ``as_of`` (data
dated later is invisible), so evaluating a past day gives what the platform would have said
that day.  No database here; ``warnings.py`` loads the data and applies the findings.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .rules import PERMIT_SECTORS
from .workdays import Calendar


@dataclass
class ProjectData:
    p: dict
    region: str
    account_opened: dt.date | None = None
    account_agreement: bool = False
    inflow: dict[str, int] = field(default_factory=dict)          # month -> labour cost in
    balance: int = 0
    deposits: list[dict] = field(default_factory=list)            # with "events"
    att: dict[str, dict[str, int]] = field(default_factory=dict)  # month -> worker -> days
    last_att: dt.date | None = None
    paid: dict[str, dict[str, int]] = field(default_factory=dict)  # month -> worker -> fen
    paid_days: dict[str, dict[str, int]] = field(default_factory=dict)  # month -> worker -> days
    exits: list[tuple[str, dt.date]] = field(default_factory=list)
    finals: set[str] = field(default_factory=set)
    complaints: list[dict] = field(default_factory=list)
    rejections: int = 0
    has_gateway: bool = False
    progress: dict[str, int] = field(default_factory=dict)        # month -> progress payments
    guarantees: list[tuple[dt.date, dt.date]] = field(default_factory=list)   # valid from/to
    # W17 arrivals: (kind, the day the record is dated, the day central received it)
    arrivals: list[tuple[str, dt.date, dt.date]] = field(default_factory=list)
    # W19 platform pushes not held yet: (target, kind, state, deadline ms, jobs, records,
    # a parked reason); ``moment_ms`` = the moment evaluated (now, or the end of a past day)
    pushes: list[tuple] = field(default_factory=list)
    moment_ms: int = 0


@dataclass(frozen=True)
class Finding:
    rule: str
    subject_type: str
    subject_id: str
    period: str
    level: str
    details: dict
    responsible: str | None = None       # None: the rule's party


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


def months(start: dt.date, as_of: dt.date) -> list[str]:
    out, m, end = [], month_of(start), month_of(as_of)
    while m <= end:
        out.append(m)
        m = add_months(m, 1)
    return out


def permit_needed(p: dict) -> bool:
    """Building and municipal projects hold a construction permit (seed 001 annex 一(一));
    a project whose sector is not recorded is assumed to need one."""
    return p.get("sector") is None or p["sector"] in PERMIT_SECTORS


def deadline(p: dict, P, rule: str, cal: Calendar) -> dt.date | None:
    """The last day allowed by a deadline rule (anchor + days, or + working days); ``None``
    while the anchor date is unknown.  A permit anchor falls back to the start date (with
    ``days``) for projects that need no permit, or whose permit date is not recorded."""
    anchor, days, wdays = P(rule, "anchor"), P(rule, "days"), P(rule, "working_days")
    base = {"start": p["startDate"], "contract": p["contractSignDate"],
            "permit": p.get("permitDate")}.get(anchor)
    if anchor == "permit" and (base is None or not permit_needed(p)):
        base, wdays = p["startDate"], 0
    if base is None:
        return None
    return cal.add_working_days(base, wdays) if wdays > 0 else base + dt.timedelta(days=days)


def registration_missing(p: dict, items: str) -> list[str]:
    have = {"laborManager": p.get("laborManagerIdIndex"),
            "projectManager": p.get("projectManagerIdIndex"),
            "projectLead": p.get("projectLeadIdIndex")}
    out = []
    for item in (i.strip() for i in items.split(",") if i.strip()):
        if item in ("builderLicenseNum", "permitDate") and not permit_needed(p):
            continue
        if not (have[item] if item in have else p.get(item)):
            out.append(item)
    return out


def evaluate(d: ProjectData, as_of: dt.date, vals: dict, cal: Calendar) -> list[Finding]:
    """Findings for one project as of ``as_of``; ``vals`` = {(rule or '*', key): value} in
    force for its region (rules.effective), ``cal`` the working-day calendar."""
    out: list[Finding] = []
    p, code = d.p, d.p["projectCode"]

    def P(rule, key):
        v = vals.get((rule, key))
        return vals[("*", key)] if v is None else v

    def add(rule, level, period="-", details=None, subject=("project", code), party=None):
        out.append(Finding(rule, subject[0], subject[1], period, level, details or {}, party))

    start, signed = p["startDate"], p["contractSignDate"]
    building = p["prjStatus"] == "003"
    started = start is not None and start <= as_of
    # W01 registration incomplete after the province's registration deadline
    due = deadline(p, P, "W01", cal)
    if due is not None and as_of > due:
        missing = registration_missing(p, P("W01", "items"))
        if missing:
            late = (as_of - due).days > P("W01", "red_after_days")
            add("W01", "red" if late else "yellow",
                details={"missing": missing, "due": due.isoformat()})
    # W02 no special account (or, where required, no tripartite agreement)
    due = deadline(p, P, "W02", cal)
    if due is not None and as_of > due:
        no_agreement = P("W02", "needs_agreement") and not (
            p.get("tripartiteAgreementRef") or d.account_agreement)
        if d.account_opened is None or no_agreement:
            add("W02", "red", details={"due": due.isoformat(),
                                       "account": d.account_opened is not None,
                                       "agreement": not no_agreement})
    # W03 no labour manager
    due = deadline(p, P, "W03", cal)
    if building and started and due is not None and as_of > due \
            and not p["laborManagerIdIndex"]:
        add("W03", "yellow", details={"due": due.isoformat()})
    # W04 deposit missing
    invest = p["invest"] or 0
    due = deadline(p, P, "W04", cal)
    if due is not None and not p["depositExempt"] and \
            invest >= P("W04", "exempt_below_yuan") * 100 and as_of > due:
        need = invest * P("W04", "ratio_permille") // 1000
        have = sum(_deposit_cover(dep, as_of) for dep in d.deposits)
        if have < need:
            add("W04", "red", details={"due": due.isoformat(), "required_fen": need,
                                       "covered_fen": have})
    # W05 deposit used and not topped up
    for dep in d.deposits:
        for use in [e for e in dep["events"] if e["type"] == "use"]:
            due = cal.add_working_days(use["date"], P("W05", "working_days"))
            topped = sum(e["amount"] for e in dep["events"]
                         if e["type"] == "top_up" and e["date"] >= use["date"])
            if as_of > due and topped < use["amount"]:
                add("W05", "red", use["date"].isoformat(),
                    {"guaranteeNo": dep["guaranteeNo"], "used_fen": use["amount"],
                     "topped_up_fen": topped, "due": due.isoformat()})
    # W06 attendance gap: after the hardware window; semimonthly projects by batch cut-offs
    if building and started:
        window = start + dt.timedelta(days=P("W06", "hardware_days"))
        floor = window - dt.timedelta(days=1)
        last = d.last_att if d.last_att and d.last_att > floor else floor
        gap_days = P("W06", "gap_days")
        if p.get("pushSchedule") == "semimonthly":
            grace = P("W06", "batch_grace_days")
            cut = _last_cutoff(as_of - dt.timedelta(days=grace + 1))
            if cut > last and cal.working_days_after(last, cut, gap_days) > gap_days:
                add("W06", "red" if month_of(last + dt.timedelta(days=1)) != month_of(cut)
                    else "yellow", (last + dt.timedelta(days=1)).isoformat(),
                    {"days_without": (cut - last).days, "schedule": "semimonthly",
                     "batch_cutoff": cut.isoformat(),
                     "batch_due": (cut + dt.timedelta(days=grace)).isoformat()})
        elif (as_of - last).days > gap_days and \
                cal.working_days_after(last, as_of, gap_days) > gap_days:
            spans_month_end = month_of(last + dt.timedelta(days=1)) != month_of(as_of) or \
                as_of == month_day(month_of(as_of), 0)
            add("W06", "red" if spans_month_end else "yellow",
                (last + dt.timedelta(days=1)).isoformat(),
                {"days_without": (as_of - last).days, "schedule": "daily"})
    # W07 labour cost transfer late or short (agreed monthly amount, or contract ratio of the
    # month's progress payments)
    first = max(x for x in (start, d.account_opened) if x) if (start and d.account_opened) \
        else start
    if first and first <= as_of:
        ratio = p.get("labourCostRatio") or 0
        for m in months(first, as_of):
            deadline_m = month_day(m, P("W07", "transfer_day"))
            if as_of <= deadline_m or (not building and not d.att.get(m)):
                continue            # a stopped or finished project without workers that month
            by_ratio = d.progress.get(m, 0) * ratio // 10000
            required = max(p["labourCostMonthly"] or 0, by_ratio) or 1
            if d.inflow.get(m, 0) < required:
                det = {"deadline": deadline_m.isoformat(), "required_fen": required,
                       "received_fen": d.inflow.get(m, 0)}
                if ratio:
                    det["ratio_bp"], det["progress_fen"] = ratio, d.progress.get(m, 0)
                add("W07", "red", m, det)
    # W08 balance below what the last month still needs
    if as_of.day <= P("W08", "check_until_day"):
        m = add_months(month_of(as_of), -1)
        expected = sum(d.paid.get(add_months(m, -1), {}).values())
        outstanding = expected - sum(d.paid.get(m, {}).values())
        if outstanding > 0 and d.balance < outstanding:
            add("W08", "yellow", m, {"balance_fen": d.balance, "needed_fen": outstanding})
    # W09 / W10 / W11 / W18 per attendance or payroll month
    tolerance = P("W18", "tolerance_days")
    for m in sorted(set(d.att) | set(d.paid)):
        att_m = d.att.get(m, {})
        attended = {w for w, n in att_m.items() if n > 0}
        paid = d.paid.get(m, {})
        if attended and not paid and as_of >= dt.date.fromisoformat(
                add_months(m, P("W09", "months_after")) + "-01"):
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
            days_m = d.paid_days.get(m, {})
            off = sorted((w, days_m.get(w, 0), att_m.get(w, 0)) for w in paid
                         if abs(days_m.get(w, 0) - att_m.get(w, 0)) > tolerance)
            if off:
                add("W18", "yellow", m, {"mismatched": [
                    {"workerId": w, "paidDays": pd, "attendanceDays": ad} for w, pd, ad in off]})
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
    due = deadline(p, P, "W14", cal)
    if started and due is not None and as_of > due and \
            not (p["noticeBoardDate"] and p["noticeBoardDate"] <= as_of):
        add("W14", "yellow", details={"due": due.isoformat()})
    # W15 upload failures
    if d.rejections:
        add("W15", "technical", as_of.isoformat(), {"rejected_blocks": d.rejections})
    # W16 payment guarantee missing or expired
    if P("W16", "required") and signed and p["prjStatus"] != "004":
        due = signed + dt.timedelta(days=P("W16", "days"))
        if as_of > due and not any(f <= as_of <= t for f, t in d.guarantees):
            add("W16", "yellow", details={"due": due.isoformat(),
                                          "expired": bool(d.guarantees)})
    # W17 bank records and payment guarantees that reached central late
    if d.arrivals:
        limits = {"account": P("W17", "account_working_days"), "flow": P("W17", "flow_days"),
                  "guarantee": P("W17", "guarantee_working_days")}
        late: dict[tuple[str, str], dict[str, int]] = {}
        for kind, dated, received in d.arrivals:
            n = limits[kind]
            if n < 0 or received > as_of:
                continue
            allowed = cal.add_working_days(dated, n) if kind != "flow" else \
                dated + dt.timedelta(days=n)
            if received > allowed:
                who = "project" if kind == "guarantee" else "bank"
                per = late.setdefault((who, month_of(received)), {})
                per[kind] = per.get(kind, 0) + 1
        for (who, m), counts in sorted(late.items()):
            add("W17", "yellow", m, {"late": counts}, (who, code),
                "contractor" if who == "project" else None)
    # W19 pushes at risk of missing their deadline, missed, or parked
    if d.pushes:
        _w19(d, P("W19", "risk_minutes") * 60_000, add)
    return out


def _w19(d: ProjectData, risk_ms: int, add) -> None:
    groups: dict[str, dict] = {}
    for target, kind, state, deadline, jobs, recs, reason in d.pushes:
        if state == "parked":
            why = "parked"
        elif deadline is not None and d.moment_ms > deadline:
            why = "missed"
        elif deadline is not None and d.moment_ms >= deadline - risk_ms:
            why = "at_risk"
        else:
            continue
        period = dt.datetime.fromtimestamp(deadline / 1000, _CN).date().isoformat() \
            if deadline is not None else "parked"
        g = groups.setdefault(period, {"level": "technical", "jobs": {}, "records": 0,
                                       "targets": set(), "reasons": []})
        if why != "at_risk":
            g["level"] = "yellow"
        k = f"{kind}:{why}"
        g["jobs"][k] = g["jobs"].get(k, 0) + int(jobs)
        g["records"] += int(recs or 0)
        g["targets"].add(target)
        if reason and len(g["reasons"]) < 3 and reason not in g["reasons"]:
            g["reasons"].append(reason[:200])
    for period, g in sorted(groups.items()):
        add("W19", g["level"], period, {"jobs": g["jobs"], "records": g["records"],
                                        "targets": sorted(g["targets"]),
                                        "reasons": g["reasons"]})


_CN = dt.timezone(dt.timedelta(hours=8))


def _last_cutoff(day: dt.date) -> dt.date:
    """The latest semimonthly batch cut-off (the 15th or a month end) on or before ``day``."""
    if day.day >= 15:
        return month_day(month_of(day), 0) if day == month_day(month_of(day), 0) \
            else day.replace(day=15)
    return day.replace(day=1) - dt.timedelta(days=1)


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
