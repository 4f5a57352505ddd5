"""SM4-GCM (authenticated) sealing for data at rest, with a 0600 key file.

Sealed format: ``b"S4G1" || nonce(12) || ciphertext || tag(16)``. ``aad`` binds a ciphertext to
its row (e.g. the worker id), so swapping two workers' templates fails authentication.
"""
from __future__ import annotations

import sqlite3

import os
import secrets
from pathlib import Path

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


def load_or_create_key(path: str | Path) -> bytes:
    """The 16-byte SM4 key at ``path`` (hex), created 0600 on first use. Refuses a key file
    that others can read."""
    path = Path(path)
    if path.exists():
        mode = path.stat().st_mode & 0o077
        if mode:
            raise PermissionError(f"{path} is readable by others (mode {oct(path.stat().st_mode & 0o777)}); "
                                  "chmod 600 it")
        key = bytes.fromhex(path.read_text().strip())
        if len(key) != KEY_BYTES:
            raise ValueError(f"{path}: not a {KEY_BYTES}-byte SM4 key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


def open_private_db(path: str | Path, key: bytes | None, key_file: str | Path | None,
                    owner: str) -> tuple[sqlite3.Connection, bytes]:
    """A durable SQLite file for sealed personal data (WAL, synchronous=FULL, secure_delete,
    so deleted rows are overwritten) and its SM4 key: ``key``, or the key file (made 0600)."""
    if key is None:
        if key_file is None:
            raise ValueError(f"{owner} needs key= or key_file= (keep the key outside the data folder)")
        key = load_or_create_key(key_file)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")
    return conn, key
