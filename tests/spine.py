"""Helpers that wire a gateway outbox + uplink and a central receiver in threads."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from central.ingest import Ingest
from central.receiver import Receiver
from central.store import Store
from uplink.broker import BrokerConfig
from uplink.outbox import Limits, Outbox
from uplink.publisher import Uplink
from uplink.sm2 import Signer, generate_private_key

# central's signing key in tests that run central in a thread: it signs acks and roster updates,
# gateways started with start_uplink verify them against its public half
CENTRAL = Signer(generate_private_key())


class Running:
    def __init__(self, target) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=target, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)


def make_gateway(path: Path, gw: str = "gw-test-1", key: str | None = None,
                 limits: Limits = Limits()) -> tuple[Outbox, Signer]:
    signer = Signer(key or generate_private_key())
    return Outbox(path, gw, signer, limits), signer


def start_central(url: str, broker_url: str, **kw) -> tuple[Store, Ingest, Receiver, Running]:
    store = Store(url)
    ingest = Ingest(store)
    kw.setdefault("signer", CENTRAL)
    receiver = Receiver(ingest, BrokerConfig(broker_url), **kw)
    running = Running(receiver.run)
    assert receiver.connected.wait(10), "receiver did not connect"
    return store, ingest, receiver, running


def start_uplink(outbox: Outbox, broker_url: str, **kw) -> tuple[Uplink, Running]:
    kw.setdefault("ack_timeout", 3.0)
    kw.setdefault("backoff_max", 2.0)
    kw.setdefault("central_key", CENTRAL.public_hex)
    uplink = Uplink(outbox, BrokerConfig(broker_url), **kw)
    return uplink, Running(uplink.run)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
