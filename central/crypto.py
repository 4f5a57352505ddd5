"""Field protection for personal data at rest: SM4-GCM encryption, keyed SM3 lookup index.

* ``seal`` / ``open``: SM4 in GCM mode (authenticated), 12-byte random nonce, the column name as
  associated data (a ciphertext moved to another column does not decrypt).  Stored as
  ``sm4gcm:1:`` + base64(nonce || ciphertext || tag).
* ``index``: HMAC-SM3 under a second key, hex; equal inputs give equal indexes, so an ID number
  can be looked up without being stored in clear or hashed without a key (ID numbers have too
  little entropy for a plain hash).
* ``mask_id`` / ``mask_card`` / ``mask_name``: what screens and API output show.

The 32-byte master key comes from ``SITEGATE_CENTRAL_KEY`` (64 hex) or the file
``$SITEGATE_HOME/central/field.key`` (made on first use, mode 0600).  Two subkeys are derived
with SM3 so the encryption key and the index key are never the same bytes.
"""
from __future__ import annotations

import base64
import hmac
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PREFIX = "sm4gcm:1:"


class CryptoError(ValueError):
    pass


def _sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


class FieldCipher:
    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise CryptoError("field key must be 32 bytes")
        self._enc = _sm3(b"sitegate-field-enc" + master)[:16]
        self._idx = _sm3(b"sitegate-field-idx" + master)

    def seal(self, plain: str | None, column: str) -> str | None:
        if plain is None:
            return None
        nonce = secrets.token_bytes(12)
        enc = Cipher(algorithms.SM4(self._enc), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(column.encode())
        ct = enc.update(plain.encode("utf-8")) + enc.finalize()
        return PREFIX + base64.b64encode(nonce + ct + enc.tag).decode()

    def open(self, sealed: str | None, column: str) -> str | None:
        if sealed is None:
            return None
        if not sealed.startswith(PREFIX):
            raise CryptoError(f"{column}: not an SM4-GCM field")
        raw = base64.b64decode(sealed[len(PREFIX):])
        nonce, ct, tag = raw[:12], raw[12:-16], raw[-16:]
        dec = Cipher(algorithms.SM4(self._enc), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(column.encode())
        try:
            return (dec.update(ct) + dec.finalize()).decode("utf-8")
        except InvalidTag as exc:
            raise CryptoError(f"{column}: authentication failed (wrong key or tampered)") from exc

    def index(self, value: str, kind: str) -> str:
        return hmac.new(self._idx, f"{kind}\x00{value.upper()}".encode(), "sm3").hexdigest()


def load_key(home: Path | None) -> bytes:
    env = os.environ.get("SITEGATE_CENTRAL_KEY")
    if env:
        try:
            key = bytes.fromhex(env)
        except ValueError as exc:
            raise CryptoError("SITEGATE_CENTRAL_KEY must be 64 hex digits") from exc
        if len(key) != 32:
            raise CryptoError("SITEGATE_CENTRAL_KEY must be 64 hex digits")
        return key
    if home is None:
        raise CryptoError("no field key: set SITEGATE_CENTRAL_KEY or SITEGATE_HOME")
    path = home / "central" / "field.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def mask_id(value: str) -> str:
    """``4501**********123X``: region prefix and last four only."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_card(value: str) -> str:
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_name(value: str) -> str:
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value
