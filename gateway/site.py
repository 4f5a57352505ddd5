"""The site's shared objects, built from its ``SiteConfig`` in one place.

Every room (clock-in lanes, phone page, web app, ledger, CLI) opens the outbox, the uplink,
the roster and the face templates through these functions, so where a file or key lives is
decided here and nowhere else.  Nothing here starts a thread or touches the network.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    credentials at rest."""
    signing: Path
    roster: Path
    templates: Path
    phone: Path
    broker_password: Path


def key_paths(cfg: SiteConfig) -> KeyPaths:
    k = cfg.home / "keys"
    return KeyPaths(signing=cfg.key_file, roster=k / "roster.sm4", templates=k / "templates.sm4",
                    phone=cfg.phone_db.parent / "secret.key", broker_password=k / "broker.password")


def open_outbox(cfg: SiteConfig, readonly: bool = False) -> Outbox:
    signer = None if readonly else keys.load(cfg.key_file)
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
    return Uplink(outbox, cfg.broker, window=cfg.window, ack_timeout=cfg.ack_timeout,
                  linger=cfg.linger, state_interval=cfg.state_interval, release_cutoff=gate,
                  central_key=central_key(cfg))


def open_roster(cfg: SiteConfig):
    """The local roster (names and ID numbers SM4-sealed)."""
    from biometrics.crypto import load_or_create_key

    from gateway.roster.store import Roster
    try:
        return Roster(cfg.roster.path, key=load_or_create_key(key_paths(cfg).roster))
    except (PermissionError, ValueError) as exc:
        raise SiteError(str(exc)) from exc


def open_templates(cfg: SiteConfig):
    """The face template store (SM4-GCM sealed)."""
    from biometrics.store import TemplateStore
    try:
        return TemplateStore(cfg.faces.store, key_file=key_paths(cfg).templates)
    except (PermissionError, ValueError) as exc:
        raise SiteError(str(exc)) from exc


def thresholds(cfg: SiteConfig):
    """Face decision thresholds from ``[faces]``."""
    from biometrics.matching import Thresholds
    f = cfg.faces
    return Thresholds(verify=f.verify, verify_nearest=f.verify_nearest, verify_z=f.verify_z,
                      min_cohort=f.min_cohort, identify=f.identify, margin=f.margin)
