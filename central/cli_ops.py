"""`sitegate-central` commands for the registry, escrow and warnings (mirrors of the library):
``warnings list|show|clear|extend|grant|evaluate``, ``import KIND FILE``, ``attendance``,
``reconcile``, ``export-national``, ``tokens add``, ``api``, ``roster key``,
``quarantine list|show|accept``."""
from __future__ import annotations

import datetime as dt
import json

import click
from rich.console import Console
from rich.table import Table

from .cli_common import db_option
from .codes import InputError, check_date, check_month

console = Console(stderr=True)


def _ctx(db):
    from .cli_common import home, open_store
    from .crypto import FieldCipher, load_key
    return open_store(db), FieldCipher(load_key(home()))


def _day(value) -> dt.date:
    from .api import today
    try:
        return check_date(value, "--on") if value else today()
    except InputError as exc:
        raise click.BadParameter(str(exc)) from exc


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from exc


def register(main: click.Group) -> None:
    @main.group("warnings")
    def warnings_group():
        """Wage-payment warnings W01-W15: list, clear with evidence, extend, evaluate."""

    @warnings_group.command("list")
    @click.option("--project")
    @click.option("--state", help="active, open, overdue, escalated, cleared_auto, ...")
    @click.option("--rule")
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def w_list(project, state, rule, as_json, db):
        from .warnings import Warnings
        rows = Warnings(_ctx(db)[0]).list(project, state, rule)
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, default=str, sort_keys=True))
            return
        table = Table("id", "rule", "project", "subject", "period", "level", "state", "opened",
                      "due", "tier")
        for w in rows:
            table.add_row(str(w["id"]), f"{w['rule']} {w['name']}", w["projectCode"],
                          f"{w['subjectType']}:{w['subjectId']}", w["period"], w["level"],
                          w["state"], str(w["openedOn"]), str(w["dueOn"]), str(w["tier"]))
        Console().print(table)

    @warnings_group.command("show")
    @click.argument("warning_id", type=int)
    @db_option
    def w_show(warning_id, db):
        from .warnings import Warnings
        warn = Warnings(_ctx(db)[0])
        rows = [w for w in warn.list() if w["id"] == warning_id]
        if not rows:
            raise click.ClickException(f"no warning {warning_id}")
        click.echo(json.dumps({"warning": rows[0], "history": warn.history(warning_id)},
                              ensure_ascii=False, default=str, sort_keys=True, indent=1))

    @warnings_group.command("clear")
    @click.argument("warning_id", type=int)
    @click.option("--by", required=True, help="Who clears it (inspector id).")
    @click.option("--reason", required=True)
    @click.option("--evidence", multiple=True, required=True,
                  help="Attachment reference or note; repeatable.")
    @click.option("--on", help="Date (default today, China time).")
    @db_option
    def w_clear(warning_id, by, reason, evidence, on, db):
        """Clear a warning manually, with evidence."""
        from .warnings import Warnings
        try:
            Warnings(_ctx(db)[0]).clear(warning_id, by, reason, list(evidence), _day(on))
        except InputError as exc:
            _fail(exc)
        click.echo(f"cleared {warning_id}")

    @warnings_group.command("extend")
    @click.argument("warning_id", type=int)
    @click.option("--days", type=int, required=True)
    @click.option("--reason", required=True)
    @click.option("--by", required=True)
    @click.option("--grant", "grant_by", metavar="WHO",
                  help="Also grant it, as this official.")
    @click.option("--on")
    @db_option
    def w_extend(warning_id, days, reason, by, grant_by, on, db):
        """Request an extension of the disposal deadline (and optionally grant it)."""
        from .warnings import Warnings
        warn = Warnings(_ctx(db)[0])
        try:
            warn.request_extension(warning_id, days, reason, by, _day(on))
            if grant_by:
                due = warn.grant_extension(warning_id, grant_by, _day(on))
                click.echo(f"extension granted: {warning_id} due {due}")
                return
        except InputError as exc:
            _fail(exc)
        click.echo(f"extension requested for {warning_id}")

    @warnings_group.command("grant")
    @click.argument("warning_id", type=int)
    @click.option("--by", required=True)
    @click.option("--on")
    @db_option
    def w_grant(warning_id, by, on, db):
        """Grant a pending extension request."""
        from .warnings import Warnings
        try:
            due = Warnings(_ctx(db)[0]).grant_extension(warning_id, by, _day(on))
        except InputError as exc:
            _fail(exc)
        click.echo(f"extension granted: {warning_id} due {due}")

    @warnings_group.command("evaluate")
    @click.option("--on", help="Evaluate as of this date (default today).")
    @click.option("--project", multiple=True)
    @db_option
    def w_evaluate(on, project, db):
        """Run all rules (the daily job; also run after imports)."""
        from .warnings import Warnings
        stats = Warnings(_ctx(db)[0]).evaluate(_day(on), list(project) or None)
        click.echo(json.dumps(stats, sort_keys=True))

    @main.command("import")
    @click.argument("kind", type=click.Choice(["companies", "projects", "workers", "contracts",
                                               "exits", "accounts", "flows", "payroll",
                                               "deposits", "deposit-events", "guarantees",
                                               "complaints"]))
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--evaluate/--no-evaluate", default=True,
                  help="Re-evaluate warnings of the touched projects afterwards.")
    @db_option
    def import_(kind, path, evaluate, db):
        """Import a CSV or XLSX sheet (header row = field names); all rows or none."""
        from .escrow import Escrow, read_sheet
        from .warnings import Warnings
        store, cipher = _ctx(db)
        try:
            rows = read_sheet(path)
            from .registry import Registry
            target = Registry(store, cipher) if kind in Registry.KINDS else Escrow(store, cipher)
            n = target.import_rows(kind, rows)
        except InputError as exc:
            _fail(exc)
        click.echo(f"imported {n} {kind} rows")
        if evaluate:
            codes = sorted({r.get("projectCode") for r in rows if r.get("projectCode")})
            if codes:
                click.echo(json.dumps(Warnings(store).evaluate(_day(None), codes)))

    @main.command()
    @click.argument("project")
    @click.argument("month")
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def reconcile(project, month, as_json, db):
        """Attendance days vs payroll per worker for PROJECT and MONTH (yyyy-MM)."""
        from .reconcile import reconcile as rec
        try:
            rows = rec(_ctx(db)[0], project, check_month(month))
        except InputError as exc:
            _fail(exc)
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False))
            return
        table = Table("worker", "attendance days", "payroll days", "paid", "status")
        for r in rows:
            table.add_row(r["workerId"], str(r["attendanceDays"]), str(r["payrollDays"]),
                          str(r["actualAmount"]), r["status"])
        Console().print(table)

    @main.command("export-national")
    @click.argument("what", type=click.Choice(["attendance", "project-workers", "payroll"]))
    @click.option("--project", required=True)
    @click.option("--date", "day", help="attendance: the day (yyyy-MM-dd)")
    @click.option("--month", help="payroll: the month (yyyy-MM)")
    @click.option("--appsecret-env", metavar="VAR",
                  help="Encrypt ID/card numbers for the national OpenAPI with the app secret "
                       "in this environment variable (default: masked).")
    @db_option
    def export_national(what, project, day, month, appsecret_env, db):
        """Payloads in the national interface's field names (WorkerAttendance, ProjectWorker,
        Payroll)."""
        import os
        from .export import Exporter
        store, cipher = _ctx(db)
        secret = os.environ.get(appsecret_env) if appsecret_env else None
        if appsecret_env and not secret:
            raise click.ClickException(f"${appsecret_env} is not set")
        ex = Exporter(store, cipher, secret)
        try:
            if what == "attendance":
                out = ex.attendance(project, check_date(day, "--date"))
            elif what == "payroll":
                out = ex.payroll(project, check_month(month, "--month"))
            else:
                out = ex.project_workers(project)
        except InputError as exc:
            _fail(exc)
        click.echo(json.dumps(out, ensure_ascii=False, sort_keys=True))

    @main.group()
    def tokens():
        """API tokens (read or admin)."""

    @tokens.command("add")
    @click.argument("name")
    @click.option("--role", type=click.Choice(["read", "admin"]), default="read",
                  show_default=True)
    @db_option
    def tokens_add(name, role, db):
        """Make a token; it is shown once and stored only as a keyed hash."""
        from .api import add_token
        store, cipher = _ctx(db)
        click.echo(add_token(store, cipher, name, role))

    @main.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8080, show_default=True)
    @db_option
    def api(host, port, db):
        """Serve the HTTP JSON API (OpenAPI at /openapi.json, docs at /docs)."""
        import uvicorn
        from .api import create_app
        store, cipher = _ctx(db)
        uvicorn.run(create_app(store, cipher), host=host, port=port, log_level="warning")

    @main.group()
    def roster():
        """Roster downlink."""

    @roster.command("key")
    def roster_key():
        """Print central's roster public key (give it to each gateway)."""
        from .cli_common import home
        from .roster import load_signer
        click.echo(load_signer(home()).public_hex)

    _quarantine_commands(main)


def _quarantine_commands(main: click.Group) -> None:
    @main.group()
    def quarantine():
        """Blocks refused for good: list them, look inside, quarantine one so the chain goes on."""

    @quarantine.command("list")
    @click.option("--gateway", "gateway_id", help="Only this gateway.")
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def q_list(gateway_id, as_json, db):
        """Held blocks (signed, refused for good, waiting for a decision) and the chain links
        central holds no records for (quarantined blocks, gateways' damage reports)."""
        from .cli_common import open_store
        from .unstored import held, links
        store = open_store(db)
        out = {"held": held(store, gateway_id),
               "unstored": [{k: r[k] for k in ("gw_id", "first", "last", "cause", "kind",
                                               "reason", "note", "at")}
                            for r in links(store, gateway_id)]}
        if as_json:
            click.echo(json.dumps(out, sort_keys=True, ensure_ascii=False))
            return
        table = Table("gateway", "block", "kind", "reason", title="held (refused for good)")
        for r in out["held"]:
            table.add_row(r["gw_id"], f"{r['first']}..{r['last']}", r["kind"], r["reason"])
        Console().print(table)
        table = Table("gateway", "records", "cause", "note", title="chain links without records")
        for r in out["unstored"]:
            table.add_row(r["gw_id"], f"{r['first']}..{r['last']}", r["cause"],
                          r["note"] or r["reason"])
        Console().print(table)

    @quarantine.command("show")
    @click.argument("gateway_id")
    @click.argument("first", type=int)
    @db_option
    def q_show(gateway_id, first, db):
        """The records of held block FIRST, one JSON line each (control characters escaped)."""
        from uplink.wire import decode_upload
        from .cli_common import open_store
        from .unstored import held_payload
        payload = held_payload(open_store(db), gateway_id, first)
        if payload is None:
            raise click.ClickException(f"no held block {first} of {gateway_id!r}")
        for r in decode_upload(payload, limits=False).records:
            click.echo(json.dumps(r, sort_keys=True, ensure_ascii=True))

    @quarantine.command("accept")
    @click.argument("gateway_id")
    @click.argument("first", type=int)
    @click.option("--note", required=True,
                  help="Who decided and why; kept with the block's signed bytes.")
    @db_option
    def q_accept(gateway_id, first, note, db):
        """Quarantine held block FIRST of GATEWAY_ID: its signed bytes and signature are kept as
        evidence, its records are not stored, and the chain goes on from the block's signed head
        (the gateway's next re-send is acknowledged and what follows flows again)."""
        from .cli_common import open_store
        from .unstored import QuarantineError, quarantine as do_quarantine
        try:
            out = do_quarantine(open_store(db), gateway_id, first, note)
        except QuarantineError as exc:
            _fail(exc)
        click.echo(f"quarantined block {first} of {gateway_id}; chain head now seq {out.seq}")


