"""Publisher behaviour that the end-to-end tests cannot pin down precisely."""
from __future__ import annotations

import time

from spine import Running, make_gateway, start_central, wait_for
from uplink.broker import BrokerConfig
from uplink.outbox import Limits
from uplink.publisher import Uplink


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
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), window=2, ack_timeout=30, linger=0)
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
