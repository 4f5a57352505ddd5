"""Phone clock-in over HTTPS: sign in (ID number + PIN or one-time QR), location + selfie,
the lanes' roster rule (a refusal is recorded as at a lane), fence + face + plausibility
checks, then one committed record in the same outbox as the turnstiles.  The worker is told
"OK" only after ``Outbox.append`` returned (committed).

``PhoneApp`` holds the logic (no sockets); ``serve`` puts it behind a TLS ``ThreadingHTTPServer``
with the certificate made at provisioning (``sitegate phone cert``).  Logs carry worker ids and
decisions only: never ID numbers, PINs, tokens, coordinates of a person or photos.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, replace
from datetime import date
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import geofence
from geofence import CoordinateError, Fix, Policy
from uplink.outbox import Outbox, OutboxFull

from gateway.clockin.reasons import PHOTO_REASONS, messages
from gateway.clockin.rules import Rules, eligibility
from gateway.phone import page as phone_page
from gateway.phone.credentials import CredentialError, PhoneStore
from gateway.phone.selfie import SelfieCheck

log = logging.getLogger("sitegate.phone")
MAX_BODY = 4 * 1024 * 1024
_render_lock = threading.Lock()


def _msg(key: str, **kw) -> dict:
    return messages(key, **kw)


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
                 session_minutes: int = 10, device: str = "phone", today=date.today) -> None:
        if not fences:
            raise ValueError("phone clock-in needs at least one fence (sitegate fences add)")
        self.outbox, self.fences, self.store, self.selfie = outbox, fences, store, selfie
        self.roster, self.rules, self.today = roster, rules, today
        self.policy, self.session_s, self.device = policy, session_minutes * 60, device
        self.sessions: dict[str, Session] = {}
        self.last_fix: dict[str, Fix] = {}
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
        flags = geofence.plausibility(wfix, self.last_fix.get(worker), now_ms, self.policy)
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
        self.last_fix[worker] = wfix
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
            acc = float(query.get("acc") or 0) or None
            fix = Fix(float(query["lon"]), float(query["lat"]), "wgs84", acc)
            decisions.append(geofence.decide(fence, fix, self.policy))
        with _render_lock:
            return render(fence, decisions, "png", zoom=True)


def _num(body: dict, key: str, required: bool = True):
    v = body.get(key)
    if v is None and not required:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRequest(f"{key} must be a number")
    if not math.isfinite(v):
        raise BadRequest(f"{key} is not a finite number")
    return v


def _parse_fix(body: dict) -> Fix:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    lon, lat = float(_num(body, "lon")), float(_num(body, "lat"))
    acc = _num(body, "accuracy", required=False)
    t = body.get("time_ms")
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))
                          or not math.isfinite(t)):
        raise BadRequest("time_ms must be a number")
    return Fix(lon, lat, str(body.get("crs", "wgs84")), None if acc is None else float(acc),
               None if t is None else int(t), bool(body.get("mock", False)))


def _decode_selfie(data) -> bytes | None:
    if not isinstance(data, str) or not data.startswith("data:image/"):
        return None
    try:
        return base64.b64decode(data.split(",", 1)[1], validate=True)
    except (binascii.Error, IndexError):
        return None


# ---------------------------------------------------------------- HTTPS
class _Handler(BaseHTTPRequestHandler):
    app: PhoneApp
    server_version = "sitegate"
    sys_version = ""
    timeout = 30                     # a phone that stalls mid-request does not hold a thread

    def setup(self):
        super().setup()
        self.request.do_handshake()  # TLS handshake in this worker thread, not the acceptor

    def log_message(self, fmt, *args):         # never the query string (one-time tokens)
        log.debug("%s %s", self.command, urlsplit(self.path).path)

    def _send(self, code: int, body: bytes, ctype: str, cookie: str | None = None,
              nonce: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Strict-Transport-Security", "max-age=31536000")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        script = f"'nonce-{nonce}'" if nonce else "'none'"
        self.send_header("Content-Security-Policy",
                         f"default-src 'self'; script-src {script}; style-src 'unsafe-inline'; "
                         f"img-src 'self' data:; media-src 'self' blob: mediastream:")
        if cookie:
            self.send_header("Set-Cookie", f"sg_session={cookie}; Path=/; Secure; HttpOnly; "
                                           f"SameSite=Strict; Max-Age={self.app.session_s}")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: dict, cookie: str | None = None) -> None:
        self._send(code, json.dumps(obj, ensure_ascii=False).encode(),
                   "application/json; charset=utf-8", cookie)

    def _worker(self) -> str | None:
        c = SimpleCookie(self.headers.get("Cookie", ""))
        return self.app.session_worker(c["sg_session"].value if "sg_session" in c else None)

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/":
            lang = q.get("lang")
            if lang is None:
                lang = "en" if self.headers.get("Accept-Language", "").startswith("en") else "zh"
            nonce = secrets.token_urlsafe(16)
            return self._send(200, phone_page.render(lang, nonce), "text/html; charset=utf-8",
                              nonce=nonce)
        if url.path == "/map.png":
            if self._worker() is None:
                return self._json(401, {"status": "error", "message": "sign in first"})
            try:
                return self._send(200, self.app.map_png(q), "image/png")
            except (ValueError, CoordinateError) as exc:
                return self._json(400, {"status": "error", "message": str(exc)})
        return self._json(404, {"status": "error", "message": "not found"})

    def do_POST(self):  # noqa: N802
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._json(413, {"status": "error", "message": "request too large"})
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self._json(415, {"status": "error", "message": "send JSON"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._json(400, {"status": "error", "message": "bad JSON"})
        if not isinstance(body, dict):
            return self._json(400, {"status": "error", "message": "expected a JSON object"})
        if url.path in ("/api/login", "/api/login-token"):
            code, obj, session = self.app.login(body)
            return self._json(code, obj, session)
        if url.path == "/api/clockin":
            worker = self._worker()
            if worker is None:
                return self._json(401, {"status": "error", "message": "sign in first",
                                        **_msg("sign_in_first")})
            code, obj = self.app.clock_in(worker, body)
            return self._json(code, obj)
        return self._json(404, {"status": "error", "message": "not found"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # failed handshakes and dropped connections are routine on phones; keep the log quiet
        log.debug("phone connection error from %s", client_address[0], exc_info=True)


class PhoneServer:
    """The app behind TLS on (host, port); ``port=0`` picks a free port."""

    def __init__(self, app: PhoneApp, host: str, port: int, cert: Path, key: Path) -> None:
        handler = type("Handler", (_Handler,), {"app": app})
        self.httpd = _Server((host, port), handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(cert), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.url = f"https://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> "PhoneServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="phone",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
