"""The gateway's own HTTP(S) servers (phone page, web app): uvicorn in a thread of the daemon's
process, on a socket we bind ourselves, behind a connection gate.

One process holds the outbox, the MQTT link, the lanes' serial ports and these pages, and all of
them draw on one file-descriptor limit.  So a page must never take every descriptor:

* **bounded connections**: the listening socket counts what it accepted and caps it well under
  the process's descriptor limit (:func:`connection_cap`), keeping :data:`RESERVED_FDS` for the
  rest of the gateway.  At the cap the connection that has done nothing for longest is shut to
  make room (a slow-loris host loses its oldest sockets, a phone that just arrived gets in); a new
  connection is refused only when every one is busy with a request.  While a burst has filled
  the cap with connections already shut but not yet closed, new ones wait in the kernel's
  accept queue for a turn of the event loop instead of being reset.
* **whole-request deadlines**: a connection has ``idle_s`` from accept (TLS handshake and request
  headers) or from its last answer to start a request, ``body_s`` to deliver the body and
  ``busy_s`` for the whole exchange; past that it is shut.
* **body size for every framing**: ``max_body`` is checked against Content-Length of any value
  and counted while the body arrives (chunked included); too large is answered 413 at once.
  All bodies being buffered at once share ``body_budget`` (beyond it: 503), so many large
  bodies together cannot take the memory of a 1 GB gateway either.
* every error the gate raises is answered with a JSON body (``status``/``code``/``message``),
  as is an exception escaping the application before it answered.

uvicorn runs with its pure-Python parts (``loop="asyncio"``, ``http="h11"``), which call our
socket's ``accept()`` (uvloop would bypass it), without proxy headers (the peer address is the
connection's) and without WebSockets.
"""
from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gateway.config import ConfigError

log = logging.getLogger("sitegate.https")

RESERVED_FDS = 256          # outbox, roster, templates, MQTT, lanes' ports, logs, the other page


class ServerStartError(ConfigError):
    """A page could not listen (busy port, unreadable certificate)."""


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256          # asked for; clamped by connection_cap()
    idle_s: float = 20.0                # accept (TLS handshake + headers) or last answer -> request
    body_s: float = 60.0                # headers -> whole body (when max_body is set)
    busy_s: float = 120.0               # request start -> answer sent
    max_body: int | None = None         # bytes; None = the application reads its own body
    body_budget: int = 64 * 1024 * 1024  # bodies being buffered at once, all connections


def fd_soft_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(requested: int, soft_limit: int | None = None) -> int:
    """Pure: the connections one page may hold: ``requested``, but never more than a quarter of
    what the descriptor limit leaves after :data:`RESERVED_FDS` (two pages, and room to spare)."""
    soft = fd_soft_limit() if soft_limit is None else soft_limit
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return max(1, requested)
    return max(8, min(requested, (soft - RESERVED_FDS) // 4))


# ---------------------------------------------------------------- the gate (no I/O)
@dataclass
class _Entry:
    sock: Any
    since: float                  # accept, or the end of the last answer
    busy_since: float | None = None
    closing: float | None = None  # when it was shut (the loop closes it on its next turn)


@dataclass
class Gate:
    """Bookkeeping of one listener's connections, keyed by peer (host, port).  Decides; the
    caller shuts what it returns.  Used from the server's event-loop thread only."""
    cap: int
    limits: Limits = field(default_factory=Limits)
    conns: dict = field(default_factory=dict)
    refused: int = 0
    evicted: int = 0
    expired: int = 0

    @property
    def hard_cap(self) -> int:
        return self.cap + max(8, self.cap // 8)        # room for shut sockets not yet closed

    def open_count(self) -> int:
        return len(self.conns)

    def should_wait(self, now: float) -> bool:
        """Leave new connections in the kernel's queue for now?  Yes while the hard cap is
        reached by connections already shut and about to close (a burst of arrivals)."""
        if len(self.conns) < self.hard_cap:
            return False
        return any(e.closing is not None and now - e.closing < 5.0 for e in self.conns.values())

    def admit(self, key, sock, now: float) -> tuple[bool, list]:
        """A new connection: (keep it?, sockets to shut to make room)."""
        live = [e for e in self.conns.values() if e.closing is None]
        victims = []
        if len(live) >= self.cap:
            idle = [e for e in live if e.busy_since is None]
            if idle:
                victim = min(idle, key=lambda e: e.since)
                victim.closing = now
                victims.append(victim.sock)
                self.evicted += 1
            else:
                self.refused += 1
                return False, []
        if len(self.conns) >= self.hard_cap:
            self.refused += 1
            return False, victims
        self.conns[key] = _Entry(sock, now)
        return True, victims

    def begin(self, key, now: float) -> None:
        e = self.conns.get(key)
        if e is not None:
            e.busy_since = now

    def end(self, key, now: float) -> None:
        e = self.conns.get(key)
        if e is not None:
            e.busy_since, e.since = None, now

    def forget(self, key, sock) -> None:
        e = self.conns.get(key)
        if e is not None and e.sock is sock:
            del self.conns[key]

    def overdue(self, now: float) -> list:
        """Sockets past their deadline (idle too long before a request, or busy too long)."""
        out = []
        for e in self.conns.values():
            if e.closing is not None:
                continue
            late = (now - e.since > self.limits.idle_s) if e.busy_since is None \
                else (now - e.busy_since > self.limits.busy_s)
            if late:
                e.closing = now
                out.append(e.sock)
        self.expired += len(out)
        return out

    def everything(self, now: float) -> list:
        for e in self.conns.values():
            e.closing = now
        return [e.sock for e in self.conns.values()]


# ---------------------------------------------------------------- the shell: sockets
def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)   # the event loop sees EOF and closes the transport
    except OSError:
        pass


class _Conn(socket.socket):
    """An accepted connection that tells the gate when it is closed."""
    _gate: Gate | None = None
    _key: Any = None

    def close(self) -> None:
        if self._gate is not None:
            self._gate.forget(self._key, self)
            self._gate = None
        super().close()


class _GatedSocket(socket.socket):
    """The listening socket: ``accept()`` (called by asyncio's accept loop) admits through the
    gate, shuts the victims and refuses beyond the hard cap (asyncio treats
    ConnectionAbortedError as "nothing more to accept now")."""
    gate: Gate
    clock: Callable[[], float] = time.monotonic
    _loop: asyncio.AbstractEventLoop | None = None

    def accept(self):
        if self.gate.should_wait(self.clock()):
            raise BlockingIOError     # asyncio tries again on its next turn, after the closes
        fd, addr = self._accept()
        conn = _Conn(self.family, self.type, self.proto, fileno=fd)
        key = tuple(addr[:2])
        ok, victims = self.gate.admit(key, conn, self.clock())
        for v in victims:
            _shut(v)
        if not ok:
            conn.close()
            raise ConnectionAbortedError("connection cap")
        conn._gate, conn._key = self.gate, key
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.call_later(1.0, self._sweep)
        return conn, addr

    def _sweep(self) -> None:
        for s in self.gate.overdue(self.clock()):
            _shut(s)
        if self.fileno() != -1:
            self._loop.call_later(1.0, self._sweep)

    def shut_all(self) -> None:
        """From any thread: shut every connection (at server stop)."""
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(
                    lambda: [_shut(s) for s in self.gate.everything(self.clock())])
            except RuntimeError:
                pass


# ---------------------------------------------------------------- ASGI guard
def _key(client) -> tuple | None:
    return tuple(client[:2]) if client else None


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


class _Busy(Exception):
    pass


ERRORS = {
    "too_large": (413, "请求过大，未处理。", "Request too large; nothing was done."),
    "too_slow": (408, "请求发送太慢，未处理：请在网络较好处重试。",
                 "The request arrived too slowly; nothing was done. Retry with a better signal."),
    "bad_length": (400, "请求长度无效，未处理。", "Invalid Content-Length; nothing was done."),
    "busy": (503, "服务器繁忙，未处理：请稍后重试。", "The gateway is busy; nothing was done. Retry shortly."),
    "internal": (500, "服务器内部错误：请重试，如仍失败请告知工地办公室。",
                 "Internal error: retry, and tell the site office if it persists."),
}


def json_error(code: str, message: str | None = None) -> tuple[int, bytes]:
    status, zh, en = ERRORS[code]
    return status, json.dumps({"status": "error", "code": code, "message": message or en,
                               "message_zh": zh, "message_en": en},
                              ensure_ascii=False).encode()


LINGER_S = 2.0              # after an early answer, read and drop what is still coming


async def _send_json(send, code: str, message: str | None = None, receive=None) -> None:
    """The error as JSON, then the connection closes.  With ``receive``: the answer goes out
    first, then what the client is still sending is read and dropped for up to LINGER_S
    before the close, so it can read the answer (closing on unread input resets the
    connection and loses the answer)."""
    status, body = json_error(code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"connection", b"close"),
                            (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body, "more_body": receive is not None})
    if receive is not None:
        async def drain():
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
                    return
        try:
            await asyncio.wait_for(drain(), LINGER_S)
        except asyncio.TimeoutError:
            pass
        await send({"type": "http.response.body", "body": b""})


class Guard:
    """ASGI middleware: tells the gate when a request starts and ends, enforces the body size
    and deadline, and answers an escaping exception with JSON."""

    def __init__(self, app, gate: Gate, limits: Limits, clock=time.monotonic) -> None:
        self.app, self.gate, self.limits, self.clock = app, gate, limits, clock
        self.inflight = 0               # body bytes buffered now (event-loop thread only)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        key = _key(scope.get("client"))
        self.gate.begin(key, self.clock())
        started = False

        async def tracked(message):
            nonlocal started
            started = True
            await send(message)
        try:
            if self.limits.max_body is not None:
                try:
                    receive = await self._buffer(scope, receive)
                except _TooLarge:
                    return await _send_json(send, "too_large",
                                            f"request too large (limit {self.limits.max_body} bytes)",
                                            receive)
                except _Busy:
                    return await _send_json(send, "busy", None, receive)
                except asyncio.TimeoutError:
                    return await _send_json(send, "too_slow")
                except _Gone:
                    return
            await self.app(scope, receive, tracked)
        except Exception as exc:
            # the type only at error level: an exception's text may carry what was sent
            log.error("%s %s: internal error (%s)", scope.get("method"), scope.get("path"),
                      type(exc).__name__)
            log.debug("internal error", exc_info=True)
            if not started:             # failed before answering: say so
                await _send_json(send, "internal")
            # else the answer is out (uvicorn closes a connection whose answer is incomplete)
        finally:
            self.gate.end(key, self.clock())

    async def _buffer(self, scope, receive):
        limit = self.limits.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    raise _TooLarge          # h11 refuses these first; belt and braces
                if len(value) > 12 or int(value) > limit:
                    raise _TooLarge
        chunks, size = [], 0

        async def read():
            nonlocal size
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    raise _Gone
                part = msg.get("body", b"")
                size += len(part)
                if size > limit:
                    raise _TooLarge
                if self.inflight + len(part) > self.limits.body_budget:
                    raise _Busy
                self.inflight += len(part)
                chunks.append(part)
                if not msg.get("more_body", False):
                    return
        try:
            await asyncio.wait_for(read(), self.limits.body_s)
            body, done = b"".join(chunks), False
        finally:
            self.inflight -= sum(len(c) for c in chunks)

        async def replay():
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        return replay


# ---------------------------------------------------------------- the server
def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class HTTPSServer:
    """uvicorn in a thread on a socket we bind ourselves, so a busy port is a clear error at
    once and ``port=0`` (any free port) is known before the first request (:attr:`port`).
    TLS when ``cert`` and ``key`` are given."""
    label = "page"
    error: type[ServerStartError] = ServerStartError
    port_hint = "choose another port, or stop what uses it"

    def __init__(self, app, host: str, port: int, cert: Path | None = None,
                 key: Path | None = None, limits: Limits = Limits()) -> None:
        import uvicorn
        self.tls = bool(cert and key)
        self.host = host or "0.0.0.0"
        self.limits = limits
        self.gate = Gate(connection_cap(limits.max_connections), limits)
        ctx = None
        if self.tls:
            try:
                ctx = tls_context(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise self.error(f"{self.label} cannot use its TLS certificate {cert} and key "
                                 f"{key}: {getattr(exc, 'strerror', None) or exc}") from None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto TCP, inherited by accepted sockets: asyncio then sets TCP_NODELAY on them
        # (with proto 0 it does not, and a response's header and body records wait on
        # Nagle and the client's delayed ACK: 40 ms a request)
        self._sock = _GatedSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.gate = self.gate
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((self.host, port))
        except OSError as exc:
            self._sock.close()
            raise self.error(f"{self.label} cannot listen on {self.host}:{port}: {exc.strerror}; "
                             f"{self.port_hint}") from None
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            Guard(app, self.gate, limits), loop="asyncio", http="h11", ws="none",
            lifespan="off", log_level="warning", access_log=False, proxy_headers=False,
            server_header=False, timeout_keep_alive=5, timeout_graceful_shutdown=5,
            backlog=min(2048, self.gate.hard_cap * 2),
            ssl_context_factory=(lambda _cfg, _default: ctx) if ctx is not None else None)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name=self.label, daemon=True)

    def start(self, timeout: float = 15.0):
        self._thread.start()
        end = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                self._sock.close()
                raise self.error(f"{self.label} did not start on {self.host}:{self.port} "
                                 f"(TLS certificate and key readable?)")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self._sock.shut_all()
        self._thread.join(10)
        self._sock.close()
