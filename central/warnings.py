"""Warning engine: load project data as of a day, run the rules, apply the findings.

Lifecycle (every change is a ``warning_events`` row)::

    open --request_extension (party, before dueOn)--> extension_requested
         --grant (an official, not the requester)--> extended
      |  (condition gone, auto rule)  -> cleared_auto
      |  (manual clear with evidence) -> cleared_manual
      '-- past dueOn --> overdue -- escalate_after_days later --> escalated (tier+1, level up)

The key ``(rule, subjectType, subjectId, period)`` is unique, so re-running an evaluation (or
two workers running it at once) never duplicates a warning.  A condition that returns after
its warning was cleared automatically opens a new episode (period ``P#2``, ``P#3``, ...); after
a manual clearing it does not (an inspector has judged that case).  Evaluation is daily
(``evaluate(day)``) and on events (``evaluate(day, projects=[code])`` after an import).

Each warning records the source of every parameter of its rule in force for its region
(``source``) and the party that answers for it (``responsible``, with the company's code).
Openings, overdue deadlines and escalations are written to the ``notifications`` outbox in the
same transaction when the region has notification targets; ``notify.Notifier`` sends them
after the commit (and again later until they go out).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import sqlalchemy as sa

from . import checks
from .codes import InputError
from .rules import BY_CODE, LEVELS, effective, lookup, rule_source
from .store import Store, now_ms
from .tables import gateways, rejections
from .tables import (account_flows, attendance_days, bank_events, complaints, deposit_events,
                     deposits, notifications, notify_targets, payment_guarantees,
                     payroll_lines, platform_jobs, progress_payments, project_workers,
                     projects, rule_params, special_accounts, warning_events, warnings_t)
from .workdays import Calendar, default_calendar

OPEN_STATES = ("open", "extension_requested", "extended", "overdue", "escalated")
CLEARED = ("cleared_auto", "cleared_manual")
REQUEST_ROLES = ("party", "admin")     # who may ask for an extension (a participating unit)
GRANT_ROLES = ("official",)            # who may grant it: the sector department (seed 000 art. 17)


class DeadlinePassed(InputError):
    """An extension asked for after the disposal deadline (seed 000 art. 17)."""


def _in(col, codes):
    return col.in_(codes) if codes is not None else sa.true()


def load(conn, as_of: dt.date, codes: list[str] | None = None,
         arrivals_for: set[str] | None = None) -> dict[str, checks.ProjectData]:
    """Project data as of ``as_of``; ``arrivals_for`` = regions where W17 checks lateness
    (only their bank and guarantee records are read one by one)."""
    data: dict[str, checks.ProjectData] = {}
    for p in conn.execute(sa.select(projects).where(_in(projects.c.projectCode, codes))).mappings():
        data[p["projectCode"]] = checks.ProjectData(dict(p), p["areaCode"][:2])
    codes = list(data) if codes is not None else None
    sa_ = special_accounts.c
    for code, opened, agreement in conn.execute(sa.select(
            sa_.projectCode, sa.func.min(sa_.openedDate), sa.func.max(sa_.agreementRef)).where(
            _in(sa_.projectCode, codes), sa_.openedDate <= as_of).group_by(sa_.projectCode)):
        data[code].account_opened = opened
        data[code].account_agreement = bool(agreement)
    f = account_flows.c
    for code, month, direction, kind, total in conn.execute(
            sa.select(f.projectCode, f.forMonth, f.direction, f.kind, sa.func.sum(f.amount)).where(
                _in(f.projectCode, codes), f.valueDate <= as_of).group_by(
                f.projectCode, f.forMonth, f.direction, f.kind)):
        d = data[code]
        total = int(total)
        d.balance += total if direction == "in" else -total
        if direction == "in" and kind == "labour_cost":
            d.inflow[month] = d.inflow.get(month, 0) + total
    deps = {}
    for dep in conn.execute(sa.select(deposits).where(_in(deposits.c.projectCode, codes))).mappings():
        deps[dep["depositId"]] = dict(dep, events=[])
        data[dep["projectCode"]].deposits.append(deps[dep["depositId"]])
    if deps:
        for e in conn.execute(sa.select(deposit_events).where(
                deposit_events.c.date <= as_of).order_by(deposit_events.c.id)).mappings():
            if e["depositId"] in deps:
                deps[e["depositId"]]["events"].append(dict(e))
    a = attendance_days.c
    for code, wid, month, n, last in conn.execute(
            sa.select(a.projectCode, a.workerId, _month_expr(conn, a.day), sa.func.count(),
                      sa.func.max(a.day)).where(_in(a.projectCode, codes), a.day <= as_of)
            .group_by(a.projectCode, a.workerId, _month_expr(conn, a.day))):
        d = data.get(code)
        if d is None:
            continue
        d.att.setdefault(month, {})[wid] = n
        if d.last_att is None or last > d.last_att:
            d.last_att = last
    pl = payroll_lines.c
    for code, wid, month, total, final, days in conn.execute(
            sa.select(pl.projectCode, pl.workerId, pl.payMonth, sa.func.sum(pl.actualAmount),
                      sa.func.max(sa.cast(pl.isFinal, sa.Integer)), sa.func.sum(pl.days)).where(
                _in(pl.projectCode, codes), pl.balanceDate <= as_of).group_by(
                pl.projectCode, pl.workerId, pl.payMonth)):
        data[code].paid.setdefault(month, {})[wid] = int(total)
        data[code].paid_days.setdefault(month, {})[wid] = int(days or 0)
        if final:
            data[code].finals.add(wid)
    pp = progress_payments.c
    for code, month, total in conn.execute(
            sa.select(pp.projectCode, pp.forMonth, sa.func.sum(pp.amount)).where(
                _in(pp.projectCode, codes), pp.paidDate <= as_of).group_by(
                pp.projectCode, pp.forMonth)):
        data[code].progress[month] = int(total)
    pg = payment_guarantees.c
    for code, vf, vt, rdate, rat in conn.execute(
            sa.select(pg.projectCode, pg.validFrom, pg.validTo, pg.receivedDate, pg.receivedAt)
            .where(_in(pg.projectCode, codes))):
        if code in data:
            data[code].guarantees.append((vf, vt))
            if rdate and rat and data[code].region in (arrivals_for or ()):
                data[code].arrivals.append(("guarantee", rdate, _day_of(rat)))
    if arrivals_for:
        _load_bank_arrivals(conn, data, codes, arrivals_for)
    pw = project_workers.c
    for code, wid, exit_day in conn.execute(sa.select(pw.projectCode, pw.workerId, pw.exitDate)
                                            .where(_in(pw.projectCode, codes),
                                                   pw.exitDate <= as_of)):
        data[code].exits.append((wid, exit_day))
    for c in conn.execute(sa.select(complaints).where(_in(complaints.c.projectCode, codes))).mappings():
        data[c["projectCode"]].complaints.append(dict(c))
    day0 = int(dt.datetime.combine(as_of, dt.time(), tzinfo=checks_tz()).timestamp() * 1000)
    for code, n in conn.execute(
            sa.select(gateways.c.project, sa.func.count()).select_from(
                rejections.join(gateways, gateways.c.gw_id == rejections.c.gw_id)).where(
                _in(gateways.c.project, codes), rejections.c.at >= day0,
                rejections.c.at < day0 + 86_400_000,
                rejections.c.kind.in_(("bad_signature", "broken_chain", "conflict", "malformed",
                                       "gateway_mismatch", "oversized"))).group_by(
                gateways.c.project)):
        if code in data:
            data[code].rejections = n
    _load_pushes(conn, data, codes, as_of)
    return data


def _load_pushes(conn, data, codes, as_of: dt.date) -> None:
    """W19: the platform jobs not held yet, grouped (central/platform/)."""
    end = int(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(),
                                  tzinfo=checks_tz()).timestamp() * 1000) - 1
    moment = min(now_ms(), end)
    j = platform_jobs.c
    for d in data.values():
        d.moment_ms = moment
    for code, target, kind, state, deadline, n, recs, reason in conn.execute(
            sa.select(j.projectCode, j.target, j.kind, j.state, j.deadlineAt, sa.func.count(),
                      sa.func.sum(j.records), sa.func.max(j.reason)).where(
                _in(j.projectCode, codes),
                j.state.in_(("queued", "sending", "submitted", "parked"))).group_by(
                j.projectCode, j.target, j.kind, j.state, j.deadlineAt)):
        if code in data:
            data[code].pushes.append((target, kind, state, deadline, n, recs, reason))


def checks_tz():
    return dt.timezone(dt.timedelta(hours=8))


def _day_of(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, checks_tz()).date()


def _load_bank_arrivals(conn, data, codes, regions: set[str]) -> None:
    """Account events and flows with the day central received them, for W17."""
    mine = [c for c, d in data.items() if d.region in regions]
    if not mine:
        return
    filt = (lambda col: col.in_(mine)) if codes is not None or len(mine) < len(data) \
        else (lambda col: sa.true())
    sa_ = special_accounts.c
    for code, opened, rat, closed, cat in conn.execute(sa.select(
            sa_.projectCode, sa_.openedDate, sa_.receivedAt, sa_.closedDate,
            sa_.closedReceivedAt).where(filt(sa_.projectCode))):
        if rat:
            data[code].arrivals.append(("account", opened, _day_of(rat)))
        if closed and cat:
            data[code].arrivals.append(("account", closed, _day_of(cat)))
    f = account_flows.c
    for code, vdate, rat in conn.execute(sa.select(f.projectCode, f.valueDate, f.receivedAt)
                                         .where(filt(f.projectCode), f.receivedAt.is_not(None))):
        data[code].arrivals.append(("flow", vdate, _day_of(rat)))
    b = bank_events.c                 # account changes the banks pushed (central/platform)
    for code, edate, rat in conn.execute(sa.select(b.projectCode, b.eventDate, b.receivedAt)
                                         .where(filt(b.projectCode), b.kind == "change")):
        if code in data:
            data[code].arrivals.append(("account", edate, _day_of(rat)))


def _month_expr(conn, col):
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(col, sa.literal_column("'YYYY-MM'"))
    return sa.func.strftime(sa.literal_column("'%Y-%m'"), col)


def overrides(conn) -> dict:
    """rule_params rows: {(region, rule, key): (value, source)}."""
    return {(r.region, r.rule, r.key): (r.value, r.source)
            for r in conn.execute(sa.select(rule_params))}


class Warnings:
    def __init__(self, store: Store, calendar: Calendar | None = None, notifier=None) -> None:
        self.store = store
        self.calendar = calendar or default_calendar()
        self.notifier = notifier            # notify.Notifier: sends the outbox after commits

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, as_of: dt.date, projects_: list[str] | None = None,
                 progress=None) -> dict[str, int]:
        """Run every rule for the projects (default all) as of ``as_of``; apply findings.
        ``progress(done, total)`` is told after each project's rules ran."""
        stats = defaultdict(int)
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":    # one evaluator at a time per database
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(60606)"))
            ov = overrides(conn)
            effs: dict[str, tuple[dict, dict]] = {}

            def eff(region: str, values: bool = False) -> dict:
                e = effs.get(region)
                if e is None:
                    full = effective(region, ov)
                    e = effs[region] = (full, {k: v[0] for k, v in full.items()})
                return e[1] if values else e[0]
            regions = {r[0][:2] for r in conn.execute(sa.select(projects.c.areaCode).where(
                _in(projects.c.projectCode, projects_)).distinct())}
            w17 = {r for r in regions if any(
                lookup(eff(r), "W17", k)[0] >= 0 for k in
                ("account_working_days", "flow_days", "guarantee_working_days"))}
            data = load(conn, as_of, projects_, w17)
            targets = {(r.region, r.party) for r in conn.execute(
                sa.select(notify_targets.c.region, notify_targets.c.party))}
            found: dict[tuple, tuple[checks.Finding, str]] = {}
            for i, (code, d) in enumerate(data.items(), 1):
                for f in checks.evaluate(d, as_of, eff(d.region, True), self.calendar):
                    found[(f.rule, f.subject_type, f.subject_id, f.period)] = (f, code)
                if progress is not None:
                    progress(i, len(data))
            w = warnings_t.c
            existing: dict[tuple, object] = {}        # base key -> latest episode
            for r in conn.execute(sa.select(warnings_t).where(
                    _in(w.projectCode, list(data) if projects_ else None)).order_by(w.id)):
                existing[(r.rule, r.subjectType, r.subjectId, r.period.split("#")[0])] = r
            t = now_ms()
            events, outbox = [], []
            for key, (f, code) in found.items():
                row = existing.get(key)
                period = f.period
                if row is not None and row.state == "cleared_auto":
                    # the condition is back after the data had cleared it: a new episode
                    n = int(row.period.split("#")[1]) + 1 if "#" in row.period else 2
                    period, row = f"{f.period}#{n}", None
                if row is None:
                    d = data[code]
                    e = eff(d.region)
                    due = as_of + dt.timedelta(days=lookup(e, f.rule, "disposal_days")[0])
                    party = f.responsible or BY_CODE[f.rule]["responsible"]
                    corp = {"client": d.p["buildCorpCode"],
                            "contractor": d.p["contractorCorpCode"]}.get(party)
                    wid = conn.execute(warnings_t.insert().values(
                        rule=f.rule, subjectType=f.subject_type, subjectId=f.subject_id,
                        projectCode=code, period=period, level=f.level, state="open",
                        openedOn=as_of, dueOn=due, tier=0, details=_json(f.details),
                        updatedAt=t, source=rule_source(e, f.rule), responsible=party,
                        responsibleCorp=corp)).inserted_primary_key[0]
                    events.append(_ev(wid, as_of, None, "open", f.level, "system", "raised"))
                    _outbox(outbox, targets, e, wid, "open", d.region, party)
                    stats["opened"] += 1
                elif row.state in OPEN_STATES and LEVELS.index(f.level) > LEVELS.index(row.level):
                    conn.execute(warnings_t.update().where(w.id == row.id).values(
                        level=f.level, details=_json(f.details), updatedAt=t))
                    events.append(_ev(row.id, as_of, row.state, row.state, f.level, "system",
                                      f"level {row.level} -> {f.level}"))
                    stats["raised_level"] += 1
            for key, row in existing.items():
                if row.state not in OPEN_STATES:
                    continue
                if key not in found and BY_CODE[row.rule]["auto_clear"] and row.projectCode in data:
                    conn.execute(warnings_t.update().where(w.id == row.id).values(
                        state="cleared_auto", clearedOn=as_of, clearedBy="system",
                        clearReason="condition no longer holds", updatedAt=t))
                    events.append(_ev(row.id, as_of, row.state, "cleared_auto", row.level,
                                      "system", "data now matches"))
                    stats["cleared"] += 1
                    continue
                region = row.projectCode and data.get(row.projectCode)
                region = region.region if region else "*"
                e = eff(region)
                after = lookup(e, row.rule, "escalate_after_days")[0]
                max_tier = lookup(e, row.rule, "max_tier")[0]
                if row.state not in ("escalated", "overdue", "extension_requested") and \
                        as_of > row.dueOn:
                    conn.execute(warnings_t.update().where(w.id == row.id).values(
                        state="overdue", updatedAt=t))
                    events.append(_ev(row.id, as_of, row.state, "overdue", row.level, "system",
                                      f"not disposed by {row.dueOn}"))
                    _outbox(outbox, targets, e, row.id, "overdue", region, row.responsible)
                    stats["overdue"] += 1
                elif row.state in ("overdue", "escalated") and row.tier < max_tier and \
                        as_of > row.dueOn + dt.timedelta(days=after * (row.tier + 1)):
                    level = LEVELS[min(LEVELS.index(row.level) + 1, len(LEVELS) - 1)] \
                        if row.level != "technical" else row.level
                    conn.execute(warnings_t.update().where(w.id == row.id).values(
                        state="escalated", tier=row.tier + 1, level=level, updatedAt=t))
                    events.append(_ev(row.id, as_of, row.state, "escalated", level, "system",
                                      f"tier {row.tier} -> {row.tier + 1}"))
                    _outbox(outbox, targets, e, row.id, "escalated", region, row.responsible)
                    stats["escalated"] += 1
            if events:
                conn.execute(warning_events.insert(), events)
            if outbox:
                conn.execute(notifications.insert(), [dict(o, createdAt=t) for o in outbox])
        stats["projects"] = len(data)
        stats["findings"] = len(found)
        if outbox and self.notifier is not None:
            stats["notified"] = self.notifier.send_pending()
        return dict(stats)

    # ---------------------------------------------------------------- people's actions
    def _get(self, conn, wid: int) -> dict:
        row = conn.execute(sa.select(warnings_t).where(warnings_t.c.id == wid)).mappings().first()
        if row is None:
            raise InputError(f"warning {wid}: no such warning")
        return dict(row)

    def clear(self, wid: int, by: str, reason: str, evidence: list[str], on: dt.date) -> None:
        """Manual clearing: needs who, why and at least one piece of evidence."""
        if not by or not reason or not reason.strip():
            raise InputError("clearing needs --by and --reason")
        if not evidence or not all(e.strip() for e in evidence):
            raise InputError("manual clearing needs evidence (attachment reference or note)")
        with self.store.engine.begin() as conn:
            row = self._get(conn, wid)
            if row["state"] not in OPEN_STATES:
                raise InputError(f"warning {wid} is already {row['state']}")
            conn.execute(warnings_t.update().where(warnings_t.c.id == wid).values(
                state="cleared_manual", clearedOn=on, clearedBy=by[:100],
                clearReason=reason[:500], evidence=_json(evidence), updatedAt=now_ms()))
            conn.execute(warning_events.insert().values(
                _ev(wid, on, row["state"], "cleared_manual", row["level"], by, reason)))

    def request_extension(self, wid: int, days: int, reason: str, by: str, on: dt.date,
                          role: str = "party") -> None:
        """A participating unit asks, with reasons, before the deadline (seed 000 art. 17)."""
        if role not in REQUEST_ROLES:
            raise InputError(f"extension: requested by a participating unit (role "
                             f"{' or '.join(REQUEST_ROLES)}), not {role!r}")
        if not reason or not reason.strip():
            raise InputError("extension needs a reason")
        if not by or not by.strip():
            raise InputError("extension needs --by (who asks)")
        with self.store.engine.begin() as conn:
            row = self._get(conn, wid)
            region = self._region(conn, row["projectCode"])
            most = lookup(effective(region, overrides(conn)), row["rule"],
                          "max_extension_days")[0]
            if not 1 <= days <= most:
                raise InputError(f"extension: 1..{most} days")
            if row["state"] not in ("open", "extended"):
                raise InputError(f"warning {wid} is {row['state']}: cannot request an extension")
            if on > row["dueOn"]:
                raise DeadlinePassed(
                    f"warning {wid}: the disposal deadline {row['dueOn']} has passed; an "
                    "extension must be requested before it (seed 000 art. 17)")
            conn.execute(warnings_t.update().where(warnings_t.c.id == wid).values(
                state="extension_requested", extensionDays=days, extensionReason=reason[:500],
                extensionRequestedBy=by[:100], extensionRequestedRole=role,
                updatedAt=now_ms()))
            conn.execute(warning_events.insert().values(
                _ev(wid, on, row["state"], "extension_requested", row["level"], by,
                    f"{days} days: {reason}")))

    def grant_extension(self, wid: int, by: str, on: dt.date, role: str = "official") -> dt.date:
        """The sector department approves (seed 000 art. 17): another role and another person
        than the one who asked."""
        if role not in GRANT_ROLES:
            raise InputError(f"extension: granted by the sector department (role "
                             f"{' or '.join(GRANT_ROLES)}), not {role!r}")
        with self.store.engine.begin() as conn:
            row = self._get(conn, wid)
            if row["state"] != "extension_requested":
                raise InputError(f"warning {wid} has no pending extension request")
            if role == row["extensionRequestedRole"] or \
                    (by or "").strip() == (row["extensionRequestedBy"] or ""):
                raise InputError(f"warning {wid}: the extension was requested by "
                                 f"{row['extensionRequestedBy']!r}; another person in another "
                                 "role must grant it")
            due = row["dueOn"] + dt.timedelta(days=row["extensionDays"])
            state = "extended" if on <= due else "overdue"
            conn.execute(warnings_t.update().where(warnings_t.c.id == wid).values(
                state=state, dueOn=due, updatedAt=now_ms()))
            conn.execute(warning_events.insert().values(
                _ev(wid, on, row["state"], state, row["level"], by, f"granted: due {due}")))
            return due

    def refuse_extension(self, wid: int, by: str, reason: str, on: dt.date,
                         role: str = "official") -> None:
        if role not in GRANT_ROLES:
            raise InputError("extension: only the sector department decides on a request")
        if not reason or not reason.strip():
            raise InputError("refusing needs a reason")
        with self.store.engine.begin() as conn:
            row = self._get(conn, wid)
            if row["state"] != "extension_requested":
                raise InputError(f"warning {wid} has no pending extension request")
            state = "open" if on <= row["dueOn"] else "overdue"
            conn.execute(warnings_t.update().where(warnings_t.c.id == wid).values(
                state=state, extensionDays=None, updatedAt=now_ms()))
            conn.execute(warning_events.insert().values(
                _ev(wid, on, row["state"], state, row["level"], by, f"refused: {reason}")))

    def _region(self, conn, code: str) -> str:
        area = conn.execute(sa.select(projects.c.areaCode).where(
            projects.c.projectCode == code)).scalar()
        return area[:2] if area else "*"

    # ---------------------------------------------------------------- queries
    def list(self, project: str | None = None, state: str | None = None,
             rule: str | None = None, region: str | None = None) -> list[dict]:
        w = warnings_t.c
        q = sa.select(warnings_t).order_by(w.projectCode, w.rule, w.period, w.subjectId)
        if region:
            q = q.where(w.projectCode.in_(sa.select(projects.c.projectCode).where(
                projects.c.areaCode.like(f"{region}%"))))
        if project:
            q = q.where(w.projectCode == project)
        if state == "active":
            q = q.where(w.state.in_(OPEN_STATES))
        elif state:
            q = q.where(w.state == state)
        if rule:
            q = q.where(w.rule == rule)
        with self.store.engine.connect() as conn:
            return [_view(r) for r in conn.execute(q).mappings()]

    def history(self, wid: int) -> list[dict]:
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(warning_events).where(
                warning_events.c.warningId == wid).order_by(warning_events.c.id)).mappings()]


def _view(r) -> dict:
    out = dict(r)
    out["details"] = json.loads(r["details"]) if r["details"] else {}
    out["evidence"] = json.loads(r["evidence"]) if r["evidence"] else None
    out["family"] = BY_CODE[r["rule"]]["family"]
    out["name"] = BY_CODE[r["rule"]]["name"]
    return out


def _outbox(outbox: list, targets: set, eff: dict, wid: int, event: str, region: str,
            responsible: str | None) -> None:
    """Queue a notification if anyone in the region (or everywhere) is to receive it."""
    key = "notify_escalated" if event == "escalated" else "notify_open"
    parties = []
    for p in lookup(eff, "*", key)[0].split(","):
        p = responsible if p.strip() == "responsible" else p.strip()
        if p and p not in parties and ((region, p) in targets or ("*", p) in targets):
            parties.append(p)
    if parties:
        outbox.append({"warningId": wid, "event": event, "parties": ",".join(parties),
                       "region": region, "status": "pending", "attempts": 0})


def _json(v) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def _ev(wid, on, frm, to, level, actor, note) -> dict:
    return {"warningId": wid, "on": on, "fromState": frm, "toState": to, "level": level,
            "actor": actor[:100], "note": (note or "")[:500], "at": now_ms()}
