"""One eligibility rule for every clock-in path: each roster reason refuses a worker at a real
lane (ID-card and relay simulators on ptys) and on the real phone page (its TLS server, built
from the site config as `sitegate run` builds it) alike -- same reason recorded in the same
outbox, the gate kept closed, and the phone told the catalogue's words for that reason.  The
age limits come from the site's [roster] settings on both paths."""
from __future__ import annotations

import dataclasses
import json
import ssl
import sys
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pytest

from drivers.sim.samples import RESIDENT
from gateway.clockin.reasons import ROSTER_REASONS, message
from gateway.clockin.rules import rules_from
from gateway.config import parse
from gateway.fences.store import add as add_fence
from gateway.phone.server import PhoneServer
from gateway.phone.build import build_phone_app
from gateway.phone.credentials import PhoneStore
from gateway.tls import make_cert

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
from phone_fixtures import ROAD_WGS  # noqa: E402

pytestmark = pytest.mark.timeout(300)
PIN = "2468"


def years_ago(n: int, days: int, today: date) -> date:
    return date.fromordinal(today.replace(year=today.year - n).toordinal() + days)


@pytest.fixture
def today() -> date:
    """One date for the whole test, read when it runs (not at collection: a suite that crosses
    midnight made "20 tomorrow" exactly 20 today); the lane and the phone are pinned to it."""
    return date.today()


def put(roster, **fields):
    """W000103 (the RESIDENT card) on the roster with exactly these fields."""
    roster.add("W000103", id_number=RESIDENT["id_number"], name=RESIDENT["name"], **fields)


def cases(today: date) -> dict:
    """reason -> how the roster says it (None: not on the roster) on ``today``; [roster] limits
    20/50/45."""
    return {
        "exited": dict(status="exited"),
        "suspended": dict(status="suspended"),
        "blacklisted": "blacklist",
        "contract_expired": dict(contract_end=today - timedelta(days=1)),
        "certificate_missing": dict(special_op="JZ-01"),
        "certificate_expired": dict(trade="电焊工", cert_valid_to=today - timedelta(days=1)),
        "under_age": dict(birth=years_ago(20, 1, today), gender="male"),  # 20 tomorrow; the default 18 would pass
        "over_age": dict(birth=years_ago(51, 0, today), gender="male"),   # 51; the default 60 would pass
        "unknown_worker": None,
    }


@pytest.fixture
def phone(rig, tmp_path, today):
    """The phone page of the rig's site: config with site age limits, a fence, an enrolled
    W000103; the lane is given the same [roster] rules and today's date."""
    home = rig.home
    cfg = parse({"gateway": {"id": "gw-test-1"},
                 "roster": {"min_age": 20, "max_age_male": 50, "max_age_female": 45},
                 "phone": {"listen": "127.0.0.1", "port": 8443}}, home=home)
    road = tmp_path / "road.geojson"
    road.write_text(json.dumps({"type": "Feature", "properties": {"id": "G75", "crs": "wgs84",
                                                                  "half_width_m": 100},
                                "geometry": {"type": "LineString", "coordinates": ROAD_WGS}}))
    add_fence(road, home=home)
    PhoneStore(cfg.phone_db).enrol("W000103", RESIDENT["id_number"], PIN)
    make_cert(cfg.phone_cert, cfg.phone_key)
    app = build_phone_app(cfg, rig.outbox)                  # roster and rules from the config
    server = PhoneServer(app, "127.0.0.1", 0, cfg.phone_cert, cfg.phone_key).start()
    m = rig.runner.machine
    m.settings = dataclasses.replace(m.settings, rules=rules_from(cfg.roster))
    rig.runner.today = app.today = lambda: today
    ctx = ssl.create_default_context(cafile=str(cfg.phone_cert))

    def post(path, body, cookie=None):
        req = urllib.request.Request(server.url + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json",
                                      **({"Cookie": cookie} if cookie else {})})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
                return r.status, r.headers.get("Set-Cookie"), json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, None, json.loads(e.read())

    code, set_cookie, who = post("/api/login", {"id_number": RESIDENT["id_number"], "pin": PIN})
    assert code == 200 and who["worker"] == "W000103", who
    cookie = set_cookie.split(";")[0]

    def clock_in(body):                       # one attempt each, as the page does
        _, _, attempt = post("/api/attempt", {}, cookie)
        return post("/api/clockin", dict(body, nonce=attempt["nonce"]), cookie)[::2]

    yield clock_in
    server.close()


def last_record(outbox) -> dict:
    return list(outbox.iter_records(outbox.head_seq - 1))[-1]["body"]


FIX = {"lon": 108.35, "lat": 22.8203, "accuracy": 6, "dir": "in"}


def test_each_roster_reason_refused_alike_at_lane_and_phone(rig, phone, today):
    every = cases(today)
    assert set(every) == set(ROSTER_REASONS) - {"inactive", "anti_passback"}
    for reason, state in every.items():
        rig.roster.remove("W000103")
        if state == "blacklist":
            put(rig.roster)
            rig.roster.blacklist("W000103", "safety violation")
        elif state is not None:
            put(rig.roster, **state)
        lane = rig.card(RESIDENT)
        assert lane["decision"] == "deny" and lane["reason"] == reason, (reason, lane)
        assert rig.tsim.pulses == [], f"{reason}: the gate opened"
        seq_before = rig.outbox.head_seq
        code, answer = phone(FIX)
        assert (code, answer["status"], answer["code"]) == (200, "refused", reason), answer
        assert answer["seq"] == seq_before + 1 == rig.outbox.head_seq      # recorded, as at the lane
        body = last_record(rig.outbox)
        expected_worker = None if reason == "unknown_worker" else "W000103"
        assert lane["worker"] == expected_worker
        assert body == {"worker": "W000103", "dir": "in", "method": "phone", "device": "phone",
                        "decision": "deny", "reason": reason}
        # the words: one catalogue, the same for every path
        assert answer["message_zh"] == message(reason, "zh") and answer["message_en"] == message(reason, "en")
        assert "map" not in answer and "distance_m" not in answer           # nothing about location
    # an eligible worker passes the roster rule on both paths (then the face decides)
    rig.roster.remove("W000103")
    put(rig.roster, birth=years_ago(30, 0, today), gender="male", trade="钢筋工")
    lane = rig.card(RESIDENT)
    assert lane["reason"] not in ROSTER_REASONS, lane
    code, answer = phone(dict(FIX, selfie="not a photo"))
    assert answer["status"] == "face_retry", answer          # past the roster, at the face check
    assert rig.runner.errors == 0
