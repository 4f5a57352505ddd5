"""Planning: what each target must receive, as jobs in the queue (one per object version).

* registry objects: each row's version is a keyed SM3 of its source rows (sealed columns
  included), so only a changed object is built and planned again (an ``Update`` once the
  platform holds an earlier version);
* attendance: each gateway's stored records after the target's cursor, allowed punches only,
  grouped by day and team into jobs of at most ``batch_size`` records.  The jobs and the
  advanced cursor commit together, so every record is planned exactly once.  A punch whose
  worker is not on the project's roster is planned into a *parked* job that names the
  gateway's worker ids; ``retry`` builds it again once the registry knows them.

Every job gets its window from :mod:`schedule` (the project's push schedule and its
province's deadlines).  On PostgreSQL planning takes an advisory lock, so several central
processes never plan the same records twice.
"""
from __future__ import annotations

import json
from collections import defaultdict

import sqlalchemy as sa

from uplink.wire import parse_canonical

from ..crypto import FieldCipher
from ..rules import effective
from ..store import Store, now_ms
from ..tables import (companies, contracts, entry_exits, gateways, platform_cursors,
                      platform_jobs, platform_objects, project_companies, project_workers,
                      projects, records, registrations, special_accounts, teams, workers,
                      payroll_lines)
from ..warnings import overrides
from ..workdays import Calendar, default_calendar
from . import objects as build
from .config import Target
from .queue import Queue
from .schedule import window

LOCK = 60608


def _json(v) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


_SCAN = json.JSONDecoder().scan_once       # the C scanner, without loads' checks around it
_BODY = '{"body":'


def record_body(text: str):
    """A stored record's body, or None.  Central stores records in canonical form (verified
    at ingest: keys sorted, no spaces), so the body is the first member and is parsed alone,
    not the hashes and numbers after it; anything else is parsed whole."""
    try:
        if text.startswith(_BODY):
            return _SCAN(text, len(_BODY))[0]
        return json.loads(text)["body"]
    except (StopIteration, ValueError, KeyError, TypeError):
        return None


class Planner:
    def __init__(self, store: Store, cipher: FieldCipher, targets: list[Target],
                 calendar: Calendar | None = None, clock=now_ms, read_limit: int = 5_000):
        self.store, self.cipher, self.targets = store, cipher, targets
        self.calendar = calendar or default_calendar()
        self.clock = clock
        self.queue = Queue(store, cipher, clock)
        self.read_limit = read_limit

    def version(self, *rows) -> str:
        return self.cipher.index(_json(rows), "platform-version")

    def _open(self, sealed, column):
        return self.cipher.open(sealed, column) if sealed else None

    # ------------------------------------------------------------------ entry point
    def plan(self, project_codes: list[str] | None = None,
             kinds: tuple[str, ...] | None = None, passes: int = 50) -> dict[str, int]:
        """Plan every target; returns {target: jobs planned}.  The registry in one
        transaction, attendance in passes of at most ``read_limit`` records each (a pass
        commits its jobs with its cursors, so a crash loses no pass that committed)."""
        out: dict[str, int] = {t.name: 0 for t in self.targets}
        more = True
        for i in range(passes):
            if not more:
                break
            more = False
            with self.store.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({LOCK})"))
                ctx = _Context(conn, project_codes, overrides(conn))
                for target in self.targets:
                    served = [p for p in ctx.projects.values()
                              if target.serves(p["projectCode"], p["areaCode"])]
                    want = [k for k in target.kinds() if kinds is None or k in kinds]
                    if i == 0:
                        for p in served:
                            out[target.name] += self._registry(conn, ctx, target, p, want)
                    if "attendance" in want and served:
                        n, full = self._attendance(conn, ctx, target, served)
                        out[target.name] += n
                        more = more or full
        return out

    # ------------------------------------------------------------------ registry objects
    def _registry(self, conn, ctx, target, p, want) -> int:
        code = p["projectCode"]
        eff = ctx.eff(p["areaCode"][:2])
        names = ctx.names
        planned = ctx.planned(target.name)
        n = 0
        op = self._open

        def plan_one(kind, key, src, make, facts, deps=()):
            nonlocal n
            version = self.version(kind, src)
            prev = planned.get((kind, key))
            if prev and prev[0] == version:
                return
            facts = dict(facts, update=prev is not None)
            if kind == "project" and prev is not None:
                facts["manager"] = bool(p.get("laborManagerSetAt")) and \
                    p["laborManagerSetAt"] > ctx.job_created(prev[1])
            nb, dl, source = window(kind, p, facts, eff, self.calendar, self.clock())
            jid = self.queue.enqueue(
                conn, target=target.name, kind=kind, project=code, object_key=key,
                version=version, data=make(), refs={"deps": [d for d in deps if d]},
                records=1, not_before=nb, deadline=dl, source=source)
            if jid:
                planned[(kind, key)] = (version, jid)
                n += 1

        if "project" in want:
            plan_one("project", f"project/{code}", [p, names.get(p["contractorCorpCode"]),
                                                    names.get(p.get("buildCorpCode"))],
                     lambda: build.project(p, names, op), {})
        pkey = f"project/{code}"
        pcs = {pc["corpCode"]: pc for pc in ctx.by_project(project_companies, code)}
        if "company" in want:
            for corp, pc in pcs.items():
                plan_one("company", f"company/{code}/{corp}", [pc, names.get(corp)],
                         lambda pc=pc: build.company(pc, names.get(pc["corpCode"]), op), {},
                         [pkey])
        tms = {t["teamSysNo"]: t for t in ctx.by_project(teams, code)}

        def corp_dep(corp):
            return f"company/{code}/{corp}" if corp in pcs else None
        if "team" in want:
            for no, t in tms.items():
                plan_one("team", f"team/{code}/{no}", [t, names.get(t["corpCode"])],
                         lambda t=t: build.team(t, names.get(t["corpCode"])), {},
                         [pkey, corp_dep(t["corpCode"])])
        pws = ctx.project_workers(code)

        def team_dep(no):
            return f"team/{code}/{no}" if no else None

        def wdep(wid):
            return f"worker/{code}/{wid}"
        if "worker" in want:
            for wid, pw in pws.items():
                w = ctx.worker(wid)
                t = tms.get(pw["teamSysNo"])
                src = {k: v for k, v in pw.items() if k not in ("exitDate", "faceTemplateEnc")}
                plan_one("worker", wdep(wid), [src, w, names.get(pw["corpCode"]),
                                               t and t["teamName"]],
                         lambda pw=pw, w=w, t=t: build.worker(
                             pw, w, names.get(pw["corpCode"]), t and t["teamName"], op),
                         {"entry": pw["entryDate"]},
                         [pkey, corp_dep(pw["corpCode"]), team_dep(pw["teamSysNo"])])
        if "entry_exit" in want:
            for e in ctx.by_project(entry_exits, code):
                pw = pws.get(e["workerId"])
                if pw is None:
                    continue
                w = ctx.worker(e["workerId"])
                plan_one("entry_exit", f"entry_exit/{code}/{e['id']}", [e, pw["corpCode"],
                                                                       pw["teamSysNo"]],
                         lambda e=e, pw=pw, w=w: build.entry_exit(
                             e, pw, w, names.get(pw["corpCode"]), op),
                         {"day": e["date"]}, [pkey, wdep(e["workerId"])])
        if "contract" in want:
            for c in ctx.by_project(contracts, code):
                pw = pws.get(c["workerId"])
                w = ctx.worker(c["workerId"])
                plan_one("contract", f"contract/{code}/{c['id']}", [c, names.get(c["corpCode"])],
                         lambda c=c, w=w: build.contract(c, w, names.get(c["corpCode"]), op),
                         {"entry": pw["entryDate"] if pw else c["startDate"]},
                         [pkey, wdep(c["workerId"]) if pw else None])
        if "payroll" in want:
            account = ctx.account(code)
            for line in ctx.by_project(payroll_lines, code):
                pw = pws.get(line["workerId"])
                if pw is None:
                    continue
                w = ctx.worker(line["workerId"])
                plan_one("payroll", f"payroll/{code}/{line['thirdPayRollCode']}",
                         [line, pw.get("payRollBankCardNumberEnc"), account],
                         lambda line=line, pw=pw, w=w: build.payroll(
                             line, pw, w, names.get(line["corpCode"]), account, op),
                         {"paid": line["balanceDate"]},
                         [pkey, wdep(line["workerId"]), team_dep(line.get("teamSysNo"))])
        return n

    # ------------------------------------------------------------------ attendance
    def _attendance(self, conn, ctx, target, served) -> int:
        codes = {p["projectCode"]: p for p in served}
        gws = conn.execute(sa.select(gateways.c.gw_id, gateways.c.project).where(
            gateways.c.project.in_(list(codes)))).all()
        cur = platform_cursors.c
        n = 0
        budget = self.read_limit
        for gw, code in gws:
            if budget <= 0:
                return n, True
            row = conn.execute(sa.select(cur.seq).where(cur.target == target.name,
                                                        cur.gw_id == gw)).first()
            after = row[0] if row else 0
            recs = conn.execute(sa.select(records.c.seq, records.c.ts, records.c.type,
                                          records.c.data).where(
                records.c.gw_id == gw, records.c.seq > after).order_by(records.c.seq)
                .limit(budget)).all()
            if not recs:
                continue
            budget -= len(recs)
            punches = []
            for seq, ts, type_, data in recs:
                if type_ != "attendance":
                    continue
                body = record_body(data)
                if isinstance(body, dict) and body.get("decision") == "allow":
                    punches.append((seq, ts, body))
            n += self._plan_punches(conn, ctx, target, codes[code], gw, punches)
            last = recs[-1][0]
            if row is None:
                conn.execute(platform_cursors.insert().values(target=target.name, gw_id=gw,
                                                              seq=last))
            else:
                conn.execute(platform_cursors.update().where(
                    cur.target == target.name, cur.gw_id == gw).values(seq=last))
        return n, budget <= 0

    def _resolve(self, ctx, p, gw, body):
        """(registry worker id, project worker row) of a punch, or (gateway id, None)."""
        gwid = body.get("worker") if isinstance(body.get("worker"), str) else "?"
        pws = ctx.project_workers(p["projectCode"])
        wid = gwid if gwid in pws else ctx.registered(gw, gwid)
        return (wid, pws[wid]) if wid in pws else (gwid, None)

    def _plan_punches(self, conn, ctx, target, p, gw, punches) -> int:
        code = p["projectCode"]
        groups: dict[tuple, list] = defaultdict(list)
        who: dict = {}                  # gateway worker id -> (worker id, roster row, team)
        cn_time = build.cn_time
        for seq, ts, body in punches:
            key = body.get("worker")
            hit = who.get(key) if isinstance(key, str) else None
            if hit is None:
                wid, pw = self._resolve(ctx, p, gw, body)
                hit = who[key if isinstance(key, str) else None] = (
                    wid, pw, (pw.get("teamSysNo") or 0) if pw else -1)
            wid, pw, team = hit
            day, when = cn_time(ts)
            groups[(day, team)].append((seq, when, body, wid, pw))
        eff = ctx.eff(p["areaCode"][:2])
        n = 0
        for (day, team), items in sorted(groups.items()):
            for i in range(0, len(items), target.batch_size):
                chunk = items[i:i + target.batch_size]
                seqs = [c[0] for c in chunk]
                key = f"attendance/{gw}/{seqs[0]}-{seqs[-1]}/{day.isoformat()}/{team}"
                refs = {"gw": gw, "seqs": seqs}
                nb, dl, source = window("attendance", p, {"day": day}, eff, self.calendar,
                                        self.clock())
                if team == -1:
                    unknown = sorted({c[3] for c in chunk})
                    reason = (f"{len(chunk)} punches of workers not on project {code}'s roster "
                              f"(gateway worker ids {', '.join(unknown[:10])}); add them to "
                              "the roster, then retry")
                    data = {"projectCode": code, "dataList": []}
                    state = "parked"
                else:
                    data, refs["deps"] = self._attendance_data(ctx, code, team, chunk)
                    reason, state = None, "queued"
                if self.queue.enqueue(conn, target=target.name, kind="attendance", project=code,
                                      object_key=key, version=self.version(refs),
                                      data=data, refs=refs, records=len(chunk), not_before=nb,
                                      deadline=dl, source=source, state=state, reason=reason):
                    n += 1
        return n

    def _attendance_data(self, ctx, code, team, chunk) -> tuple[dict, list]:
        """A job's data from its punches ``(seq, China time, body, worker id, roster row)``:
        each worker's identity opened once per pass, each item built once."""
        who = ctx.identity
        data = {"projectCode": code, "dataList": [
            build.attendance_item(when, body, *who(wid, self._open))
            for _, when, body, wid, _ in chunk]}
        if team:
            data["teamSysNo"] = team
        deps = [f"project/{code}"] + ([f"team/{code}/{team}"] if team else []) + \
            sorted({f"worker/{code}/{c[3]}" for c in chunk})
        return data, deps

    def rebuild(self, job: dict) -> tuple[dict, dict] | None:
        """A parked attendance job's data again from its records (after the roster was
        completed); None while some worker is still unknown."""
        refs = json.loads(job["refs"] or "{}")
        gw, seqs = refs.get("gw"), refs.get("seqs") or []
        if job["kind"] != "attendance" or not gw or not seqs:
            return None
        with self.store.engine.connect() as conn:
            ctx = _Context(conn, [job["projectCode"]], {})
            p = ctx.projects.get(job["projectCode"])
            rows = conn.execute(sa.select(records.c.seq, records.c.ts, records.c.data).where(
                records.c.gw_id == gw, records.c.seq.in_(seqs)).order_by(records.c.seq)).all()
            chunk = []
            for seq, ts, data in rows:
                body = parse_canonical(data.encode(), "record")["body"]
                wid, pw = self._resolve(ctx, p, gw, body)
                if pw is None:
                    return None
                chunk.append((seq, build.cn_time(ts)[1], body, wid, pw))
            teams_ = {(c[4].get("teamSysNo") or 0) for c in chunk}
            if len(teams_) != 1:
                return None
            data, deps = self._attendance_data(ctx, job["projectCode"], teams_.pop(), chunk)
        return data, dict(refs, deps=deps)


class _Context:
    """Rows a planning pass reads, loaded once per transaction."""

    def __init__(self, conn, codes, ov) -> None:
        self.conn, self.ov = conn, ov
        q = sa.select(projects)
        if codes is not None:
            q = q.where(projects.c.projectCode.in_(codes))
        self.projects = {p["projectCode"]: dict(p) for p in conn.execute(q).mappings()}
        self.names = {c: n for c, n in conn.execute(sa.select(companies.c.corpCode,
                                                              companies.c.corpName))}
        self._effs: dict = {}
        self._workers: dict = {}
        self._pws: dict = {}
        self._regs: dict = {}
        self._planned: dict = {}
        self._rows: dict = {}
        self._ids: dict = {}

    def identity(self, wid, open_) -> tuple[str, str | None]:
        """(ID type, ID number) of a registry worker, opened once per pass (not per punch)."""
        got = self._ids.get(wid)
        if got is None:
            w = self.worker(wid)
            got = self._ids[wid] = (w["idCardType"], open_(w["idCardNumberEnc"], "idCardNumber"))
        return got

    def eff(self, region: str) -> dict:
        if region not in self._effs:
            self._effs[region] = effective(region, self.ov)
        return self._effs[region]

    def by_project(self, table, code) -> list[dict]:
        key = table.name
        if key not in self._rows:
            q = sa.select(table)
            if len(self.projects) < 500:
                q = q.where(table.c.projectCode.in_(list(self.projects)))
            grouped = defaultdict(list)
            for r in self.conn.execute(q).mappings():
                grouped[r["projectCode"]].append(dict(r))
            self._rows[key] = grouped
        return self._rows[key].get(code, [])

    def project_workers(self, code) -> dict:
        """The project's roster rows by worker id; their workers' rows are read with them
        (one statement, not one per worker)."""
        if code not in self._pws:
            pws = self._pws[code] = {pw["workerId"]: pw
                                     for pw in self.by_project(project_workers, code)}
            want = [w for w in pws if w not in self._workers]
            for i in range(0, len(want), 500):
                part = want[i:i + 500]
                got = {r["workerId"]: dict(r) for r in self.conn.execute(
                    sa.select(workers).where(workers.c.workerId.in_(part))).mappings()}
                self._workers.update((w, got.get(w)) for w in part)
        return self._pws[code]

    def worker(self, wid) -> dict:
        if wid not in self._workers:
            row = self.conn.execute(sa.select(workers).where(
                workers.c.workerId == wid)).mappings().first()
            self._workers[wid] = dict(row) if row else None
        return self._workers[wid]

    def registered(self, gw, gateway_worker) -> str | None:
        if gw not in self._regs:
            self._regs[gw] = {g: w for g, w in self.conn.execute(
                sa.select(registrations.c.gatewayWorker, registrations.c.workerId).where(
                    registrations.c.gw_id == gw, registrations.c.workerId.is_not(None)))}
        return self._regs[gw].get(gateway_worker)

    def planned(self, target) -> dict:
        if target not in self._planned:
            o = platform_objects.c
            self._planned[target] = {(k, key): (v, jid) for k, key, v, jid in self.conn.execute(
                sa.select(o.kind, o.objectKey, o.version, o.jobId).where(
                    o.target == target, o.kind != "attendance"))}
        return self._planned[target]

    def job_created(self, jid) -> int:
        return self.conn.execute(sa.select(platform_jobs.c.createdAt).where(
            platform_jobs.c.id == jid)).scalar() or 0

    def account(self, code) -> dict | None:
        row = self.conn.execute(sa.select(special_accounts).where(
            special_accounts.c.projectCode == code).order_by(
            special_accounts.c.accountId)).mappings().first()
        return dict(row) if row else None
