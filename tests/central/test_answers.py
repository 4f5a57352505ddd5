"""Central answers every correctly signed block: stored, or a definite ``rejected`` ack whose
reason starts with a word of the documented vocabulary (docs/wire.md §4.2) -- never silence,
never an exception -- on SQLite and on PostgreSQL."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.audit import verify_gateway
from central.ingest import Ingest
from central.store import Store
from central import unstored
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import MAX_INT, block_body, canonical, decode_ack, record_hash

# the rejection vocabulary of docs/wire.md §4.2 (kinds that are answered)
ANSWERED = {"malformed", "oversized", "limit", "broken_chain", "gateway_mismatch",
            "bad_signature", "conflict", "unstorable"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'central.db'}")
    else:
        s = Store(request.getfixturevalue("postgres_db"))
    yield s
    s.close()


class Gateway:
    """A gateway that signs whatever records it is handed (no wire checks of its own, like an
    older or broken gateway would), chained on central's current head."""

    def __init__(self, store: Store) -> None:
        self.gw = f"gw-{uuid.uuid4().hex[:10]}"
        self.signer = Signer(generate_private_key())
        self.store = store
        store.add_gateway(self.gw, self.signer.public_hex, project="P-ANSWERS")
        self.topic = f"sitegate/v1/{self.gw}/blocks"

    def block(self, items: list[tuple[int, str, dict]], sealed: int = 1_767_225_600_000,
              start: int | None = None, prev: str | None = None) -> bytes:
        reg = self.store.gateway(self.gw)
        seq = reg["head_seq"] + 1 if start is None else start
        prev = reg["head_hash"] if prev is None else prev
        records = []
        for ts, type_, body in items:
            r = {"body": body, "gw": self.gw, "prev": prev, "seq": seq, "ts": ts, "type": type_,
                 "v": 1}
            prev = record_hash(canonical(r))
            records.append(r)
            seq += 1
        signed = block_body(self.gw, records, sealed)
        return signed + self.signer.sign(signed)


def answered(verdict, ingest_store: Store, gw: str) -> dict:
    """The verdict is an answer: ok, or rejected with a vocabulary reason; returns the ack."""
    assert verdict.ack is not None and verdict.ack_topic == f"sitegate/v1/{gw}/ack", verdict
    ack = decode_ack(verdict.ack)
    assert verdict.status in ("ok", "rejected") and ack["status"] == verdict.status
    if verdict.status == "rejected":
        assert verdict.kind in ANSWERED, verdict
        assert ack["reason"].split(":", 1)[0] == verdict.kind
        assert ack["seq"] == ingest_store.gateway(gw)["head_seq"]
    return ack


POISON = {
    "ts 2^53-1": (MAX_INT, "attendance", {"decision": "allow", "dir": "in", "worker": "W1"}),
    "40-char type": (1_767_225_600_000, "t" * 40, {"n": 1}),
    "300-char worker": (1_767_225_600_000, "attendance",
                        {"decision": "allow", "dir": "in", "worker": "W" * 300}),
    "NUL in worker": (1_767_225_600_000, "attendance",
                      {"decision": "allow", "dir": "in", "worker": "W\x001"}),
    "NUL in type": (1_767_225_600_000, "atten\x00dance", {"n": 1}),
    "DEL in a value": (1_767_225_600_000, "attendance", {"device": "lane\x7f1"}),
}


@pytest.mark.parametrize("name", sorted(POISON))
def test_poison_block_gets_a_definite_rejection_and_can_be_quarantined(store, name):
    gwy = Gateway(store)
    ingest = Ingest(store)
    good = gwy.block([(1_767_225_600_000, "attendance", {"n": 0})])
    assert ingest.handle(gwy.topic, good).status == "ok"
    poison = gwy.block([POISON[name]])
    for _ in range(2):                                  # the gateway re-sends: same answer
        v = ingest.handle(gwy.topic, poison)
        assert v.status == "rejected" and v.kind == "limit", v
        answered(v, store, gwy.gw)
    assert store.seqs(gwy.gw) == [1]
    assert [h["first"] for h in unstored.held(store, gwy.gw)] == [2]
    # the operator quarantines it: the chain goes on from the block's signed head
    unstored.quarantine(store, gwy.gw, 2, "site engineer: clock fault, see ticket 17")
    assert ingest.handle(gwy.topic, poison).status == "duplicate"     # releases it at the gateway
    v = ingest.handle(gwy.topic, gwy.block([(1_767_225_700_000, "attendance", {"n": 3})]))
    assert v.status == "ok" and decode_ack(v.ack)["seq"] == 3
    result = verify_gateway(store, gwy.gw)
    assert result.ok, result.problems
    assert result.unstored == [(2, 2, "quarantined")] and result.verified_records == 2


def _database_refuses(store: Store, marker: str) -> None:
    """Make the real database refuse rows holding ``marker`` for good, as a column type or a
    constraint would (SQLite: a trigger raising ABORT; PostgreSQL: one raising SQLSTATE 22001,
    string data right truncation)."""
    import sqlalchemy as sa
    with store.engine.begin() as conn:
        if store.is_sqlite:
            conn.execute(sa.text(
                f"CREATE TRIGGER refuse_{marker} BEFORE INSERT ON records "
                f"WHEN NEW.data LIKE '%{marker}%' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
        else:
            conn.execute(sa.text(
                f"CREATE FUNCTION refuse_{marker}() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.data LIKE '%{marker}%' THEN RAISE EXCEPTION 'refused' "
                f"USING ERRCODE = '22001'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(sa.text(f"CREATE TRIGGER refuse_{marker} BEFORE INSERT ON records "
                                 f"FOR EACH ROW EXECUTE FUNCTION refuse_{marker}()"))


def test_what_the_database_refuses_is_answered_unstorable_and_held(store):
    gwy = Gateway(store)
    marker = f"m{gwy.gw[3:]}"
    _database_refuses(store, marker)
    ingest = Ingest(store)
    assert ingest.handle(gwy.topic, gwy.block([(1_767_225_600_000, "x", {"n": 1})])).status == "ok"
    bad = gwy.block([(1_767_225_600_000, "attendance", {"note": marker})])
    v = ingest.handle(gwy.topic, bad)
    assert v.status == "rejected" and v.kind == "unstorable", v
    answered(v, store, gwy.gw)
    assert ingest.counters["internal"] == 0 and store.seqs(gwy.gw) == [1]
    assert [h["kind"] for h in unstored.held(store, gwy.gw)] == ["unstorable"]
    unstored.quarantine(store, gwy.gw, 2, "central's database refuses it; kept as evidence")
    assert ingest.handle(gwy.topic, bad).status == "duplicate"
    assert ingest.handle(gwy.topic, gwy.block([(1_767_225_600_001, "x", {})])).status == "ok"
    assert verify_gateway(store, gwy.gw).unstored == [(2, 2, "quarantined")]


def test_blocks_beyond_the_documented_size_are_rejected(store):
    gwy = Gateway(store)
    ingest = Ingest(store)
    many = gwy.block([(1_767_225_600_000, "attendance", {"n": i}) for i in range(257)])
    v = ingest.handle(gwy.topic, many)
    assert v.kind == "limit" and "257 records" in v.reason
    answered(v, store, gwy.gw)
    pad = "x" * 1000                                    # 140 records of ~1.2 KiB > 128 KiB
    big = gwy.block([(1_767_225_600_000, "attendance", {"pad": pad, "n": i}) for i in range(140)])
    assert 128 * 1024 < len(big) < 512 * 1024
    v = ingest.handle(gwy.topic, big)
    assert v.kind == "limit" and "signed bytes" in v.reason
    answered(v, store, gwy.gw)
    one = gwy.block([(1_767_225_600_000, "attendance", {"pad": pad * 16})])   # 16 KiB + a bit
    v = ingest.handle(gwy.topic, one)
    assert v.kind == "limit"
    answered(v, store, gwy.gw)
    at_limit = gwy.block([(1_767_225_600_000, "attendance", {"n": i}) for i in range(256)])
    assert ingest.handle(gwy.topic, at_limit).status == "ok"
    assert store.seqs(gwy.gw) == list(range(1, 257))


def test_what_gets_no_answer(store):
    """No ack only where there is nobody to answer: a topic that names no gateway, a gateway
    central does not know (or has disabled).  An oversized payload from a known gateway is
    answered."""
    gwy = Gateway(store)
    ingest = Ingest(store, max_payload=64 * 1024)
    assert ingest.handle("sitegate/v1/+bad/blocks", b"x" * 100).ack is None
    assert ingest.handle("sitegate/v1/gw-nobody/blocks", gwy.block([(1, "x", {})])).ack is None
    v = ingest.handle(gwy.topic, b"x" * (64 * 1024 + 1))
    assert v.kind == "oversized"
    answered(v, store, gwy.gw)


# ---------------------------------------------------------------- property: extreme values

_chars = st.one_of(st.characters(blacklist_categories=("Cs",)),
                   st.sampled_from(["\x00", "\x7f", "\n", "\u2028", "\ufeff", "中", "\U0001F600"]))
_text = st.one_of(st.text(_chars, max_size=12), st.text(_chars, min_size=30, max_size=1100))
_ints = st.one_of(st.integers(-MAX_INT, MAX_INT), st.sampled_from([MAX_INT, -MAX_INT, 0, -1]))
_values = st.recursive(st.none() | st.booleans() | _ints | _text,
                       lambda inner: st.lists(inner, max_size=3) |
                       st.dictionaries(_text, inner, max_size=3), max_leaves=12)
_bodies = st.dictionaries(_text, _values, max_size=4) | st.fixed_dictionaries(
    {"decision": st.sampled_from(["allow", "deny"]), "dir": st.sampled_from(["in", "out"]),
     "worker": st.one_of(st.none(), _text, st.text(st.sampled_from("W0123"), min_size=1,
                                                  max_size=40))})
_types = st.one_of(st.sampled_from(["attendance", "registration", "device"]),
                   st.text(st.sampled_from("abcxyz_09A\x00"), min_size=1, max_size=40))
_ts = st.one_of(st.integers(0, MAX_INT), st.integers(0, 10**13 + 10),
                st.sampled_from([0, MAX_INT, 10**13 - 1, 10**13]))
_records = st.lists(st.tuples(_ts, _types, _bodies), min_size=1, max_size=3)


def test_extreme_but_canonical_blocks_are_stored_or_definitely_rejected(store):
    gwy = Gateway(store)
    ingest = Ingest(store)
    outcomes = []

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(items=_records, sealed=_ts)
    def one(items, sealed):
        before = store.gateway(gwy.gw)["head_seq"]
        v = ingest.handle(gwy.topic, gwy.block(items, sealed))
        ack = answered(v, store, gwy.gw)
        after = store.gateway(gwy.gw)["head_seq"]
        if v.status == "ok":
            assert after == before + len(items) == ack["seq"]
        else:
            assert after == before
        outcomes.append(v.status)

    one()
    assert ingest.counters["internal"] == 0
    assert {"ok", "rejected"} <= set(outcomes)
    result = verify_gateway(store, gwy.gw)
    assert result.ok, result.problems
