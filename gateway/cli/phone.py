"""`sitegate phone cert|enrol|qr|serve`: provisioning and running the phone clock-in page."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from gateway.cli.options import config_option, load_config as _cfg
from gateway.phone.build import build_phone_app

@click.group("phone")
def phone():
    """Phone clock-in page for linear sites (HTTPS, fence + selfie)."""


@phone.command()
@config_option
@click.option("--host", "hosts", multiple=True, help="Extra host name or IP for the certificate.")
@click.option("--force", is_flag=True, help="Replace an existing certificate.")
def cert(config, hosts, force):
    """Make the page's TLS certificate (self-signed, ECDSA P-256) at provisioning."""
    from gateway.tls import make_cert
    cfg = _cfg(config)
    if cfg.phone_cert.exists() and not force:
        raise click.ClickException(f"{cfg.phone_cert} exists (use --force to replace)")
    make_cert(cfg.phone_cert, cfg.phone_key, list(hosts))
    click.echo(f"certificate: {cfg.phone_cert}\nkey:         {cfg.phone_key} (0600)")


@phone.command()
@config_option
@click.option("--worker", required=True, help="Registry worker id.")
@click.option("--photo", "photos", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Face photo(s) to enrol in the site's template store (skip when the worker "
                   "is already enrolled for the turnstiles).")
def enrol(config, worker, photos):
    """Enrol a worker for phone clock-in: ID number (HMAC'd) + PIN (scrypt), and the face.

    The ID number and the PIN are asked for (not echoed), never taken as options: a command
    line ends up in shell history and in every user's process list. Scripts pipe three lines:
    ID number, PIN, PIN again."""
    from gateway.phone.credentials import CredentialError, PhoneStore, normalise_id
    cfg = _cfg(config)
    id_number = click.prompt("ID number", hide_input=True)
    try:
        normalise_id(id_number)          # checked before anything is stored
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    if photos:
        from biometrics.enrol import enrol_images
        from gateway.cli.options import open_store
        from gateway.clockin.reasons import message
        from gateway.site import SiteError, face_engine
        try:
            engine = face_engine(cfg)
        except SiteError as exc:
            raise click.ClickException(str(exc)) from None
        result = enrol_images([(p, Path(p).read_bytes()) for p in photos], engine=engine)
        if not result.ok:
            raise click.ClickException("cannot enrol the face: " + "; ".join(
                f"{label}: {message(reason, 'en')} ({msg})" for label, reason, msg in result.rejected))
        open_store(cfg).add(worker, result.accepted, model=result.model)
    try:
        masked = PhoneStore(cfg.phone_db).enrol(worker, id_number, pin)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"enrolled {worker} ({masked}) for phone clock-in"
               + (f" with {len(photos)} photo(s)" if photos else ""))


@phone.command()
@config_option
@click.option("--worker", required=True)
@click.option("--url", "base", default=None, help="Base URL of the page (default from config).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the QR as .svg/.png")
def qr(config, worker, base, output):
    """One-time sign-in QR for a worker (valid 10 minutes, single use)."""
    from gateway.phone.credentials import CredentialError, PhoneStore
    cfg = _cfg(config)
    try:
        token = PhoneStore(cfg.phone_db).issue_token(worker)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    base = base or f"https://{cfg.phone_listen or '127.0.0.1'}:{cfg.phone_port}"
    url = f"{base}/?t={token}"
    if output:
        import segno
        segno.make(url, error="m").save(output, scale=6)
        click.echo(f"QR for {worker} written to {output} (valid 10 minutes, single use)")
    else:
        click.echo(url)


@phone.command()
@config_option
@click.option("--listen", default=None, help="Address to listen on (default [phone] listen).")
@click.option("--port", type=int, default=None)
def serve(config, listen, port):
    """Serve the phone page alone (the daemon serves it too when [phone] listen is set)."""
    from gateway.site import open_outbox
    from gateway.phone.app import PhoneServer
    cfg = _cfg(config)
    if not cfg.phone_cert.exists():
        raise click.ClickException(f"no certificate at {cfg.phone_cert}: run `sitegate phone cert`")
    outbox = open_outbox(cfg)
    try:
        app = build_phone_app(cfg, outbox)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    srv = PhoneServer(app, listen or cfg.phone_listen or "127.0.0.1", port or cfg.phone_port,
                      cfg.phone_cert, cfg.phone_key).start()
    click.echo(f"phone clock-in page on {srv.url}/ ({len(app.fences)} fences)", err=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
        outbox.close()
    sys.exit(0)
