"""`sitegate web …`: the labour manager's web app -- serve it, manage its local accounts.

`sitegate run` serves the app itself when ``[web] listen`` is set; `sitegate web serve` runs it
alone (e.g. on a laptop copy of the site data, or while the daemon is stopped) and follows
the outbox into the attendance ledger meanwhile.
"""
from __future__ import annotations

import sys
import threading

import click

from gateway.cli.options import config_option, emit, fail, json_option, site
from gateway.web.serve import open_accounts, start_web, stop_web
from gateway import words
from gateway.words import tr


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
        click.echo(tr("warning: no accounts yet; add one with: sitegate web user add NAME --role manager"),
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
    click.echo(tr("web app on {url}", url=f"{server.url}/"), err=False)
    sys.stdout.flush()
    stop.wait()
    follower.join(5)
    stop_web(server)


@web.command("cert")
@config_option
@click.option("--host", "hosts", multiple=True, help="Extra host name or IP for the certificate.")
@click.option("--force", is_flag=True, help="Replace an existing certificate.")
@json_option
def cert(config, hosts, force, as_json):
    """Make a self-signed TLS certificate for the web app at [web] cert/key (web/cert.pem and
    web/key.pem when unset; add those two lines to [web])."""
    from gateway.tls import make_cert
    cfg = site(config)
    crt = cfg.web.cert or cfg.home / "web" / "cert.pem"
    key = cfg.web.key or cfg.home / "web" / "key.pem"
    if crt.exists() and not force:
        raise fail("{path} exists (use --force to replace)", path=crt)
    make_cert(crt, key, list(hosts))
    if as_json:
        emit({"cert": str(crt), "key": str(key), "configured": cfg.web.tls}, True, "")
        return
    click.echo(tr("certificate: {path}", path=crt) + "\n" + tr("key:         {path} (0600)", path=key))
    if not cfg.web.tls:
        click.echo(tr("now add to [web] in site.toml:") + f'\n  cert = "{crt}"\n  key = "{key}"')


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
@json_option
def user_add(config, name, role, password_stdin, as_json):
    """Add account NAME (asks for the password twice)."""
    accounts = open_accounts(site(config))
    _call(accounts.add, name, role, _password(password_stdin))
    emit({"name": name, "role": role, "result": "added"}, as_json, f"{name}: {_role(role)}")


@user.command("passwd")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin (scripts).")
@json_option
def user_passwd(config, name, password_stdin, as_json):
    """Set NAME's password (signs out NAME's sessions, lifts a lockout)."""
    accounts = open_accounts(site(config))
    _call(accounts.set_password, name, _password(password_stdin))
    emit({"name": name, "result": "password_changed"}, as_json,
         tr("{name}: password changed", name=name))


@user.command("role")
@config_option
@click.argument("name")
@click.argument("role", type=click.Choice(["manager", "viewer", "installer"]))
@json_option
def user_role(config, name, role, as_json):
    """Change NAME's role."""
    _call(open_accounts(site(config)).set_role, name, role)
    emit({"name": name, "role": role, "result": "role_changed"}, as_json, f"{name}: {_role(role)}")


@user.command("remove")
@config_option
@click.argument("name")
@json_option
def user_remove(config, name, as_json):
    """Delete account NAME and its sessions."""
    _call(open_accounts(site(config)).remove, name)
    emit({"name": name, "result": "removed"}, as_json, tr("{name}: removed", name=name))


@user.command("list")
@config_option
@json_option
def user_list(config, as_json):
    """Accounts with their roles (and whether locked after wrong passwords)."""
    users = open_accounts(site(config)).users()
    if as_json:
        emit([{"name": u["name"], "role": u["role"], "locked": bool(u["locked"])} for u in users],
             True, "")
        return
    for u in users:
        locked = "  " + tr("LOCKED") if u["locked"] else ""
        click.echo(f"{u['name']:20} {_role(u['role']):10}{locked}")


def _role(role: str) -> str:
    """A role in the command line's language (the web app's words)."""
    key = f"web.ro_{role}"
    return words.text(key, words.cli_lang()) if words.has(key) else role
