"""Phone clock-in credentials: ID number + PIN, one-time sign-in tokens.

One SQLite file (``[phone] db``).  Nothing personal is kept in clear:

* ID numbers: only an HMAC-SHA256 under the site secret (for lookup) and the masked form
  (``4501**********123X``) for screens;
* PINs: scrypt (n=2^14, r=8, p=1) with a per-worker salt; 5 wrong PINs lock the ID for 15 min;
* the site secret (``phone/secret.key``, mode 0600) keys the ID-number HMAC;
* one-time QR tokens: stored as SHA-256 hashes, single use, expire after 10 minutes.

Face templates are not kept here: they live in the site's biometrics template store (SM4-GCM),
shared with the turnstile lanes.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from drivers.sam.idnumber import IdNumberError, check_document_number

from gateway.config import private_file

MAX_PIN_FAILURES = 5
LOCK_S = 15 * 60
TOKEN_S = 10 * 60


class CredentialError(ValueError):
    """Bad sign-in or enrolment input (the message never contains the ID number or PIN).

    ``code`` says which, for callers to choose their words without reading the message:
    ``wrong_credentials``, ``locked`` (with ``retry_after_s``), ``token_invalid``,
    ``bad_id_number``, ``bad_pin``, ``not_enrolled``, ``bad_secret``."""

    def __init__(self, message: str, code: str = "wrong_credentials",
                 retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code, self.retry_after_s = code, retry_after_s


def normalise_id(id_number: str) -> str:
    """The ID-number check every path uses (drivers/sam/idnumber): resident IDs, 81/82/83
    residence permits and foreign permanent-resident numbers."""
    try:
        return check_document_number(str(id_number))
    except IdNumberError as exc:
        raise CredentialError(f"ID number is not valid: {exc}", "bad_id_number") from None


def mask_id(id_number: str) -> str:
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class PhoneStore:
    def __init__(self, path: str | Path, secret_file: str | Path | None = None,
                 secret: bytes | None = None) -> None:
        """``secret``: the site secret itself (the site decides where it is kept and whether it
        is sealed: gateway.site.phone_secret); else read from ``secret_file``."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if secret is None:
            secret_file = Path(secret_file or self.path.parent / "secret.key")
            if not secret_file.exists():
                fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(32))
            secret = secret_file.read_bytes()
            if len(secret) != 32:            # written as hex by gateway.site
                try:
                    secret = bytes.fromhex(secret.decode("ascii").strip())
                except (UnicodeDecodeError, ValueError):
                    pass
        if len(secret) != 32:
            raise CredentialError("site secret must be 32 bytes", "bad_secret")
        private_file(self.path)              # 0600 before SQLite makes it, whatever the umask
        self._id_key = hmac.new(secret, b"sitegate id lookup", hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS workers (worker TEXT PRIMARY KEY, id_hmac TEXT UNIQUE,
                id_masked TEXT, pin TEXT, enrolled_ms INTEGER);
            CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, worker TEXT,
                expires_ms INTEGER, used INTEGER DEFAULT 0);
            CREATE TABLE IF NOT EXISTS failures (id_hmac TEXT PRIMARY KEY, count INTEGER,
                last_ms INTEGER);
        """)

    # ------------------------------------------------------------ enrolment
    def id_hmac(self, id_number: str) -> str:
        return hmac.new(self._id_key, normalise_id(id_number).encode(), hashlib.sha256).hexdigest()

    def enrol(self, worker: str, id_number: str, pin: str) -> str:
        if not (str(pin).isdigit() and 4 <= len(str(pin)) <= 8):
            raise CredentialError("PIN must be 4 to 8 digits", "bad_pin")
        n = normalise_id(id_number)
        salt = secrets.token_bytes(16)
        pin_hash = "scrypt$" + salt.hex() + "$" + _scrypt(pin, salt).hex()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO workers VALUES (?, ?, ?, ?, ?)",
                             (worker, self.id_hmac(n), mask_id(n), pin_hash, now_ms()))
        return mask_id(n)

    def masked(self, worker: str) -> str | None:
        row = self._db.execute("SELECT id_masked FROM workers WHERE worker=?", (worker,)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------ sign-in
    def check_pin(self, id_number: str, pin: str) -> str:
        """The worker id for a correct ID number + PIN; CredentialError otherwise."""
        try:
            key = self.id_hmac(id_number)
        except CredentialError:
            raise CredentialError("wrong ID number or PIN") from None
        now = now_ms()
        with self._lock:
            fail = self._db.execute("SELECT count, last_ms FROM failures WHERE id_hmac=?",
                                    (key,)).fetchone()
            if fail and fail[0] >= MAX_PIN_FAILURES and now - fail[1] < LOCK_S * 1000:
                left = (LOCK_S * 1000 - (now - fail[1]) + 999) // 1000
                raise CredentialError(f"too many wrong PINs: try again in {LOCK_S // 60} minutes or "
                                      f"ask the labour manager for a QR code", "locked", left)
            row = self._db.execute("SELECT worker, pin FROM workers WHERE id_hmac=?",
                                   (key,)).fetchone()
            ok = False
            if row is not None:
                _, salt, digest = row[1].split("$")
                ok = hmac.compare_digest(_scrypt(str(pin), bytes.fromhex(salt)),
                                         bytes.fromhex(digest))
            else:
                _scrypt(str(pin), b"0" * 16)             # same time either way
            if not ok:
                count = (fail[0] if fail and now - fail[1] < LOCK_S * 1000 else 0) + 1
                self._db.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?)",
                                 (key, count, now))
                raise CredentialError("wrong ID number or PIN")
            self._db.execute("DELETE FROM failures WHERE id_hmac=?", (key,))
            return row[0]

    def issue_token(self, worker: str, ttl_s: int = TOKEN_S) -> str:
        if self.masked(worker) is None:
            raise CredentialError(f"worker {worker} is not enrolled for phone clock-in", "not_enrolled")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, 0)",
                             (hashlib.sha256(token.encode()).hexdigest(), worker,
                              now_ms() + ttl_s * 1000))
        return token

    def redeem_token(self, token: str) -> str:
        h = hashlib.sha256(str(token).encode()).hexdigest()
        with self._lock:
            row = self._db.execute("SELECT worker, expires_ms, used FROM tokens WHERE hash=?",
                                   (h,)).fetchone()
            if row is None or row[2] or row[1] < now_ms():
                raise CredentialError("this QR code is not valid any more: ask for a new one",
                                      "token_invalid")
            self._db.execute("UPDATE tokens SET used=1 WHERE hash=?", (h,))
            return row[0]

    def close(self) -> None:
        self._db.close()


def _scrypt(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(str(pin).encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
