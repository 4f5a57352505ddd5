"""`sitegate` command line: each command is a thin shell over a library call."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

# One BLAS thread: a 1:N mat-vec is memory-bound, and on a small shared box a second BLAS thread
# only spins against the lanes' face work (measured: 6x slower at N=10,000 under load).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from gateway import keys  # noqa: E402
from gateway.cli.options import config_option, load_config as _load  # noqa: E402
from gateway.config import ConfigError, sitegate_home  # noqa: E402
from gateway.words import tr  # noqa: E402

console = Console(stderr=True)


@click.group()
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
    if as_json:
        click.echo(json.dumps({"gateway": cfg.gateway_id, "outbox": stats, "alarms": current,
                               "devices": devices, "roster": roster, "daemon": health is not None,
                               "state": "alarm" if critical else "degraded" if current else "ok"},
                              sort_keys=True))
    else:
        table = Table(title=tr("gateway {id}", id=cfg.gateway_id))
        table.add_column(tr("measure"))
        table.add_column(tr("value"), justify="right")
        for k in ("head_seq", "sealed_seq", "acked_seq", "backlog", "oldest_unacked_age_s",
                  "rows", "db_bytes", "disk_free_bytes"):
            table.add_row(tr(k.replace("_", " ")), str(stats[k]) if stats else "-")
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
@click.option("--records", default=2000, show_default=True, help="Clock-ins to simulate.")
@click.option("--broker", "broker_url", metavar="URL",
              help="Use this broker (mqtt://host:port) instead of the embedded one.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(records, broker_url, as_json):
    """Broker + central + a gateway with simulated workers; prints a verified summary."""
    from gateway.ops.demo import print_summary, run_demo
    if records < 1:
        raise click.BadParameter("must be >= 1", param_hint="--records")
    home = sitegate_home()
    summary = run_demo(home, records, broker_url, console, quiet=as_json)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), sort_keys=True))
    else:
        print_summary(summary, Console())
        console.print(f"data kept in {home} (central: {Path(home) / 'central' / 'central.db'})")
    sys.exit(0 if summary.ok else 1)


from gateway.cli.devices import probe, sim  # noqa: E402

main.add_command(sim)
main.add_command(probe)

from gateway.cli.faces import faces  # noqa: E402
from gateway.cli.roster import roster  # noqa: E402

main.add_command(faces)
main.add_command(roster)

from gateway.cli.fences import fences  # noqa: E402

main.add_command(fences)

from gateway.cli.phone import phone  # noqa: E402

main.add_command(phone)

from gateway.cli.installer import doctor, install_service, provision  # noqa: E402

main.add_command(provision)
main.add_command(doctor)
main.add_command(install_service)

from gateway.cli.export import export  # noqa: E402

main.add_command(export)

from gateway.cli.web import web  # noqa: E402

main.add_command(web)

from gateway.cli.keys import keys as keys_group  # noqa: E402

main.add_command(keys_group)


if __name__ == "__main__":  # pragma: no cover
    main()
