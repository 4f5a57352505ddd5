"""`sitegate-central key` (central's public signing key, for the gateways) and
`sitegate-central broker init|add-gateway|add-central|remove` (broker accounts in Mosquitto's
dynamic-security plugin; mirrors of ``central.broker_admin``)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from .cli_common import emit, home, json_option


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _admin_options(f):
    f = click.option("--admin-url", default="mqtt://127.0.0.1:1883", show_default=True,
                     envvar="SITEGATE_BROKER_ADMIN_URL",
                     help="The broker's local admin listener [env SITEGATE_BROKER_ADMIN_URL]")(f)
    f = click.option("--admin", "admin_user", default="admin", show_default=True,
                     help="The plugin's admin user (made by `broker init`).")(f)
    f = click.option("--admin-password-file", type=click.Path(exists=True, dir_okay=False),
                     envvar="SITEGATE_BROKER_ADMIN_PASSWORD_FILE",
                     help="File holding the admin password [env "
                          "SITEGATE_BROKER_ADMIN_PASSWORD_FILE]; else asked.")(f)
    return f


def _admin(url: str, user: str, password_file: str | None, as_json: bool = False):
    from uplink.broker import BrokerConfig
    password = Path(password_file).read_text().strip() if password_file else \
        click.prompt(f"password of broker admin {user}", hide_input=True, err=as_json)
    try:
        return BrokerConfig(url, username=user, password=password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--admin-url") from exc


def _create(admin, names: tuple[str, ...], out: str, make, as_json: bool = False) -> None:
    from uplink.wire import WireError

    from .broker_admin import BrokerAdminError, new_password, send
    made = []
    for name in names:
        password = new_password()
        try:
            send(admin, make(name, password))
        except (BrokerAdminError, WireError) as exc:
            raise click.ClickException(f"{name}: {exc}") from exc
        path = Path(out) / f"{name}.broker.password"
        _write_private(path, password + "\n")
        made.append({"name": name, "password_file": str(path)})
        if not as_json:
            click.echo(f"{name}: created; password in {path} (0600)")
    if as_json:
        emit(made, True, "")


def register(main: click.Group) -> None:
    @main.command("key")
    @click.option("--hex", "as_hex", is_flag=True, help="128 hex X||Y instead of PEM.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False),
                  help="Write to this file (e.g. central.pub.pem) instead of stdout.")
    @json_option
    def key(as_hex, output, as_json):
        """Print central's public signing key: the gateways verify acks and roster updates
        with it (`sitegate provision --central-key FILE`)."""
        from uplink.sm2 import public_key_pem

        from .roster import load_signer
        signer = load_signer(home())
        text = signer.public_hex + "\n" if as_hex else public_key_pem(signer.public_hex)
        if as_json:
            if output:
                Path(output).write_text(text)
            emit({"public_key": signer.public_hex, "pem": public_key_pem(signer.public_hex),
                  "output": output}, True, "")
            return
        if output:
            Path(output).write_text(text)
            click.echo(f"central's public key written to {output}", err=True)
        else:
            click.echo(text, nl=False)

    @main.group()
    def broker():
        """Broker accounts (Mosquitto dynamic-security plugin; docs/central.md)."""

    @broker.command("init")
    @click.argument("dynsec_file", type=click.Path(dir_okay=False))
    @click.option("--admin", "admin_user", default="admin", show_default=True)
    @click.option("--admin-password-file", type=click.Path(exists=True, dir_okay=False),
                  help="File holding the admin password; else asked twice.")
    @click.option("--policy", type=click.Path(exists=True, dir_okay=False),
                  help="Roles and groups to start from (default: config/mosquitto-dynsec.json).")
    @json_option
    def broker_init(dynsec_file, admin_user, admin_password_file, policy, as_json):
        """Write the plugin's file (plugin_opt_config_file) from the shipped policy plus the
        admin user, before the broker first starts with it."""
        from .broker_admin import TEMPLATE, BrokerAdminError, init_config
        path = Path(dynsec_file)
        if path.exists():
            raise click.ClickException(f"{path} exists; refusing to replace the broker's accounts")
        password = Path(admin_password_file).read_text().strip() if admin_password_file else \
            click.prompt(f"password for broker admin {admin_user}", hide_input=True,
                         confirmation_prompt=True, err=as_json)
        template = json.loads(Path(policy or TEMPLATE).read_text())
        try:
            cfg = init_config(template, admin_user, password)
        except BrokerAdminError as exc:
            raise click.ClickException(str(exc)) from exc
        _write_private(path, json.dumps(cfg, indent=2) + "\n")
        emit({"file": str(path), "admin": admin_user}, as_json,
             f"{path} written (admin {admin_user}); start mosquitto, then "
             "`sitegate-central broker add-central` and `add-gateway`")

    @broker.command("add-gateway")
    @click.argument("gateway_ids", nargs=-1, required=True)
    @click.option("--out", default=".", show_default=True, type=click.Path(file_okay=False),
                  help="Folder for GW.broker.password (0600), one per gateway.")
    @_admin_options
    @json_option
    def broker_add_gateway(gateway_ids, out, admin_url, admin_user, admin_password_file, as_json):
        """One broker user per gateway (user = client id = gateway id) with its own topics
        only; a generated password for each, to hand to the installer
        (`sitegate provision --password ...`)."""
        from .broker_admin import add_gateway_commands
        _create(_admin(admin_url, admin_user, admin_password_file, as_json), gateway_ids, out,
                add_gateway_commands, as_json)

    @broker.command("add-central")
    @click.argument("names", nargs=-1, required=True)
    @click.option("--out", default=".", show_default=True, type=click.Path(file_okay=False),
                  help="Folder for NAME.broker.password (0600), one per worker.")
    @_admin_options
    @json_option
    def broker_add_central(names, out, admin_url, admin_user, admin_password_file, as_json):
        """One broker user per `sitegate-central run` worker (e.g. central-1 central-2); run
        each with --username NAME --share central."""
        from .broker_admin import add_central_commands
        _create(_admin(admin_url, admin_user, admin_password_file, as_json), names, out,
                add_central_commands, as_json)

    @broker.command("remove")
    @click.argument("name")
    @click.option("--gateway/--central", "is_gateway", default=True, show_default=True,
                  help="A gateway also loses its role.")
    @_admin_options
    @json_option
    def broker_remove(name, is_gateway, admin_url, admin_user, admin_password_file, as_json):
        """Delete a broker user (a stolen gateway or a retired worker); the broker drops its
        open connection at once."""
        from .broker_admin import BrokerAdminError, remove_commands, send
        admin = _admin(admin_url, admin_user, admin_password_file, as_json)
        try:
            send(admin, remove_commands(name, is_gateway))
        except BrokerAdminError as exc:
            raise click.ClickException(str(exc)) from exc
        if not is_gateway:               # the worker's ack connection (older workers: none)
            from .broker_admin import ACK_SUFFIX
            try:
                send(admin, remove_commands(name + ACK_SUFFIX, False))
            except BrokerAdminError as exc:
                if "not found" not in str(exc).lower():
                    raise click.ClickException(str(exc)) from exc
        emit({"name": name, "result": "removed"}, as_json, f"{name}: removed")
