"""Outbox: durable, chained, bounded; full means a loud refusal and no committed record lost."""
from __future__ import annotations

import json
import os
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from spine import CENTRAL, make_gateway, start_central, wait_for
from uplink.sm2 import public_key_pem
from uplink.outbox import AckMismatch, Limits, Outbox, OutboxFull, alarms
from uplink.wire import ZERO_HASH, chain_hashes, decode_block
from procs import central_cmd, sitegate_cmd


def test_append_chains_and_persists(tmp_path):
    outbox, signer = make_gateway(tmp_path / "o.db")
    outbox.append_many([{"n": i} for i in range(10)])
    outbox.close()
    again = Outbox(tmp_path / "o.db", outbox.gw, signer)
    records = list(again.iter_records())
    assert [r["seq"] for r in records] == list(range(1, 11))
    hashes = chain_hashes(records, ZERO_HASH)
    assert hashes[-1] == again.head_hash
    again.append({"n": 10})
    assert again.head_seq == 11 and list(again.iter_records(10))[0]["prev"] == hashes[-1]


def test_outbox_refuses_another_gateways_file(tmp_path):
    make_gateway(tmp_path / "o.db", "gw-a")[0].close()
    with pytest.raises(ValueError, match="belongs to gateway"):
        make_gateway(tmp_path / "o.db", "gw-b")


def test_seal_splits_by_count_and_bytes_and_verifies(tmp_path):
    outbox, signer = make_gateway(tmp_path / "o.db", limits=Limits(max_block_records=7,
                                                                   max_block_bytes=4096))
    outbox.append_many([{"pad": "x" * 300, "n": i} for i in range(40)])
    assert outbox.seal() >= 6
    blocks = outbox.blocks_after(0, 100)
    assert blocks[0][0] == 1 and blocks[-1][1] == 40
    for (first, last, payload), nxt in zip(blocks, blocks[1:] + [None]):
        assert last - first + 1 <= 7 and len(payload) <= 4096 + 64
        b = decode_block(payload)
        from uplink.sm2 import Verifier
        assert Verifier(signer.public_hex).verify(b.signed, b.signature)
        if nxt:
            assert nxt[0] == last + 1


def test_ack_releases_only_matching_chain(tmp_path):
    outbox, _ = make_gateway(tmp_path / "o.db")
    outbox.append_many([{"n": i} for i in range(5)])
    outbox.seal()
    with pytest.raises(AckMismatch):
        outbox.ack(3, "f" * 64)
    assert outbox.acked_seq == 0
    with pytest.raises(AckMismatch):
        outbox.ack(9, outbox.head_hash)             # beyond what was sealed
    assert outbox.ack(3, outbox.hash_of(3)) and outbox.acked_seq == 3
    assert not outbox.ack(2, outbox.hash_of(2))     # never goes backwards


def test_retention_keeps_unacked_and_recent_rows(tmp_path):
    outbox, _ = make_gateway(tmp_path / "o.db", limits=Limits(retention_s=3600,
                                                              retention_max_rows=2))
    old = int(time.time() * 1000) - 7200_000
    outbox.append_many([{"n": i} for i in range(6)], ts_ms=old)
    outbox.append_many([{"n": i} for i in range(4)])
    outbox.seal()
    outbox.ack(8, outbox.hash_of(8))
    assert outbox.purge() == 6                       # old acked rows (1..6) go
    left = [r["seq"] for r in outbox.iter_records()]
    assert left == [7, 8, 9, 10]                     # recent acked 7, 8 kept; 9, 10 unacked
    outbox.append({"n": "after purge"})
    assert outbox.head_seq == 11                     # the chain continues after deletion


def test_count_bound_refuses_loudly_and_keeps_everything(tmp_path):
    limits = Limits(max_unacked=100)
    outbox, _ = make_gateway(tmp_path / "o.db", limits=limits)
    outbox.append_many([{"n": i} for i in range(60)])
    assert [a["code"] for a in alarms(outbox.stats(), limits)] == ["outbox_half"]
    outbox.append_many([{"n": i} for i in range(40)])
    with pytest.raises(OutboxFull, match="capture refused"):
        outbox.append({"n": "one too many"})
    assert outbox.head_seq == 100
    assert "outbox_full" in [a["code"] for a in alarms(outbox.stats(), limits)]
    assert [r["seq"] for r in outbox.iter_records()] == list(range(1, 101))


def test_disk_full_refuses_and_loses_no_committed_record(tmp_path):
    limits = Limits(max_db_bytes=200 * 1024)
    outbox, _ = make_gateway(tmp_path / "o.db", limits=limits)
    committed = 0
    with pytest.raises(OutboxFull, match="storage full"):
        for i in range(100_000):
            outbox.append({"pad": "y" * 200, "n": i})
            committed += 1
    codes = [a["code"] for a in alarms(outbox.stats(), limits)]
    assert "storage_error" in codes
    outbox.close()
    reopened = Outbox(tmp_path / "o.db", "gw-test-1", None, limits)
    records = list(reopened.iter_records())
    assert len(records) == committed > 100
    chain_hashes(records, ZERO_HASH)                 # intact chain, raises if broken


def _site(home, url, gw, **outbox):
    lines = ["[gateway]", f'id = "{gw}"', "[broker]", f'url = "{url}"', "[outbox]",
             *[f"{k} = {v}" for k, v in outbox.items()],
             "[uplink]", "ack_timeout_s = 2", "state_interval_s = 1",
             "[simulate]", "records = 0", "rate = 100"]
    (home / "site.toml").write_text("\n".join(lines) + "\n")
    # central's key (the in-thread central of spine signs with it): acks verify
    (home / "keys").mkdir(parents=True, exist_ok=True)
    (home / "keys" / "central.pub.pem").write_text(public_key_pem(CENTRAL.public_hex))
    return home / "site.toml"


def test_full_outbox_alarms_on_state_topic_and_status_then_drains(home, mosquitto, tmp_path):
    gw = "gw-full"
    site = _site(home, mosquitto.url, gw, max_unacked=150)
    env = dict(os.environ)
    subprocess.run(sitegate_cmd("keygen", "-c", str(site)), env=env, check=True,
                   capture_output=True)
    states = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    sub.on_message = lambda c, u, m: states.append(json.loads(m.payload))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe(f"sitegate/v1/{gw}/state", 1)
    sub.loop_start()
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # no central yet: nothing is acked, the backlog reaches the bound
        wait_for(lambda: any("outbox_full" in [a["code"] for a in s.get("alarms", [])]
                             for s in states), 30, "outbox_full alarm on the state topic")
        status = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"), env=env,
                                capture_output=True, text=True)
        assert status.returncode == 1
        report = json.loads(status.stdout)
        assert report["state"] == "alarm" and report["outbox"]["head_seq"] == 150
        assert "outbox_full" in [a["code"] for a in report["alarms"]]
        human = subprocess.run(sitegate_cmd("status", "-c", str(site)), env=env,
                               capture_output=True, text=True)
        assert "ALARM outbox_full" in human.stdout
        # central comes up: everything drains, nothing was lost, capture resumes
        subprocess.run(central_cmd("gateways", "add", gw, "--public-key",
                                   str(home / "keys" / "gateway.key.pem.pub")),
                       env=env, check=True, capture_output=True)
        store, _, _, central = start_central(f"sqlite:///{home / 'central' / 'central.db'}",
                                             mosquitto.url)
        try:
            wait_for(lambda: len(store.seqs(gw)) >= 200, 60, "backlog drained and capture resumed")
            seqs = store.seqs(gw)
            assert seqs == list(range(1, len(seqs) + 1))
            wait_for(lambda: states[-1]["state"] == "online", 20, "alarm cleared")
        finally:
            central.close()
    finally:
        daemon.terminate()
        daemon.wait(15)
        try:                                         # a clean stop marks the gateway offline
            wait_for(lambda: states[-1]["state"] == "offline", 10, "offline state")
        finally:
            sub.loop_stop()


def test_last_will_marks_a_killed_gateway_offline(home, mosquitto):
    gw = "gw-will"
    site = _site(home, mosquitto.url, gw)
    subprocess.run(sitegate_cmd("keygen", "-c", str(site)), check=True, capture_output=True)
    states = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    sub.on_message = lambda c, u, m: states.append(json.loads(m.payload))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe(f"sitegate/v1/{gw}/state", 1)
    sub.loop_start()
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: states and states[-1]["state"] != "offline", 20, "gateway online")
        daemon.kill()
        daemon.wait(10)
        wait_for(lambda: states[-1]["state"] == "offline", 20, "last will published")
    finally:
        sub.loop_stop()
