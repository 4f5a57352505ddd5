"""`sitegate keys …`: where the site's keys are, and sealing the SM4 keys with a passphrase.

Where each key lives is decided by gateway.site.key_paths (systemd credential, ``[keys] dir``,
or ``$SITEGATE_HOME``); these commands only show it and seal the files in place.
"""
from __future__ import annotations

import json
import os

import click

from gateway.cli.options import config_option, emit, json_option, site
from gateway.words import tr

ROLES = ("signing", "roster", "templates", "phone")


@click.group()
def keys() -> None:
    """The site's keys: where they are, sealing them with a passphrase."""


@keys.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
def keys_list(config, as_json):
    """Each key's file, where it comes from, whether it is sealed, and its mode."""
    from biometrics.crypto import is_sealed
    from gateway import keys as sm2
    from gateway.site import key_paths
    cfg = site(config)
    paths = key_paths(cfg)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    rows = []
    for role in ROLES:
        p = getattr(paths, role)
        source = ("credential" if creds and str(p).startswith(creds) else
                  "[keys] dir" if cfg.keys_dir and p.parent == cfg.keys_dir else "home")
        exists = p.exists()
        sealed = exists and (sm2.is_encrypted(p) if role == "signing" else is_sealed(p))
        rows.append({"role": role, "path": str(p), "source": source, "exists": exists,
                     "sealed": sealed, "mode": oct(p.stat().st_mode & 0o777) if exists else None})
    if as_json:
        click.echo(json.dumps(rows, sort_keys=True))
        return
    for r in rows:
        state = (tr("sealed") if r["sealed"] else tr("plain")) if r["exists"] else tr("made on first use")
        click.echo(f"{r['role']:10} {r['path']}  ({tr(r['source'])}, {state}"
                   f"{', ' + r['mode'] if r['mode'] else ''})")


@keys.command("make")
@config_option
@json_option
def keys_make(config, as_json):
    """Make the roster, template and phone keys now where they belong (sealed under [keys]
    sealed = true), e.g. before handing them to systemd as credentials. Existing keys are kept."""
    from gateway.site import SiteError, key_paths, sm4_key
    cfg = site(config)
    data = {"roster": cfg.roster.path, "templates": cfg.faces.store, "phone": cfg.phone_db}
    rows = []
    for role in ("roster", "templates", "phone"):
        p = getattr(key_paths(cfg), role)
        existed = p.exists()
        try:
            sm4_key(cfg, role, data[role])
        except SiteError as exc:
            raise click.ClickException(str(exc)) from None
        rows.append({"role": role, "path": str(p), "result": "kept" if existed else "made"})
        if not as_json:
            click.echo(f"{role}: {p} {tr('kept') if existed else tr('made')}")
    if as_json:
        emit(rows, True, "")


@keys.command("seal")
@config_option
@json_option
def keys_seal(config, as_json):
    """Seal the roster, template and phone keys with a passphrase (scrypt, SM4-GCM), in place.

    The passphrase comes from SITEGATE_KEY_PASSPHRASE, the systemd credential key-passphrase,
    or is asked twice -- never an option (it would stay in shell history and the process
    list). Keys passed as systemd credentials are left alone (seal those with
    `systemd-creds encrypt`). The gateway's SM2 key is sealed by `sitegate provision`."""
    from biometrics.crypto import SealError, reseal_key_file
    from gateway import keys as sm2
    from gateway.site import SECRET_BYTES, key_paths
    cfg = site(config)
    paths = key_paths(cfg)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    passphrase = sm2.passphrase_from_env() or click.prompt(
        "passphrase for the site's keys", hide_input=True, confirmation_prompt=True, err=True)
    rows = []
    for role in ("roster", "templates", "phone"):
        p = getattr(paths, role)
        if creds and str(p).startswith(creds):
            result, line = "credential", tr("{role}: {path} is a systemd credential; left alone",
                                            role=role, path=p)
        elif not p.exists():
            result, line = "missing", tr("{role}: {path} not made yet (with [keys] sealed = true it "
                                         "is made sealed)", role=role, path=p)
        else:
            try:
                changed = reseal_key_file(p, passphrase, role, SECRET_BYTES[role])
            except (SealError, ValueError, PermissionError) as exc:
                raise click.ClickException(str(exc)) from None
            result = "sealed" if changed else "already_sealed"
            line = f"{role}: {p} " + (tr("sealed") if changed else
                                      tr("already sealed with this passphrase"))
        rows.append({"role": role, "path": str(p), "result": result})
        if not as_json:
            click.echo(line)
    if as_json:
        emit(rows, True, "")
