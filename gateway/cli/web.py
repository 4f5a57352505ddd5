"""`sitegate web …`: the labour manager's web app -- serve it, manage its local accounts.

`sitegate run` serves the app itself when ``[web] listen`` is set; `sitegate web serve` runs it
alone (e.g. on a laptop copy of the site data, or while the daemon is stopped) and follows
the outbox into the attendance ledger meanwhile.
"""
from __future__ import annotations

import sys
import threading

import click

from gateway.cli.options import config_option, site
from gateway.web.serve import open_accounts, start_web, stop_web


@click.group()
def web() -> None:
    """The labour manager's web app (roster, today, unknown cards, monthly sheet)."""


@web.command("serve")
@config_option
@click.option("--listen", help="Address to listen on (default: [web] listen, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: [web] port; 0 = any free port).")
def serve(config, listen, port):
    """Serve the web app in the foreground until Ctrl-C; prints its URL."""
    import dataclasses
    import signal

    from gateway.config import ConfigError
    from gateway.ledger.site_data import LedgerFollower
    cfg = site(config)
    w = cfg.web
    cfg.web = dataclasses.replace(w, listen=listen or w.listen or "127.0.0.1",
                                  port=w.port if port is None else port)
    if not open_accounts(cfg).users():
        click.echo("warning: no accounts yet; add one with: sitegate web user add NAME --role manager",
                   err=True)
    from gateway.site import SiteError
    try:
        server = start_web(cfg)
    except (ConfigError, SiteError) as exc:       # e.g. a sealed key and no passphrase
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()
    follower = threading.Thread(target=LedgerFollower(cfg).run, args=(stop,), daemon=True, name="ledger")
    follower.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"web app on {server.url}/", err=False)
    sys.stdout.flush()
    stop.wait()
    follower.join(5)
    stop_web(server)


@web.command("cert")
@config_option
@click.option("--host", "hosts", multiple=True, help="Extra host name or IP for the certificate.")
@click.option("--force", is_flag=True, help="Replace an existing certificate.")
def cert(config, hosts, force):
    """Make a self-signed TLS certificate for the web app at [web] cert/key (web/cert.pem and
    web/key.pem when unset; add those two lines to [web])."""
    from gateway.tls import make_cert
    cfg = site(config)
    crt = cfg.web.cert or cfg.home / "web" / "cert.pem"
    key = cfg.web.key or cfg.home / "web" / "key.pem"
    if crt.exists() and not force:
        raise click.ClickException(f"{crt} exists (use --force to replace)")
    make_cert(crt, key, list(hosts))
    click.echo(f"certificate: {crt}\nkey:         {key} (0600)")
    if not cfg.web.tls:
        click.echo(f'now add to [web] in site.toml:\n  cert = "{crt}"\n  key = "{key}"')


@web.group()
def user() -> None:
    """Local accounts: manager (everything), viewer (read only), installer (devices, no personal data)."""


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


def _call(fn, *args):
    from gateway.web.accounts import AccountError
    try:
        return fn(*args)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc


@user.command("add")
@config_option
@click.argument("name")
@click.option("--role", type=click.Choice(["manager", "viewer", "installer"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin (scripts).")
def user_add(config, name, role, password_stdin):
    """Add account NAME (asks for the password twice)."""
    accounts = open_accounts(site(config))
    _call(accounts.add, name, role, _password(password_stdin))
    click.echo(f"{name}: {role}")


@user.command("passwd")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin (scripts).")
def user_passwd(config, name, password_stdin):
    """Set NAME's password (signs out NAME's sessions, lifts a lockout)."""
    accounts = open_accounts(site(config))
    _call(accounts.set_password, name, _password(password_stdin))
    click.echo(f"{name}: password changed")


@user.command("role")
@config_option
@click.argument("name")
@click.argument("role", type=click.Choice(["manager", "viewer", "installer"]))
def user_role(config, name, role):
    """Change NAME's role."""
    _call(open_accounts(site(config)).set_role, name, role)
    click.echo(f"{name}: {role}")


@user.command("remove")
@config_option
@click.argument("name")
def user_remove(config, name):
    """Delete account NAME and its sessions."""
    _call(open_accounts(site(config)).remove, name)
    click.echo(f"{name}: removed")


@user.command("list")
@config_option
def user_list(config):
    """Accounts with their roles (and whether locked after wrong passwords)."""
    for u in open_accounts(site(config)).users():
        click.echo(f"{u['name']:20} {u['role']:10}{'  LOCKED' if u['locked'] else ''}")
