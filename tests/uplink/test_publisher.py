"""Publisher behaviour that the end-to-end tests cannot pin down precisely."""
from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from spine import CENTRAL, Running, make_gateway, start_central, wait_for
from uplink.broker import BrokerConfig
from uplink.outbox import Limits
from uplink.publisher import Uplink
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import decode_block, make_ack, sign_ack, topic


def test_window_bounds_blocks_in_flight_without_central(tmp_path, mosquitto):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(200)])            # 20 blocks
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), window=3, ack_timeout=1.5, linger=0)
    running = Running(uplink.run)
    try:
        wait_for(lambda: uplink.counters["published"] >= 3, 10, "first window")
        time.sleep(0.8)                      # no central: nothing acked, nothing more sent
        assert uplink.counters["published"] == 3
        wait_for(lambda: uplink.counters["published"] >= 6, 10, "re-send after ack timeout")
        assert uplink.counters["resends"] >= 1
        assert outbox.acked_seq == 0 and outbox.head_seq == 200     # nothing released
    finally:
        running.close()


def test_window_refills_as_central_acks(tmp_path, mosquitto):
    outbox, signer = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    store, ingest, _, central = start_central(f"sqlite:///{tmp_path / 'c.db'}", mosquitto.url)
    store.add_gateway(outbox.gw, signer.public_hex)
    outbox.append_many([{"n": i} for i in range(200)])
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), window=2, ack_timeout=30, linger=0,
                    central_key=CENTRAL.public_hex)
    running = Running(uplink.run)
    try:
        wait_for(lambda: outbox.acked_seq == 200, 30, "all 20 blocks through a window of 2")
        assert uplink.counters["published"] == 20 and uplink.counters["resends"] == 0
    finally:
        running.close()
        central.close()


def test_reconnect_backoff_is_jittered_and_bounded(tmp_path):
    outbox, _ = make_gateway(tmp_path / "o.db")
    delays = []
    for _ in range(30):
        uplink = Uplink(outbox, BrokerConfig("mqtt://127.0.0.1:1"), backoff_min=0.5,
                        backoff_max=8.0)
        uplink._attempt = 6                          # well into the exponential range
        before = time.monotonic()
        uplink._schedule_reconnect()
        delays.append(uplink._next_attempt - before)
    assert all(0.5 <= d <= 8.0 + 0.01 for d in delays)
    assert len({round(d, 3) for d in delays}) > 20, "gateways would reconnect in lockstep"
    assert max(delays) > 4 and min(delays) < 4


def _watch_blocks(url: str, gw: str) -> tuple[mqtt.Client, list]:
    """Anyone on an anonymous broker: reads the gateway's blocks (to learn the head hashes an
    ack must name) and may publish on its ack topic."""
    seen: list = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="eavesdropper")
    c.on_message = lambda cl, u, m: seen.append(decode_block(m.payload))
    host, port = url.rsplit(":", 1)
    c.connect(host.split("//")[1], int(port))
    c.subscribe(topic(gw, "blocks"), qos=1)
    c.loop_start()
    return c, seen


def test_forged_acks_release_nothing_and_raise_a_critical_alarm(tmp_path, mosquitto):
    """No central is running: every ack the gateway sees is forged -- unsigned (today's format),
    signed by another key, or a genuine-looking ack for another gateway re-signed."""
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(50)])
    eve, blocks = _watch_blocks(mosquitto.url, outbox.gw)
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), window=8, ack_timeout=60, linger=0,
                    central_key=CENTRAL.public_hex)
    running = Running(uplink.run)
    try:
        wait_for(lambda: len(blocks) >= 5, 10, "the gateway's blocks")
        last = blocks[4]
        body = make_ack(outbox.gw, last.last, last.head, "ok", last.first)
        forger = Signer(generate_private_key())
        for payload in (body, sign_ack(body, forger), body + bytes(64)):
            eve.publish(topic(outbox.gw, "ack"), payload, qos=1).wait_for_publish(5)
        wait_for(lambda: uplink.counters["acks_forged"] == 3, 10, "three forged acks refused")
        time.sleep(0.3)
        assert outbox.acked_seq == 0 and outbox.stats()["backlog"] == 50, "a forged ack released rows"
        alarm = [a for a in uplink.all_alarms() if a["code"] == "ack_forged"]
        assert alarm and alarm[0]["level"] == "critical"
        assert uplink.state()["state"] == "alarm"
        # the same ack signed by central's key is honoured: the check is the signature
        eve.publish(topic(outbox.gw, "ack"), sign_ack(body, CENTRAL), qos=1).wait_for_publish(5)
        wait_for(lambda: outbox.acked_seq == last.last, 10, "the genuine ack")
    finally:
        running.close()
        eve.loop_stop()


def test_without_central_key_nothing_is_released(tmp_path, mosquitto):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(20)])
    eve, blocks = _watch_blocks(mosquitto.url, outbox.gw)
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), window=8, ack_timeout=60, linger=0)
    assert [a["code"] for a in uplink.all_alarms()] == ["central_key_missing"]
    running = Running(uplink.run)
    try:
        wait_for(lambda: len(blocks) >= 2, 10, "the gateway's blocks")
        b = blocks[1]
        ack = sign_ack(make_ack(outbox.gw, b.last, b.head, "ok", b.first), CENTRAL)
        eve.publish(topic(outbox.gw, "ack"), ack, qos=1).wait_for_publish(5)
        wait_for(lambda: uplink.counters["acks_forged"] == 1, 10, "the ack refused")
        assert outbox.acked_seq == 0
    finally:
        running.close()
        eve.loop_stop()
