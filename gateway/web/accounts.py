"""Local accounts for the labour manager's web app: users with a role, scrypt password hashes,
server-side sessions with an idle and an absolute timeout, and a lockout after repeated
wrong passwords.

Sign-in under attack: a failure is counted in SQL *before* the password is hashed, so N
parallel guesses against one account check at most :data:`MAX_FAILURES` passwords; at most
:data:`HASH_SLOTS` scrypt computations (32 MiB each) run at once in the process; a wrong
password, an unknown user and a locked account give the same answer after the same work (a
hash against a dummy). :class:`Throttle` limits sign-in attempts per client address.

Roles: ``manager`` (everything, including registering cards and enrolling faces), ``viewer``
(reads everything, changes nothing), ``installer`` (today's counts, devices and alarms; no
personal data). Session tokens are random; the database keeps only their SHA-256, so a copy of
``accounts.db`` cannot be replayed as a cookie.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from gateway.config import private_file

ROLES = ("manager", "viewer", "installer")
NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,32}$")
MIN_PASSWORD = 8
MAX_FAILURES = 5          # wrong passwords in a row before the account locks
LOCK_S = 300.0

HASH_SLOTS = 2            # scrypt computations at once in this process (32 MiB each)
SIGNIN_FAILED = "wrong user name or password, or too many attempts"
LINK_S = 600.0            # a one-time sign-in link lives 10 minutes by default ...
MAX_LINK_S = 3600.0       # ... and never longer than an hour

# scrypt: N=2^15, r=8, p=1 -- 32 MiB, ~0.1 s on a gateway-class CPU
_N, _R, _P = 2 ** 15, 8, 1
_HASHING = threading.BoundedSemaphore(HASH_SLOTS)


class AccountError(ValueError):
    """Refused account input or sign-in; ``locked_for_s`` is set (seconds left) when the
    refusal is a lockout, so callers never parse the message."""

    def __init__(self, message: str, locked_for_s: int | None = None) -> None:
        super().__init__(message)
        self.locked_for_s = locked_for_s


class SignInFailed(AccountError):
    """Always :data:`SIGNIN_FAILED` to the user; ``why`` is for the server's log only."""

    def __init__(self, why: str) -> None:
        super().__init__(SIGNIN_FAILED)
        self.why = why


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    with _HASHING:                       # bounded memory however many requests arrive
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024,
                              dklen=dklen)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    dk = _scrypt(password, salt, _N, _R, _P, 32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${dk.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, dk = stored.split("$")
        if kind != "scrypt" or (int(n), int(r), int(p)) != (_N, _R, _P):
            return False                 # a foreign cost setting could ask for any memory
        got = _scrypt(password, bytes.fromhex(salt), _N, _R, _P, len(dk) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), dk)


_DUMMY = hash_password("not a real password")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise AccountError(f"user name {name!r}: 2-32 of letters, digits, _ . @ -")
    return name


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password too short: at least {MIN_PASSWORD} characters")
    if password.strip() != password:
        raise AccountError("password must not start or end with spaces")
    return password


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    csrf: str
    created: float


class Accounts:
    def __init__(self, path: str | Path, idle_s: float = 900.0, max_s: float = 12 * 3600.0,
                 clock=time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_file(self.path)              # 0600 before SQLite makes it (and its -wal, -shm)
        self.idle_s, self.max_s, self.clock = idle_s, max_s, clock
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript("""
            CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL,
                pw TEXT NOT NULL, created REAL NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
                locked_until REAL NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, user TEXT NOT NULL,
                csrf TEXT NOT NULL, created REAL NOT NULL, last REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS signin_links (token TEXT PRIMARY KEY, user TEXT NOT NULL,
                expires REAL NOT NULL);
        """)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ users
    def add(self, name: str, role: str, password: str) -> None:
        check_name(name)
        if role not in ROLES:
            raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
        check_new_password(password)
        try:
            self._conn.execute("INSERT INTO users (name, role, pw, created) VALUES (?,?,?,?)",
                               (name, role, hash_password(password), self.clock()))
        except sqlite3.IntegrityError:
            raise AccountError(f"user {name} exists (use passwd to change the password)") from None

    def set_password(self, name: str, password: str) -> None:
        check_new_password(password)
        n = self._conn.execute("UPDATE users SET pw = ?, failures = 0, locked_until = 0 WHERE name = ?",
                               (hash_password(password), name)).rowcount
        if not n:
            raise AccountError(f"no user {name}")
        self._conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
        if not self._conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name)).rowcount:
            raise AccountError(f"no user {name}")

    def remove(self, name: str) -> None:
        if not self._conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
            raise AccountError(f"no user {name}")
        self._conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def users(self) -> list[dict]:
        now = self.clock()
        return [{"name": n, "role": r, "locked": lu > now}
                for n, r, lu in self._conn.execute("SELECT name, role, locked_until FROM users ORDER BY name")]

    # ------------------------------------------------------------------ sessions
    def login(self, name: str, password: str) -> str:
        """A new session token, or AccountError with :data:`SIGNIN_FAILED` -- the same message,
        after the same work, for a wrong password, an unknown user and a locked account (which
        user names exist is not revealed); :attr:`SignInFailed.why` tells the server's log."""
        now = self.clock()
        # Count the failure first, atomically: only MAX_FAILURES attempts (in flight or done)
        # against an unlocked account get their password checked.
        counted = self._conn.execute(
            "UPDATE users SET failures = failures + 1 WHERE name = ? AND locked_until <= ? "
            "AND failures < ? RETURNING pw", (name, now, MAX_FAILURES)).fetchall()
        if not counted:
            # the budget is spent: lock now (also when the attempts that spent it never finished)
            self._conn.execute("UPDATE users SET failures = 0, locked_until = ? WHERE name = ? AND "
                               "failures >= ? AND locked_until <= ?", (now + LOCK_S, name, MAX_FAILURES, now))
            check_password(password, _DUMMY)     # same work as a real check
            known = self._conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
            raise SignInFailed("not checked: locked or too many attempts" if known else "unknown user")
        if not check_password(password, counted[0][0]):
            self._conn.execute("UPDATE users SET failures = 0, locked_until = ? WHERE name = ? AND "
                               "failures >= ?", (now + LOCK_S, name, MAX_FAILURES))
            raise SignInFailed("wrong password")
        self._conn.execute("UPDATE users SET failures = 0 WHERE name = ?", (name,))
        token = secrets.token_urlsafe(32)
        self._conn.execute("INSERT INTO sessions VALUES (?,?,?,?,?)",
                           (_digest(token), name, secrets.token_urlsafe(24), now, now))
        self._conn.execute("DELETE FROM sessions WHERE last < ? OR created < ?",
                           (now - self.idle_s, now - self.max_s))
        return token

    def session(self, token: str | None) -> tuple[Session | None, str]:
        """(session, "") when valid (and touched), else (None, "none" | "expired")."""
        if not token:
            return None, "none"
        now = self.clock()
        key = _digest(token)
        row = self._conn.execute("""SELECT s.user, u.role, s.csrf, s.created, s.last FROM sessions s
                                    JOIN users u ON u.name = s.user WHERE s.token = ?""", (key,)).fetchone()
        if row is None:
            return None, "none"
        user, role, csrf, created, last = row
        if now - last > self.idle_s or now - created > self.max_s:
            self._conn.execute("DELETE FROM sessions WHERE token = ?", (key,))
            return None, "expired"
        self._conn.execute("UPDATE sessions SET last = ? WHERE token = ?", (now, key))
        return Session(user, role, csrf, created), ""

    # ------------------------------------------------------------------ one-time sign-in links
    def issue_link(self, name: str, ttl_s: float = LINK_S) -> str:
        """A one-time sign-in token for account ``name``, valid ``ttl_s`` seconds (only the
        token's SHA-256 is stored). The web app accepts it only when ``[web] signin_link_user``
        names this account and the app listens on loopback (the demo's set-up)."""
        if not self._conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise AccountError(f"no user {name}")
        if not 0 < ttl_s <= MAX_LINK_S:
            raise AccountError(f"a sign-in link lives 1 s to {MAX_LINK_S // 60:.0f} minutes")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self._conn.execute("DELETE FROM signin_links WHERE expires < ?", (now,))
        self._conn.execute("INSERT INTO signin_links VALUES (?,?,?)", (_digest(token), name, now + ttl_s))
        return token

    def redeem_link(self, token: str, user: str) -> str:
        """A session for the one-time ``token`` (spent by this call, whatever the outcome):
        SignInFailed when it is unknown, spent, expired, issued for another account than
        ``user``, or its account is gone."""
        if not token or not user:
            raise SignInFailed("no link")
        now = self.clock()
        row = self._conn.execute("DELETE FROM signin_links WHERE token = ? RETURNING user, expires",
                                 (_digest(token),)).fetchone()
        if row is None:
            raise SignInFailed("link unknown or already used")
        name, expires = row
        if expires < now:
            raise SignInFailed("link expired")
        if name != user:
            raise SignInFailed(f"link issued for another account ({name})")
        if not self._conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise SignInFailed("the link's account is gone")
        session = secrets.token_urlsafe(32)
        self._conn.execute("INSERT INTO sessions VALUES (?,?,?,?,?)",
                           (_digest(session), name, secrets.token_urlsafe(24), now, now))
        return session

    def logout(self, token: str | None) -> None:
        if token:
            self._conn.execute("DELETE FROM sessions WHERE token = ?", (_digest(token),))


class Throttle:
    """Sign-in attempts per client address: a token bucket of ``burst`` attempts refilled at
    ``per_min`` a minute. Pure (the clock is given); at most ``max_addresses`` are tracked, the
    least recently seen forgotten first. IPv6 addresses count per /64 (one host holds a whole
    /64). The address is the TCP peer's: the app is served directly, so a forwarded-for header
    is the client's own claim and is never trusted."""

    def __init__(self, burst: int = 10, per_min: float = 10.0, max_addresses: int = 4096,
                 clock=time.monotonic) -> None:
        self.burst, self.rate, self.max, self.clock = burst, per_min / 60.0, max_addresses, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(address: str) -> str:
        if ":" in address:
            import ipaddress
            try:
                return str(ipaddress.ip_network(f"{address}/64", strict=False))
            except ValueError:
                return address
        return address

    def take(self, address: str) -> float:
        """0.0 when an attempt from ``address`` may go ahead (and is counted), else the seconds
        until the next one may."""
        key, now = self.key(address), self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > self.max:
                self._buckets.popitem(last=False)
            return wait


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
