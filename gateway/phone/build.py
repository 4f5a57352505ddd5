"""The phone clock-in app for a site, built from its config: stored fences, credentials, face
check, fix policy, and the roster and rules the lanes decide with."""
from __future__ import annotations

from pathlib import Path

from gateway.config import SiteConfig


def build_phone_app(cfg: SiteConfig, outbox):
    """The phone app for a site: stored fences, credentials, face check, policy, roster."""
    from geofence import Policy
    from gateway.clockin.rules import rules_from
    from gateway.fences.store import all_fences
    from gateway.phone.app import PhoneApp
    from gateway.phone.credentials import PhoneStore
    from gateway.phone.selfie import open_selfie_check
    from gateway.site import open_roster
    fences = all_fences(cfg.home) if cfg.fences_dir is None else _load_dir(cfg.fences_dir)
    from gateway.site import phone_secret
    store = PhoneStore(cfg.phone_db, secret=phone_secret(cfg))
    selfie = open_selfie_check(cfg)
    policy = Policy(accept_accuracy_m=cfg.accept_accuracy_m, max_accuracy_m=cfg.max_accuracy_m)
    return PhoneApp(outbox, fences, store, selfie, open_roster(cfg), rules_from(cfg.roster), policy,
                    cfg.session_minutes)


def _load_dir(d: Path) -> list:
    import geofence
    return [f for p in sorted(Path(d).glob("*.geojson")) for f in geofence.load(p)]
