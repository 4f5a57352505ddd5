"""The site's shared objects, built from its ``SiteConfig`` in one place.

Every room (clock-in lanes, phone page, web app, ledger, CLI) opens the outbox, the uplink,
the roster and the face templates through these functions, so where a file or key lives is
decided here and nowhere else.  Nothing here starts a thread or touches the network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from uplink.outbox import Outbox
from uplink.publisher import Uplink
from uplink.schedule import Schedule

from gateway import keys
from gateway.config import SiteConfig


class SiteError(ValueError):
    """A site file or key cannot be opened (wrong permissions, corrupt, wrong key)."""


@dataclass(frozen=True)
class KeyPaths:
    """Where the site's secrets live (all 0600).  ``signing`` is the gateway's SM2 key
    (``[gateway] key``); the SM4 keys seal the roster, the face templates and phone
    credentials at rest.  ``central_intake`` is central's public key (PEM) that registrations
    sent to central are encrypted to (not a secret).

    Each key is taken, in this order, from ``$CREDENTIALS_DIRECTORY/NAME`` (systemd
    ``LoadCredential=NAME:/path`` or ``LoadCredentialEncrypted=``; read only), from
    ``[keys] dir`` (a folder apart from the data), or from its place in ``$SITEGATE_HOME``."""
    signing: Path
    roster: Path
    templates: Path
    phone: Path
    broker_password: Path
    central_intake: Path


#: credential / file names of the keys under [keys] dir or $CREDENTIALS_DIRECTORY
KEY_NAMES = {"signing": "gateway.key.pem", "roster": "roster.sm4", "templates": "templates.sm4",
             "phone": "phone-secret.key"}
SECRET_BYTES = {"roster": 16, "templates": 16, "phone": 32}


def key_paths(cfg: SiteConfig) -> KeyPaths:
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    k = cfg.home / "keys"

    def place(role: str, default: Path) -> Path:
        if creds and (Path(creds) / KEY_NAMES[role]).is_file():
            return Path(creds) / KEY_NAMES[role]
        return cfg.keys_dir / KEY_NAMES[role] if cfg.keys_dir else default

    return KeyPaths(signing=place("signing", cfg.key_file), roster=place("roster", k / "roster.sm4"),
                    templates=place("templates", k / "templates.sm4"),
                    phone=place("phone", cfg.phone_db.parent / "secret.key"),
                    broker_password=k / "broker.password",
                    central_intake=k / "central-intake.pem")


# ---------------------------------------------------------------------- passphrase
_ask: Callable[[], str] | None = None
_known: list[str] = []


def ask_passphrase_with(fn: Callable[[], str] | None) -> None:
    """How to ask for the keys' passphrase when neither SITEGATE_KEY_PASSPHRASE nor the systemd
    credential ``key-passphrase`` gives it (the command line sets a terminal prompt; the daemon
    has none). Asked at most once per process, and only when a sealed key is met."""
    global _ask
    _ask = fn
    _known.clear()


def passphrase() -> str | None:
    if _known:
        return _known[0]
    given = keys.passphrase_from_env() or (_ask() if _ask else None)
    if given:
        _known.append(given)
    return given


def sm4_key(cfg: SiteConfig, role: str, data: Path | None = None) -> bytes:
    """The SM4 key (or phone secret) for ``role``, made on first use -- sealed with the
    passphrase under ``[keys] sealed = true``. When ``data`` (the file it protects) already
    holds something but the key is missing, that is an error, not a new key: data sealed
    with a lost key cannot be read, and the usual cause is a moved key folder."""
    from biometrics.crypto import SealError, load_or_create_key
    path = getattr(key_paths(cfg), role)
    if data is not None and not path.exists() and data.exists() and data.stat().st_size > 0:
        raise SiteError(f"{data} exists but its key {path} does not: restore the key (or point "
                        f"[keys] dir / the systemd credential {KEY_NAMES[role]} at it)")
    try:
        return load_or_create_key(path, nbytes=SECRET_BYTES[role], passphrase=passphrase,
                                  seal_new=cfg.keys_sealed, role=role)
    except (PermissionError, ValueError, SealError) as exc:
        raise SiteError(str(exc)) from exc


def phone_secret(cfg: SiteConfig) -> bytes:
    """The site secret that keys the phone credentials' ID-number lookup."""
    return sm4_key(cfg, "phone", cfg.phone_db)


def open_outbox(cfg: SiteConfig, readonly: bool = False) -> Outbox:
    path = key_paths(cfg).signing
    signer = None if readonly else keys.load(path, passphrase() if keys.is_encrypted(path) else None)
    return Outbox(cfg.outbox_path, cfg.gateway_id, signer, cfg.limits, readonly=readonly)


def central_key(cfg: SiteConfig) -> str | None:
    """Central's public key (128 hex) from ``[gateway] central_key`` (PEM or hex), or None when
    the file is missing -- the uplink then releases nothing and says so."""
    from uplink.sm2 import SM2Error, public_key_from_pem, validate_public_key
    path = cfg.central_key_file
    if path is None or not path.exists():
        return None
    text = path.read_text()
    try:
        return public_key_from_pem(text) if "BEGIN" in text else validate_public_key(text.strip())
    except SM2Error as exc:
        raise SiteError(f"{path}: not central's SM2 public key ({exc})") from exc


def make_uplink(cfg: SiteConfig, outbox: Outbox) -> Uplink:
    gate = None
    if cfg.push != "realtime":
        gate = Schedule(cfg.push, cfg.tz_offset_min).cutoff_ms
    return Uplink(outbox, cfg.broker, window=cfg.window, drain_window=cfg.drain_window,
                  ack_timeout=cfg.ack_timeout,
                  linger=cfg.linger, state_interval=cfg.state_interval, release_cutoff=gate,
                  central_key=central_key(cfg))


def open_roster(cfg: SiteConfig):
    """The local roster (names and ID numbers SM4-sealed)."""
    from gateway.roster.store import Roster
    key = sm4_key(cfg, "roster", cfg.roster.path)
    try:
        return Roster(cfg.roster.path, key=key)
    except (PermissionError, ValueError) as exc:
        raise SiteError(str(exc)) from exc


def registration_reporter(cfg: SiteConfig, roster, outbox: Outbox):
    """Sends registrations made on site (unknown-card queue) to central through ``outbox``."""
    from gateway.roster.report import RegistrationReporter
    return RegistrationReporter(roster, outbox, key_paths(cfg).central_intake)


def open_templates(cfg: SiteConfig):
    """The face template store (SM4-GCM sealed)."""
    from biometrics.store import TemplateStore
    key = sm4_key(cfg, "templates", cfg.faces.store)
    try:
        return TemplateStore(cfg.faces.store, key=key)
    except (PermissionError, ValueError) as exc:
        raise SiteError(str(exc)) from exc


def thresholds(cfg: SiteConfig):
    """Face decision thresholds for ``[faces] model``: the model's measured defaults, with any
    value set in ``[faces]`` in their place."""
    from dataclasses import replace

    from biometrics.matching import Thresholds
    f = cfg.faces
    given = {k: getattr(f, k) for k in ("verify", "verify_nearest", "verify_z", "min_cohort", "identify", "margin")
             if getattr(f, k) is not None}
    return replace(Thresholds.for_model(f.model), **given)


def face_engine(cfg: SiteConfig):
    """The face engine of ``[faces] model`` (its files from ``[faces] models`` or found)."""
    from biometrics.engines import get_engine
    from biometrics.modelfiles import ModelMissing
    try:
        return get_engine(cfg.faces.model, cfg.faces.models)
    except ModelMissing as exc:
        raise SiteError(str(exc)) from exc



def calibration_files(cfg: SiteConfig) -> tuple[Path, Path]:
    """(PNG, JSON) written by ``sitegate faces calibrate`` and shown by the web app."""
    d = cfg.faces.store.parent
    return d / "calibration.png", d / "calibration.json"
