"""Back-pressure and drains (issue 17): central's busy ack, the jittered re-send back-off,
incremental outbox counters, drain progress."""
from __future__ import annotations

import random
import sqlite3
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from spine import CENTRAL, Running, make_gateway, wait_for
from uplink.broker import BrokerConfig
from uplink.outbox import Limits, Outbox
from uplink.publisher import Uplink, drain_progress
from uplink.wire import decode_block, make_ack, sign_ack, topic


def _watch_blocks(url: str, gw: str) -> tuple[mqtt.Client, list]:
    """A stand-in for central on the broker: sees (arrival time, block) of every block."""
    seen: list = []
    lock = threading.Lock()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fake-central")

    def on_message(cl, u, m):
        with lock:
            seen.append((time.monotonic(), decode_block(m.payload)))

    c.on_message = on_message
    host, port = url.rsplit(":", 1)
    c.connect(host.split("//")[1], int(port))
    c.subscribe(topic(gw, "blocks"), qos=1)
    c.loop_start()
    time.sleep(0.2)
    return c, seen


def _busy(outbox: Outbox, seq: int, ref: int, retry_after_ms: int) -> bytes:
    return sign_ack(make_ack(outbox.gw, seq, outbox.hash_of(seq) or "", "busy", ref,
                             "busy: at capacity", retry_after_ms=retry_after_ms), CENTRAL)


def test_busy_ack_releases_then_holds_back_then_resends_from_first_unreleased(tmp_path, mosquitto):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(50)])              # 5 blocks of 10
    central, seen = _watch_blocks(mosquitto.url, outbox.gw)
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), window=8, ack_timeout=60, linger=0,
                    central_key=CENTRAL.public_hex)
    running = Running(uplink.run)
    try:
        wait_for(lambda: len(seen) >= 5, 10, "the first five blocks")
        # central committed block 1 and is busy: it did not store block 2 (nor what follows)
        sent = time.monotonic()
        central.publish(topic(outbox.gw, "ack"), _busy(outbox, 10, 11, 700),
                        qos=1).wait_for_publish(5)
        wait_for(lambda: uplink.counters["busy"] == 1, 10, "the busy ack")
        assert outbox.acked_seq == 10, "the busy ack releases per its seq like any other"
        wait_for(lambda: any(t > sent for t, _ in seen), 10, "the re-send")
        t, block = next((t, b) for t, b in seen if t > sent)
        assert block.first == 11, "re-sent from the first unreleased record"
        assert 0.7 <= t - sent <= 0.7 * 1.5 + 1.0, f"re-sent after {t - sent:.2f} s"
        assert "central_busy" not in {a["code"] for a in uplink.all_alarms()}
    finally:
        running.close()
        central.loop_stop()


def test_busy_wait_is_each_gateways_own_draw_within_1_to_1_5(tmp_path):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(30)])
    outbox.seal()
    waits = []
    for i in range(40):                       # forty gateways told "busy" at the same moment
        uplink = Uplink(outbox, BrokerConfig("mqtt://127.0.0.1:1"), ack_timeout=5,
                        central_key=CENTRAL.public_hex, rng=random.Random(i))
        before = time.monotonic()
        uplink._on_ack(_busy(outbox, 0, 1, 2000))
        waits.append(uplink._busy_until - before)
        assert uplink.busy_for() > 0 and uplink.drain_state()["busy_for_s"] > 0
    assert all(2.0 <= w <= 3.0 + 0.05 for w in waits)
    assert len({round(w, 3) for w in waits}) > 30, "gateways would come back in lockstep"
    assert max(waits) > 2.6 and min(waits) < 2.4


def test_held_back_longer_than_ten_ack_timeouts_is_a_warning_and_an_ok_ack_clears_it(tmp_path):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(30)])
    outbox.seal()
    uplink = Uplink(outbox, BrokerConfig("mqtt://127.0.0.1:1"), ack_timeout=0.5,
                    central_key=CENTRAL.public_hex)
    uplink._on_ack(_busy(outbox, 0, 1, 100))
    uplink._check_busy(time.monotonic() + 4.0)                     # held 4 s < 10 x 0.5 s
    assert "central_busy" not in uplink.uplink_alarms
    uplink._check_busy(time.monotonic() + 6.0)
    alarm = uplink.uplink_alarms["central_busy"]
    assert alarm["level"] == "warning"
    ok = sign_ack(make_ack(outbox.gw, 10, outbox.hash_of(10) or "", "ok", 1), CENTRAL)
    uplink._on_ack(ok)
    assert "central_busy" not in uplink.uplink_alarms and outbox.acked_seq == 10
    # past capacity central acks committed blocks with busy acks: each one that releases
    # records is progress, so the warning does not come while records keep going
    for seq in (20, 30):                     # 4 s apart each (held 8 s in all, 4 s each)
        uplink._on_ack(_busy(outbox, seq, None, 100))
        uplink._busy_since -= 4.0
        uplink._check_busy(time.monotonic())
        assert "central_busy" not in uplink.uplink_alarms and outbox.acked_seq == seq
    uplink._on_ack(_busy(outbox, 30, None, 100))                   # nothing released
    uplink._check_busy(time.monotonic() + 2.0)                     # 4 + 2 s without progress
    assert uplink.uplink_alarms["central_busy"]["level"] == "warning"


def test_resend_wait_backs_off_with_jitter_per_gateway_and_is_bounded(tmp_path):
    outbox, _ = make_gateway(tmp_path / "o.db")
    runs = []
    for i in range(20):
        uplink = Uplink(outbox, BrokerConfig("mqtt://127.0.0.1:1"), ack_timeout=2.0,
                        backoff_max=30.0, rng=random.Random(100 + i))
        waits = []
        for k in range(10):
            uplink._timeouts = k
            waits.append(uplink._resend_wait())
        runs.append(waits)
        for k, w in enumerate(waits):
            base = min(2.0 * 2 ** k, 30.0)
            assert base <= w <= base * 1.5, (k, w)
    firsts = [r[0] for r in runs]
    assert len({round(w, 3) for w in firsts}) > 15, "gateways would re-send in lockstep"


def test_silent_central_resends_only_the_unacknowledged_and_waits_longer_each_time(
        tmp_path, mosquitto):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(30)])              # 3 blocks
    central, seen = _watch_blocks(mosquitto.url, outbox.gw)
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), window=8, ack_timeout=0.4, linger=0,
                    central_key=CENTRAL.public_hex, backoff_max=5.0)
    running = Running(uplink.run)
    try:
        wait_for(lambda: len(seen) >= 3, 10, "the first blocks")
        ok = sign_ack(make_ack(outbox.gw, 10, outbox.hash_of(10) or "", "ok", 1), CENTRAL)
        central.publish(topic(outbox.gw, "ack"), ok, qos=1).wait_for_publish(5)
        wait_for(lambda: outbox.acked_seq == 10, 10, "the ack of block 1")
        # central goes silent: three re-sends, each of blocks 2 and 3 only, further apart
        wait_for(lambda: sum(b.first == 11 for _, b in seen[3:]) >= 3, 15, "three re-sends")
        firsts = [(t, b.first) for t, b in list(seen)]
        assert all(first > 10 for _, first in firsts[3:]), "an acknowledged block was re-sent"
        starts = [t for t, first in firsts[3:] if first == 11]
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert len(gaps) >= 2 and gaps[1] >= 0.8 * 0.9, gaps       # 0.4 x 2 x [1, 1.5]
    finally:
        running.close()
        central.loop_stop()


def test_drain_progress_is_sane():
    assert drain_progress([], 100.0, 0, 0) == {"backlog": 0, "rate_per_s": 0.0, "eta_s": 0}
    assert drain_progress([(90.0, 10)], 100.0, 10, 500)["eta_s"] is None   # no rate yet
    d = drain_progress([(80.0, 1000), (90.0, 50_000), (100.0, 101_000)], 100.0, 101_000,
                       1_101_000)
    assert d == {"backlog": 1_000_000, "rate_per_s": 5000.0, "eta_s": 200}


def test_uplink_state_carries_drain_fields(tmp_path):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=10))
    outbox.append_many([{"n": i} for i in range(200)])
    outbox.seal()
    uplink = Uplink(outbox, BrokerConfig("mqtt://127.0.0.1:1"), window=2, drain_window=6,
                    central_key=CENTRAL.public_hex)
    for seq in (10, 20, 30):
        uplink._on_ack(sign_ack(make_ack(outbox.gw, seq, outbox.hash_of(seq) or "", "ok",
                                         seq - 9), CENTRAL))
    drain = uplink.state()["drain"]
    assert drain["backlog"] == 170 and drain["draining"] and drain["window"] == 6
    assert drain["rate_per_s"] >= 0 and (drain["eta_s"] is None or drain["eta_s"] >= 0)
    assert set(drain) == {"backlog", "rate_per_s", "eta_s", "draining", "window", "busy_for_s"}


_ops = st.lists(st.one_of(
    st.tuples(st.just("append"), st.integers(1, 40)),
    st.tuples(st.just("ack"), st.floats(0, 1)),
    st.tuples(st.just("purge_acked"), st.just(0)),
    st.tuples(st.just("purge"), st.integers(0, 60)),
    st.tuples(st.just("reopen"), st.just(0))), max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_incremental_row_count_equals_count_star(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("ob") / "o.db"
    outbox, signer = make_gateway(path, limits=Limits(max_block_records=7, retention_max_rows=50))
    try:
        for op, arg in ops:
            if op == "append":
                outbox.append_many([{"n": i} for i in range(arg)])
            elif op == "ack":
                outbox.seal()
                seq = outbox.acked_seq + int(arg * (outbox.sealed_seq - outbox.acked_seq))
                if seq > outbox.acked_seq:
                    outbox.ack(seq, outbox.hash_of(seq) or "")
            elif op == "purge_acked":
                outbox.purge_acked()
            elif op == "purge":
                outbox.purge(max_rows=arg or None)
            else:
                outbox.close()
                outbox = Outbox(path, outbox.gw, signer, outbox.limits)
            counted = sqlite3.connect(path).execute("SELECT count(*) FROM records").fetchone()[0]
            assert outbox.stats()["rows"] == counted
            reader = Outbox(path, outbox.gw, readonly=True)
            assert reader.stats()["rows"] == counted
            reader.close()
    finally:
        outbox.close()


@pytest.mark.parametrize("workers, per_day, days, expected", [
    (5000, 8, 30, 1_800_000), (200, 4, 30, 36_000), (1, 1, 1, 1000)])
def test_backlog_bound_is_sized_from_the_site(workers, per_day, days, expected):
    from uplink.outbox import backlog_bound
    assert backlog_bound(workers, per_day, days) == expected
