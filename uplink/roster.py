"""Roster downlink (docs/wire.md §8): the update format, its sealed personal fields, and what a
gateway does with a verified update.  Sans-I/O: ``gateway.roster.live`` runs it over the
uplink's MQTT connection, ``central.roster`` makes the updates.

* An update is canonical JSON || central's 64-byte SM2 signature; ``decode_update`` checks the
  signature first (``BadSignature`` otherwise), then the fields and the addressee.
* Personal fields (ID number, name, gender, birth date) travel sealed: one fresh SM4 key per
  update, SM2-encrypted to the gateway's public key (``key``); each entry's ``private`` is
  SM4-GCM under it with the gateway and worker as associated data.  Only that gateway can
  open them; the rest of the entry is what the gate decides on.
* ``decide`` is the whole rule for replays: versions only move forward.  An incremental update
  applies only on top of the version the gateway holds; a full snapshot older than it is a
  replay (or central went back in time) and is refused.
"""
from __future__ import annotations

import secrets
from typing import Any, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .sm2 import SM2Error, Verifier, encrypt
from .wire import SIG_LEN, BadSignature, WireError, canonical, parse_canonical, topic

STATUSES = ("active", "exited", "blacklisted")
PRIVATE_FIELDS = ("birthDate", "gender", "idCardNumber", "idCardType", "workerName")
_KEYS = {"entries", "from", "full", "gw", "key", "more", "project", "to", "type", "v"}
_AAD = b"sitegate-roster/v1"


def request_topic(gw: str) -> str:
    return topic(gw, "roster-req")


def roster_topic(gw: str) -> str:
    return topic(gw, "roster")


def request(have: int) -> bytes:
    return canonical({"have": int(have), "v": 1})


def parse_request(data: bytes) -> int:
    """The ``have`` of a roster request; WireError for anything else."""
    req = parse_canonical(bytes(data), "roster request")
    if not isinstance(req, dict) or set(req) != {"have", "v"} or req["v"] != 1 or \
            not isinstance(req["have"], int) or isinstance(req["have"], bool) or req["have"] < 0:
        raise WireError('roster request: expected {"have": <int >= 0>, "v": 1}')
    return req["have"]


# ---------------------------------------------------------------- sealed personal fields

def _aad(gw: str, worker: str) -> bytes:
    return b"\0".join((_AAD, gw.encode(), worker.encode()))


def seal_private(gw: str, gateway_public_hex: str, private: dict[str, dict], *,
                 _key: bytes | None = None, _nonces: list[bytes] | None = None,
                 _k: int | None = None) -> tuple[str | None, dict[str, str]]:
    """(``key``, {worker: ``private``}) for one update.  The underscored arguments fix the
    random values for published test vectors only."""
    if not private:
        return None, {}
    key = _key if _key is not None else secrets.token_bytes(16)
    sealed = {}
    for i, (worker, fields) in enumerate(private.items()):
        nonce = _nonces[i] if _nonces is not None else secrets.token_bytes(12)
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(_aad(gw, worker))
        body = enc.update(canonical(fields)) + enc.finalize()
        sealed[worker] = (nonce + body + enc.tag).hex()
    return encrypt(gateway_public_hex, key, _k=_k).hex(), sealed


def open_private(update: dict, decrypt: Callable[[bytes], bytes]) -> dict[str, dict]:
    """{worker: personal fields} of a verified update; ``decrypt`` is the gateway's SM2
    decryption (its key).  WireError when anything does not open."""
    sealed = {e["worker"]: e["private"] for e in update["entries"] if e.get("private")}
    if not sealed:
        return {}
    if not isinstance(update["key"], str):
        raise WireError("roster: sealed entries without a key")
    try:
        key = decrypt(bytes.fromhex(update["key"]))
    except (SM2Error, ValueError) as exc:
        raise WireError(f"roster: the update's key does not open with this gateway's key ({exc})")
    if len(key) != 16:
        raise WireError("roster: the update's key is not an SM4 key")
    out = {}
    for worker, blob in sealed.items():
        try:
            raw = bytes.fromhex(blob)
            if len(raw) < 12 + 16 + 2:
                raise ValueError("too short")
            dec = Cipher(algorithms.SM4(key), modes.GCM(raw[:12], raw[-16:])).decryptor()
            dec.authenticate_additional_data(_aad(update["gw"], worker))
            fields = parse_canonical(dec.update(raw[12:-16]) + dec.finalize(), "roster private")
        except InvalidTag as exc:
            raise WireError(f"roster: private fields of {worker} were altered") from exc
        except ValueError as exc:                # WireError included
            raise WireError(f"roster: private fields of {worker} do not open ({exc})") from exc
        if not isinstance(fields, dict) or set(fields) - set(PRIVATE_FIELDS) or \
                not all(v is None or isinstance(v, str) for v in fields.values()):
            raise WireError(f"roster: private fields of {worker} have the wrong shape")
        out[worker] = fields
    return out


# ---------------------------------------------------------------- signed updates

def sign_update(update: dict, signer: Any) -> bytes:
    body = canonical(update)
    return body + signer.sign(body)


def decode_update(payload: bytes, central: "Verifier | str | None", gw: str) -> dict:
    """Verify central's signature (``BadSignature``), then the fields and that the update is
    addressed to ``gw`` (``WireError``)."""
    payload = bytes(payload)
    if len(payload) <= SIG_LEN:
        raise BadSignature("roster: too short to carry central's signature")
    body, sig = payload[:-SIG_LEN], payload[-SIG_LEN:]
    verifier = Verifier(central) if isinstance(central, str) else central
    if verifier is None or not verifier.verify(body, sig):
        raise BadSignature("roster: not signed by central's key")
    u = parse_canonical(body, "roster")
    if not isinstance(u, dict) or set(u) != _KEYS or u["type"] != "roster" or u["v"] != 1:
        raise WireError("roster: wrong fields")
    if u["gw"] != gw:
        raise WireError(f"roster: addressed to gateway {u['gw']!r}")
    ints = [u[k] for k in ("from", "to")]
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ints) or \
            not isinstance(u["full"], bool) or not isinstance(u["more"], bool) or \
            not isinstance(u["project"], str) or not u["project"] or \
            not (u["key"] is None or isinstance(u["key"], str)):
        raise WireError("roster: bad header values")
    if (u["full"] and u["from"] != 0) or u["to"] < u["from"]:
        raise WireError("roster: from/to out of order")
    if not isinstance(u["entries"], list):
        raise WireError("roster: entries must be a list")
    for e in u["entries"]:
        if not isinstance(e, dict) or not isinstance(e.get("worker"), str) or \
                not 1 <= len(e["worker"]) <= 64 or e.get("status") not in STATUSES or \
                not (e.get("private") is None or isinstance(e["private"], str)):
            raise WireError("roster: bad entry")
    return u


decode_delta = decode_update


def decide(update: dict, version: int, project: str | None) -> str:
    """What a gateway holding ``version`` of ``project`` does with a verified update:

    * ``apply``: a full snapshot at or after our version, or the next incremental step;
    * ``stale``: an incremental update we are already past (a late or repeated message) --
      ignored, it cannot move the roster;
    * ``ahead``: an incremental update from a version we do not hold -- ask again;
    * ``resync``: an incremental update for another project -- ask for a full snapshot;
    * ``rollback``: a full snapshot of our project older than our version -- a replay, or
      central's database went back in time: refused (and an alarm), never applied.  (A full
      snapshot of another project applies: central moved the gateway.)
    """
    if update["full"]:
        return "rollback" if update["project"] == project and update["to"] < version \
            else "apply"
    if version and update["project"] != project:
        return "resync"
    if update["from"] != version:
        return "stale" if update["to"] <= version else "ahead"
    return "apply"


def apply_delta(state: dict, delta: dict) -> dict:
    """Pure: the next ``{"project", "version", "workers"}`` state, or the same state when
    ``decide`` says the update does not apply."""
    if decide(delta, state.get("version", 0), state.get("project")) != "apply":
        return state
    workers = {} if delta["full"] else dict(state.get("workers", {}))
    for e in delta["entries"]:
        workers[e["worker"]] = e
    return {"project": delta["project"], "version": delta["to"], "workers": workers}
