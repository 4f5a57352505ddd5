"""Phone clock-in over HTTPS: sign in (ID number + PIN or one-time QR), location + selfie,
the lanes' roster rule (a refusal is recorded as at a lane), fence + face + plausibility
checks, then one committed record in the same outbox as the
turnstiles.  The worker is told "OK" only after ``Outbox.append`` returned (committed).

``PhoneApp`` holds the logic (no sockets); :mod:`gateway.phone.server` puts it behind uvicorn
with TLS and the certificate made at provisioning (``sitegate phone cert``).  Each clock-in is
one attempt: the page asks for a server nonce first and the clock-in (location + selfie) must
carry it (:mod:`gateway.phone.attempts`).  Logs carry worker ids and decisions only: never ID
numbers, PINs, tokens, coordinates of a person or photos.
"""
from __future__ import annotations

import base64
import binascii
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import date

import geofence
from geofence import CoordinateError, Fix, Policy
from geofence.decide import geodesic_m
from uplink.outbox import Outbox, OutboxFull

from gateway.clockin.reasons import PHOTO_REASONS, messages
from gateway.clockin.rules import Rules, eligibility
from gateway.phone.attempts import (ATTEMPT_S, AttemptBook, SelfieLedger, refusal, selfie_refusal,
                                    server_speed_flag)
from gateway.phone.credentials import CredentialError, PhoneStore
from gateway.phone.selfie import SelfieCheck

log = logging.getLogger("sitegate.phone")
MAX_BODY = 4 * 1024 * 1024
_render_lock = threading.Lock()

def _msg(key: str, **kw) -> dict:
    return messages(key, **kw)


SIGN_IN_FIRST = {"status": "error", "code": "sign_in", "message": "sign in first",
                 **_msg("sign_in_first")}
MAX_TIME_MS = 2 ** 53 - 1                 # what a record's integer fields carry exactly
MAX_ACCURACY_M = 1_000_000.0


class BadRequest(ValueError):
    pass


@dataclass
class Session:
    worker: str
    expires: float


class PhoneApp:
    """``roster`` and ``rules`` decide who may clock in, with the same pure function the lanes
    use (:func:`gateway.clockin.rules.eligibility`); ``today`` is the same clock the lanes use."""

    def __init__(self, outbox: Outbox, fences: list, store: PhoneStore, selfie: SelfieCheck,
                 roster, rules: Rules = Rules(), policy: Policy = Policy(),
                 session_minutes: int = 10, device: str = "phone", today=date.today,
                 attempt_s: float = ATTEMPT_S) -> None:
        if not fences:
            raise ValueError("phone clock-in needs at least one fence (sitegate fences add)")
        self.outbox, self.fences, self.store, self.selfie = outbox, fences, store, selfie
        self.roster, self.rules, self.today = roster, rules, today
        self.policy, self.session_s, self.device = policy, session_minutes * 60, device
        self.sessions: dict[str, Session] = {}
        self.last_fix: dict[str, Fix] = {}
        self.last_fix_ms: dict[str, int] = {}        # gateway clock when last_fix was accepted
        self.attempts = AttemptBook(attempt_s)
        self.selfies = SelfieLedger()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ sessions
    def new_session(self, worker: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            for k in [k for k, s in self.sessions.items() if s.expires < now]:
                del self.sessions[k]
            self.sessions[token] = Session(worker, now + self.session_s)
        return token

    def session_worker(self, token: str | None) -> str | None:
        s = self.sessions.get(token or "")
        return s.worker if s and s.expires >= time.monotonic() else None

    def login(self, body: dict) -> tuple[int, dict, str | None]:
        try:
            if "token" in body:
                worker = self.store.redeem_token(str(body["token"]))
            else:
                worker = self.store.check_pin(str(body.get("id_number", "")),
                                              str(body.get("pin", "")))
        except CredentialError as exc:
            log.info("phone sign-in refused (%s)", exc.code)
            key = exc.code if exc.code in ("locked", "token_invalid") else "wrong_credentials"
            return 401, {"status": "error", "code": key, "message": str(exc),
                         **_msg(key, minutes=-(-(exc.retry_after_s or 0) // 60))}, None
        log.info("phone sign-in: %s", worker)
        return 200, {"status": "ok", "worker": worker,
                     "masked": self.store.masked(worker)}, self.new_session(worker)

    # ------------------------------------------------------------ attempts
    def new_attempt(self, token: str | None) -> tuple[int, dict]:
        """A server nonce for one clock-in attempt of this session."""
        if self.session_worker(token) is None:
            return 401, SIGN_IN_FIRST
        with self._lock:
            nonce = self.attempts.issue(token, time.monotonic())
        return 200, {"status": "ok", "nonce": nonce, "expires_s": self.attempts.ttl_s}

    def attempt(self, token: str | None, body: dict, now_ms: int | None = None) -> tuple[int, dict]:
        """The clock-in as the page sends it: session, then the attempt's freshness
        (:meth:`check_fresh`), then :meth:`clock_in`."""
        worker = self.session_worker(token)
        if worker is None:
            return 401, SIGN_IN_FIRST
        refused = self.check_fresh(token, body)
        if refused is not None:
            log.info("phone clock-in %s refused: %s", worker, refused[1]["code"])
            return refused
        return self.clock_in(worker, body, now_ms)

    def check_fresh(self, token: str, body: dict) -> tuple[int, dict] | None:
        """Replay and freshness: the attempt's nonce is this session's, unspent and young; the
        selfie is stamped with that nonce and was never submitted before."""
        now = time.monotonic()
        with self._lock:
            code = self.attempts.consume(token, body.get("nonce"), now)
            image = _decode_selfie(body.get("selfie")) if code is None else None
            if image is not None:              # no usable photo: clock_in asks for another
                code = selfie_refusal(image, body["nonce"], self.selfies, now)
        if code is None:
            return None
        return (400 if code == "no_attempt" else 409), refusal(code, self.attempts.ttl_s)

    def _flags(self, worker: str, wfix: Fix, now_ms: int) -> list[str]:
        """Plausibility flags, with the implied speed also measured on the gateway's clock."""
        prev = self.last_fix.get(worker)
        flags = geofence.plausibility(wfix, prev, now_ms, self.policy)
        if prev is not None and "implied_speed" not in flags:
            dist = geodesic_m(prev.lon, prev.lat, wfix.lon, wfix.lat) \
                - (prev.accuracy_m or 0) - (wfix.accuracy_m or 0)
            if server_speed_flag(dist, self.last_fix_ms.get(worker), now_ms,
                                 self.policy.max_speed_mps):
                flags.append("implied_speed")
        return flags

    def _accepted(self, worker: str, wfix: Fix, now_ms: int) -> None:
        self.last_fix[worker] = wfix
        self.last_fix_ms[worker] = now_ms

    # ------------------------------------------------------------ clock-in
    def clock_in(self, worker: str, body: dict, now_ms: int | None = None) -> tuple[int, dict]:
        now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        try:
            fix = _parse_fix(body)
            direction = body.get("dir", "in")
            if direction not in ("in", "out"):
                raise BadRequest("dir must be 'in' or 'out'")
            wfix = fix.wgs84()
        except (BadRequest, CoordinateError, ValueError) as exc:
            return 400, dict(status="error", code="bad_location", message=str(exc),
                             **_msg("bad_location", detail=str(exc)))
        # the roster first, by the lanes' rule: a refusal is recorded as at a lane, and answered
        # with the catalogue's words for its reason
        allowed, reason = eligibility(self.roster.get(worker), self.today(), self.rules)
        if not allowed:
            return self._refuse(worker, direction, reason)
        # time windows go by the gateway's clock; the phone's own clock is only evidence
        dec = geofence.decide_any(self.fences, replace(fix, time_ms=now_ms), self.policy)
        out = {"distance_m": round(dec.distance_m, 1), "fence": dec.fence,
               "accuracy_m": fix.accuracy_m, "code": dec.reason,
               "map": f"/map.png?lon={wfix.lon:.7f}&lat={wfix.lat:.7f}"
                      f"&acc={fix.accuracy_m or 0:.0f}&fence={dec.fence}"}
        if dec.hint:
            out["hint"] = dec.hint
        if dec.decision == "uncertain":
            log.info("phone clock-in %s: retry (%s)", worker, dec.reason)
            return 200, dict(out, status="retry", **_msg("retry", acc=fix.accuracy_m or 0))
        if dec.decision == "outside":
            log.info("phone clock-in %s: outside (%s)", worker, dec.reason)
            key = dec.reason if dec.reason in ("outside_window", "far_from_fences") else "outside"
            return 200, dict(out, status="outside", **_msg(key, away=-dec.distance_m))
        image = _decode_selfie(body.get("selfie"))
        if image is None:
            return 200, dict(out, status="face_retry", **_msg("face_retry"))
        face, milli, why = self.selfie.verify_selfie(worker, image)
        out["face_milli"] = milli
        if face == "retry":
            return 200, dict(out, status="face_retry", code=why, **_msg(why if why in PHOTO_REASONS else "face_retry"))
        if face != "match":
            log.info("phone clock-in %s: face %s", worker, why)
            return 200, dict(out, status="face_mismatch", code=why, **_msg("face_mismatch"))
        flags = self._flags(worker, wfix, now_ms)
        record = {
            "worker": worker, "dir": direction, "method": "phone", "device": self.device,
            "decision": "allow", "fence": dec.fence,
            "lon_e6": int(round(wfix.lon * 1e6)), "lat_e6": int(round(wfix.lat * 1e6)),
            "crs_in": geofence.datum.check_datum(fix.datum),
            "acc_m": int(math.ceil(fix.accuracy_m)), "dist_dm": int(round(dec.distance_m * 10)),
            "fix_ts": fix.time_ms, "face_milli": milli, "flags": flags, "review": bool(flags),
        }
        try:
            appended = self.outbox.append(record, type_="attendance")
        except OutboxFull as exc:
            log.error("phone clock-in %s refused: %s", worker, exc)
            return 503, dict(out, status="error", code="outbox_full", **_msg("full"))
        self._accepted(worker, wfix, now_ms)
        log.info("phone clock-in %s: committed seq %d%s", worker, appended.seq,
                 f" (review: {','.join(flags)})" if flags else "")
        key = "ok_review" if flags else "ok"
        return 200, dict(out, status="ok", seq=appended.seq, flags=flags, review=bool(flags),
                         **_msg(key, seq=appended.seq, dist=dec.distance_m,
                                flags=", ".join(flags)))

    def _refuse(self, worker: str, direction: str, reason: str) -> tuple[int, dict]:
        body = {"worker": worker, "dir": direction, "method": "phone", "device": self.device,
                "decision": "deny", "reason": reason}
        try:
            appended = self.outbox.append(body, type_="attendance")
        except OutboxFull as exc:
            log.error("phone clock-in %s refused (%s), refusal not stored: %s", worker, reason, exc)
            return 503, dict(status="error", code="outbox_full", **_msg("full"))
        log.info("phone clock-in %s: refused (%s), seq %d", worker, reason, appended.seq)
        return 200, dict(status="refused", code=reason, seq=appended.seq, **_msg(reason))

    def map_png(self, query: dict) -> bytes:
        from gateway.fences.map import render
        fence = next((f for f in self.fences if f.id == query.get("fence")), self.fences[0])
        decisions = []
        if "lon" in query and "lat" in query:
            decisions.append(geofence.decide(fence, _map_fix(query), self.policy))
        with _render_lock:
            return render(fence, decisions, "png", zoom=True, lang=str(query.get("lang", "zh")))


def _num(body: dict, key: str, required: bool = True, lo: float | None = None,
         hi: float | None = None, unit: str = ""):
    """A finite JSON number (never bool, never 1e400 / a 400-digit integer), within [lo, hi]."""
    v = body.get(key)
    if v is None and not required:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRequest(f"{key} must be a number")
    try:
        f = float(v)
    except OverflowError:
        raise BadRequest(f"{key} is not a finite number (too large)") from None
    if not math.isfinite(f):
        raise BadRequest(f"{key} is not a finite number")
    if (lo is not None and f < lo) or (hi is not None and f > hi):
        raise BadRequest(f"{key} must be between {lo:.0f} and {hi:.0f}{unit}")
    return f


def _parse_fix(body: dict) -> Fix:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    lon, lat = _num(body, "lon"), _num(body, "lat")
    acc = _num(body, "accuracy", required=False, lo=0, hi=MAX_ACCURACY_M, unit=" m")
    t = _num(body, "time_ms", required=False, lo=0, hi=MAX_TIME_MS, unit=" (ms since 1970)")
    crs = body.get("crs", "wgs84")
    if not isinstance(crs, str) or len(crs) > 16:
        raise BadRequest("crs must be a short name such as wgs84, gcj02 or bd09")
    return Fix(lon, lat, crs, acc, None if t is None else int(t), bool(body.get("mock", False)))


def _map_fix(query: dict) -> Fix:
    """The fix drawn on /map.png, from its query string (finite, sane, WGS-84)."""
    try:
        nums = {k: float(query.get(k) or 0) for k in ("lon", "lat", "acc")}
    except ValueError:
        raise BadRequest("lon, lat and acc must be numbers") from None
    if not all(math.isfinite(v) for v in nums.values()) or not 0 <= nums["acc"] <= 10_000:
        raise BadRequest("lon/lat must be finite and acc between 0 and 10000 m")
    fix = Fix(nums["lon"], nums["lat"], "wgs84", nums["acc"] or None)
    fix.wgs84()                                   # raises CoordinateError on impossible input
    return fix


def _decode_selfie(data) -> bytes | None:
    if not isinstance(data, str) or not data.startswith("data:image/"):
        return None
    try:
        return base64.b64decode(data.split(",", 1)[1], validate=True)
    except (binascii.Error, IndexError):
        return None
