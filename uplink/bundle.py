"""The registration bundle: what a freshly provisioned gateway hands to central.

JSON (canonical bytes, see wire.md §2) holding the gateway id, project, SM2 public key and broker,
plus ``proof``: the gateway's SM2 signature over the canonical bytes of every other field
(proof that whoever made the bundle holds the private key, and that nothing was edited on the way).
Both sides use this module: ``make`` on the gateway (`sitegate provision`), ``check`` at central
(`sitegate-central gateways add BUNDLE`).  No personal data is in a bundle.
"""
from __future__ import annotations

import json
from typing import Any

from .sm2 import SM2Error, Signer, Verifier, validate_public_key
from .wire import WireError, canonical, check_gateway_id

KIND = "sitegate-registration"
FIELDS = ("kind", "v", "gateway_id", "project", "public_key", "broker", "created_ms")


class BundleError(ValueError):
    pass


def make(signer: Signer, gateway_id: str, project: str, broker: str, created_ms: int) -> dict:
    body = {"kind": KIND, "v": 1, "gateway_id": gateway_id, "project": project,
            "public_key": signer.public_hex, "broker": broker, "created_ms": created_ms}
    return dict(body, proof=signer.sign(canonical(body)).hex())


def dumps(bundle: dict) -> str:
    return json.dumps(bundle, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def check(data: Any) -> dict:
    """Validate a parsed bundle; returns it, or raises BundleError naming what is wrong."""
    if not isinstance(data, dict):
        raise BundleError("not a registration bundle: expected a JSON object")
    if data.get("kind") != KIND:
        raise BundleError(f"not a registration bundle: kind must be {KIND!r}")
    if data.get("v") != 1:
        raise BundleError(f"bundle version {data.get('v')!r} not supported (this central reads v1)")
    extra = set(data) - set(FIELDS) - {"proof"}
    missing = [k for k in (*FIELDS, "proof") if k not in data]
    if missing or extra:
        raise BundleError(f"bundle fields: missing {missing or 'none'}, unknown {sorted(extra) or 'none'}")
    for key in ("gateway_id", "project", "public_key", "broker", "proof"):
        if not isinstance(data[key], str):
            raise BundleError(f"bundle {key} must be a string")
    if not isinstance(data["created_ms"], int) or isinstance(data["created_ms"], bool):
        raise BundleError("bundle created_ms must be an integer")
    try:
        check_gateway_id(data["gateway_id"])
    except WireError as exc:
        raise BundleError(f"bundle gateway_id: {exc}") from exc
    try:
        key = validate_public_key(data["public_key"])
        proof = bytes.fromhex(data["proof"])
    except (SM2Error, ValueError) as exc:
        raise BundleError(f"bundle key or proof malformed: {exc}") from exc
    body = {k: data[k] for k in FIELDS}
    if not Verifier(key).verify(canonical(body), proof):
        raise BundleError("bundle proof does not verify: it was edited after `sitegate provision` "
                          "made it, or was not made with this key; provision again and re-send it")
    return data


def load(text: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle is not JSON: {exc}") from exc
    return check(data)
