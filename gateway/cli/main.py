"""`sitegate` command line: each command is a thin shell over a library call."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
from rich.console import Console


# One BLAS thread: a 1:N mat-vec is memory-bound, and on a small shared box a second BLAS thread
# only spins against the lanes' face work (measured: 6x slower at N=10,000 under load).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from gateway.cli.options import config_option, load_config as _load  # noqa: E402
from gateway.config import ConfigError, sitegate_home  # noqa: E402
from gateway.words import tr  # noqa: E402

console = Console(stderr=True)


# The command groups live in their own modules and are imported only when used: `sitegate
# --help` and `sitegate run` do not load the face stack, the fence geometry or the web stack.
# Their one-line help for the command list is kept here (tests/test_cli_startup.py checks that
# it matches each command's own).
LAZY = {
    "sim": ("gateway.cli.devices", "sim"),
    "probe": ("gateway.cli.devices", "probe"),
    "faces": ("gateway.cli.faces", "faces"),
    "roster": ("gateway.cli.roster", "roster"),
    "fences": ("gateway.cli.fences", "fences"),
    "phone": ("gateway.cli.phone", "phone"),
    "provision": ("gateway.cli.installer", "provision"),
    "doctor": ("gateway.cli.installer", "doctor"),
    "install-service": ("gateway.cli.installer", "install_service"),
    "export": ("gateway.cli.export", "export"),
    "web": ("gateway.cli.web", "web"),
    "keys": ("gateway.cli.keys", "keys"),
}
SHORT_HELP = {       # the first paragraph of each command's help
    "sim": "Device simulators that speak the real bytes (pseudo-terminals / HTTP).",
    "probe": "Installer checks: talk to a device and show what it answers.",
    "faces": "Face templates: enrol, verify (1:1), identify (1:N), calibrate, remove.",
    "roster": "The local roster: who may pass (sensitive fields SM4-encrypted).",
    "fences": "Electronic fences: check a point, add, list, draw.",
    "phone": "Phone clock-in page for linear sites (HTTPS, fence + selfie).",
    "provision": "Set up this gateway: key pair, site.toml, device probe, registration bundle "
                 "(JSON + QR, the QR also drawn in the terminal).",
    "doctor": "Check config, key, clock, disk and backlog, devices, broker and central. Exit 1 "
              "on a failure.  The table speaks the locale's language (zh_CN: Chinese); --json is "
              "English.",
    "install-service": "Put sitegate.service (and the USB reader's udev rule, an example "
                       "site.toml) in place, with this installation's program paths; prints "
                       "what to run next.",
    "export": "Reports for the labour manager.",
    "web": "The labour manager's web app (roster, today, unknown cards, monthly sheet).",
    "keys": "The site's keys: where they are, sealing them with a passphrase.",
}


def _lazy_command(name: str) -> click.Command:
    import importlib
    module, attr = LAZY[name]
    return getattr(importlib.import_module(module), attr)


class _Lazy(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY))

    def get_command(self, ctx, name):
        if name in LAZY and name not in self.commands:
            self.add_command(_lazy_command(name), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        """As click's, but a command not imported yet is listed with its line from SHORT_HELP."""
        from click.utils import make_default_short_help
        names = [n for n in self.list_commands(ctx)
                 if n in LAZY and n not in self.commands or not self.commands[n].hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, self.commands[n].get_short_help_str(limit) if n in self.commands
                 else make_default_short_help(SHORT_HELP[n], limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_Lazy)
@click.version_option(package_name="sitegate")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def main(verbose: int) -> None:
    """sitegate: site-side gateway for attendance hardware."""
    os.umask(0o077)          # files this program makes are its owner's only, unit or not
    if sys.stdin.isatty():   # a sealed key met without SITEGATE_KEY_PASSPHRASE: ask once
        from gateway.site import ask_passphrase_with
        ask_passphrase_with(lambda: click.prompt("passphrase for the site's keys", hide_input=True,
                                                 err=True))
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the key files as JSON.")
def keygen(config, as_json):
    """Make the gateway's SM2 key pair (private key 0600, public key next to it)."""
    from gateway import keys
    cfg = _load(config)
    try:
        signer = keys.generate(cfg.key_file)
    except keys.KeyFileError as exc:
        raise click.ClickException(str(exc)) from exc
    pub = keys.public_file(cfg.key_file)
    if as_json:
        click.echo(json.dumps({"private_key": str(cfg.key_file), "public_key": str(pub),
                               "public_hex": signer.public_hex}, sort_keys=True))
    else:
        click.echo(tr("private key: {path}", path=cfg.key_file) + "\n"
                   + tr("public key:  {path}", path=pub) + "\n"
                   + tr("register it: {command}", command=f"sitegate-central gateways add "
                                                          f"{cfg.gateway_id} --public-key {pub}"))
    del signer


@main.command()
@config_option
def run(config):
    """Run the site daemon until stopped (SIGTERM/SIGINT)."""
    from gateway import keys
    from gateway.daemon import run as run_daemon
    from gateway.site import SiteError
    cfg = _load(config)
    logging.getLogger("sitegate").setLevel(logging.INFO)
    try:
        sys.exit(run_daemon(cfg))
    except (keys.KeyFileError, ConfigError, SiteError) as exc:   # e.g. a sealed key, no passphrase
        raise click.ClickException(str(exc)) from exc


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
def status(config, as_json):
    """Outbox backlog, oldest unsent record, roster version and age, lane devices, alarms (the
    outbox's own, and the running daemon's as on the state topic). Exit 1 on a critical alarm
    or a corrupt outbox."""
    import time as _time

    from gateway.ops.doctor import age_text, merge_daemon_alarms, outbox_status, read_health
    from gateway.roster.store import read_central_state
    cfg = _load(config)
    if not cfg.outbox_path.exists():
        raise click.ClickException(tr("no outbox at {path}: has `sitegate run` started?",
                                      path=cfg.outbox_path))
    stats, current = outbox_status(cfg)
    # the running daemon's alarms are the ones on the state topic (uplink, roster, devices)
    current = merge_daemon_alarms(current, cfg.home)
    health = read_health(cfg.home)
    # lane devices as the running daemon sees them (None: unknown, the daemon is not running)
    devices = (health or {}).get("devices") if cfg.lanes else []
    critical = any(a["level"] == "critical" for a in current)
    roster = read_central_state(cfg.roster.path) or {"version": 0, "project": None,
                                                     "changed_ms": None, "synced_ms": None}
    synced = roster["synced_ms"]
    roster["age_s"] = None if synced is None else round(_time.time() - synced / 1000, 1)
    # a drain's progress as the running daemon measures it (None: the daemon is not running)
    drain = (health or {}).get("drain")
    if as_json:
        click.echo(json.dumps({"gateway": cfg.gateway_id, "outbox": stats, "alarms": current,
                               "drain": drain,
                               "devices": devices, "roster": roster, "daemon": health is not None,
                               "state": "alarm" if critical else "degraded" if current else "ok"},
                              sort_keys=True))
    else:
        from rich.table import Table
        table = Table(title=tr("gateway {id}", id=cfg.gateway_id))
        table.add_column(tr("measure"))
        table.add_column(tr("value"), justify="right")
        for k in ("head_seq", "sealed_seq", "acked_seq", "backlog", "oldest_unacked_age_s",
                  "rows", "db_bytes", "disk_free_bytes"):
            table.add_row(tr(k.replace("_", " ")), str(stats[k]) if stats else "-")
        if drain and drain.get("backlog"):
            table.add_row(tr("drain rate"), tr("{n} records/s", n=f"{drain['rate_per_s']:.0f}"))
            table.add_row(tr("drain ETA"), tr("not known yet") if drain.get("eta_s") is None
                          else age_text(drain["eta_s"]))
        table.add_row(tr("roster version"), str(roster["version"]))
        table.add_row(tr("roster age"), tr("never synced") if synced is None else age_text(roster["age_s"]))
        table.add_row(tr("daemon"), tr("running") if health is not None else tr("not running"))
        Console().print(table)
        if devices is None:
            Console().print("[yellow]" + tr("devices: unknown (the daemon is not running)") + "[/]")
        for d in devices or []:
            where = f"{d['path']} -> {d['target']}" if d.get("target") else d["path"]
            style = "green" if d["state"] == "connected" else "bold red"
            Console().print(tr("device {name}:", name=d["name"]) + f" [{style}]{tr(d['state'])}[/] ({where})")
        for a in current:
            style = "bold red" if a["level"] == "critical" else "yellow"
            Console().print(f"[{style}]{tr('ALARM')} {a['code']}[/]: {a['message']}")
        if not current:
            Console().print("[green]" + tr("no alarms") + "[/]")
    sys.exit(1 if critical else 0)


@main.command()
@click.option("--spine-only", is_flag=True,
              help="Only the spine: simulated clock-ins through the broker to central, verified.")
@click.option("--records", default=2000, show_default=True, help="Clock-ins to simulate (--spine-only).")
@click.option("--broker", "broker_url", metavar="URL",
              help="Use this broker (mqtt://host:port) instead of the embedded one (--spine-only).")
@click.option("--faces", "faces_dir", type=click.Path(exists=True, file_okay=False),
              help="Labelled face photos (manifest.csv or a folder per person): lanes decide "
                   "card + face and phone selfies are matched.")
@click.option("--stay", type=float, default=None, metavar="SECONDS",
              help="Keep the web app up this long after the summary [default: 300 in a "
                   "terminal, else 0].")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(spine_only, records, broker_url, faces_dir, stay, as_json):
    """The whole product on embedded defaults, ending with a summary: two card + turnstile
    lanes on the simulators, phone clock-ins on a corridor fence, the spine to central,
    central's registry and warnings after a simulated month, the monthly 考勤表, and a one-time
    sign-in link to the web app. Everything under $SITEGATE_HOME/demo/."""
    home = sitegate_home()
    if spine_only:
        from gateway.ops.demo import print_summary, run_demo
        if records < 1:
            raise click.BadParameter("must be >= 1", param_hint="--records")
        summary = run_demo(home, records, broker_url, console, quiet=as_json)
        if as_json:
            click.echo(json.dumps(summary.as_dict(), sort_keys=True))
        else:
            print_summary(summary, Console())
            console.print(f"data kept in {home} (central: {Path(home) / 'central' / 'central.db'})")
        sys.exit(0 if summary.ok else 1)
    from gateway.ops.demo_site import print_report, run_site_demo
    if stay is None:
        stay = 300.0 if sys.stdin.isatty() and sys.stdout.isatty() else 0.0

    def summary(report) -> None:
        if as_json:
            click.echo(json.dumps(report.as_dict(), ensure_ascii=False, sort_keys=True, default=str))
            sys.stdout.flush()
        else:
            print_report(report, Console())
    report = run_site_demo(home, faces_dir, console, quiet=as_json, stay_s=stay, on_summary=summary)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
