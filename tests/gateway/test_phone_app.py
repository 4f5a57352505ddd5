"""Phone clock-in logic without the browser: checks, flags for review, bounds, credentials."""
from __future__ import annotations

import base64
import sqlite3
import time

import pytest

import geofence
from gateway.phone.app import PhoneApp
from gateway.phone.credentials import CredentialError, PhoneStore
from gateway.roster.store import Roster
from geosites import GEOD
from phone_fixtures import CAMERA_A, ID_A, PIN_A, make_site, road_fence
from uplink.outbox import Limits, Outbox


class StubFace:
    """A selfie check with a fixed answer (the real one is exercised in the browser tests)."""
    def __init__(self, answer=("match", 300, "ok")):
        self.answer, self.calls = answer, 0

    def verify_selfie(self, worker_id, image_bytes):
        self.calls += 1
        return self.answer


SELFIE = "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8jpeg").decode()


def fix_at(metres_north: float, acc: float = 5.0, **kw) -> dict:
    lon, lat, _ = GEOD.fwd(108.35, 22.82, 0.0 if metres_north >= 0 else 180.0, abs(metres_north))
    return dict({"lon": lon, "lat": lat, "accuracy": acc, "crs": "wgs84", "dir": "in",
                 "selfie": SELFIE}, **kw)


def roster_with_w1(tmp_path) -> Roster:
    roster = Roster(tmp_path / "roster.db", key_file=tmp_path / "roster.sm4")
    roster.add("W1")
    return roster


@pytest.fixture
def app(tmp_path):
    from gateway import keys
    signer = keys.generate(tmp_path / "k.pem")
    outbox = Outbox(tmp_path / "o.db", "gw-phone-2", signer)
    store = PhoneStore(tmp_path / "phone.db")
    a = PhoneApp(outbox, [road_fence()], store, StubFace(), roster_with_w1(tmp_path))
    yield a
    outbox.close()


def test_flags_go_into_the_record_for_review(app):
    now = int(time.time() * 1000)
    code, out = app.clock_in("W1", fix_at(0, time_ms=now - 5000), now_ms=now)
    assert (code, out["status"], out["flags"]) == (200, "ok", [])
    # the same coordinates again, reported as mock, from the future: committed but flagged
    code, out = app.clock_in("W1", fix_at(0, time_ms=now + 600_000, mock=True), now_ms=now)
    assert out["status"] == "ok" and out["review"] is True
    assert set(out["flags"]) == {"mock_location", "future_time", "identical_repeat"}
    # 5 km in 10 s: implied speed
    lon, lat, _ = GEOD.fwd(108.35, 22.82, 90, 5000)
    far_road = {"lon": lon, "lat": lat}
    body = dict(fix_at(0, time_ms=now + 10_000), **far_road)
    app.fences = [geofence.corridor("long", [[108.30, 22.82], [108.45, 22.82]], 200)]
    code, out = app.clock_in("W1", body, now_ms=now + 10_000)
    assert "implied_speed" in out["flags"]
    recs = list(app.outbox.iter_records())
    assert [r["body"]["review"] for r in recs] == [False, True, True]
    assert recs[1]["body"]["flags"] == ["mock_location", "future_time", "identical_repeat"]


def test_refusals_make_no_record_and_skip_the_face(app):
    face = app.selfie
    assert app.clock_in("W1", fix_at(600))[1]["status"] == "outside"
    assert app.clock_in("W1", fix_at(80, acc=80))[1]["status"] == "retry"
    assert app.clock_in("W1", fix_at(0, acc=None))[1]["code"] == "no_accuracy"
    code, out = app.clock_in("W1", fix_at(0, lon=22.82, lat=108.35))
    assert code == 400 and "swapped" in out["message"]
    assert face.calls == 0 and app.outbox.head_seq == 0
    # datum trap: a GCJ-02 fix sent as WGS-84 near the road gets a hint naming the datum
    glon, glat = geofence.convert(108.35, 22.82, "wgs84", "gcj02")
    code, out = app.clock_in("W1", fix_at(0, lon=glon, lat=glat))
    if out["status"] == "outside":
        assert "gcj02" in out["hint"]
    code, out = app.clock_in("W1", fix_at(0, lon=glon, lat=glat, crs="gcj02"))
    assert out["status"] == "ok"


def test_face_answers(app):
    app.selfie = StubFace(("retry", -1, "no_face"))
    assert app.clock_in("W1", fix_at(0))[1]["status"] == "face_retry"
    app.selfie = StubFace(("mismatch", 612, "face_mismatch"))
    out = app.clock_in("W1", fix_at(0))[1]
    assert out["status"] == "face_mismatch" and out["face_milli"] == 612
    assert app.clock_in("W1", fix_at(0, selfie="not a data url"))[1]["status"] == "face_retry"
    assert app.outbox.head_seq == 0


def test_a_refused_selfie_says_what_to_fix_in_both_languages(app):
    from gateway.clockin.reasons import message
    for why in ("too_dark", "blurry", "bad_pose", "multiple_faces", "face_too_small"):
        app.selfie = StubFace(("retry", -1, why))
        out = app.clock_in("W1", fix_at(0))[1]
        assert out["status"] == "face_retry" and out["code"] == why
        assert out["message_zh"] == message(why, "zh") and out["message_en"] == message(why, "en")
    assert app.outbox.head_seq == 0


def test_outbox_full_refuses_loudly(tmp_path):
    from gateway import keys
    outbox = Outbox(tmp_path / "o.db", "gw-phone-3", keys.generate(tmp_path / "k.pem"),
                    Limits(max_unacked=1))
    a = PhoneApp(outbox, [road_fence()], PhoneStore(tmp_path / "p.db"), StubFace(),
                 roster_with_w1(tmp_path))
    assert a.clock_in("W1", fix_at(0))[1]["status"] == "ok"
    code, out = a.clock_in("W1", fix_at(10))
    assert code == 503 and out["code"] == "outbox_full" and "存储已满" in out["message_zh"]
    assert outbox.head_seq == 1


def test_credentials_are_not_stored_in_clear(tmp_path):
    app, outbox, store = make_site(tmp_path / "site")
    try:
        assert store.check_pin(ID_A, PIN_A) == "W000001"
        raw = b"".join(p.read_bytes() for p in (tmp_path / "site" / "phone").glob("phone.db*"))
        assert ID_A.encode() not in raw and ID_A[6:14].encode() not in raw
        assert b"1101**********4477" in raw                       # masked form only
        con = sqlite3.connect(tmp_path / "site" / "phone" / "phone.db")
        (pin,) = con.execute("SELECT pin FROM workers WHERE worker='W000001'").fetchone()
        assert pin.startswith("scrypt$") and PIN_A not in pin
    finally:
        outbox.close()


def test_pin_lockout_and_tokens(tmp_path):
    store = PhoneStore(tmp_path / "p.db")
    store.enrol("W9", ID_A, "2468")
    for _ in range(5):
        with pytest.raises(CredentialError, match="wrong ID number or PIN"):
            store.check_pin(ID_A, "0000")
    with pytest.raises(CredentialError, match="too many wrong PINs"):
        store.check_pin(ID_A, "2468")                     # even the right PIN, while locked
    with pytest.raises(CredentialError, match="wrong ID number or PIN"):
        store.check_pin("123", "2468")                    # malformed ID: same answer
    with pytest.raises(CredentialError, match="4 to 8 digits"):
        store.enrol("W8", ID_A, "12")
    with pytest.raises(CredentialError, match="check digit"):
        store.enrol("W8", ID_A[:-1] + "0", "1234")
    t = store.issue_token("W9")
    assert store.redeem_token(t) == "W9"
    with pytest.raises(CredentialError):
        store.redeem_token(t)
    expired = store.issue_token("W9", ttl_s=-1)
    with pytest.raises(CredentialError):
        store.redeem_token(expired)
    with pytest.raises(CredentialError, match="not enrolled"):
        store.issue_token("W404")


def test_real_face_check_on_the_camera_photo(tmp_path):
    app, outbox, store = make_site(tmp_path / "site")
    try:
        check = app.selfie                                   # biometrics over the template store
        img = CAMERA_A.read_bytes()
        decision, milli, _ = check.verify_selfie("W000001", img)
        assert decision == "match" and milli <= 420
        assert check.verify_selfie("W000002", img)[0] == "mismatch"
        assert check.verify_selfie("W404", img) == ("mismatch", -1, "not_enrolled")
        assert check.verify_selfie("W000001", b"not an image")[0] == "retry"
    finally:
        outbox.close()


def test_time_windows_use_the_gateway_clock(app):
    # fence open 07:00-19:00 China time; the phone claims noon, the gateway says 21:00
    app.fences = [geofence.corridor("G75-day", [[108.30, 22.80], [108.35, 22.82], [108.40, 22.81]],
                                    100, windows=["07:00-19:00"])]
    nine_pm = (1_794_787_200 + 13 * 3600) * 1000        # 2026-11-16 21:00 +08:00
    noon = nine_pm - 9 * 3600 * 1000
    code, out = app.clock_in("W1", fix_at(0, time_ms=noon), now_ms=nine_pm)
    assert out["status"] == "outside" and out["code"] == "outside_window"
    assert "打卡时段" in out["message_zh"]
    code, out = app.clock_in("W1", fix_at(0, time_ms=noon), now_ms=noon)
    assert out["status"] == "ok" and out["flags"] == []


def test_sign_in_answers_by_error_code_with_a_residence_permit(app):
    from drivers.sim.samples import HMT
    app.store.enrol("W1", HMT["id_number"], "2468")
    code, out, session = app.login({"id_number": HMT["id_number"], "pin": "2468"})
    assert code == 200 and out["worker"] == "W1" and out["masked"] == "8100**********0019" and session
    for _ in range(5):
        code, out, session = app.login({"id_number": HMT["id_number"], "pin": "0000"})
        assert (code, out["code"], session) == (401, "wrong_credentials", None)
        assert out["message_zh"] == "身份证号或密码错误。"
    code, out, _ = app.login({"id_number": HMT["id_number"], "pin": "2468"})
    assert out["code"] == "locked" and "15 分钟" in out["message_zh"] and "15 minutes" in out["message_en"]
    code, out, _ = app.login({"token": "no-such-token"})
    assert out["code"] == "token_invalid" and "二维码已失效" in out["message_zh"]


def test_roster_refusal_is_recorded_and_answered_from_the_catalogue(app):
    from gateway.clockin.reasons import message
    app.roster.blacklist("W1", "fraud")
    face = app.selfie
    code, out = app.clock_in("W1", fix_at(0))
    assert (code, out["status"], out["code"], out["seq"]) == (200, "refused", "blacklisted", 1)
    assert out["message_zh"] == message("blacklisted", "zh") and face.calls == 0
    (rec,) = app.outbox.iter_records()
    assert rec["body"] == {"worker": "W1", "dir": "in", "method": "phone", "device": "phone",
                           "decision": "deny", "reason": "blacklisted"}
    assert app.clock_in("W404", fix_at(0))[1]["code"] == "unknown_worker"
    code, out = app.clock_in("W1", fix_at(0, lon=22.82, lat=108.35))      # bad input first: 400, nothing
    assert code == 400 and app.outbox.head_seq == 2
