"""`sitegate phone cert|enrol|qr|serve`: provisioning and running the phone clock-in page."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from gateway.cli.options import config_option, emit, fail, json_option, load_config as _cfg
from gateway.phone.build import build_phone_app
from gateway.words import tr

@click.group("phone")
def phone():
    """Phone clock-in page for linear sites (HTTPS, fence + selfie)."""


@phone.command()
@config_option
@click.option("--host", "hosts", multiple=True, help="Extra host name or IP for the certificate.")
@click.option("--force", is_flag=True, help="Replace an existing certificate.")
@json_option
def cert(config, hosts, force, as_json):
    """Make the page's TLS certificate (self-signed, ECDSA P-256) at provisioning."""
    from gateway.tls import make_cert
    cfg = _cfg(config)
    if cfg.phone_cert.exists() and not force:
        raise fail("{path} exists (use --force to replace)", path=cfg.phone_cert)
    make_cert(cfg.phone_cert, cfg.phone_key, list(hosts))
    emit({"cert": str(cfg.phone_cert), "key": str(cfg.phone_key)}, as_json,
         tr("certificate: {path}", path=cfg.phone_cert) + "\n" +
         tr("key:         {path} (0600)", path=cfg.phone_key))


@phone.command()
@config_option
@click.option("--worker", required=True, help="Registry worker id.")
@click.option("--photo", "photos", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Face photo(s) to enrol in the site's template store (skip when the worker "
                   "is already enrolled for the turnstiles).")
@json_option
def enrol(config, worker, photos, as_json):
    """Enrol a worker for phone clock-in: ID number (HMAC'd) + PIN (scrypt), and the face.

    The ID number and the PIN are asked for (not echoed), never taken as options: a command
    line ends up in shell history and in every user's process list. Scripts pipe three lines:
    ID number, PIN, PIN again."""
    from gateway.phone.credentials import CredentialError, normalise_id
    cfg = _cfg(config)
    id_number = click.prompt(tr("ID number"), hide_input=True, err=as_json)
    try:
        normalise_id(id_number)          # checked before anything is stored
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True, err=as_json)
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
            raise click.ClickException(tr("cannot enrol the face: {why}", why="; ".join(
                f"{label}: {message(reason, 'en')} ({msg})" for label, reason, msg in result.rejected)))
        open_store(cfg).add(worker, result.accepted, model=result.model)
    try:
        masked = _phone_store(cfg).enrol(worker, id_number, pin)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    emit({"worker": worker, "id_number": masked, "photos": len(photos)}, as_json,
         tr("enrolled {worker} ({masked}) for phone clock-in with {n} photo(s)", worker=worker,
            masked=masked, n=len(photos)) if photos else
         tr("enrolled {worker} ({masked}) for phone clock-in", worker=worker, masked=masked))


@phone.command()
@config_option
@click.option("--worker", required=True)
@click.option("--url", "base", default=None, help="Base URL of the page (default from config).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the QR as .svg/.png")
@click.option("--terminal", is_flag=True, help="Also draw the QR in the terminal.")
@json_option
def qr(config, worker, base, output, terminal, as_json):
    """One-time sign-in QR for a worker (valid 10 minutes, single use)."""
    from gateway.phone.credentials import CredentialError
    cfg = _cfg(config)
    try:
        token = _phone_store(cfg).issue_token(worker)
    except CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    base = base or f"https://{cfg.phone_listen or '127.0.0.1'}:{cfg.phone_port}"
    url = f"{base}/?t={token}"
    if output:
        import segno
        segno.make(url, error="m").save(output, scale=6)
    if as_json:
        emit({"worker": worker, "url": url, "file": output, "valid_s": 600}, True, "")
        return
    if terminal:
        from gateway.ops.provision import terminal_qr
        click.echo(terminal_qr(url), nl=False)
    if output:
        click.echo(tr("QR for {worker} written to {path} (valid 10 minutes, single use)",
                      worker=worker, path=output))
    else:
        click.echo(url)


@phone.command()
@config_option
@click.option("--listen", default=None, help="Address to listen on (default [phone] listen).")
@click.option("--port", type=int, default=None)
def serve(config, listen, port):
    """Serve the phone page alone (the daemon serves it too when [phone] listen is set)."""
    from gateway.site import open_outbox
    from gateway.phone.server import PhoneServer, PhoneStartError
    cfg = _cfg(config)
    if not cfg.phone_cert.exists():
        raise fail("no certificate at {path}: run `sitegate phone cert`", path=cfg.phone_cert)
    outbox = open_outbox(cfg)
    try:
        app = build_phone_app(cfg, outbox)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        srv = PhoneServer(app, listen or cfg.phone_listen or "127.0.0.1", port or cfg.phone_port,
                          cfg.phone_cert, cfg.phone_key).start()
    except PhoneStartError as exc:
        outbox.close()
        raise click.ClickException(str(exc)) from None
    click.echo(tr("phone clock-in page on {url} ({n} fences)", url=f"{srv.url}/", n=len(app.fences)),
               err=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
        outbox.close()
    sys.exit(0)


def _phone_store(cfg):
    """The site's phone credentials (the secret from where the site keeps its keys)."""
    from gateway.phone.credentials import PhoneStore
    from gateway.site import SiteError, phone_secret
    try:
        return PhoneStore(cfg.phone_db, secret=phone_secret(cfg))
    except SiteError as exc:
        raise click.ClickException(str(exc)) from exc
