"""Central under load (issue 17): admission and the busy ack, batched commits, the registry
cache, replays counted, parked blocks expired, and the ack connection on the shipped broker."""
from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.admission import RETRY_MAX_MS, RETRY_MIN_MS, RETRY_STEPS, Admission, quantize
from central.ingest import Ingest
from central.receiver import Receiver
from central.store import Store
from shipped_broker import start_shipped_broker
from spine import CENTRAL, Running, wait_for
from uplink.broker import BrokerConfig
from uplink.sm2 import Signer, Verifier, generate_private_key
from uplink.wire import ZERO_HASH, canonical, decode_block, make_record, open_ack, \
    record_hash, seal_block

pytestmark = pytest.mark.timeout(120)


def blocks_of(signer, gw, n_blocks, per=3, start=1, prev=ZERO_HASH):
    out, seq = [], start - 1
    for b in range(n_blocks):
        recs = []
        for _ in range(per):
            seq += 1
            r = make_record(gw, seq, prev, 1_767_225_600_000 + seq * 60_000, "attendance",
                            {"decision": "allow", "dir": "in", "worker": f"W{seq % 3:03d}"})
            prev = record_hash(canonical(r))
            recs.append(r)
        out.append(seal_block(signer, gw, recs, 1_767_225_600_000 + b))
    return out


# ---------------------------------------------------------------- admission (sans-I/O)
class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_admission_never_answers_busy_below_the_wait_target():
    clock = Clock()
    a = Admission(busy_after_ms=2000, queue_max=5000, min_depth=10, initial_rate=400.0,
                  clock=clock)
    # up to 2 s of work queued (800 blocks at 400/s) every gateway is taken, however many
    assert {a.offer(f"gw-{i}", depth=d).action
            for i, d in enumerate(range(0, 801, 7))} == {"take"}
    assert a.offer("gw-x", depth=801).action == "busy"
    assert a.offer("gw-y", depth=5).action == "take"            # below min_depth


def test_admission_busy_gives_each_gateway_a_turn_then_holds_it_back():
    clock = Clock()
    a = Admission(busy_after_ms=2000, queue_max=1000, min_depth=10, initial_rate=100.0,
                  clock=clock)
    assert a.offer("gw-1", depth=5).action == "take"            # below min_depth
    assert a.offer("gw-1", depth=150).action == "take"          # 1.5 s of work: fine
    d = a.offer("gw-2", depth=300, blocks=8)                    # 3 s of work: busy
    # its turn starts when the queue has drained: in 3 s; it waits retry_after x U[1, 1.5]
    # (1.25 on average), so it is asked for 3 / 1.25 = 2.4 s (a step of ~25 %)
    assert d.action == "busy" and d.wait_ms == 3000 and d.retry_after_ms == 2400
    # the next gateway told busy comes after gw-2's 8 blocks (8 / 100 per s): 3 + 0.08 s;
    # the one after that after its 8 blocks more ...
    turns = [a.offer(f"gw-t{i}", depth=300, blocks=8).retry_after_ms for i in range(200)]
    assert turns == sorted(turns) and turns[0] == quantize(3080 / 1.25) and \
        turns[-1] == quantize((3000 + 200 * 80) / 1.25) == 14600
    assert abs(a.horizon - clock.t - 3 - 201 * 8 / 100) < 1e-6
    # gw-2 was told to wait: what it had in flight is dropped, one busy per interval
    assert a.offer("gw-2", depth=0).action == "drop"
    clock.t += 3.1
    assert a.offer("gw-2", depth=0).action == "take"
    # hard bounds whatever the rate; retry_after within 1 s .. 60 s
    assert a.offer("gw-3", depth=1000).action == "busy"
    b = Admission(initial_rate=100.0, clock=clock)
    assert b.offer("gw-4", depth=20, nbytes=1 << 30).retry_after_ms == RETRY_MIN_MS
    b.rate = 1.0
    assert b.offer("gw-6", depth=900).retry_after_ms == RETRY_MAX_MS
    assert all(RETRY_MIN_MS <= s <= RETRY_MAX_MS for s in RETRY_STEPS)


def test_a_gateway_back_at_its_turn_is_taken_past_the_target_newcomers_are_not():
    clock = Clock()
    a = Admission(busy_after_ms=1000, min_depth=10, initial_rate=100.0, clock=clock)
    d = a.offer("gw-1", depth=150, blocks=3)           # 1.5 s of work: busy, turn in 1.5 s
    assert d.action == "busy" and d.retry_after_ms == quantize(1500 / 1.25)
    clock.t += d.retry_after_ms / 1000
    # back at its turn the queue is full again (others came): gw-1 is still taken, up to
    # twice the target, for its window and the next one (turn_s = 3 s)
    assert [a.offer("gw-1", depth=d).action for d in (150, 190, 199)] == ["take"] * 3
    assert a.offer("gw-new", depth=150).action == "busy"
    clock.t += 2.9
    assert a.offer("gw-1", depth=150).action == "take"
    clock.t += 0.2                                      # its turn is over: a newcomer again
    assert a.offer("gw-1", depth=150).action == "busy"
    # past twice the target even a gateway at its turn waits for another
    b = Admission(busy_after_ms=1000, min_depth=10, initial_rate=100.0, clock=clock)
    d = b.offer("gw-2", depth=150)
    clock.t += d.retry_after_ms / 1000
    assert b.offer("gw-2", depth=201).action == "busy"


def test_an_ack_says_busy_when_the_gateways_next_block_would_be_told_busy():
    """after_commit: the same rule as offer, decided when the worker acks (wire.md §4.2
    step 0): below the target ok; above it busy with a turn, the blocks the gateway had in
    flight dropped until then; a gateway at its turn gets ok up to twice the target."""
    clock = Clock()
    a = Admission(busy_after_ms=1000, min_depth=10, initial_rate=100.0, clock=clock)
    assert a.after_commit("gw-1", depth=90, blocks=3).action == "take"     # 0.9 s: ok
    d = a.after_commit("gw-1", depth=150, blocks=3)                        # 1.5 s: busy
    assert d.action == "busy" and d.retry_after_ms == quantize(1500 / 1.25)
    assert a.offer("gw-1", depth=0).action == "drop"        # in flight before it heard
    # the next gateway's turn comes after the 3 blocks gw-1 is expected to bring again
    assert a.after_commit("gw-2", depth=150).retry_after_ms == quantize((1500 + 30) / 1.25)
    clock.t += d.retry_after_ms / 1000
    assert a.offer("gw-1", depth=150).action == "take"      # back at its turn
    assert a.after_commit("gw-1", depth=190, blocks=3).action == "take"   # promise kept
    assert a.after_commit("gw-1", depth=201, blocks=3).action == "busy"   # past twice


def test_admission_learns_the_rate_from_full_batches():
    a = Admission(initial_rate=100.0)
    for _ in range(50):
        a.done(64, 0.064)            # 1,000 blocks/s
    assert 900 < a.rate <= 1000
    a.done(0, 1.0)
    a.done(5, 0.0)                   # nothing learnt from empty or instant batches
    for _ in range(50):
        a.done(1, 0.005)             # nor from batches of one (a lightly loaded worker)
    assert 900 < a.rate <= 1000


# ---------------------------------------------------------------- batches, cache, counters
@pytest.fixture
def central(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    yield store
    store.close()


def test_a_batch_of_interleaved_gateways_commits_in_one_go(central):
    a, b = Signer(generate_private_key()), Signer(generate_private_key())
    central.add_gateway("gw-a", a.public_hex, project="P-1")
    central.add_gateway("gw-b", b.public_hex, project="P-1")
    ingest = Ingest(central)
    ba, bb = blocks_of(a, "gw-a", 3), blocks_of(b, "gw-b", 2)
    msgs = [("gw-a", ba[0]), ("gw-b", bb[0]), ("gw-a", ba[1]), ("gw-a", ba[0]),
            ("gw-b", bb[1]), ("gw-a", ba[2]), ("gw-b", bb[1])]
    prepared = [ingest.prepare(f"sitegate/v1/{gw}/blocks", p) for gw, p in msgs]
    verdicts = ingest.commit(prepared)
    assert [v.status for v in verdicts] == ["ok", "ok", "ok", "duplicate", "ok", "ok",
                                            "duplicate"]
    assert central.seqs("gw-a") == list(range(1, 10)) and central.seqs("gw-b") == [1, 2, 3, 4, 5, 6]
    assert ingest.counters["batch_retried"] == 0
    # replays are counted on the gateway's row, not one rejection row each
    assert central.gateway("gw-a")["replays"] == 1 and central.gateway("gw-b")["replays"] == 1
    assert central.rejection_counts() == {"replay": 2}
    with central.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM rejections").scalar() == 0
        # attendance days as if the blocks had been committed one by one
        days = conn.exec_driver_sql("SELECT count(*) FROM attendance_days").scalar()
    assert days == 3                  # W000..W002, one day


def test_a_gap_inside_a_batch_and_a_refused_block_stay_exact(central):
    a = Signer(generate_private_key())
    central.add_gateway("gw-a", a.public_hex)
    ingest = Ingest(central)
    ba = blocks_of(a, "gw-a", 3)
    verdicts = ingest.commit([ingest.prepare("sitegate/v1/gw-a/blocks", p)
                              for p in (ba[0], ba[2], ba[1])])
    assert [v.status for v in verdicts] == ["ok", "gap", "ok"]
    assert central.seqs("gw-a") == list(range(1, 7))


def test_the_cache_follows_a_key_rotation_and_a_disabled_gateway(central):
    old, new = Signer(generate_private_key()), Signer(generate_private_key())
    central.add_gateway("gw-r", old.public_hex)
    ingest = Ingest(central)
    first = blocks_of(old, "gw-r", 1)[0]
    assert ingest.handle("sitegate/v1/gw-r/blocks", first).status == "ok"   # key now cached
    central.add_gateway("gw-r", new.public_hex, replace=True)               # another process
    prev = decode_block(first).head
    by_old = blocks_of(old, "gw-r", 1, start=4, prev=prev)[0]
    prepared = ingest.prepare("sitegate/v1/gw-r/blocks", by_old)   # verifies on the cached key
    v = ingest.commit([prepared])[0]
    assert v.status == "rejected" and v.kind == "bad_signature"    # the locked row says no
    by_new = blocks_of(new, "gw-r", 1, start=4, prev=prev)[0]
    assert ingest.handle("sitegate/v1/gw-r/blocks", by_new).status == "ok"
    with central.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE gateways SET enabled = false WHERE gw_id = 'gw-r'")
    more = blocks_of(new, "gw-r", 1, start=7, prev=decode_block(by_new).head)[0]
    v = ingest.handle("sitegate/v1/gw-r/blocks", more)
    assert v.kind == "unknown_gateway" and v.ack is None
    assert central.seqs("gw-r") == list(range(1, 7))


def test_the_registry_read_at_start_answers_first_blocks_without_a_query_and_stays_exact(
        central):
    """A central restarted under load reads every gateway's key and head once, not once per
    gateway on its first block; what changed after that read is still refused by the row."""
    a, old, new = (Signer(generate_private_key()) for _ in range(3))
    central.add_gateway("gw-a", a.public_hex)
    central.add_gateway("gw-k", old.public_hex)
    central.add_gateway("gw-d", a.public_hex)
    ingest = Ingest(central)
    assert ingest.preload_heads() == 3
    central.add_gateway("gw-k", new.public_hex, replace=True)     # re-keyed after the read
    with central.engine.begin() as conn:                           # disabled after the read
        conn.exec_driver_sql("UPDATE gateways SET enabled = false WHERE gw_id = 'gw-d'")
    reads: list[str] = []
    read = central.gateway
    central.gateway = lambda gw: reads.append(gw) or read(gw)     # type: ignore[method-assign]
    assert ingest.handle("sitegate/v1/gw-a/blocks", blocks_of(a, "gw-a", 1)[0]).status == "ok"
    assert reads == [], "the first block of a preloaded gateway read the registry"
    v = ingest.handle("sitegate/v1/gw-k/blocks", blocks_of(old, "gw-k", 1)[0])
    assert v.status == "rejected" and v.kind == "bad_signature"   # the locked row says no
    assert ingest.handle("sitegate/v1/gw-k/blocks",
                         blocks_of(new, "gw-k", 1)[0]).status == "ok"
    v = ingest.handle("sitegate/v1/gw-d/blocks", blocks_of(a, "gw-d", 1)[0])
    assert v.kind == "unknown_gateway" and v.ack is None
    assert central.seqs("gw-a") == [1, 2, 3] and central.seqs("gw-k") == [1, 2, 3]
    assert central.seqs("gw-d") == []


def test_parked_blocks_expire_with_a_count(central):
    a = Signer(generate_private_key())
    central.add_gateway("gw-p", a.public_hex)
    ingest = Ingest(central, park=True)
    ba = blocks_of(a, "gw-p", 4)
    assert ingest.handle("sitegate/v1/gw-p/blocks", ba[2]).status == "parked"
    assert ingest.handle("sitegate/v1/gw-p/blocks", ba[3]).status == "parked"
    assert central.counts("gw-p")["parked"] == 2
    assert central.expire_parked(60_000) == {}                     # young: kept
    from central.store import now_ms
    assert central.expire_parked(60_000, now=now_ms() + 61_000) == {"gw-p": 2}
    assert central.expire_parked(60_000, now=now_ms() + 61_000) == {}   # counted once
    reg = central.gateway("gw-p")
    assert reg["parked_expired"] == 2 and reg["last_parked_expired_at"]
    assert central.counts("gw-p")["parked"] == 0 and central.seqs("gw-p") == []
    # the gateway's re-send from its first unacknowledged record brings everything in
    for p in ba:
        ingest.handle("sitegate/v1/gw-p/blocks", p)
    assert central.seqs("gw-p") == list(range(1, 13))


def test_two_workers_interleaved_blocks_are_stored_once_in_order_acked_cumulatively(central):
    """A shared subscription deals one gateway's window round-robin: worker B's batch holds
    blocks 2, 4, 6, 8 (all ahead of the head: parked in B's own transaction, no ack), worker
    A's batch 1, 3, 5, 7: A's one transaction commits its blocks and drains B's parked ones
    in chain order, and A sends ONE ack covering all 8.  Two transactions in all."""
    from sqlalchemy import event
    a = Signer(generate_private_key())
    central.add_gateway("gw-i", a.public_hex, project="P-1")
    ba = blocks_of(a, "gw-i", 10)
    commits = []
    event.listen(central.engine, "commit", lambda conn: commits.append(1))
    workers = [Receiver(Ingest(central, park=True), BrokerConfig("mqtt://127.0.0.1:1"),
                        signer=CENTRAL, client_id=f"central-{k}", ack_connection=False)
               for k in range(2)]
    sent: list[list[bytes]] = [[], []]
    for k, w in enumerate(workers):
        w._publish_ack = lambda t, payload, k=k: sent[k].append(payload)
    topic_name = "sitegate/v1/gw-i/blocks"
    workers[1]._process([(0.0, topic_name, p, "gw-i") for p in ba[1:8:2]])     # B: 2, 4, 6, 8
    assert sent[1] == [] and central.seqs("gw-i") == [] and central.counts("gw-i")["parked"] == 4
    workers[0]._process([(0.0, topic_name, p, "gw-i") for p in ba[0:8:2]])     # A: 1, 3, 5, 7
    assert central.seqs("gw-i") == list(range(1, 25))
    assert central.counts("gw-i")["parked"] == 0 and len(commits) == 2
    acks = [open_ack(x, Verifier(CENTRAL.public_hex), "gw-i") for x in sent[0]]
    assert [(x["status"], x["seq"]) for x in acks] == [("ok", 24)] and sent[1] == []
    assert [b["first"] for b in central.iter_blocks("gw-i")] == list(range(1, 25, 3))
    # the other order (B's batch after A's), and re-sends: still once, in order, idempotent
    workers[0]._process([(0.0, topic_name, p, "gw-i") for p in (ba[9], ba[3])])  # 10 parked, 4 dup
    workers[1]._process([(0.0, topic_name, p, "gw-i") for p in (ba[8], ba[9], ba[7])])
    assert central.seqs("gw-i") == list(range(1, 31)) and central.counts("gw-i")["parked"] == 0
    assert [open_ack(x, Verifier(CENTRAL.public_hex), "gw-i")["seq"] for x in sent[1]][-2:] \
        == [30, 30]     # 9 drained 10 (its ack: 30); 10 and 8 again: duplicates at 30
    assert central.gateway("gw-i")["replays"] == 3       # 4, then 10 and 8
    from central.audit import verify_gateway
    assert verify_gateway(central, "gw-i").ok


def test_a_worker_past_capacity_acks_committed_blocks_with_one_busy_ack(central):
    """The blocks are stored and released by ONE signed ack that also says busy (its head is
    the committed one, ref null); a gateway with a message still queued gets its ok (its
    queued block comes next); with room again, ok."""
    a, b = Signer(generate_private_key()), Signer(generate_private_key())
    central.add_gateway("gw-x", a.public_hex)
    central.add_gateway("gw-y", b.public_hex)
    bx, by = blocks_of(a, "gw-x", 4), blocks_of(b, "gw-y", 2)
    admission = Admission(queue_max=0)                  # every decision: past capacity
    w = Receiver(Ingest(central), BrokerConfig("mqtt://127.0.0.1:1"), signer=CENTRAL,
                 admission=admission, ack_connection=False)
    sent: list[bytes] = []
    w._publish_ack = lambda t, payload: sent.append(payload)
    w._queued["gw-y"] = 1                               # gw-y's next block is still queued
    w._process([(0.0, "sitegate/v1/gw-x/blocks", bx[0], "gw-x"),
                (0.0, "sitegate/v1/gw-y/blocks", by[0], "gw-y"),
                (0.0, "sitegate/v1/gw-x/blocks", bx[1], "gw-x")])
    acks = [open_ack(x, Verifier(CENTRAL.public_hex), "gw-x" if b'"gw":"gw-x"' in x else "gw-y")
            for x in sent]
    assert [(k["gw"], k["status"], k["seq"], k["ref"]) for k in acks] == [
        ("gw-y", "ok", 3, 1), ("gw-x", "busy", 6, None)]
    assert acks[1]["head"] == central.gateway("gw-x")["head_hash"]
    assert RETRY_MIN_MS <= acks[1]["retry_after_ms"] <= RETRY_MAX_MS
    assert central.seqs("gw-x") == list(range(1, 7)) and central.seqs("gw-y") == [1, 2, 3]
    assert w.counters["busy_at_ack"] == 1 and w._busy_acks["gw-x"][2] == sent[1]
    admission.queue_max = 5000                           # room again
    w._queued.clear()
    w._process([(0.0, "sitegate/v1/gw-x/blocks", bx[2], "gw-x")])
    assert open_ack(sent[-1], Verifier(CENTRAL.public_hex), "gw-x")["status"] == "ok"


# ---------------------------------------------------------------- busy over MQTT
def wait_or_false(predicate, timeout):
    try:
        wait_for(predicate, timeout, "")
    except AssertionError:
        return False
    return True


def _gateway_client(url_port, gw, got, user=None, password=None, tls_ca=None):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw)
    if user:
        c.username_pw_set(user, password)
    if tls_ca:
        c.tls_set(ca_certs=tls_ca)
    subscribed = threading.Event()
    c.on_message = lambda cl, u, m: got.append(bytes(m.payload))
    c.on_subscribe = lambda *a: subscribed.set()
    c.on_connect = lambda cl, *a: cl.subscribe(f"sitegate/v1/{gw}/ack", qos=1)
    c.connect("127.0.0.1", url_port)
    c.loop_start()
    assert subscribed.wait(10)
    return c


def test_a_central_at_capacity_answers_busy_signed_once_per_interval(tmp_path, mosquitto):
    """Busy, then the blocks in flight dropped, then (next interval) the same signed busy
    ack reused; when central has room the gateway's re-send is stored exactly once."""
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    a = Signer(generate_private_key())
    store.add_gateway("gw-busy", a.public_hex)
    ba = blocks_of(a, "gw-busy", 3)
    ingest = Ingest(store)
    assert ingest.handle("sitegate/v1/gw-busy/blocks", ba[0]).status == "ok"
    head = store.gateway("gw-busy")
    clock = Clock()
    admission = Admission(queue_max=0, clock=clock)
    receiver = Receiver(Ingest(store), BrokerConfig(mosquitto.url), signer=CENTRAL,
                        client_id="central-busy", admission=admission)
    running = Running(receiver.run)
    got: list[bytes] = []
    gw = _gateway_client(mosquitto.port, "gw-busy", got)
    try:
        assert receiver.connected.wait(10)
        for _ in range(20):        # until the receiver's subscription is in place
            gw.publish("sitegate/v1/gw-busy/blocks", ba[1], qos=1).wait_for_publish(5)
            if wait_or_false(lambda: receiver.counters["busy"], 1.0):
                break
        wait_for(lambda: got, 10, "a busy ack")
        dropped = receiver.counters["busy_dropped"]
        gw.publish("sitegate/v1/gw-busy/blocks", ba[2], qos=1)    # same interval: no answer
        wait_for(lambda: receiver.counters["busy_dropped"] > dropped, 10, "dropped")
        ack = open_ack(got[0], Verifier(CENTRAL.public_hex), "gw-busy")    # signed by central
        assert ack["status"] == "busy" and ack["reason"].startswith("busy: ")
        assert ack["retry_after_ms"] == RETRY_MIN_MS          # nothing queued: the shortest
        # ref null: one signed busy ack answers whichever block of the gateway came
        assert ack["ref"] is None and (ack["seq"], ack["head"]) == (head["head_seq"],
                                                                    head["head_hash"])
        assert len(got) == 1 and receiver.counters["busy"] == 1
        # the next interval: the same head and step, the same signed bytes (no new signature)
        clock.t += 1.0
        gw.publish("sitegate/v1/gw-busy/blocks", ba[1], qos=1)
        wait_for(lambda: len(got) == 2, 10, "the second busy ack")
        assert got[1] == got[0] and receiver.counters["busy_cached"] == 1
        assert store.seqs("gw-busy") == [1, 2, 3], "a busy block was stored"
        assert receiver._acks_own, "acks did not get their own connection"
        # room again: the gateway re-sends from its first unreleased record; the dropped
        # block comes with it and everything is stored once
        admission.queue_max = 5000
        clock.t += 1.0
        for block in ba[1:]:
            gw.publish("sitegate/v1/gw-busy/blocks", block, qos=1)
        wait_for(lambda: store.seqs("gw-busy") == list(range(1, 10)), 10, "the re-send stored")
        wait_for(lambda: any(open_ack(g, Verifier(CENTRAL.public_hex), "gw-busy")["seq"] == 9
                             for g in got), 10, "the ack of the re-send")
        assert [open_ack(g, Verifier(CENTRAL.public_hex), "gw-busy")["status"]
                for g in got[2:]] == ["ok"] * len(got[2:])
    finally:
        gw.loop_stop()
        running.close()
        store.close()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    b = start_shipped_broker(tmp_path_factory.mktemp("shipped"), gateways=["gw-s"],
                             centrals=["central-1"])
    yield b
    b.stop()


def test_the_ack_connection_is_allowed_by_the_shipped_policy_and_gateways_are_not(tmp_path,
                                                                                   shipped):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    s = Signer(generate_private_key())
    store.add_gateway("gw-s", s.public_hex)
    receiver = Receiver(Ingest(store), shipped.cfg("central-1"), signer=CENTRAL, share="central")
    running = Running(receiver.run)
    got: list[bytes] = []
    try:
        assert receiver.connected.wait(15) and receiver._acks_own
        gw = _gateway_client(shipped.tls_port, "gw-s", got, "gw-s", shipped.passwords["gw-s"],
                             str(shipped.pki / "ca.pem"))
        gw.publish("sitegate/v1/gw-s/blocks", blocks_of(s, "gw-s", 1)[0], qos=1)
        wait_for(lambda: got, 15, "the ack, on central-1.acks")
        assert open_ack(got[0], Verifier(CENTRAL.public_hex), "gw-s")["status"] == "ok"
        gw.loop_stop()
        # a gateway's password does not open central's ack account, nor its client id
        refused = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-1.acks")
        c.username_pw_set("gw-s", shipped.passwords["gw-s"])
        c.tls_set(ca_certs=str(shipped.pki / "ca.pem"))
        c.on_connect = lambda cl, u, f, rc, p: refused.set() if rc.is_failure else None
        c.on_disconnect = lambda *a: refused.set()
        c.connect("127.0.0.1", shipped.tls_port)
        c.loop_start()
        assert refused.wait(10)
        c.loop_stop()
    finally:
        running.close()
        store.close()
