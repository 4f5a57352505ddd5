"""TLS, one credential per gateway, and an ACL so a gateway touches only its own topics."""
from __future__ import annotations

import subprocess

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.ingest import Ingest
from central.receiver import Receiver
from central.store import Store
from spine import Running, make_gateway, wait_for
from uplink.broker import BrokerConfig
from uplink.publisher import Uplink
from uplink.wire import ZERO_HASH, make_record, seal_block

ACL = """user central
topic read sitegate/v1/+/blocks
topic write sitegate/v1/+/ack
pattern write sitegate/v1/%u/blocks
pattern write sitegate/v1/%u/state
pattern read sitegate/v1/%u/ack
"""
USERS = {"central": "c-secret", "gw-a": "a-secret", "gw-b": "b-secret"}


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker(tmp_path, make_mosquitto):
    pki = tmp_path / "pki"
    pki.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sitegate test CA", cwd=pki)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
            cwd=pki)
    (pki / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=pki)
    pw = pki / "passwords"
    pw.touch()
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                       capture_output=True)
    (pki / "acl").write_text(ACL)
    broker = make_mosquitto(f"allow_anonymous false\npassword_file {pw}\nacl_file {pki / 'acl'}",
                            tls={"ca": pki / "ca.pem", "cert": pki / "server.pem",
                                 "key": pki / "server.key"})
    return broker, pki


def cfg(broker, pki, user, password=None, ca=True):
    return BrokerConfig(f"mqtts://127.0.0.1:{broker.port}", username=user,
                        password=password or USERS[user],
                        ca_file=str(pki / "ca.pem") if ca else None)


def test_tls_credentials_and_acl(tmp_path, tls_broker):
    broker, pki = tls_broker
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    ingest = Ingest(store)
    receiver = Receiver(ingest, cfg(broker, pki, "central"))
    central = Running(receiver.run)
    assert receiver.connected.wait(10)
    outbox, signer = make_gateway(tmp_path / "a.db", "gw-a")
    store.add_gateway("gw-a", signer.public_hex)
    up_a = Uplink(outbox, cfg(broker, pki, "gw-a"), ack_timeout=3)
    running = Running(up_a.run)
    try:
        outbox.append_many([{"n": i} for i in range(500)])
        wait_for(lambda: outbox.acked_seq == 500, 30, "records over TLS with credentials")

        # gw-b logs in fine but the ACL stops it writing onto gw-a's topic
        rec = make_record("gw-a", 501, outbox.head_hash, 1, "attendance", {"n": "forged"})
        forged = seal_block(signer, "gw-a", [rec], 1)   # even with gw-a's own signature
        b = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-b")
        b.username_pw_set("gw-b", USERS["gw-b"])
        b.tls_set(ca_certs=str(pki / "ca.pem"))
        b.connect("127.0.0.1", broker.port)
        b.loop_start()
        b.publish("sitegate/v1/gw-a/blocks", forged, qos=1).wait_for_publish(5)
        own = seal_block(signer, "gw-b", [make_record("gw-b", 1, ZERO_HASH, 1, "x", {})], 1)
        b.publish("sitegate/v1/gw-b/blocks", own, qos=1).wait_for_publish(5)
        wait_for(lambda: ingest.counters["unknown_gateway"] == 1, 10, "gw-b's own message")
        b.loop_stop()
        assert store.seqs("gw-a") == list(range(1, 501)), "the ACL let gw-b write as gw-a"
        assert ingest.counters["records_ok"] == 500
    finally:
        running.close()
        central.close()


@pytest.mark.parametrize("why", ["wrong password", "untrusted server"])
def test_refused_connections_raise_alarms(tmp_path, tls_broker, why):
    broker, pki = tls_broker
    outbox, _ = make_gateway(tmp_path / "a.db", "gw-a")
    broker_cfg = (cfg(broker, pki, "gw-a", password="nope") if why == "wrong password"
                  else cfg(broker, pki, "gw-a", ca=False))
    uplink = Uplink(outbox, broker_cfg, backoff_min=0.1, backoff_max=0.5)
    running = Running(uplink.run)
    try:
        code = "broker_refused" if why == "wrong password" else "broker_unreachable"
        wait_for(lambda: code in uplink.uplink_alarms, 15, f"{code} alarm")
        assert not uplink.connected
        assert uplink.state()["state"] in ("alarm", "degraded")
    finally:
        running.close()
