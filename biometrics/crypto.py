"""SM4-GCM (authenticated) sealing for data at rest, with a 0600 key file.

Sealed format: ``b"S4G1" || nonce(12) || ciphertext || tag(16)``. ``aad`` binds a ciphertext to
its row (e.g. the worker id), so swapping two workers' templates fails authentication.

Key files hold the key in hex -- or, sealed with a passphrase, the line
``sitegate-sealed-key:1:N:r:p:SALT:BLOB`` (hex fields): the key-encryption key is
scrypt(passphrase, SALT, N, r, p) (16 bytes), BLOB is the key sealed with it (SM4-GCM, the
key's role as associated data, so a sealed key moved into another role's file fails).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAGIC = b"S4G1"
KEY_BYTES = 16


class SealError(ValueError):
    """Ciphertext tampered with, truncated, bound to another row, or the wrong key."""


def seal(key: bytes, plaintext: bytes, aad: bytes = b"", nonce: bytes | None = None) -> bytes:
    """``nonce`` is for test vectors only; by default a fresh random 96-bit nonce."""
    nonce = secrets.token_bytes(12) if nonce is None else nonce
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return MAGIC + nonce + body + enc.tag


def open_sealed(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    if len(sealed) < 4 + 12 + 16 or not sealed.startswith(MAGIC):
        raise SealError("not a sealed blob")
    nonce, body, tag = sealed[4:16], sealed[16:-16], sealed[-16:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(body) + dec.finalize()
    except Exception as exc:  # cryptography raises InvalidTag
        raise SealError("authentication failed (tampered data or wrong key)") from exc


SEALED_KEY = "sitegate-sealed-key:1:"
KEK_N, KEK_R, KEK_P = 2 ** 15, 8, 1            # 32 MiB, ~0.1 s: once per key at start

Passphrase = str | Callable[[], "str | None"] | None


def _passphrase(given: Passphrase) -> str | None:
    return given() if callable(given) else given


def _kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not (2 ** 14 <= n <= 2 ** 20 and 1 <= r <= 16 and 1 <= p <= 4 and 128 * n * r <= 2 ** 27):
        raise SealError("scrypt parameters out of range")
    return hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * 1024 * 1024, dklen=KEY_BYTES)


def seal_key(key: bytes, passphrase: str, role: str) -> str:
    """The sealed-key line for ``key`` (see the module docstring)."""
    if not passphrase:
        raise SealError("an empty passphrase seals nothing")
    salt = secrets.token_bytes(16)
    blob = seal(_kek(passphrase, salt, KEK_N, KEK_R, KEK_P), key, role.encode())
    return f"{SEALED_KEY}{KEK_N}:{KEK_R}:{KEK_P}:{salt.hex()}:{blob.hex()}"


def open_key(text: str, passphrase: str, role: str, where: str = "sealed key") -> bytes:
    try:
        n, r, p, salt, blob = text.strip()[len(SEALED_KEY):].split(":")
        kek = _kek(passphrase, bytes.fromhex(salt), int(n), int(r), int(p))
        return open_sealed(kek, bytes.fromhex(blob), role.encode())
    except SealError as exc:
        if "authentication" in str(exc):
            raise SealError(f"{where}: wrong passphrase (or the sealed key is damaged)") from None
        raise SealError(f"{where}: {exc}") from None
    except ValueError:
        raise SealError(f"{where}: not a sealed key line") from None


def is_sealed(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(SEALED_KEY)) == SEALED_KEY.encode()
    except FileNotFoundError:
        return False


def load_or_create_key(path: str | Path, *, nbytes: int = KEY_BYTES, passphrase: Passphrase = None,
                       seal_new: bool = False, role: str = "sm4") -> bytes:
    """The ``nbytes`` key at ``path``, created 0600 on first use (sealed with the passphrase
    when ``seal_new``). A sealed file needs the passphrase (``passphrase`` may be a function,
    asked only then). Refuses a key file that others can read. A raw ``nbytes``-long binary
    file (older phone secrets) is read as it is."""
    path = Path(path)
    if path.exists():
        mode = path.stat().st_mode & 0o077
        if mode:
            raise PermissionError(f"{path} is readable by others (mode {oct(path.stat().st_mode & 0o777)}); "
                                  "chmod 600 it")
        raw = path.read_bytes()
        if raw.startswith(SEALED_KEY.encode()):
            given = _passphrase(passphrase)
            if not given:
                raise SealError(f"{path} is sealed with a passphrase: set SITEGATE_KEY_PASSPHRASE, "
                                f"the systemd credential key-passphrase, or run in a terminal to be asked")
            key = open_key(raw.decode("ascii", "replace"), given, role, str(path))
        else:
            try:
                key = bytes.fromhex(raw.decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                key = raw
        if len(key) != nbytes:
            raise ValueError(f"{path}: not a {nbytes}-byte key")
        return key
    key = secrets.token_bytes(nbytes)
    text = key.hex()
    if seal_new:
        given = _passphrase(passphrase)
        if not given:
            raise SealError(f"[keys] sealed = true: a passphrase is needed to make {path} (set "
                            f"SITEGATE_KEY_PASSPHRASE, the systemd credential key-passphrase, or "
                            f"run in a terminal to be asked)")
        text = seal_key(key, given, role)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return key


def reseal_key_file(path: str | Path, passphrase: str, role: str, nbytes: int = KEY_BYTES,
                    old_passphrase: Passphrase = None) -> bool:
    """Seal the key file at ``path`` with ``passphrase`` in place (atomically, 0600). False
    when it was already sealed with it."""
    path = Path(path)
    key = load_or_create_key(path, nbytes=nbytes, passphrase=old_passphrase or passphrase, role=role)
    if is_sealed(path):
        try:
            open_key(path.read_text(), passphrase, role)
            return False
        except SealError:
            pass
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(seal_key(key, passphrase, role) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return True


def private_file(path: str | Path) -> Path:
    """Make sure ``path`` exists readable by its owner only (created 0600; a file we own that
    others could read is tightened), whatever the process umask."""
    path = Path(path)
    if str(path) == ":memory:":                # SQLite's in-memory database: no file
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        try:
            if path.stat().st_mode & 0o077 and path.stat().st_uid == os.geteuid():
                path.chmod(0o600)
        except OSError:
            pass
    return path


def open_private_db(path: str | Path, key: bytes | None, key_file: str | Path | None,
                    owner: str) -> tuple[sqlite3.Connection, bytes]:
    """A durable SQLite file for sealed personal data (WAL, synchronous=FULL, secure_delete,
    so deleted rows are overwritten) and its SM4 key: ``key``, or the key file (made 0600)."""
    if key is None:
        if key_file is None:
            raise ValueError(f"{owner} needs key= or key_file= (keep the key outside the data folder)")
        key = load_or_create_key(key_file)
    path = private_file(path)           # before SQLite makes it (and its -wal, -shm) with the umask
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")
    return conn, key
