"""`sitegate-central` commands for the registry, escrow and warnings (mirrors of the library):
``warnings list|show|clear|extend|grant|refuse|evaluate``, ``import KIND FILE``, ``attendance``,
``reconcile``, ``export-national``, ``tokens add``, ``api``, ``roster key``, ``intake key``,
``registrations``, ``field-key``, ``quarantine list|show|accept``."""
from __future__ import annotations

import datetime as dt
import json

import click
from rich.console import Console
from rich.table import Table

from .cli_common import db_option, emit, json_always, json_option, progress_bar, working
from .codes import InputError, check_date, check_month

console = Console(stderr=True)


def _ask():
    """A terminal prompt for a sealed field key's passphrase (None when not in a terminal)."""
    import sys
    if not sys.stdin.isatty():
        return None
    return lambda: click.prompt("passphrase for the field key", hide_input=True, err=True)


def _cipher():
    from .cli_common import home
    from .crypto import CryptoError, FieldCipher, load_key
    try:
        return FieldCipher(load_key(home(), _ask()))
    except CryptoError as exc:
        raise click.ClickException(str(exc)) from None


def _store(db):
    from .cli_common import open_store
    return open_store(db)


def _ctx(db):
    return _store(db), _cipher()


def _day(value) -> dt.date:
    from .api import today
    try:
        return check_date(value, "--on") if value else today()
    except InputError as exc:
        raise click.BadParameter(str(exc)) from exc


class BadFile(click.ClickException):
    """An input file refused before anything is opened: exit code 2, one line."""
    exit_code = 2


def _fail(exc: Exception):
    raise click.ClickException(str(exc)) from exc


def _evaluate(store, cipher, on: dt.date, projects: list[str] | None, as_json: bool) -> dict:
    """Run the warning rules with a progress bar (stderr), then send notifications."""
    from .notify import Notifier
    from .warnings import Warnings
    with progress_bar("evaluating warning rules", as_json=as_json) as update:
        return Warnings(store, notifier=Notifier(store, cipher)).evaluate(on, projects,
                                                                          progress=update)


def _stats_text(stats: dict) -> str:
    """Pure: an evaluation's counters in one line (``opened 2, escalated 1``)."""
    shown = [f"{k.replace('_', ' ')} {v}" for k, v in sorted(stats.items()) if v]
    return "warnings evaluated: " + (", ".join(shown) if shown else "nothing changed")


def register(main: click.Group) -> None:
    @main.group("warnings")
    def warnings_group():
        """Wage-payment warnings W01-W15: list, clear with evidence, extend, evaluate."""

    @warnings_group.command("list")
    @click.option("--project")
    @click.option("--region", help="Province prefix of the projects' area code, e.g. 45.")
    @click.option("--state", help="active, open, overdue, escalated, cleared_auto, ...")
    @click.option("--rule")
    @click.option("--json", "as_json", is_flag=True,
                  help="JSON rows, each with `source` (the rule's parameters and where each "
                       "comes from) and `responsible`.")
    @db_option
    def w_list(project, region, state, rule, as_json, db):
        from .warnings import Warnings
        rows = Warnings(_store(db)).list(project, state, rule, region)
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, default=str, sort_keys=True))
            return
        table = Table("id", "rule", "project", "subject", "period", "level", "state", "opened",
                      "due", "tier", "responsible")
        for w in rows:
            table.add_row(str(w["id"]), f"{w['rule']} {w['name']}", w["projectCode"],
                          f"{w['subjectType']}:{w['subjectId']}", w["period"], w["level"],
                          w["state"], str(w["openedOn"]), str(w["dueOn"]), str(w["tier"]),
                          w["responsible"] or "")
        Console().print(table)

    @warnings_group.command("show")
    @click.argument("warning_id", type=int)
    @json_always
    @db_option
    def w_show(warning_id, as_json, db):
        from .warnings import Warnings
        warn = Warnings(_store(db))
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
    @json_option
    @db_option
    def w_clear(warning_id, by, reason, evidence, on, as_json, db):
        """Clear a warning manually, with evidence."""
        from .warnings import Warnings
        try:
            Warnings(_store(db)).clear(warning_id, by, reason, list(evidence), _day(on))
        except InputError as exc:
            _fail(exc)
        emit({"warning": warning_id, "result": "cleared"}, as_json, f"cleared {warning_id}")

    @warnings_group.command("extend")
    @click.argument("warning_id", type=int)
    @click.option("--days", type=int, required=True)
    @click.option("--reason", required=True)
    @click.option("--by", required=True, help="Who asks (a participating unit's person).")
    @click.option("--role", type=click.Choice(["party", "admin"]), default="party",
                  show_default=True)
    @click.option("--on")
    @json_option
    @db_option
    def w_extend(warning_id, days, reason, by, role, on, as_json, db):
        """Request an extension of the disposal deadline, with reasons, before it passes
        (seed 000 art. 17); another person in the official role grants it. After the
        deadline: exit status 2."""
        from .warnings import DeadlinePassed, Warnings
        try:
            Warnings(_store(db)).request_extension(warning_id, days, reason, by, _day(on),
                                                     role)
        except DeadlinePassed as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(2) from None
        except InputError as exc:
            _fail(exc)
        emit({"warning": warning_id, "result": "extension_requested", "days": days}, as_json,
             f"extension requested for {warning_id}")

    @warnings_group.command("grant")
    @click.argument("warning_id", type=int)
    @click.option("--by", required=True, help="The official of the sector department.")
    @click.option("--on")
    @json_option
    @db_option
    def w_grant(warning_id, by, on, as_json, db):
        """Grant a pending extension request (as an official, not the requester)."""
        from .warnings import Warnings
        try:
            due = Warnings(_store(db)).grant_extension(warning_id, by, _day(on), "official")
        except InputError as exc:
            _fail(exc)
        emit({"warning": warning_id, "result": "extension_granted", "due": str(due)}, as_json,
             f"extension granted: {warning_id} due {due}")

    @warnings_group.command("refuse")
    @click.argument("warning_id", type=int)
    @click.option("--by", required=True)
    @click.option("--reason", required=True)
    @click.option("--on")
    @json_option
    @db_option
    def w_refuse(warning_id, by, reason, on, as_json, db):
        """Refuse a pending extension request (as an official)."""
        from .warnings import Warnings
        try:
            Warnings(_store(db)).refuse_extension(warning_id, by, reason, _day(on))
        except InputError as exc:
            _fail(exc)
        emit({"warning": warning_id, "result": "extension_refused"}, as_json,
             f"extension refused for {warning_id}")

    @warnings_group.command("evaluate")
    @click.option("--on", help="Evaluate as of this date (default today).")
    @click.option("--project", multiple=True)
    @json_option
    @db_option
    def w_evaluate(on, project, as_json, db):
        """Run all rules (the daily job; also run after imports); then send notifications.
        Prints what changed (opened, cleared, ...; --json for the counters as JSON)."""
        store, cipher = _ctx(db)
        stats = _evaluate(store, cipher, _day(on), list(project) or None, as_json)
        emit(stats, as_json, _stats_text(stats))

    @main.command("import")
    @click.argument("kind", type=click.Choice(["companies", "projects", "project-companies",
                                               "workers", "contracts", "exits", "accounts",
                                               "account-closures", "flows", "payroll",
                                               "deposits", "deposit-events", "guarantees",
                                               "progress-payments", "complaints"]))
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--evaluate/--no-evaluate", default=True,
                  help="Re-evaluate warnings of the touched projects afterwards.")
    @json_option
    @db_option
    def import_(kind, path, evaluate, as_json, db):
        """Import a CSV (UTF-8) or XLSX sheet (header row = field names); all rows or none.
        A file that cannot be read safely (not UTF-8, not a workbook, a zip bomb) is refused
        with exit code 2 before anything is opened."""
        from .escrow import Escrow
        from .sheets import read_sheet
        try:
            rows = read_sheet(path)
        except InputError as exc:
            raise BadFile(str(exc)) from None
        store, cipher = _ctx(db)
        try:
            from .registry import Registry
            target = Registry(store, cipher) if kind in Registry.KINDS else Escrow(store, cipher)
            with progress_bar(f"importing {kind}", len(rows), as_json=as_json) as update:
                n = target.import_rows(kind, rows, progress=update)
        except InputError as exc:
            _fail(exc)
        out = {"kind": kind, "imported": n, "evaluated": None}
        if not as_json:
            click.echo(f"imported {n} {kind} rows")
        if evaluate:
            codes = sorted({r.get("projectCode") for r in rows if r.get("projectCode")})
            if codes:
                out["evaluated"] = _evaluate(store, cipher, _day(None), codes, as_json)
                if not as_json:
                    click.echo(_stats_text(out["evaluated"]))
        if as_json:
            emit(out, True, "")

    @main.command()
    @click.argument("project")
    @click.argument("month")
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def reconcile(project, month, as_json, db):
        """Attendance days vs payroll per worker for PROJECT and MONTH (yyyy-MM)."""
        from .reconcile import reconcile as rec
        try:
            with working("reconciling…", as_json=as_json):
                rows = rec(_store(db), project, check_month(month))
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
    @json_always
    @db_option
    def export_national(what, project, day, month, appsecret_env, as_json, db):
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
            with working(f"exporting {what}…"):
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
        """API tokens (read, party, official or admin)."""

    @tokens.command("add")
    @click.argument("name")
    @click.option("--role", type=click.Choice(["read", "party", "official", "admin"]),
                  default="read", show_default=True,
                  help="read: GET only; party: also ask for extensions; official: also grant "
                       "extensions and clear warnings; admin: imports and everything but "
                       "granting.")
    @json_option
    @db_option
    def tokens_add(name, role, as_json, db):
        """Make a token; it is shown once and stored only as a keyed hash."""
        from .api import add_token
        store, cipher = _ctx(db)
        token = add_token(store, cipher, name, role)
        emit({"name": name, "role": role, "token": token}, as_json, token)

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

    @main.group("field-key")
    def field_key():
        """The SM4 field key that seals personal data at central."""

    @field_key.command("path")
    @json_option
    def field_key_path(as_json):
        """Where the field key is read from (and whether it is sealed)."""
        from .cli_common import home
        from .crypto import SEALED_KEY, key_path
        import os
        if os.environ.get("SITEGATE_CENTRAL_KEY"):
            emit({"source": "environment", "path": None, "exists": True, "sealed": False}, as_json,
                 "SITEGATE_CENTRAL_KEY (environment)")
            return
        path = key_path(home())
        sealed = path.exists() and path.read_text().startswith(SEALED_KEY)
        emit({"source": "file", "path": str(path), "exists": path.exists(), "sealed": sealed},
             as_json,
             f"{path}{' (sealed)' if sealed else '' if path.exists() else ' (made on first use)'}")

    @field_key.command("seal")
    @json_option
    def field_key_seal(as_json):
        """Seal the field key file with a passphrase (scrypt, SM4-GCM), in place. The
        passphrase comes from SITEGATE_CENTRAL_KEY_PASSPHRASE or is asked twice -- never an
        option (it would stay in shell history and the process list)."""
        from .cli_common import home
        from .crypto import CryptoError, SEALED_KEY, key_path, load_key, passphrase_from_env, seal_key_file
        import os
        if os.environ.get("SITEGATE_CENTRAL_KEY"):
            raise click.ClickException("the field key comes from SITEGATE_CENTRAL_KEY: nothing to seal")
        path = key_path(home())
        if path.exists() and path.read_text().startswith(SEALED_KEY):
            raise click.ClickException(f"{path} is already sealed")
        try:
            load_key(home())              # made now if missing; refused if others can read it
        except CryptoError as exc:
            raise click.ClickException(str(exc)) from None
        passphrase = passphrase_from_env() or click.prompt(
            "new passphrase for the field key", hide_input=True, confirmation_prompt=True, err=True)
        try:
            seal_key_file(path, passphrase)
        except (CryptoError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        emit({"path": str(path), "sealed": True}, as_json,
             f"{path}: sealed; give the passphrase as SITEGATE_CENTRAL_KEY_PASSPHRASE or the "
             f"systemd credential field-key-passphrase")

    @main.group()
    def roster():
        """Roster downlink."""

    @roster.command("key")
    @json_option
    def roster_key(as_json):
        """Print central's public signing key as hex (as `sitegate-central key --hex`)."""
        from .cli_common import home
        from .roster import load_signer
        public = load_signer(home()).public_hex
        emit({"public_key": public}, as_json, public)

    @main.group()
    def intake():
        """Registry intake from gateways (workers registered on site)."""

    @intake.command("key")
    @json_option
    def intake_key(as_json):
        """Print central's intake public key as PEM: put it on each gateway as
        $SITEGATE_HOME/keys/central-intake.pem (registrations are encrypted to it)."""
        from uplink.sm2 import public_key_of, public_key_pem
        from .cli_common import home
        from .intake import load_intake_key
        public = public_key_of(load_intake_key(home()))
        if as_json:
            emit({"public_key": public, "pem": public_key_pem(public)}, True, "")
        else:
            click.echo(public_key_pem(public), nl=False)

    @main.command()
    @click.option("--project", help="Only this project.")
    @click.option("--json", "as_json", is_flag=True)
    @db_option
    def registrations(project, as_json, db):
        """Workers registered on site, and what the registry still misses for each
        (employer, contract, idCardType); ID numbers masked."""
        from .registry import Registry
        store, cipher = _ctx(db)
        rows = Registry(store, cipher).registrations(project)
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, sort_keys=True))
            return
        table = Table("gateway", "seq", "project", "site id", "worker", "ID number", "status", "missing")
        for r in rows:
            table.add_row(r["gateway"], str(r["seq"]), r["projectCode"] or "", r["gatewayWorker"],
                          r["workerId"] or "", r["idCardNumber"] or "", r["status"],
                          ", ".join(r["missing"]) or (r["reason"] or ""))
        Console().print(table)

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
    @json_always
    @db_option
    def q_show(gateway_id, first, as_json, db):
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
    @json_option
    @db_option
    def q_accept(gateway_id, first, note, as_json, db):
        """Quarantine held block FIRST of GATEWAY_ID: its signed bytes and signature are kept as
        evidence, its records are not stored, and the chain goes on from the block's signed head
        (the gateway's next re-send is acknowledged and what follows flows again)."""
        from .cli_common import open_store
        from .unstored import QuarantineError, quarantine as do_quarantine
        try:
            out = do_quarantine(open_store(db), gateway_id, first, note)
        except QuarantineError as exc:
            _fail(exc)
        emit({"gateway": gateway_id, "first": first, "head_seq": out.seq, "head": out.head},
             as_json, f"quarantined block {first} of {gateway_id}; chain head now seq {out.seq}")
