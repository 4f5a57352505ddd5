"""PostgreSQL storage and shared subscriptions: several receivers, one of them dying."""
from __future__ import annotations

import subprocess
import threading
import time

import sqlalchemy as sa

from central.audit import verify_gateway
from central.tables import attendance_days
from central.ingest import Ingest
from central.store import Store
from procs import central_cmd
from spine import make_gateway, start_central, start_uplink, wait_for
from uplink.outbox import Limits
from uplink.wire import ZERO_HASH, canonical, make_record, record_hash, seal_block


def test_postgres_store_is_idempotent_and_serialises_concurrent_blocks(postgres_url, tmp_path):
    store = Store(postgres_url)
    outbox, signer = make_gateway(tmp_path / "o.db", "gw-pg-1")
    store.add_gateway("gw-pg-1", signer.public_hex, project="P-001")
    prev, recs = ZERO_HASH, []
    for seq in range(1, 401):
        r = make_record("gw-pg-1", seq, prev, seq, "attendance", {"n": seq})
        prev = record_hash(canonical(r))
        recs.append(r)
    payloads = [seal_block(signer, "gw-pg-1", recs[i:i + 20], i) for i in range(0, 400, 20)]
    ingests = [Ingest(store), Ingest(store)]
    verdicts = []

    def feed(ingest, order):           # two receivers race over the same blocks
        for p in order:
            verdicts.append(ingest.handle("sitegate/v1/gw-pg-1/blocks", p).status)

    for _ in range(3):                 # re-sends until everything is in, as a gateway would
        threads = [threading.Thread(target=feed, args=(ingests[0], payloads)),
                   threading.Thread(target=feed, args=(ingests[1], payloads[::-1]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if store.gateway("gw-pg-1")["head_seq"] == 400:
            break
    for p in payloads:
        ingests[0].handle("sitegate/v1/gw-pg-1/blocks", p)
    assert store.seqs("gw-pg-1") == list(range(1, 401))
    assert verify_gateway(store, "gw-pg-1").ok
    assert "rejected" not in verdicts
    assert {"ok", "duplicate"} <= set(verdicts)


def test_shared_subscription_survives_a_dying_receiver(postgres_url, tmp_path, mosquitto):
    outbox, signer = make_gateway(tmp_path / "o.db", "gw-pg-2", limits=Limits(max_block_records=20))
    a = start_central(postgres_url, mosquitto.url, client_id="central-a", share="central")
    a[0].add_gateway("gw-pg-2", signer.public_hex, project="P-SHARED")
    ready = tmp_path / "b.ready"
    b = subprocess.Popen(central_cmd("run", "--db", postgres_url, "--broker", mosquitto.url,
                                     "--share", "central", "--client-id", "central-b",
                                     "--delay-ms", "20", "--ready-file", str(ready)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(ready.exists, 20, "receiver b subscribed")
    uplink, up = start_uplink(outbox, mosquitto.url, ack_timeout=2.0)
    try:
        for i in range(30):
            outbox.append_many([{"decision": "allow", "dir": "in", "worker": f"W{j % 50:03d}",
                                 "n": i * 100 + j} for j in range(100)],
                               ts_ms=1767225600000 + i * 86_400_000)   # one day per batch
            time.sleep(0.05)
            if i == 10:
                b.kill()               # kill -9 one receiver mid-stream, messages in flight
                b.wait(10)
        wait_for(lambda: outbox.acked_seq == 3000, 90, "all records acked via the survivor")
        assert a[0].seqs("gw-pg-2") == list(range(1, 3001))
        assert a[1].counters["records_ok"] < 3000, "the shared group never used receiver b"
        assert verify_gateway(a[0], "gw-pg-2").ok
        with a[0].engine.connect() as conn:     # derived attendance days: complete, once each
            days = conn.execute(sa.select(attendance_days.c.workerId, attendance_days.c.day)
                                .where(attendance_days.c.projectCode == "P-SHARED")).all()
        assert len(days) == len(set(days)) == 30 * 50
    finally:
        up.close()
        a[3].close()
        if b.poll() is None:
            b.kill()


def test_parked_blocks_wait_for_their_predecessor(postgres_url, tmp_path):
    """A block that overtakes its predecessor (another worker still verifying it) is parked,
    not answered with ``gap``; the predecessor's commit drains it and acks the whole run."""
    from central.tables import pending_blocks
    from uplink.wire import decode_ack
    store = Store(postgres_url)
    _, signer = make_gateway(tmp_path / "o.db", "gw-pg-park")
    store.add_gateway("gw-pg-park", signer.public_hex)
    prev, recs = ZERO_HASH, []
    for seq in range(1, 101):
        r = make_record("gw-pg-park", seq, prev, seq, "attendance", {"n": seq})
        prev = record_hash(canonical(r))
        recs.append(r)
    payloads = [seal_block(signer, "gw-pg-park", recs[i:i + 10], i) for i in range(0, 100, 10)]
    ingest = Ingest(store, park=True)
    topic = "sitegate/v1/gw-pg-park/blocks"
    verdicts = [ingest.handle(topic, p) for p in payloads[:0:-1]]       # 10, 9, ..., 2
    assert {v.status for v in verdicts} == {"parked"} and all(v.ack is None for v in verdicts)
    assert store.seqs("gw-pg-park") == []
    v = ingest.handle(topic, payloads[0])
    assert v.status == "ok" and decode_ack(v.ack)["seq"] == 100      # one cumulative ack
    assert store.seqs("gw-pg-park") == list(range(1, 101))
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pending_blocks).where(
            pending_blocks.c.gw_id == "gw-pg-park")).scalar() == 0
    assert ingest.handle(topic, payloads[5]).status == "duplicate"
    assert verify_gateway(store, "gw-pg-park").ok
