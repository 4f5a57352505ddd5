"""Tampering: every kind of bad input is rejected with a reason, nothing bad is stored,
and the receiver keeps serving."""
from __future__ import annotations

import json

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.audit import verify_gateway
from central.ingest import Ingest
from central.store import Store
from spine import make_gateway, start_central, start_uplink, wait_for
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import ZERO_HASH, canonical, decode_ack, make_record, record_hash, seal_block

GW = "gw-tamper"
TOPIC = f"sitegate/v1/{GW}/blocks"


def chain(n, start=1, prev=ZERO_HASH, gw=GW):
    out = []
    for seq in range(start, start + n):
        r = make_record(gw, seq, prev, 1_700_000_000_000 + seq, "attendance",
                        {"worker": f"W{seq:06d}", "dir": "in"})
        prev = record_hash(canonical(r))
        out.append(r)
    return out


@pytest.fixture
def setup(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    signer = Signer(generate_private_key())
    store.add_gateway(GW, signer.public_hex)
    return store, Ingest(store, max_payload=64 * 1024), signer


def test_each_tampering_is_rejected_with_its_reason(setup):
    store, ingest, signer = setup
    recs = chain(12)
    good1 = seal_block(signer, GW, recs[:4], 1)
    good2 = seal_block(signer, GW, recs[4:8], 2)
    good3 = seal_block(signer, GW, recs[8:12], 3)
    v = ingest.handle(TOPIC, good1)
    assert v.status == "ok" and decode_ack(v.ack)["seq"] == 4

    altered = bytearray(good2)
    i = altered.index(b"W000006")
    altered[i:i + 7] = b"W999999"          # a record changed: its successor no longer links
    resealed = bytearray(good2)
    i = resealed.index(b'"sealed":2')
    resealed[i:i + 10] = b'"sealed":9'     # still canonical and chained: only the signature fails
    forger = Signer(generate_private_key())
    dropped = seal_block(signer, GW, recs[4:5] + recs[6:8], 4)    # record 6 removed
    reordered = seal_block(signer, GW, [recs[5], recs[4]] + recs[6:8], 5)
    unknown_topic = "sitegate/v1/gw-nobody/blocks"
    cases = [
        ("altered record", TOPIC, bytes(altered), "broken_chain"),
        ("altered block", TOPIC, bytes(resealed), "bad_signature"),
        ("forged", TOPIC, seal_block(forger, GW, recs[4:8], 2), "bad_signature"),
        ("dropped", TOPIC, dropped, "broken_chain"),
        ("reordered", TOPIC, reordered, "broken_chain"),
        ("unknown gateway", unknown_topic, seal_block(forger, "gw-nobody", chain(2, gw="gw-nobody"), 1),
         "unknown_gateway"),
        ("gateway mismatch", "sitegate/v1/gw-tamper/blocks",
         seal_block(signer, "gw-other", chain(2, gw="gw-other"), 1), "gateway_mismatch"),
        ("not json", TOPIC, b"hello world" + bytes(64), "malformed"),
        ("not canonical", TOPIC, b'{ "v": 1 }' + bytes(64), "malformed"),
        ("float", TOPIC, canonical({"a": 1}).replace(b"1", b"1.5") + bytes(64), "malformed"),
        ("too short", TOPIC, b"{}", "malformed"),
        ("wrong fields", TOPIC, canonical({"type": "block", "v": 1}) + bytes(64), "malformed"),
        ("oversized", TOPIC, b"x" * (64 * 1024 + 1), "oversized"),
        ("bad topic", "sitegate/v1/gw-tamper/other", good2, "bad_topic"),
    ]
    for name, topic, payload, kind in cases:
        v = ingest.handle(topic, payload)
        assert v.status == "rejected", name
        assert v.kind == kind, (name, v.kind, v.reason)
        assert v.reason, name
    assert store.seqs(GW) == [1, 2, 3, 4], "a rejected block changed the store"

    # a gap is not stored and not acked past; the ack names what central still needs
    v = ingest.handle(TOPIC, good3)
    assert v.status == "gap" and decode_ack(v.ack)["seq"] == 4
    # replaying an already stored block stores nothing and re-acks the head
    v = ingest.handle(TOPIC, good1)
    assert v.status == "duplicate" and v.kind == "replay" and decode_ack(v.ack)["seq"] == 4
    # the receiver keeps serving: the real continuation is accepted
    assert ingest.handle(TOPIC, good2).status == "ok"
    assert ingest.handle(TOPIC, good3).status == "ok"
    assert store.seqs(GW) == list(range(1, 13))
    assert verify_gateway(store, GW).ok
    kinds = store.rejection_counts()
    for kind in ("bad_signature", "broken_chain", "unknown_gateway", "malformed", "oversized",
                 "replay", "gateway_mismatch"):
        assert kinds.get(kind, 0) >= 1, kind


def test_conflicting_history_for_stored_seqs_is_rejected(setup):
    store, ingest, signer = setup
    recs = chain(4)
    assert ingest.handle(TOPIC, seal_block(signer, GW, recs, 1)).status == "ok"
    fork = chain(4)
    fork[3] = make_record(GW, 4, fork[3]["prev"], 5, "attendance", {"worker": "W-forged"})
    v = ingest.handle(TOPIC, seal_block(signer, GW, fork, 2))
    assert v.status == "rejected" and v.kind == "conflict"
    rows = json.loads(canonical([r for r in recs]))
    assert store.seqs(GW) == [r["seq"] for r in rows]


def test_receiver_survives_garbage_over_the_broker(tmp_path, mosquitto):
    outbox, signer = make_gateway(tmp_path / "outbox.db", GW)
    store, ingest, _, central = start_central(f"sqlite:///{tmp_path / 'c.db'}", mosquitto.url)
    store.add_gateway(GW, signer.public_hex)
    evil = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="evil")
    evil.connect("127.0.0.1", mosquitto.port)
    evil.loop_start()
    try:
        for payload in (b"", b"\xff" * 100, b"{" * 5000, bytes(600 * 1024)):
            evil.publish(TOPIC, payload, qos=1).wait_for_publish(5)
        evil.publish("sitegate/v1/../blocks", b"x", qos=1).wait_for_publish(5)
        wait_for(lambda: ingest.counters["rejected"] >= 4, 10, "rejections counted")
        uplink, up = start_uplink(outbox, mosquitto.url)
        outbox.append_many([{"worker": f"W{i:06d}"} for i in range(300)])
        wait_for(lambda: outbox.acked_seq == 300, 30, "records after the garbage")
        up.close()
        assert store.seqs(GW) == list(range(1, 301))
    finally:
        evil.loop_stop()
        central.close()
