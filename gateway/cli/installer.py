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

from gateway.cli.options import progress_bar, working
from gateway.config import sitegate_home
from gateway.words import cli_lang, localize, text, tr

err = Console(stderr=True)


def _probe_with_progress(as_json: bool):
    def probe(ports: list[str]) -> list:
        from drivers.probe import identify, list_ports
        found = list(dict.fromkeys([*list_ports(), *ports]))
        infos = []
        with progress_bar(tr("probing serial ports"), len(found), as_json=as_json) as update:
            for n, port in enumerate(found, 1):
                infos.append(identify(port, listen=1.2))
                update(n)
        return infos
    return probe


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
@click.option("--qr/--no-qr", "show_qr", default=True, show_default=True,
              help="Draw the registration QR in the terminal too.")
@click.option("--json", "as_json", is_flag=True,
              help="Print what was made as JSON (no QR drawing, no progress bar).")
def provision(project, gateway_id, broker_url, username, password, ca_file, central_key, timezone,
              passphrase, ports, no_probe, force, non_interactive, config, show_qr, as_json):
    """Set up this gateway: key pair, site.toml, device probe, registration bundle (JSON + QR,
    the QR also drawn in the terminal)."""
    from gateway.ops.provision import Answers, ProvisionError, provision as do_provision
    interactive = not non_interactive and sys.stdin.isatty()

    def need(value, prompt, flag, default=None, hide=False):
        if value:
            return value
        if interactive:
            return click.prompt(prompt, default=default, hide_input=hide, err=as_json)
        if default is not None:
            return default
        raise click.UsageError(tr("{flag} is required (or run without -y in a terminal to be asked)",
                                  flag=flag))

    project = need(project, tr("Project code 项目编码"), "--project")
    gateway_id = need(gateway_id, tr("Gateway id"), "--gateway-id")
    broker_url = need(broker_url, tr("Broker URL"), "--broker", "mqtts://127.0.0.1:8883")
    timezone = need(timezone, tr("Time zone"), "--timezone", "Asia/Shanghai")
    if interactive and password is None:
        password = click.prompt(tr("Broker password (empty: none)"), default="", hide_input=True,
                                show_default=False, err=as_json) or None
    if interactive and central_key is None:
        central_key = click.prompt(tr("Central's public key file (`sitegate-central key`; empty: later)"),
                                   default="", show_default=False, err=as_json) or None
    answers = Answers(project=project, gateway_id=gateway_id, broker_url=broker_url,
                      username=username or gateway_id, password=password, ca_file=ca_file,
                      timezone=timezone, passphrase=passphrase, ports=list(ports),
                      probe=not no_probe, force=force,
                      central_key=_central_key(central_key) if central_key else None)
    home = sitegate_home()
    try:
        res = do_provision(answers, home, Path(config) if config else None,
                           probe=_probe_with_progress(as_json))
    except ProvisionError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        from gateway import keys
        if isinstance(exc, keys.KeyFileError):
            raise click.ClickException(tr("{why} (pass --passphrase, or --force to make a new key)",
                                          why=exc)) from exc
        raise
    if as_json:
        click.echo(json.dumps({
            "key": str(res.key_file), "key_made": res.key_made, "config": str(res.config),
            "bundle_json": str(res.bundle_json), "bundle_png": str(res.bundle_png),
            "bundle": res.bundle, "central_key": str(res.central_key) if res.central_key else None,
            "devices": [{"port": d.port, "device": d.device, "detail": d.detail} for d in res.devices],
            "lanes": res.lanes}, ensure_ascii=False, sort_keys=True))
        return
    from uplink.bundle import dumps as bundle_text

    from gateway.ops.provision import terminal_qr
    out = Console(highlight=False, soft_wrap=True)      # a path is never cut in two
    out.print(tr("key:      {path} (new)", path=res.key_file) if res.key_made else
              tr("key:      {path} (kept; --force replaces it)", path=res.key_file))
    out.print(tr("config:   {path}", path=res.config))
    for d in res.devices:
        out.print(tr("device:   {port}: {device} {detail}", port=d.port, device=d.device or "-",
                     detail=d.detail))
    for ln in res.lanes:
        out.print(tr("lane:     {name} ({dir}) card {card} gate {gate}", name=ln["name"],
                     dir=ln["dir"], card=ln["idcard"], gate=ln["gate"]))
    out.print(tr("bundle:   {path}", path=res.bundle_json) + "\n"
              + tr("QR code:  {path}", path=res.bundle_png))
    if show_qr:
        _print_qr(terminal_qr(bundle_text(res.bundle)), res.bundle_png)
    if res.central_key is None:
        out.print("[yellow]" + tr("central:  no central key yet -- nothing is released until "
                                  "keys/central.pub.pem holds `sitegate-central key`'s output "
                                  "(--central-key)") + "[/]")
    else:
        out.print(tr("central:  {path}", path=res.central_key))
    out.print(tr("next:     at central, `sitegate-central gateways add {bundle}`; then `sitegate run "
                 "-c {config}` and `sitegate doctor -c {config}`", bundle=res.bundle_json.name,
                 config=res.config))


def _print_qr(qr: str, png: Path) -> None:
    """The registration QR on stdout, unless the terminal is too narrow to show it whole."""
    import shutil
    width = max(len(line) for line in qr.splitlines())
    if sys.stdout.isatty() and shutil.get_terminal_size().columns < width:
        click.echo(tr("(the terminal is narrower than the QR code's {n} columns: widen it, or "
                      "open {path})", n=width, path=png))
        return
    click.echo(tr("scan to register this gateway at central:"))
    click.echo(qr, nl=False)


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
    """Check config, key, clock, disk and backlog, devices, broker and central. Exit 1 on a
    failure.  The table speaks the locale's language (zh_CN: Chinese); --json is English."""
    from gateway.ops.doctor import as_json as to_json, run_checks
    home = sitegate_home()
    path = Path(config) if config else home / "site.toml"
    with working(tr("running checks…"), as_json=as_json):
        checks = run_checks(path, home, network=not offline)
    report = to_json(checks)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, sort_keys=True))
    else:
        lang = cli_lang()
        table = Table(title="sitegate doctor")
        for col in ("check", "verdict", "detail", "what to do"):
            table.add_column(text(f"doctor.{col}", lang))
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for c in checks:
            table.add_row(check_label(c.name, lang),
                          f"[{style[c.verdict]}]{text(f'doctor.verdict.{c.verdict}', lang)}[/]",
                          localize(c.detail, lang), localize(c.fix, lang))
        Console(width=160).print(table)
    sys.exit(0 if report["ok"] else 1)


def check_label(name: str, lang: str) -> str:
    """A doctor check's name in ``lang``: ``broker`` -> 消息服务器, ``lane1 idcard`` -> lane1 身份证读卡器."""
    from gateway import words
    key = f"doctor.check.{name}"
    if words.has(key):
        return text(key, lang)
    lane, _, role = name.rpartition(" ")
    if lane and words.has(f"doctor.check.{role}"):
        return f"{lane} {text(f'doctor.check.{role}', lang)}"
    return name


@click.command("install-service")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False),
              help="Install under this root (a staging directory for packaging or tests).")
@click.option("--central", is_flag=True,
              help="Also install sitegate-central.service and sitegate-central@.service (N workers).")
@click.option("--bindir", type=click.Path(file_okay=False),
              help="Folder of the installed sitegate programs [default: this installation's].")
@click.option("--json", "as_json", is_flag=True, help="Print the installed files as JSON.")
def install_service(root, central, bindir, as_json):
    """Put sitegate.service (and the USB reader's udev rule, an example site.toml) in place,
    with this installation's program paths; prints what to run next."""
    from gateway.ops.service import ServiceError, install
    try:
        done = install(root, central=central, bindir=bindir)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    except PermissionError as exc:
        raise click.ClickException(f"{exc}: run with sudo (or pass --root to stage elsewhere)") from exc
    if as_json:
        click.echo(json.dumps({"installed": [str(path) for path, _ in done],
                               "done": [{"path": str(path), "action": action} for path, action in done]}))
        return
    for path, action in done:
        click.echo(f"{action} {path}")
    click.echo("next: useradd --system sitegate; udevadm control --reload; systemctl daemon-reload; "
               "systemctl enable --now sitegate")
    if central:
        click.echo("central: useradd --system sitegate-central; one worker: systemctl enable --now "
                   "sitegate-central; N workers: systemctl enable --now sitegate-central@central-1 "
                   "sitegate-central@central-2 (docs/installer.md)")
