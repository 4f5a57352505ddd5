"""Installer commands: `sitegate provision`, `sitegate doctor`, `sitegate install-service`.

Registered in gateway/cli.py; each is a thin shell over gateway.provision / gateway.doctor /
gateway.service."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from gateway.config import sitegate_home

err = Console(stderr=True)


def _probe_with_progress(ports: list[str]) -> list:
    from rich.progress import Progress
    from drivers.probe import identify, list_ports
    found = list(dict.fromkeys([*list_ports(), *ports]))
    infos = []
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("probing serial ports", total=len(found))
        for port in found:
            progress.update(task, description=f"probing {port}")
            infos.append(identify(port, listen=1.2))
            progress.advance(task)
    return infos


@click.command()
@click.option("--project", help="Project code (项目编码) the gateway serves.")
@click.option("--gateway-id", help="Gateway id: 1-64 of [A-Za-z0-9_.-]; also the MQTT username.")
@click.option("--broker", "broker_url", help="Broker URL, mqtts://host:8883 (mqtt:// only for tests).")
@click.option("--username", help="Broker username (default: the gateway id).")
@click.option("--password", help="Broker password (stored in keys/broker.password, 0600).")
@click.option("--ca-file", type=click.Path(dir_okay=False), help="Broker CA certificate (PEM).")
@click.option("--central-key", metavar="FILE",
              help="Central's public key (the PEM `sitegate-central key` writes, or its hex): "
                   "acks and roster updates are accepted only when they verify with it.")
@click.option("--timezone", default=None, help="IANA time zone [default: Asia/Shanghai].")
@click.option("--passphrase", help="Seal the private key with this passphrase "
              "(the daemon then needs SITEGATE_KEY_PASSPHRASE or the key-passphrase credential).")
@click.option("--port", "ports", multiple=True, help="Also probe this serial port (e.g. a simulator pty).")
@click.option("--no-probe", is_flag=True, help="Do not probe serial ports.")
@click.option("--force", is_flag=True, help="Replace an existing key (central must then re-register it).")
@click.option("-y", "--yes", "non_interactive", is_flag=True,
              help="Never prompt: missing required flags are errors.")
@click.option("-c", "--config", type=click.Path(dir_okay=False),
              help="Where to write site.toml [default: $SITEGATE_HOME/site.toml].")
def provision(project, gateway_id, broker_url, username, password, ca_file, central_key, timezone,
              passphrase, ports, no_probe, force, non_interactive, config):
    """Set up this gateway: key pair, site.toml, device probe, registration bundle (JSON + QR)."""
    from gateway.ops.provision import Answers, ProvisionError, provision as do_provision
    interactive = not non_interactive and sys.stdin.isatty()

    def need(value, prompt, flag, default=None, hide=False):
        if value:
            return value
        if interactive:
            return click.prompt(prompt, default=default, hide_input=hide)
        if default is not None:
            return default
        raise click.UsageError(f"{flag} is required (or run without -y in a terminal to be asked)")

    project = need(project, "Project code 项目编码", "--project")
    gateway_id = need(gateway_id, "Gateway id", "--gateway-id")
    broker_url = need(broker_url, "Broker URL", "--broker", "mqtts://127.0.0.1:8883")
    timezone = need(timezone, "Time zone", "--timezone", "Asia/Shanghai")
    if interactive and password is None:
        password = click.prompt("Broker password (empty: none)", default="", hide_input=True,
                                show_default=False) or None
    if interactive and central_key is None:
        central_key = click.prompt("Central's public key file (`sitegate-central key`; empty: later)",
                                   default="", show_default=False) or None
    answers = Answers(project=project, gateway_id=gateway_id, broker_url=broker_url,
                      username=username or gateway_id, password=password, ca_file=ca_file,
                      timezone=timezone, passphrase=passphrase, ports=list(ports),
                      probe=not no_probe, force=force,
                      central_key=_central_key(central_key) if central_key else None)
    home = sitegate_home()
    try:
        res = do_provision(answers, home, Path(config) if config else None, probe=_probe_with_progress)
    except ProvisionError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        from gateway import keys
        if isinstance(exc, keys.KeyFileError):
            raise click.ClickException(f"{exc} (pass --passphrase, or --force to make a new key)") from exc
        raise
    out = Console()
    out.print(f"key:      {res.key_file} ({'new' if res.key_made else 'kept; --force replaces it'})")
    out.print(f"config:   {res.config}")
    for d in res.devices:
        out.print(f"device:   {d.port}: {d.device or '-'} {d.detail}")
    for ln in res.lanes:
        out.print(f"lane:     {ln['name']} ({ln['dir']}) card {ln['idcard']} gate {ln['gate']}")
    out.print(f"bundle:   {res.bundle_json}\nQR code:  {res.bundle_png}")
    if res.central_key is None:
        out.print("[yellow]central:  no central key yet -- nothing is released until "
                  "keys/central.pub.pem holds `sitegate-central key`'s output (--central-key)[/]")
    else:
        out.print(f"central:  {res.central_key}")
    out.print(f"next:     at central, `sitegate-central gateways add {res.bundle_json.name}`; "
              f"then `sitegate run -c {res.config}` and `sitegate doctor -c {res.config}`")


def _central_key(value: str) -> str:
    """A PEM file, a file holding hex, or the hex itself -> 128 hex (checked by provision)."""
    from uplink.sm2 import SM2Error, public_key_from_pem
    path = Path(value)
    text = path.read_text() if path.is_file() else value
    if "BEGIN" in text:
        try:
            return public_key_from_pem(text)
        except SM2Error as exc:
            raise click.BadParameter(str(exc), param_hint="--central-key") from exc
    return text.strip()


@click.command()
@click.option("-c", "--config", type=click.Path(dir_okay=False),
              help="Site configuration [default: $SITEGATE_HOME/site.toml].")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--offline", is_flag=True, help="Skip the broker connection check.")
def doctor(config, as_json, offline):
    """Check config, key, clock, disk and backlog, devices, broker and central. Exit 1 on a failure."""
    from gateway.ops.doctor import as_json as to_json, run_checks
    home = sitegate_home()
    path = Path(config) if config else home / "site.toml"
    checks = run_checks(path, home, network=not offline)
    report = to_json(checks)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, sort_keys=True))
    else:
        table = Table(title="sitegate doctor")
        for col in ("check", "verdict", "detail", "what to do"):
            table.add_column(col)
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for c in checks:
            table.add_row(c.name, f"[{style[c.verdict]}]{c.verdict}[/]", c.detail, c.fix)
        Console(width=160).print(table)
    sys.exit(0 if report["ok"] else 1)


@click.command("install-service")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False),
              help="Install under this root (a staging directory for packaging or tests).")
@click.option("--central", is_flag=True,
              help="Also install sitegate-central.service and sitegate-central@.service (N workers).")
@click.option("--bindir", type=click.Path(file_okay=False),
              help="Folder of the installed sitegate programs [default: this installation's].")
def install_service(root, central, bindir):
    """Put sitegate.service (and the USB reader's udev rule, an example site.toml) in place,
    with this installation's program paths; prints what to run next."""
    from gateway.ops.service import ServiceError, install
    try:
        done = install(root, central=central, bindir=bindir)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    except PermissionError as exc:
        raise click.ClickException(f"{exc}: run with sudo (or pass --root to stage elsewhere)") from exc
    for path, action in done:
        click.echo(f"{action} {path}")
    click.echo("next: useradd --system sitegate; udevadm control --reload; systemctl daemon-reload; "
               "systemctl enable --now sitegate")
    if central:
        click.echo("central: useradd --system sitegate-central; one worker: systemctl enable --now "
                   "sitegate-central; N workers: systemctl enable --now sitegate-central@central-1 "
                   "sitegate-central@central-2 (docs/installer.md)")
