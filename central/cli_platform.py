"""`sitegate-central platform ...`: push to the national/provincial platforms and take bank data
(mirrors of central/platform/): ``run``, ``status``, ``push``, ``retry``, ``parked``,
``fake``, ``bank add|list``."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .cli_common import db_option, home

console = Console(stderr=True)
CN = dt.timezone(dt.timedelta(hours=8))

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), envvar="SITEGATE_PLATFORM_CONFIG",
    help="Platform targets (TOML) [env SITEGATE_PLATFORM_CONFIG] (default: "
         "$SITEGATE_HOME/central/platform.toml).")


def _service(db, config_path, required: bool = True):
    from .cli_common import open_store
    from .crypto import FieldCipher, load_key
    from .platform.config import ConfigError, default_path, load
    from .platform.service import Platform
    store = open_store(db)
    try:
        targets = load(Path(config_path) if config_path else default_path(home()))
    except ConfigError as exc:
        if required:
            raise click.ClickException(str(exc)) from None
        targets = []
    return Platform(store, FieldCipher(load_key(home())), targets)


def _when(ms) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, CN).strftime("%Y-%m-%d %H:%M")


def _json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, default=str, sort_keys=True))


def _print_status(out: dict) -> None:
    table = Table("target", "profile", "queued", "sending", "submitted", "done", "parked",
                  "records done/all", "next deadline")
    for name, s in out["targets"].items():
        jobs, recs = s["jobs"], s["records"]
        total = sum(v for k, v in recs.items() if k != "superseded")
        table.add_row(name, s.get("profile", "(not configured)"),
                      *(str(jobs.get(k, 0)) for k in ("queued", "sending", "submitted", "done",
                                                      "parked")),
                      f"{recs.get('done', 0)}/{total}", _when(s.get("nextDeadline")))
    Console().print(table)


def register(main: click.Group) -> None:
    @main.group("platform")
    def platform():
        """Push to the national/provincial platforms; banks' data in (docs/platform.md)."""

    @platform.command("run")
    @db_option
    @config_option
    @click.option("--plan-every", default=10.0, show_default=True, help="Seconds between "
                  "planning passes (new attendance, changed registry objects).")
    @click.option("--watch-every", default=300.0, show_default=True, help="Seconds between "
                  "deadline checks (warning W19).")
    @click.option("--claim", default=16, show_default=True,
                  help="Jobs claimed at a time (shared by a target's delivery threads).")
    def run(db, config_path, plan_every, watch_every, claim):
        """Plan and deliver until stopped (several processes may share a PostgreSQL queue)."""
        import logging
        logging.getLogger("sitegate").setLevel(logging.INFO)
        svc = _service(db, config_path)
        svc.claim = claim
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        console.print(f"pushing to {', '.join(t.name for t in svc.targets)}")
        svc.run(stop, plan_every, watch_every)
        _json(svc.status())

    @platform.command("status")
    @db_option
    @config_option
    @click.option("--target")
    @click.option("--json", "as_json", is_flag=True)
    def status(db, config_path, target, as_json):
        """Jobs and records per target and state, the next deadline."""
        out = _service(db, config_path, required=False).status(target)
        if as_json:
            _json(out)
        else:
            _print_status(out)

    @platform.command("push")
    @db_option
    @config_option
    @click.option("--project", "projects", multiple=True, help="Only these projects.")
    @click.option("--target")
    @click.option("--kind", "kinds", multiple=True,
                  type=click.Choice(["project", "company", "team", "worker", "entry_exit",
                                     "contract", "attendance", "payroll"]))
    @click.option("--now", is_flag=True, help="Also send batches held for a later batch day "
                  "(semimonthly projects).")
    @click.option("--horizon", default=60.0, show_default=True, help="Stop when every open "
                  "job waits longer than this many seconds.")
    @click.option("--json", "as_json", is_flag=True)
    def push(db, config_path, projects, target, kinds, now, horizon, as_json):
        """Plan and deliver now, with progress; exit 1 if jobs are parked or still open."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        svc = _service(db, config_path)
        if target and target not in {t.name for t in svc.targets}:
            raise click.BadParameter(f"no target {target!r} in the configuration",
                                     param_hint="--target")
        with Progress(TextColumn("pushing"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("records"), console=console,
                      disable=as_json or not console.is_terminal) as bar:
            task = bar.add_task("push", total=None)

            def progress(done, total):
                bar.update(task, completed=done, total=total)
            out = svc.push(list(projects) or None, target, kinds or None, now, horizon,
                           progress)
        if as_json:
            _json(out)
        else:
            _print_status(out)
        left = sum(s["jobs"].get(k, 0) for s in out["targets"].values()
                   for k in ("queued", "sending", "submitted", "parked"))
        sys.exit(1 if left else 0)

    @platform.command("parked")
    @db_option
    @config_option
    @click.option("--target")
    @click.option("--json", "as_json", is_flag=True)
    def parked(db, config_path, target, as_json):
        """Jobs the platform refused for good, with its reason."""
        rows = _service(db, config_path, required=False).parked(target)
        if as_json:
            _json(rows)
            return
        table = Table("id", "target", "kind", "project", "object", "records", "attempts",
                      "deadline", "reason")
        for r in rows:
            table.add_row(str(r["id"]), r["target"], r["kind"], r["projectCode"],
                          r["objectKey"], str(r["records"]), str(r["attempts"]),
                          _when(r["deadlineAt"]), r["reason"] or "")
        Console(width=200).print(table)

    @platform.command("retry")
    @click.argument("job_ids", nargs=-1, type=int)
    @db_option
    @config_option
    @click.option("--target")
    @click.option("--all", "all_", is_flag=True, help="Every parked job (of --target).")
    @click.option("--json", "as_json", is_flag=True)
    def retry(job_ids, db, config_path, target, all_, as_json):
        """Put parked jobs back in the queue after fixing their cause."""
        if not job_ids and not all_:
            raise click.UsageError("name JOB_IDS or give --all")
        n = _service(db, config_path, required=False).retry(list(job_ids) or None, target)
        if as_json:
            _json({"requeued": n})
        else:
            click.echo(f"requeued {n} job(s)")

    @platform.command("fake")
    @click.option("--profile", type=click.Choice(["national", "guangzhou"]), required=True)
    @click.option("--port", type=click.IntRange(0, 65535), required=True,
                  help="0 = any free port (the URL says which).")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--appid", required=True, help="The appid (accessNo) it accepts.")
    @click.option("--process-ms", default=200, show_default=True,
                  help="How long an asynchronous write stays pending.")
    @click.option("--tolerance-s", default=360, show_default=True,
                  help="Timestamp tolerance (± seconds).")
    @click.option("--inject", multiple=True, metavar="MODE[:COUNT[:ARG]]",
                  help="Fail on purpose: 5xx, timeout[:n:delay_s], status10[:n:reason], "
                       "skew[::seconds], duplicate. Also POST /_fake/inject.")
    def fake(profile, port, host, appid, process_ms, tolerance_s, inject):
        """A fake platform to rehearse against (secret from $SITEGATE_PLATFORM_SECRET); prints
        its endpoint URL as the first line."""
        from .platform.fake import MODES, Fake, endpoint, make_server
        secret = os.environ.get("SITEGATE_PLATFORM_SECRET", "")
        if not secret:
            raise click.ClickException("set SITEGATE_PLATFORM_SECRET to the app secret")
        f = Fake(profile, appid, secret, process_ms, tolerance_s)
        for spec in inject:
            mode, _, rest = spec.partition(":")
            count, _, arg = rest.partition(":")
            if mode not in MODES:
                raise click.BadParameter(f"{mode!r}: one of {', '.join(MODES)}",
                                         param_hint="--inject")
            params = {"timeout": {"delay_s": float(arg)} if arg else {},
                      "status10": {"reason": arg} if arg else {},
                      "skew": {"skew_s": float(arg)} if arg else {}}.get(mode, {})
            f.inject(mode, int(count or 1), **params)
        server = make_server(f, host, port)
        click.echo(endpoint(f, server))
        sys.stdout.flush()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        stop.wait()
        server.shutdown()

    @platform.group("bank")
    def bank():
        """Credentials of the banks that push special-account data."""

    @bank.command("add")
    @click.argument("bank_code")
    @click.argument("name")
    @click.option("--rotate", is_flag=True, help="Replace an existing credential.")
    @click.option("--json", "as_json", is_flag=True,
                  help="Print {bank, name, secret} as JSON (the secret is still shown only once).")
    @db_option
    def bank_add(bank_code, name, rotate, as_json, db):
        """Make a credential for BANK_CODE; prints its secret once (give it to the bank)."""
        from .codes import InputError
        from .cli_common import open_store
        from .crypto import FieldCipher, load_key
        from .platform.bank import BankIntake
        try:
            secret = BankIntake(open_store(db), FieldCipher(load_key(home()))).add_bank(
                bank_code, name, rotate)
        except InputError as exc:
            raise click.ClickException(str(exc)) from None
        if as_json:
            click.echo(json.dumps({"bank": bank_code, "name": name, "secret": secret},
                                  ensure_ascii=False, sort_keys=True))
            return
        click.echo(secret)
        console.print(f"bank {bank_code}: keep this secret; it is not shown again")

    @bank.command("list")
    @db_option
    @click.option("--json", "as_json", is_flag=True)
    def bank_list(db, as_json):
        """Banks with a credential."""
        from .cli_common import open_store
        from .crypto import FieldCipher, load_key
        from .platform.bank import BankIntake
        rows = BankIntake(open_store(db), FieldCipher(load_key(home()))).banks()
        if as_json:
            _json(rows)
            return
        for r in rows:
            click.echo(f"{r['bankCode']:8} {r['name']}  {'enabled' if r['enabled'] else 'disabled'}")
