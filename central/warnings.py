"""Warning engine: load project data as of a day, run the rules, apply the findings.

Lifecycle (every change is a ``warning_events`` row)::

    open --request_extension--> extension_requested --grant--> extended
      |  (condition gone, auto rule)  -> cleared_auto
      |  (manual clear with evidence) -> cleared_manual
      '-- past dueOn --> overdue -- escalate_after_days later --> escalated (tier+1, level up)

The key ``(rule, subjectType, subjectId, period)`` is unique, so re-running an evaluation (or
two workers running it at once) never duplicates a warning.  A condition that returns after
its warning was cleared automatically opens a new episode (period ``P#2``, ``P#3``, ...); after
a manual clearing it does not (an inspector has judged that case).  Evaluation is daily
(``evaluate(day)``) and on events (``evaluate(day, projects=[code])`` after an import).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import sqlalchemy as sa

from . import checks
from .codes import InputError
from .rules import BY_CODE, LEVELS, param
from .store import Store, now_ms
from .schema import gateways, rejections
from .schema import (account_flows, attendance_days, complaints, deposit_events, deposits,
                     payroll_lines, project_workers, projects, rule_params, special_accounts,
                     warning_events, warnings_t)

OPEN_STATES = ("open", "extension_requested", "extended", "overdue", "escalated")
CLEARED = ("cleared_auto", "cleared_manual")


def _in(col, codes):
    return col.in_(codes) if codes is not None else sa.true()


def load(conn, as_of: dt.date, codes: list[str] | None = None) -> dict[str, checks.ProjectData]:
    data: dict[str, checks.ProjectData] = {}
    for p in conn.execute(sa.select(projects).where(_in(projects.c.projectCode, codes))).mappings():
        data[p["projectCode"]] = checks.ProjectData(dict(p), p["areaCode"][:2])
    codes = list(data) if codes is not None else None
    for code, opened in conn.execute(sa.select(special_accounts.c.projectCode,
                                               sa.func.min(special_accounts.c.openedDate)).where(
            _in(special_accounts.c.projectCode, codes),
            special_accounts.c.openedDate <= as_of).group_by(special_accounts.c.projectCode)):
        data[code].account_opened = opened
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
    for code, wid, month, total, final in conn.execute(
            sa.select(pl.projectCode, pl.workerId, pl.payMonth, sa.func.sum(pl.actualAmount),
                      sa.func.max(sa.cast(pl.isFinal, sa.Integer))).where(
                _in(pl.projectCode, codes), pl.balanceDate <= as_of).group_by(
                pl.projectCode, pl.workerId, pl.payMonth)):
        data[code].paid.setdefault(month, {})[wid] = int(total)
        if final:
            data[code].finals.add(wid)
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
    return data


def checks_tz():
    return dt.timezone(dt.timedelta(hours=8))


def _month_expr(conn, col):
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(col, sa.literal_column("'YYYY-MM'"))
    return sa.func.strftime(sa.literal_column("'%Y-%m'"), col)


def overrides(conn) -> dict:
    return {(r.region, r.rule, r.key): r.value for r in conn.execute(sa.select(rule_params))}


class Warnings:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, as_of: dt.date, projects_: list[str] | None = None) -> dict[str, int]:
        """Run every rule for the projects (default all) as of ``as_of``; apply findings."""
        stats = defaultdict(int)
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":    # one evaluator at a time per database
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(60606)"))
            ov = overrides(conn)
            data = load(conn, as_of, projects_)
            found: dict[tuple, tuple[checks.Finding, str]] = {}
            for code, d in data.items():
                for f in checks.evaluate(d, as_of, ov):
                    found[(f.rule, f.subject_type, f.subject_id, f.period)] = (f, code)
            w = warnings_t.c
            existing: dict[tuple, object] = {}        # base key -> latest episode
            for r in conn.execute(sa.select(warnings_t).where(
                    _in(w.projectCode, list(data) if projects_ else None)).order_by(w.id)):
                existing[(r.rule, r.subjectType, r.subjectId, r.period.split("#")[0])] = r
            t = now_ms()
            events = []
            for key, (f, code) in found.items():
                row = existing.get(key)
                period = f.period
                if row is not None and row.state == "cleared_auto":
                    # the condition is back after the data had cleared it: a new episode
                    n = int(row.period.split("#")[1]) + 1 if "#" in row.period else 2
                    period, row = f"{f.period}#{n}", None
                if row is None:
                    region = data[code].region
                    due = as_of + dt.timedelta(days=param(f.rule, "disposal_days", region, ov))
                    wid = conn.execute(warnings_t.insert().values(
                        rule=f.rule, subjectType=f.subject_type, subjectId=f.subject_id,
                        projectCode=code, period=period, level=f.level, state="open",
                        openedOn=as_of, dueOn=due, tier=0, details=_json(f.details),
                        updatedAt=t)).inserted_primary_key[0]
                    events.append(_ev(wid, as_of, None, "open", f.level, "system", "raised"))
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
                after = param(row.rule, "escalate_after_days", region, ov)
                if row.state != "escalated" and row.state != "overdue" and as_of > row.dueOn:
                    conn.execute(warnings_t.update().where(w.id == row.id).values(
                        state="overdue", updatedAt=t))
                    events.append(_ev(row.id, as_of, row.state, "overdue", row.level, "system",
                                      f"not disposed by {row.dueOn}"))
                    stats["overdue"] += 1
                elif row.state in ("overdue", "escalated") and row.tier < 2 and \
                        as_of > row.dueOn + dt.timedelta(days=after * (row.tier + 1)):
                    level = LEVELS[min(LEVELS.index(row.level) + 1, len(LEVELS) - 1)] \
                        if row.level != "technical" else row.level
                    conn.execute(warnings_t.update().where(w.id == row.id).values(
                        state="escalated", tier=row.tier + 1, level=level, updatedAt=t))
                    events.append(_ev(row.id, as_of, row.state, "escalated", level, "system",
                                      f"tier {row.tier} -> {row.tier + 1}"))
                    stats["escalated"] += 1
            if events:
                conn.execute(warning_events.insert(), events)
        stats["projects"] = len(data)
        stats["findings"] = len(found)
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

    def request_extension(self, wid: int, days: int, reason: str, by: str, on: dt.date) -> None:
        if not 1 <= days <= 90:
            raise InputError("extension: 1..90 days")
        if not reason or not reason.strip():
            raise InputError("extension needs a reason")
        with self.store.engine.begin() as conn:
            row = self._get(conn, wid)
            if row["state"] not in ("open", "overdue", "extended"):
                raise InputError(f"warning {wid} is {row['state']}: cannot request an extension")
            conn.execute(warnings_t.update().where(warnings_t.c.id == wid).values(
                state="extension_requested", extensionDays=days, extensionReason=reason[:500],
                updatedAt=now_ms()))
            conn.execute(warning_events.insert().values(
                _ev(wid, on, row["state"], "extension_requested", row["level"], by, reason)))

    def grant_extension(self, wid: int, by: str, on: dt.date) -> dt.date:
        with self.store.engine.begin() as conn:
            row = self._get(conn, wid)
            if row["state"] != "extension_requested":
                raise InputError(f"warning {wid} has no pending extension request")
            due = max(row["dueOn"], on) + dt.timedelta(days=row["extensionDays"])
            conn.execute(warnings_t.update().where(warnings_t.c.id == wid).values(
                state="extended", dueOn=due, updatedAt=now_ms()))
            conn.execute(warning_events.insert().values(
                _ev(wid, on, row["state"], "extended", row["level"], by, f"due {due}")))
            return due

    # ---------------------------------------------------------------- queries
    def list(self, project: str | None = None, state: str | None = None,
             rule: str | None = None) -> list[dict]:
        w = warnings_t.c
        q = sa.select(warnings_t).order_by(w.projectCode, w.rule, w.period, w.subjectId)
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


def _json(v) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def _ev(wid, on, frm, to, level, actor, note) -> dict:
    return {"warningId": wid, "on": on, "fromState": frm, "toState": to, "level": level,
            "actor": actor[:100], "note": (note or "")[:500], "at": now_ms()}
