"""The transport: one HTTP(S) POST, with the one distinction delivery needs -- could the
platform have received it?

* :class:`NotSent`: the connection was never made (refused, no route, DNS): safe to send again;
* :class:`InDoubt`: the request may have reached the platform (timeout waiting for the
  answer, connection dropped mid-way): resolve before sending again.

Connections are kept alive per host while busy, and opened afresh after a pause (a server may
have closed an idle one, which would turn the next request into a needless doubt).
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from urllib.parse import urlsplit

from .profile import Request

IDLE_S = 2.0


class NotSent(Exception):
    pass


class InDoubt(Exception):
    pass


class Http:
    def __init__(self, timeout_s: float, context: ssl.SSLContext | None = None) -> None:
        self.timeout_s = timeout_s
        self.context = context
        self._conns: dict[tuple, tuple[http.client.HTTPConnection, float]] = {}

    def _conn(self, url) -> tuple[http.client.HTTPConnection, str]:
        u = urlsplit(url)
        key = (u.scheme, u.hostname, u.port)
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        held = self._conns.pop(key, None)
        if held and time.monotonic() - held[1] < IDLE_S:
            return held[0], path
        if held:
            held[0].close()
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=self.timeout_s,
                                               context=self.context)
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=self.timeout_s)
        try:
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise NotSent(f"cannot connect to {u.hostname}:{u.port}: "
                          f"{type(exc).__name__}") from None
        return conn, path

    def post(self, req: Request) -> tuple[int, dict, bytes]:
        conn, path = self._conn(req.url)
        try:
            conn.request(req.method, path, body=req.body,
                         headers=dict(req.headers, **{"Content-Length": str(len(req.body))}))
            resp = conn.getresponse()
            body = resp.read(8 * 1024 * 1024 + 1)
        except (socket.timeout, TimeoutError):
            conn.close()
            raise InDoubt(f"no answer within {self.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise InDoubt(f"connection lost: {type(exc).__name__}") from None
        headers = {k: v for k, v in resp.getheaders()}
        u = urlsplit(req.url)
        if resp.will_close:
            conn.close()
        else:
            self._conns[(u.scheme, u.hostname, u.port)] = (conn, time.monotonic())
        return resp.status, headers, body

    def close(self) -> None:
        for conn, _ in self._conns.values():
            conn.close()
        self._conns.clear()
