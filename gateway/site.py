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
    credentials at rest.  ``central_intake`` is central's public key (PEM) that registrations
    sent to central are encrypted to (not a secret)."""
    signing: Path
    roster: Path
    templates: Path
    phone: Path
    broker_password: Path
    central_intake: Path


def key_paths(cfg: SiteConfig) -> KeyPaths:
    k = cfg.home / "keys"
    return KeyPaths(signing=cfg.key_file, roster=k / "roster.sm4", templates=k / "templates.sm4",
                    phone=cfg.phone_db.parent / "secret.key", broker_password=k / "broker.password",
                    central_intake=k / "central-intake.pem")


def open_outbox(cfg: SiteConfig, readonly: bool = False) -> Outbox:
    signer = None if readonly else keys.load(cfg.key_file)
    return Outbox(cfg.outbox_path, cfg.gateway_id, signer, cfg.limits, readonly=readonly)


def make_uplink(cfg: SiteConfig, outbox: Outbox) -> Uplink:
    gate = None
    if cfg.push != "realtime":
        gate = Schedule(cfg.push, cfg.tz_offset_min).cutoff_ms
    return Uplink(outbox, cfg.broker, window=cfg.window, ack_timeout=cfg.ack_timeout,
                  linger=cfg.linger, state_interval=cfg.state_interval, release_cutoff=gate)


def open_roster(cfg: SiteConfig):
    """The local roster (names and ID numbers SM4-sealed)."""
    from biometrics.crypto import load_or_create_key

    from gateway.roster.store import Roster
    try:
        return Roster(cfg.roster.path, key=load_or_create_key(key_paths(cfg).roster))
    except (PermissionError, ValueError) as exc:
        raise SiteError(str(exc)) from exc


def registration_reporter(cfg: SiteConfig, roster, outbox: Outbox):
    """Sends registrations made on site (unknown-card queue) to central through ``outbox``."""
    from gateway.roster.report import RegistrationReporter
    return RegistrationReporter(roster, outbox, key_paths(cfg).central_intake)


def open_templates(cfg: SiteConfig):
    """The face template store (SM4-GCM sealed)."""
    from biometrics.store import TemplateStore
    try:
        return TemplateStore(cfg.faces.store, key_file=key_paths(cfg).templates)
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
