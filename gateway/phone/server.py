"""The phone clock-in page over HTTPS: :class:`~gateway.phone.app.PhoneApp` as a FastAPI app
behind uvicorn (:mod:`gateway.https`: bounded connections, request deadlines, body limit for
every framing).

Routes: ``GET /`` (the page), ``GET /map.png`` (the fence with the worker's fix), ``POST
/api/login`` and ``/api/login-token`` (ID number + PIN, or one-time QR token), ``POST
/api/attempt`` (a server nonce for one clock-in), ``POST /api/clockin``.  Every answer but the
page and the map is JSON; every error has ``status: "error"``, a ``code`` and a message in both
languages, including a handler that fails (500).  Logs never carry the query string (one-time
tokens), bodies or coordinates.
"""
from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from geofence import CoordinateError

from gateway import words
from gateway.https import HTTPSServer, Limits, ServerStartError, json_error
from gateway.phone import page as phone_page
from gateway.phone.app import MAX_BODY, BadRequest, PhoneApp

log = logging.getLogger("sitegate.phone")

COOKIE = "sg_session"
PHONE_LIMITS = Limits(max_connections=256, idle_s=20.0, body_s=60.0, busy_s=120.0,
                      max_body=MAX_BODY)


def _headers(nonce: str | None = None) -> dict:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return {"Cache-Control": "no-store", "Strict-Transport-Security": "max-age=31536000",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": f"default-src 'self'; script-src {script}; "
                                       f"style-src 'unsafe-inline'; img-src 'self' data:; "
                                       f"media-src 'self' blob: mediastream:"}


def _json(code: int, obj: dict, cookie: str | None = None, max_age: int = 0) -> Response:
    r = Response(json.dumps(obj, ensure_ascii=False).encode(), code,
                 media_type="application/json; charset=utf-8", headers=_headers())
    if cookie:
        r.headers.append("set-cookie", f"{COOKIE}={cookie}; Path=/; Secure; HttpOnly; "
                                       f"SameSite=Strict; Max-Age={max_age}")
    return r


def _error(code: int, what: str, message: str, key: str | None = None) -> Response:
    """An error answer; ``key``: its words in the catalogue (``answer.<key>``), else
    ``message`` in both languages."""
    zh, en = words.both(f"answer.{key}") if key else (message, message)
    return _json(code, {"status": "error", "code": what, "message": message,
                        "message_zh": zh, "message_en": en})


def _internal(exc: BaseException, where: str) -> Response:
    # the type only: an exception's text may carry what the phone sent
    log.error("phone page: internal error in %s (%s)", where, type(exc).__name__)
    log.debug("phone page: internal error", exc_info=exc)
    status, body = json_error("internal")
    return Response(body, status, media_type="application/json; charset=utf-8",
                    headers=_headers())


async def _body(request: Request) -> dict | Response:
    """The request's JSON object, or the error answer (415 / 400)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return _error(415, "send_json", "send JSON (Content-Type: application/json)", "send_json")
    raw = await request.body()                   # bounded and buffered by the Guard
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):         # bad JSON, bad UTF-8, 5,000-digit numbers
        return _error(400, "bad_json", "bad JSON", "bad_json")
    if not isinstance(body, dict):
        return _error(400, "bad_json", "expected a JSON object", "not_object")
    return body


def phone_asgi(app: PhoneApp) -> FastAPI:
    """The phone page as an ASGI app (serve it with :class:`PhoneServer`)."""
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return _error(404, "not_found", "not found", "not_found")
        if exc.status_code == 405:
            return _error(405, "method", "method not allowed", "method")
        return _error(exc.status_code, "http", str(exc.detail))

    @api.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception):
        return _internal(exc, request.url.path)

    def token(request: Request) -> str | None:
        return request.cookies.get(COOKIE)

    async def call(where: str, fn, *args):
        try:
            return await run_in_threadpool(fn, *args)
        except Exception as exc:  # noqa: BLE001 -- every handler error gets an answer
            return _internal(exc, where)

    @api.get("/")
    async def page(request: Request):
        lang = request.query_params.get("lang")
        if lang is None:
            lang = "en" if request.headers.get("accept-language", "").startswith("en") else "zh"
        nonce = secrets.token_urlsafe(16)
        return Response(phone_page.render(lang, nonce), 200,
                        media_type="text/html; charset=utf-8", headers=_headers(nonce))

    @api.get("/map.png")
    async def map_png(request: Request):
        if app.session_worker(token(request)) is None:
            return _error(401, "sign_in", "sign in first", "sign_in_first")
        try:
            png = await run_in_threadpool(app.map_png, dict(request.query_params))
        except (BadRequest, ValueError, CoordinateError) as exc:
            return _error(400, "bad_map", str(exc))
        except Exception as exc:  # noqa: BLE001
            return _internal(exc, "map")
        return Response(png, 200, media_type="image/png", headers=_headers())

    @api.post("/api/login")
    @api.post("/api/login-token")
    async def login(request: Request):
        body = await _body(request)
        if isinstance(body, Response):
            return body
        out = await call("login", app.login, body)
        if isinstance(out, Response):
            return out
        code, obj, session = out
        return _json(code, obj, session, app.session_s)

    @api.post("/api/attempt")
    async def attempt(request: Request):
        body = await _body(request)
        if isinstance(body, Response):
            return body
        out = await call("attempt", app.new_attempt, token(request))
        return out if isinstance(out, Response) else _json(*out)

    @api.post("/api/clockin")
    async def clockin(request: Request):
        body = await _body(request)
        if isinstance(body, Response):
            return body
        out = await call("clock-in", app.attempt, token(request), body)
        return out if isinstance(out, Response) else _json(*out)

    return api


class PhoneStartError(ServerStartError):
    """The phone page could not listen (busy port, unreadable certificate)."""


class PhoneServer(HTTPSServer):
    """The phone page behind TLS on (host, port); ``port=0`` picks a free port."""
    label = "phone page"
    error = PhoneStartError
    port_hint = "choose another [phone] port (or --port), or stop what uses it"

    def __init__(self, app: PhoneApp, host: str, port: int, cert: Path, key: Path,
                 limits: Limits = PHONE_LIMITS) -> None:
        super().__init__(phone_asgi(app), host, port, cert, key, limits)
        self.app = app
