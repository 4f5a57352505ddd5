"""Attacks with real credentials on the SHIPPED broker policy (config/mosquitto.conf +
config/mosquitto-dynsec.json in a real Mosquitto; one account per gateway and per central
worker, made with `sitegate-central broker`).  Each test is one finding of the hardening
review; all traffic stays on 127.0.0.1 and is bounded in count and time."""
from __future__ import annotations

import threading
import time

import pytest

from central.ingest import Ingest
from central.receiver import Receiver
from central.store import Store
from shipped_broker import start_shipped_broker
from spine import CENTRAL, Running, make_gateway, wait_for
from uplink.broker import connect, new_client
from uplink.outbox import Limits
from uplink.publisher import Uplink
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import decode_block, make_ack, sign_ack, topic

pytestmark = pytest.mark.timeout(240)
GATEWAYS = ["gw-a", "gw-b", "gw-thief"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start_shipped_broker(tmp_path_factory.mktemp("shipped"), gateways=GATEWAYS,
                             centrals=["central-1", "central-2"])
    yield b
    b.stop()


class Probe:
    """A raw MQTT client with someone's credentials: what it was granted and what reached it."""

    def __init__(self, broker, user: str | None, client_id: str | None = None,
                 password: str | None = None) -> None:
        from uplink.broker import BrokerConfig
        self.cfg = broker.cfg(user, password) if user else \
            BrokerConfig(broker.url, ca_file=str(broker.pki / "ca.pem"))
        self.client = new_client(self.cfg, client_id or user)
        self.connack = None
        self.granted: dict[str, bool] = {}
        self.messages: list[tuple[str, bytes]] = []
        self._up, self._subs, self._mids = threading.Event(), threading.Event(), {}
        self._lock = threading.Lock()        # a SUBACK can arrive before subscribe() returns
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        connect(self.client, self.cfg)
        self.client.loop_start()
        assert self._up.wait(10), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = reason_code
        self._up.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._lock:
            self.granted[self._mids.pop(mid)] = not reason_codes[0].is_failure
            if not self._mids:
                self._subs.set()

    def subscribe(self, *filters: str) -> dict[str, bool]:
        self._subs.clear()
        with self._lock:                      # the loop thread's callback waits for the mids
            for f in filters:
                self._mids[self.client.subscribe(f, qos=1)[1]] = f
        assert self._subs.wait(10), "no SUBACK"
        return {f: self.granted[f] for f in filters}

    def publish(self, name: str, payload: bytes) -> None:
        self.client.publish(name, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _central(tmp_path, broker, user: str = "central-1"):
    store = Store(f"sqlite:///{tmp_path / f'{user}.db'}")
    ingest = Ingest(store, park=True)
    receiver = Receiver(ingest, broker.cfg(user), signer=CENTRAL, share="central")
    running = Running(receiver.run)
    assert receiver.connected.wait(10)
    return store, ingest, receiver, running


def test_rogue_shared_subscriber_with_a_gateway_password_changes_nothing(tmp_path, broker):
    """A stolen gateway password tries to join central's shared subscription (and every other
    way to read other gateways' traffic); 3,000 records from two gateways must all be stored."""
    store, ingest, receiver, central = _central(tmp_path, broker)
    rogue = Probe(broker, "gw-thief")
    granted = rogue.subscribe("$share/central/sitegate/v1/+/blocks", "$share/x/sitegate/v1/+/blocks",
                              "sitegate/v1/+/blocks", "sitegate/v1/#", "#", "$share/central/#",
                              "sitegate/v1/gw-a/ack", "sitegate/v1/gw-a/roster")
    assert not any(granted.values()), f"the broker granted {granted}"
    assert receiver.refused == []
    gateways = []
    try:
        for gw in ("gw-a", "gw-b"):
            outbox, signer = make_gateway(tmp_path / f"{gw}.db", gw, limits=Limits(max_block_records=50))
            store.add_gateway(gw, signer.public_hex)
            uplink = Uplink(outbox, broker.cfg(gw), ack_timeout=5, linger=0.05,
                            central_key=CENTRAL.public_hex)
            gateways.append((outbox, uplink, Running(uplink.run)))
        for outbox, _, _ in gateways:
            for i in range(0, 1500, 100):
                outbox.append_many([{"n": n} for n in range(i, i + 100)])
        wait_for(lambda: all(o.acked_seq == 1500 for o, _, _ in gateways), 120,
                 "every record of both gateways acknowledged")
        assert store.seqs("gw-a") == list(range(1, 1501))
        assert store.seqs("gw-b") == list(range(1, 1501))
        assert ingest.counters["records_ok"] == 3000
        assert rogue.messages == [], "the rogue subscriber was handed traffic"
    finally:
        rogue.close()
        for _, _, r in gateways:
            r.close()
        central.close()


def test_client_id_takeover_refused(tmp_path, broker):
    """Another gateway's password (or central's) cannot connect as a running gateway's client
    id and push it off; a gateway's own id still works."""
    store, _, _, central = _central(tmp_path, broker)
    outbox, signer = make_gateway(tmp_path / "a.db", "gw-a")
    store.add_gateway("gw-a", signer.public_hex)
    uplink = Uplink(outbox, broker.cfg("gw-a"), ack_timeout=5, central_key=CENTRAL.public_hex)
    running = Running(uplink.run)
    probes = []
    try:
        wait_for(lambda: uplink.connected, 10, "gw-a connected")
        for user, cid in (("gw-thief", "gw-a"), ("gw-b", "gw-a"), ("gw-thief", "central-1"),
                          ("central-2", "gw-a"), ("gw-thief", "sitegate-central")):
            p = Probe(broker, user, client_id=cid)
            probes.append(p)
            assert p.connack.is_failure, f"{user} connected as client id {cid}"
        time.sleep(1.0)
        assert uplink.connected and uplink.counters["connects"] == 1, "gw-a was pushed off"
        outbox.append_many([{"n": i} for i in range(10)])
        wait_for(lambda: outbox.acked_seq == 10, 15, "gw-a still delivering")
        anonymous = Probe(broker, None, client_id="gw-a")    # no credentials at all
        probes.append(anonymous)
        assert anonymous.connack.is_failure
        own = Probe(broker, "gw-b")                     # a gateway's own id: accepted
        probes.append(own)
        assert not own.connack.is_failure
    finally:
        for p in probes:
            p.close()
        running.close()
        central.close()


def test_gateway_cannot_read_another_roster_nor_write_central_topics(tmp_path, broker):
    """gw-b may not subscribe to gw-a's roster or acks, nor publish acks or roster updates --
    not even on its own topics (those are central's to write)."""
    victim = Probe(broker, "gw-a")
    assert all(victim.subscribe("sitegate/v1/gw-a/ack", "sitegate/v1/gw-a/roster").values())
    attacker = Probe(broker, "gw-b")
    try:
        granted = attacker.subscribe("sitegate/v1/gw-a/roster", "sitegate/v1/gw-a/ack",
                                     "sitegate/v1/+/roster", "sitegate/v1/+/ack",
                                     "$share/central/sitegate/v1/+/roster-req",
                                     "sitegate/v1/gw-b/ack", "sitegate/v1/gw-b/roster")
        assert granted == {"sitegate/v1/gw-a/roster": False, "sitegate/v1/gw-a/ack": False,
                           "sitegate/v1/+/roster": False, "sitegate/v1/+/ack": False,
                           "$share/central/sitegate/v1/+/roster-req": False,
                           "sitegate/v1/gw-b/ack": True, "sitegate/v1/gw-b/roster": True}
        for gw in ("gw-a", "gw-b"):
            attacker.publish(topic(gw, "ack"), b"forged ack")
            attacker.publish(topic(gw, "roster"), b"forged roster")
        attacker.publish(topic("gw-a", "roster-req"), b'{"have":0,"v":1}')
        # positive control: central's own account reaches both gateways on the same topics
        central = Probe(broker, "central-2")
        central.publish(topic("gw-a", "ack"), b"from central")
        central.publish(topic("gw-b", "roster"), b"from central")
        wait_for(lambda: victim.messages and attacker.messages, 10, "central's messages")
        time.sleep(0.5)
        assert victim.messages == [(topic("gw-a", "ack"), b"from central")]
        assert attacker.messages == [(topic("gw-b", "roster"), b"from central")]
        central.close()
    finally:
        attacker.close()
        victim.close()


def test_forged_ack_with_central_broker_credential_releases_nothing(tmp_path, broker):
    """An insider holding a central worker's broker password sees the blocks (so knows every
    head hash) and may publish acks -- but cannot sign them: nothing is released, the gateway
    raises a critical alarm; central's own signed acks then release everything."""
    outbox, signer = make_gateway(tmp_path / "a.db", "gw-a", limits=Limits(max_block_records=20))
    outbox.append_many([{"n": i} for i in range(100)])
    uplink = Uplink(outbox, broker.cfg("gw-a"), ack_timeout=5, linger=0,
                    central_key=CENTRAL.public_hex)
    insider = Probe(broker, "central-2")
    assert all(insider.subscribe("$share/central/sitegate/v1/+/blocks").values())
    running = Running(uplink.run)
    try:
        wait_for(lambda: len(insider.messages) >= 5, 10, "the gateway's blocks")
        last = decode_block(insider.messages[4][1])
        body = make_ack("gw-a", last.last, last.head, "ok", last.first)
        for payload in (body, sign_ack(body, Signer(generate_private_key()))):
            insider.publish(topic("gw-a", "ack"), payload)
        wait_for(lambda: uplink.counters["acks_forged"] == 2, 10, "forged acks refused")
        time.sleep(0.5)
        assert outbox.acked_seq == 0 and outbox.stats()["backlog"] == 100
        alarms = {a["code"]: a for a in uplink.all_alarms()}
        assert alarms["ack_forged"]["level"] == "critical"
        insider.close()
        store, _, _, central = _central(tmp_path, broker, "central-1")
        store.add_gateway("gw-a", signer.public_hex)
        try:
            wait_for(lambda: outbox.acked_seq == 100, 90, "central's signed acks")
        finally:
            central.close()
    finally:
        running.close()
