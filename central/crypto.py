"""Field protection for personal data at rest: SM4-GCM encryption, keyed SM3 lookup index.

* ``seal`` / ``open``: SM4 in GCM mode (authenticated), 12-byte random nonce, the column name as
  associated data (a ciphertext moved to another column does not decrypt).  Stored as
  ``sm4gcm:1:`` + base64(nonce || ciphertext || tag).
* ``index``: HMAC-SM3 under a second key, hex; equal inputs give equal indexes, so an ID number
  can be looked up without being stored in clear or hashed without a key (ID numbers have too
  little entropy for a plain hash).
* ``mask_id`` / ``mask_card`` / ``mask_name``: what screens and API output show.

The 32-byte master key comes from ``SITEGATE_CENTRAL_KEY`` (64 hex) or a file (made on first
use, mode 0600): the systemd credential ``field.key``, ``SITEGATE_CENTRAL_KEY_FILE`` (apart from
the data), or ``$SITEGATE_HOME/central/field.key``; the file may be sealed with a passphrase
(:func:`seal_key`).  Two subkeys are derived with SM3 so the encryption key and the index key
are never the same bytes.
"""
from __future__ import annotations

import base64
import hmac
import hashlib
import os
import secrets
from pathlib import Path
from typing import Callable

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


SEALED_KEY = "sitegate-sealed-key:1:"
KEK_N, KEK_R, KEK_P = 2 ** 15, 8, 1
ROLE = b"field"


def seal_key(key: bytes, passphrase: str) -> str:
    """``sitegate-sealed-key:1:N:r:p:SALT:BLOB``: BLOB = nonce || SM4-GCM(KEK, key) || tag with
    KEK = scrypt(passphrase, SALT, N, r, p)[:16] and "field" as associated data (the same line
    format as the gateway's sealed keys)."""
    if not passphrase:
        raise CryptoError("an empty passphrase seals nothing")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    enc = Cipher(algorithms.SM4(_kek(passphrase, salt, KEK_N, KEK_R, KEK_P)), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(ROLE)
    blob = nonce + enc.update(key) + enc.finalize() + enc.tag
    return f"{SEALED_KEY}{KEK_N}:{KEK_R}:{KEK_P}:{salt.hex()}:{blob.hex()}"


def open_key(text: str, passphrase: str, where: str) -> bytes:
    try:
        n, r, p, salt, blob = text.strip()[len(SEALED_KEY):].split(":")
        raw = bytes.fromhex(blob)
        kek = _kek(passphrase, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        raise CryptoError(f"{where}: not a sealed key line") from None
    dec = Cipher(algorithms.SM4(kek), modes.GCM(raw[:12], raw[-16:])).decryptor()
    dec.authenticate_additional_data(ROLE)
    try:
        return dec.update(raw[12:-16]) + dec.finalize()
    except (InvalidTag, ValueError):
        raise CryptoError(f"{where}: wrong passphrase (or the sealed key is damaged)") from None


def _kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not (2 ** 14 <= n <= 2 ** 20 and 1 <= r <= 16 and 1 <= p <= 4 and 128 * n * r <= 2 ** 27):
        raise ValueError("scrypt parameters out of range")
    return hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * 1024 * 1024, dklen=16)


def passphrase_from_env() -> str | None:
    """SITEGATE_CENTRAL_KEY_PASSPHRASE, or the systemd credential ``field-key-passphrase``."""
    if os.environ.get("SITEGATE_CENTRAL_KEY_PASSPHRASE"):
        return os.environ["SITEGATE_CENTRAL_KEY_PASSPHRASE"]
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / "field-key-passphrase").is_file():
        return (Path(creds) / "field-key-passphrase").read_text().strip()
    return None


def key_path(home: Path | None) -> Path:
    """Where the field key is read from: ``$CREDENTIALS_DIRECTORY/field.key`` (systemd
    ``LoadCredential=``), else ``SITEGATE_CENTRAL_KEY_FILE`` (a place apart from the data),
    else ``$SITEGATE_HOME/central/field.key``."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / "field.key").is_file():
        return Path(creds) / "field.key"
    if os.environ.get("SITEGATE_CENTRAL_KEY_FILE"):
        return Path(os.environ["SITEGATE_CENTRAL_KEY_FILE"]).expanduser()
    if home is None:
        raise CryptoError("no field key: set SITEGATE_CENTRAL_KEY, SITEGATE_CENTRAL_KEY_FILE or "
                          "SITEGATE_HOME")
    return home / "central" / "field.key"


def load_key(home: Path | None, ask: Callable[[], str] | None = None) -> bytes:
    """The 32-byte master key: ``SITEGATE_CENTRAL_KEY`` (64 hex), else the file at
    :func:`key_path` (made 0600 on first use; refused when others can read it). A sealed file
    is opened with :func:`passphrase_from_env` or, failing that, ``ask()``."""
    env = os.environ.get("SITEGATE_CENTRAL_KEY")
    if env:
        try:
            key = bytes.fromhex(env)
        except ValueError as exc:
            raise CryptoError("SITEGATE_CENTRAL_KEY must be 64 hex digits") from exc
        if len(key) != 32:
            raise CryptoError("SITEGATE_CENTRAL_KEY must be 64 hex digits")
        return key
    path = key_path(home)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    if path.stat().st_mode & 0o077:
        raise CryptoError(f"{path} is readable by others (mode {oct(path.stat().st_mode & 0o777)}); "
                          f"chmod 600 it")
    text = path.read_text().strip()
    if text.startswith(SEALED_KEY):
        passphrase = passphrase_from_env() or (ask() if ask else None)
        if not passphrase:
            raise CryptoError(f"{path} is sealed with a passphrase: set SITEGATE_CENTRAL_KEY_PASSPHRASE, "
                              f"the systemd credential field-key-passphrase, or run in a terminal "
                              f"to be asked")
        key = open_key(text, passphrase, str(path))
    else:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise CryptoError(f"{path}: not a field key (64 hex digits or a sealed key line)") from None
    if len(key) != 32:
        raise CryptoError(f"{path}: the field key must be 32 bytes")
    return key


def seal_key_file(path: Path, passphrase: str, old_passphrase: str | None = None) -> None:
    """Seal the plain (or re-seal the sealed) field key at ``path`` in place, atomically, 0600."""
    text = path.read_text().strip()
    key = open_key(text, old_passphrase or "", str(path)) if text.startswith(SEALED_KEY) \
        else bytes.fromhex(text)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(seal_key(key, passphrase) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def mask_id(value: str) -> str:
    """``4501**********123X``: region prefix and last four only."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_card(value: str) -> str:
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_name(value: str) -> str:
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value
