"""HTTP turnstile controller simulator: the JSON protocol of :mod:`drivers.httpgate` served on
127.0.0.1 (real HTTP, stdlib server). An open releases a door; unless ``walk_away``, a person
passes ``walk_time`` seconds later and the door's passage counter moves. ``unplug()`` /
``replug()`` stop and restore the controller on the same port."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable


class HttpTurnstileSimulator:
    def __init__(self, doors: Iterable[int] = (1, 2), *, host: str = "127.0.0.1", port: int = 0,
                 walk_time: float = 0.2, walk_away: bool = False, token: str | None = None) -> None:
        self.doors = {int(d): 0 for d in doors}          # door -> passage count
        self.held = {d: False for d in self.doors}
        self.host, self.port = host, port
        self.walk_time, self.walk_away, self.token = walk_time, walk_away, token
        self.opens: list[int] = []                       # doors released, in order
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def plugged(self) -> bool:
        return self._server is not None

    def passages(self, door: int) -> int:
        with self._lock:
            return self.doors[door]

    def _walk(self, door: int) -> None:
        time.sleep(self.walk_time)
        with self._lock:
            self.doors[door] += 1

    def _answer(self, method: str, path: str, body: bytes, auth: str | None) -> tuple[int, dict]:
        self.requests.append((method, path))
        if self.token and auth != f"Bearer {self.token}":
            return 401, {"error": "bad token"}
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["v1", "status"]:
            return 200, {"doors": sorted(self.doors)}
        if len(parts) >= 3 and parts[:2] == ["v1", "doors"]:
            try:
                door = int(parts[2])
            except ValueError:
                return 400, {"error": "door must be a number"}
            if door not in self.doors:
                return 404, {"error": f"no door {door}"}
            with self._lock:
                count = self.doors[door]
            if method == "GET" and len(parts) == 3:
                return 200, {"door": door, "passages": count, "held": self.held[door]}
            if method == "POST" and parts[3:] == ["open"]:
                self.opens.append(door)
                if not self.walk_away:
                    threading.Thread(target=self._walk, args=(door,), daemon=True).start()
                return 200, {"door": door, "passages": count}
            if method == "POST" and parts[3:] == ["hold"]:
                try:
                    on = json.loads(body or b"{}").get("on")
                except ValueError:
                    on = None
                if not isinstance(on, bool):
                    return 400, {"error": "hold needs {\"on\": true|false}"}
                self.held[door] = on
                return 200, {"door": door, "held": on}
        return 404, {"error": "no such resource"}

    def start(self) -> "HttpTurnstileSimulator":
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, method: str) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, data = sim._answer(method, self.path, body, self.headers.get("Authorization"))
                out = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self):
                self._reply("GET")

            def do_POST(self):
                self._reply("POST")

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="sim-httpgate")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def unplug(self) -> None:
        """Controller off the network: connections are refused."""
        self.stop()

    def replug(self) -> None:
        """Back on the same address."""
        if self._server is None:
            self.start()

    def __enter__(self) -> "HttpTurnstileSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
