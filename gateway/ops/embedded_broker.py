"""An in-process MQTT broker (amqtt) for the demo: no system service needed.

For anything beyond a demo use Mosquitto or EMQX (``--broker mqtt://...``): amqtt speaks
MQTT 3.1.1 without shared subscriptions or per-client ACLs.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedBroker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._broker = None
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "EmbeddedBroker":
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("embedded broker did not start within 15 s")
        if self._error:
            raise RuntimeError(f"embedded broker failed: {self._error}")
        return self

    def _run(self) -> None:
        from amqtt.broker import Broker
        asyncio.set_event_loop(self._loop)
        config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                  "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                              {"allow_anonymous": True}}}
        try:
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._broker is None or not self._loop.is_running():
            return
        fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            fut.result(10)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
