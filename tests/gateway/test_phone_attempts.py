"""Replay and freshness of phone clock-ins as plain logic: server nonces, the selfie's stamp,
the ledger of photos, implied speed on the gateway's clock."""
from __future__ import annotations

import base64
import time

from gateway.phone.app import PhoneApp
from gateway.phone.attempts import (AttemptBook, SelfieLedger, read_stamp, selfie_refusal,
                                    server_speed_flag, stamp_selfie)
from gateway.phone.credentials import PhoneStore
from gateway.roster.store import Roster
from phone_fixtures import ID_A, PIN_A, road_fence
from uplink.outbox import Outbox

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xda\x00\x02pixels"


def test_a_nonce_is_single_use_bound_to_its_session_and_short_lived():
    book = AttemptBook(ttl_s=120)
    n = book.issue("s1", 0.0)
    assert book.consume("s2", n, 1.0) == "unknown_attempt"      # another session
    assert book.consume("s1", n, 1.0) is None
    assert book.consume("s1", n, 2.0) == "replayed_attempt"
    old = book.issue("s1", 10.0)
    assert book.consume("s1", old, 131.0) == "stale_attempt"
    assert book.consume("s1", None, 1.0) == "no_attempt"
    assert book.consume("s1", "made-up", 1.0) == "unknown_attempt"


def test_nonces_are_bounded():
    book = AttemptBook(ttl_s=120, per_session=4, max_total=100)
    first = [book.issue("s", 0.0) for _ in range(4)]
    book.issue("s", 0.0)                                        # a fifth drops the oldest
    assert book.consume("s", first[0], 1.0) == "unknown_attempt"
    assert book.consume("s", first[1], 1.0) is None
    for i in range(500):
        book.issue(f"x{i}", 1.0)
    assert len(book) <= 100
    book.issue("late", 500.0)                                   # expired ones are pruned
    assert len(book) == 1


def test_the_stamp_binds_the_photo_to_its_attempt():
    stamped = stamp_selfie(JPEG, "n1")
    assert read_stamp(stamped) == ("n1", JPEG)
    assert read_stamp(JPEG) == (None, JPEG)
    assert read_stamp(b"not a jpeg") == (None, b"not a jpeg")
    assert read_stamp(b"\xff\xd8\xff\xfe\x00\x01") == (None, b"\xff\xd8\xff\xfe\x00\x01")  # bad length
    ledger = SelfieLedger()
    assert selfie_refusal(stamped, "n2", ledger, 0.0) == "stale_selfie"
    assert selfie_refusal(JPEG, "n1", ledger, 0.0) == "unbound_selfie"
    assert selfie_refusal(stamped, "n1", ledger, 0.0) is None
    assert selfie_refusal(stamp_selfie(JPEG, "n3"), "n3", ledger, 1.0) == "reused_selfie"


def test_the_photo_ledger_forgets_after_a_day_and_is_bounded():
    ledger = SelfieLedger(keep_s=100, max_items=3)
    assert not ledger.seen_before(b"a", 0.0)
    assert ledger.seen_before(b"a", 50.0)
    assert not ledger.seen_before(b"a", 200.0)                  # forgotten, then recorded again
    for x in (b"b", b"c", b"d"):
        ledger.seen_before(x, 201.0)
    assert len(ledger._seen) <= 3


def test_implied_speed_on_the_gateways_clock():
    assert not server_speed_flag(10_000, None, 0, 50)           # no previous fix
    assert server_speed_flag(10_000, 0, 5_000, 50)              # 10 km in 5 s (+30 s slack)
    assert not server_speed_flag(10_000, 0, 600_000, 50)        # 10 km in 10 min
    assert not server_speed_flag(-5, 0, 1, 50)                  # within the accuracies


def test_an_attempt_past_its_time_is_refused(tmp_path):
    from gateway import keys
    outbox = Outbox(tmp_path / "o.db", "gw-phone-4", keys.generate(tmp_path / "k.pem"))
    store = PhoneStore(tmp_path / "p.db")
    store.enrol("W1", ID_A, PIN_A)
    roster = Roster(tmp_path / "roster.db", key_file=tmp_path / "roster.sm4")
    roster.add("W1", id_number=ID_A)

    class Face:
        def verify_selfie(self, worker, image):
            return "match", 300, "ok"
    app = PhoneApp(outbox, [road_fence()], store, Face(), roster, attempt_s=0.2)
    try:
        _, _, token = app.login({"id_number": ID_A, "pin": PIN_A})
        assert app.new_attempt("not-a-session")[0] == 401
        nonce = app.new_attempt(token)[1]["nonce"]
        time.sleep(0.5)
        photo = "data:image/jpeg;base64," + base64.b64encode(stamp_selfie(JPEG, nonce)).decode()
        code, out = app.attempt(token, {"nonce": nonce, "lon": 108.35, "lat": 22.8203,
                                        "accuracy": 5, "selfie": photo})
        assert code == 409 and out["code"] == "stale_attempt", out
        assert "超时" in out["message_zh"] and outbox.head_seq == 0
    finally:
        roster.close()
        outbox.close()
