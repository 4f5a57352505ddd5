"""A turnstile controller driven over HTTP (JSON), the second gate kind (``http-turnstile``).

Many turnstile controllers sold for sites take commands over the LAN instead of a dry contact.
This driver speaks a small JSON protocol (docs/drivers.md, "HTTP turnstile controller"):

* ``GET  /v1/status``            -> ``{"doors": [1, 2]}``                (health)
* ``POST /v1/doors/<n>/open``    -> ``{"door": n, "passages": <count before the release>}``
* ``GET  /v1/doors/<n>``         -> ``{"door": n, "passages": <count>}``
* ``POST /v1/doors/<n>/hold``    ``{"on": true|false}`` -> ``{"door": n, "held": bool}`` (evacuation)

The controller counts passages per door itself; a passage after an open is the counter moving
past the value the open returned, so no edge can be missed between the release and the first
poll. An optional bearer token (``token_file``) is sent with every request.

The codec (:func:`build_request`, :func:`parse_reply`) is pure; :class:`HttpTurnstileGate` is
the shell (stdlib ``http.client``, one short connection per request, so lanes may share it).
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import DeviceLost
from .turnstile import GateError, GateSilent, Lane


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""


def build_request(what: str, door: int | None = None, on: bool = True) -> Request:
    """``status`` | ``open`` | ``door`` | ``hold`` as an HTTP request."""
    if what == "status":
        return Request("GET", "/v1/status")
    if door is None or door < 0:
        raise ValueError(f"a door number is needed for {what!r}")
    if what == "open":
        return Request("POST", f"/v1/doors/{door}/open", b"{}")
    if what == "door":
        return Request("GET", f"/v1/doors/{door}")
    if what == "hold":
        return Request("POST", f"/v1/doors/{door}/hold", json.dumps({"on": on}).encode())
    raise ValueError(f"unknown request {what!r}")


def parse_reply(status: int, body: bytes) -> dict:
    """The JSON object of a 2xx reply; GateError (with the controller's words) otherwise."""
    try:
        data = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError):
        raise GateError(f"controller answered {status} with a body that is not JSON") from None
    if not 200 <= status < 300:
        why = data.get("error") if isinstance(data, dict) else None
        if status in (401, 403):
            raise GateError(f"controller refused the request ({status}): check token_file")
        raise GateError(f"controller answered {status}" + (f": {why}" if why else ""))
    if not isinstance(data, dict):
        raise GateError("controller answered with JSON that is not an object")
    return data


def passages_of(data: dict) -> int:
    value = data.get("passages")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise GateError(f"controller reply lacks a passage count: {sorted(data)}")
    return value


class HttpTurnstileGate:
    """``address`` is the controller's base URL (``http://10.0.0.21:8090``); each lane's
    ``relay`` is its door number on the controller (``sensor`` is not used: the controller
    reports passages itself)."""

    def __init__(self, address: str, *, lanes: dict[str, Lane], timeout: float = 1.0,
                 poll_interval: float = 0.05, token_file: str | None = None,
                 ca_file: str | None = None) -> None:
        url = urlsplit(address)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"gate address {address!r}: an http:// or https:// URL is needed")
        self.address = address
        self.lanes = {k: v if isinstance(v, Lane) else Lane(**v) for k, v in lanes.items()}
        self.timeout, self.poll_interval = timeout, poll_interval
        self._host, self._port = url.hostname, url.port
        self._token = Path(token_file).read_text().strip() if token_file else None
        self._tls = ssl.create_default_context(cafile=ca_file) if url.scheme == "https" else None
        self._base = url.path.rstrip("/")
        self._baseline: dict[str, int] = {}
        self._lock = threading.Lock()
        self.check()                                   # opening = the controller answers

    # ------------------------------------------------------------------ one request
    def _send(self, req: Request) -> dict:
        host, port = self._host, self._port
        conn = (http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls)
                if self._tls else http.client.HTTPConnection(host, port, timeout=self.timeout))
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            conn.request(req.method, self._base + req.path, body=req.body or None, headers=headers)
            resp = conn.getresponse()
            status, body = resp.status, resp.read(65536)
        except (socket.timeout, TimeoutError) as exc:
            raise GateSilent(f"turnstile controller {self.address} does not answer: {exc}") from exc
        except (ConnectionError, OSError, http.client.HTTPException) as exc:
            raise DeviceLost(f"turnstile controller {self.address}: {exc}") from exc
        finally:
            conn.close()
        return parse_reply(status, body)

    def _door(self, lane: str) -> int:
        try:
            return self.lanes[lane].relay
        except KeyError:
            raise ValueError(f"unknown lane {lane!r}; configured: {sorted(self.lanes)}") from None

    # ------------------------------------------------------------------ gate interface
    def check(self) -> None:
        try:
            self._send(build_request("status"))
        except GateSilent as exc:
            raise DeviceLost(str(exc)) from exc

    def confirms_passage(self, lane: str) -> bool:
        self._door(lane)
        return True

    def open(self, lane: str) -> None:
        data = self._send(build_request("open", self._door(lane)))
        with self._lock:
            self._baseline[lane] = passages_of(data)

    def passages(self, lane: str) -> int:
        return passages_of(self._send(build_request("door", self._door(lane))))

    def wait_passage(self, lane: str, timeout: float) -> bool:
        with self._lock:
            base = self._baseline.pop(lane, None)
        if base is None:
            base = self.passages(lane)
        deadline = time.monotonic() + timeout
        while True:
            if self.passages(lane) > base:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_interval)

    def open_all(self) -> None:
        """Fire evacuation: every lane's door held open until :meth:`release_all`."""
        for spec in self.lanes.values():
            self._send(build_request("hold", spec.relay, True))

    def release_all(self) -> None:
        for spec in self.lanes.values():
            self._send(build_request("hold", spec.relay, False))

    def close(self) -> None:
        """Nothing is held open between requests."""

