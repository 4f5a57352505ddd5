"""Replay and freshness checks for phone clock-ins (no sockets, no clocks of their own).

* :class:`AttemptBook`: a server nonce per attempt.  The page asks for one when the worker
  presses "clock in" (before the location and the selfie are taken); the clock-in must carry it.
  A nonce is random (128 bits), bound to the session that asked for it, valid ``ttl_s`` and
  accepted once: an identical re-post, a nonce from another session and one past its time are
  refused.
* the selfie is bound to its attempt: the page writes ``sitegate-attempt:<nonce>`` into a JPEG
  comment segment (COM) of the photo it takes after the nonce arrived (:func:`stamp_selfie` does
  the same in Python); a photo without it, or stamped for another attempt, is refused.
* :class:`SelfieLedger`: the SHA-256 of every selfie submitted in the last ``keep_s`` (bounded),
  taken without the stamp; a camera never produces the same picture twice, so the same photo
  again (re-stamped or not) is a replay.
* :func:`server_speed_flag`: implied speed between a worker's accepted fixes measured on the
  gateway's clock (receipt times), so a jump is caught even when the phone sends no timestamp
  or lies about it.
"""
from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from gateway import words

ATTEMPT_S = 120.0                # press -> location (≤ 20 s) + selfie + upload, with room to spare
PER_SESSION = 4                  # outstanding nonces per session (a double tap, a reload)
MAX_ATTEMPTS = 20_000            # outstanding nonces in all (oldest forgotten first)
SELFIE_KEEP_S = 24 * 3600.0
MAX_SELFIES = 50_000             # 32-byte digests: ~4 MB at most
SERVER_SLACK_S = 30.0            # fix taken before the request arrived (location timeout 20 s)

REFUSALS = ("no_attempt", "stale_attempt", "replayed_attempt", "unknown_attempt",
            "unbound_selfie", "stale_selfie", "reused_selfie")


def refusal(code: str, ttl: float = ATTEMPT_S) -> dict:
    """The JSON answer for a refused attempt (words: ``answer.<code>`` in :mod:`gateway.words`)."""
    zh, en = words.both(f"answer.{code}", ttl=ttl)
    return {"status": "error", "code": code, "message": en, "message_zh": zh, "message_en": en}


@dataclass
class _Attempt:
    session: str
    issued: float
    used: bool = False


class AttemptBook:
    """Server nonces: ``issue(session, now)`` then ``consume(session, nonce, now)`` once."""

    def __init__(self, ttl_s: float = ATTEMPT_S, per_session: int = PER_SESSION,
                 max_total: int = MAX_ATTEMPTS) -> None:
        self.ttl_s, self.per_session, self.max_total = ttl_s, per_session, max_total
        self._book: OrderedDict[str, _Attempt] = OrderedDict()

    def _prune(self, now: float) -> None:
        while self._book:
            nonce, a = next(iter(self._book.items()))
            if now - a.issued <= self.ttl_s and len(self._book) < self.max_total:
                break
            del self._book[nonce]

    def issue(self, session: str, now: float) -> str:
        self._prune(now)
        mine = [n for n, a in self._book.items() if a.session == session and not a.used]
        for n in mine[:max(0, len(mine) - self.per_session + 1)]:
            del self._book[n]
        nonce = secrets.token_urlsafe(16)
        self._book[nonce] = _Attempt(session, now)
        return nonce

    def consume(self, session: str, nonce, now: float) -> str | None:
        """None when the nonce is good (and now spent), else the refusal code."""
        if not isinstance(nonce, str) or not nonce:
            return "no_attempt"
        a = self._book.get(nonce)
        if a is None or a.session != session:
            return "unknown_attempt"
        if a.used:
            return "replayed_attempt"
        a.used = True                          # spent, whatever happens next
        if now - a.issued > self.ttl_s:
            return "stale_attempt"
        return None

    def __len__(self) -> int:
        return len(self._book)


STAMP = b"sitegate-attempt:"


def stamp_selfie(jpeg: bytes, nonce: str) -> bytes:
    """The photo with ``sitegate-attempt:<nonce>`` in a COM segment right after SOI (what the
    page does in JavaScript)."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    payload = STAMP + nonce.encode("ascii")
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def read_stamp(image: bytes) -> tuple[str | None, bytes]:
    """Pure: (the attempt nonce stamped in the JPEG's header segments or None, the image without
    that segment).  Walks the markers from SOI to SOS only."""
    if image[:2] != b"\xff\xd8":
        return None, image
    i = 2
    while i + 4 <= len(image) and image[i] == 0xFF:
        marker, n = image[i + 1], int.from_bytes(image[i + 2:i + 4], "big")
        if marker in (0xDA, 0xD9) or n < 2:
            break
        if marker == 0xFE and image[i + 4:i + 2 + n].startswith(STAMP):
            nonce = image[i + 4 + len(STAMP):i + 2 + n].decode("ascii", "replace")
            return nonce, image[:i] + image[i + 2 + n:]
        i += 2 + n
    return None, image


def selfie_refusal(image: bytes, nonce: str, ledger: "SelfieLedger", now: float) -> str | None:
    """None when the photo is stamped for this attempt and never seen before, else the code."""
    stamped, bare = read_stamp(image)
    if stamped is None:
        return "unbound_selfie"
    if stamped != nonce:
        return "stale_selfie"
    if ledger.seen_before(bare, now):
        return "reused_selfie"
    return None


class SelfieLedger:
    """Digests of recent selfies; ``seen_before(image, now)`` records and answers."""

    def __init__(self, keep_s: float = SELFIE_KEEP_S, max_items: int = MAX_SELFIES) -> None:
        self.keep_s, self.max_items = keep_s, max_items
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def seen_before(self, image: bytes, now: float) -> bool:
        while self._seen:
            digest, t = next(iter(self._seen.items()))
            if now - t <= self.keep_s and len(self._seen) < self.max_items:
                break
            del self._seen[digest]
        d = hashlib.sha256(image).digest()
        if d in self._seen:
            return True
        self._seen[d] = now
        return False


def server_speed_flag(distance_m: float, prev_ms: int | None, now_ms: int,
                      max_speed_mps: float, slack_s: float = SERVER_SLACK_S) -> bool:
    """Pure: does moving ``distance_m`` (already less both accuracies) between two receipts on
    the gateway's clock imply more than ``max_speed_mps``?  ``slack_s`` allows for a fix taken
    before its request arrived."""
    if prev_ms is None or distance_m <= 0:
        return False
    dt = max(0.0, (now_ms - prev_ms) / 1000) + slack_s
    return distance_m / dt > max_speed_mps
