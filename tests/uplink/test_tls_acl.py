"""TLS, one credential per gateway, and the SHIPPED broker policy (config/mosquitto.conf +
config/mosquitto-dynsec.json in a real Mosquitto, accounts made with `sitegate-central
broker`): a gateway touches only its own topics."""
from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.ingest import Ingest
from central.receiver import Receiver
from central.store import Store
from shipped_broker import start_shipped_broker
from spine import CENTRAL, Running, make_gateway, wait_for
from uplink.broker import BrokerConfig
from uplink.publisher import Uplink
from uplink.wire import ZERO_HASH, make_record, seal_block

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start_shipped_broker(tmp_path_factory.mktemp("shipped"), gateways=["gw-a", "gw-b"],
                             centrals=["central-1"])
    yield b
    b.stop()


def test_tls_credentials_and_acl(tmp_path, broker):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    ingest = Ingest(store)
    receiver = Receiver(ingest, broker.cfg("central-1"), signer=CENTRAL, share="central")
    central = Running(receiver.run)
    assert receiver.connected.wait(10)
    outbox, signer = make_gateway(tmp_path / "a.db", "gw-a")
    store.add_gateway("gw-a", signer.public_hex)
    up_a = Uplink(outbox, broker.cfg("gw-a"), ack_timeout=3, central_key=CENTRAL.public_hex)
    running = Running(up_a.run)
    try:
        outbox.append_many([{"n": i} for i in range(500)])
        wait_for(lambda: outbox.acked_seq == 500, 30, "records over TLS with credentials")

        # gw-b logs in fine but the broker stops it writing onto gw-a's topic
        rec = make_record("gw-a", 501, outbox.head_hash, 1, "attendance", {"n": "forged"})
        forged = seal_block(signer, "gw-a", [rec], 1)   # even with gw-a's own signature
        b = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-b")
        b.username_pw_set("gw-b", broker.passwords["gw-b"])
        b.tls_set(ca_certs=str(broker.pki / "ca.pem"))
        b.connect("127.0.0.1", broker.tls_port)
        b.loop_start()
        b.publish("sitegate/v1/gw-a/blocks", forged, qos=1).wait_for_publish(5)
        own = seal_block(signer, "gw-b", [make_record("gw-b", 1, ZERO_HASH, 1, "x", {})], 1)
        b.publish("sitegate/v1/gw-b/blocks", own, qos=1).wait_for_publish(5)
        wait_for(lambda: ingest.counters["unknown_gateway"] == 1, 10, "gw-b's own message")
        b.loop_stop()
        assert store.seqs("gw-a") == list(range(1, 501)), "the broker let gw-b write as gw-a"
        assert ingest.counters["records_ok"] == 500
    finally:
        running.close()
        central.close()


@pytest.mark.parametrize("why", ["wrong password", "untrusted server"])
def test_refused_connections_raise_alarms(tmp_path, broker, why):
    outbox, _ = make_gateway(tmp_path / "a.db", "gw-a")
    broker_cfg = (broker.cfg("gw-a", password="nope") if why == "wrong password"
                  else BrokerConfig(broker.url, username="gw-a", password=broker.passwords["gw-a"]))
    uplink = Uplink(outbox, broker_cfg, backoff_min=0.1, backoff_max=0.5,
                    central_key=CENTRAL.public_hex)
    running = Running(uplink.run)
    try:
        code = "broker_refused" if why == "wrong password" else "broker_unreachable"
        wait_for(lambda: code in uplink.uplink_alarms, 15, f"{code} alarm")
        assert not uplink.connected
        assert uplink.state()["state"] in ("alarm", "degraded")
    finally:
        running.close()
