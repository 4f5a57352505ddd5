"""The demo's made-up site data is valid where the product checks it: ID numbers and company
codes pass their check digits, the road's fence is a GCJ-02 corridor the phone's WGS-84 fixes
fall inside (and 1.5 km off it, outside), the month's history is labelled simulated."""
from __future__ import annotations

import datetime as dt

import geofence
from stdnum.cn import uscc

from drivers.sam.idnumber import check_id_number

from gateway.ops import demo_data as D


def test_people_and_companies_pass_their_check_digits():
    staff = D.people(8) + [D.visitor()]
    assert len({p.id_number for p in staff}) == 9
    for p in staff:
        info = check_id_number(p.id_number)          # the gate's own rule (MOD 11-2, birth date)
        assert info.birth == p.birth and info.male == (p.gender == "male")
        assert p.card["id_number"] == p.id_number
    for code in (D.CONTRACTOR, D.BUILDER, D.SUBCONTRACTOR):
        assert uscc.is_valid(code)


def test_corridor_fence_and_phone_fixes(tmp_path):
    fence = geofence.load(D.corridor_geojson(tmp_path / "road.geojson"))[0]
    fixes = D.phone_fixes()
    policy = geofence.Policy()
    inside = geofence.decide(fence, geofence.Fix(*fixes["on_road"], "wgs84", 8.0), policy)
    outside = geofence.decide(fence, geofence.Fix(*fixes["off_road"], "wgs84", 8.0), policy)
    assert inside.decision == "inside" and outside.decision == "outside"
    # the same point read as if it were GCJ-02 lands hundreds of metres away: the datum matters
    shifted = geofence.decide(fence, geofence.Fix(*fixes["on_road"], "gcj02", 8.0), policy)
    assert abs(shifted.distance_m - inside.distance_m) > 100


def test_history_is_simulated_and_counted():
    rows, present = D.history("2026-11", ["WA", "WB"], "gw-demo")
    assert all(body["method"] == "sim" and body["reason"] == "simulated" for _, body in rows)
    assert [ts for ts, _ in rows] == sorted(ts for ts, _ in rows)
    ins = {}
    for ts, body in rows:
        if body["dir"] == "in":
            day = dt.datetime.fromtimestamp(ts / 1000, D.TZ).date()
            assert day.weekday() != 6 and day.month == 11
            ins.setdefault(body["worker"], set()).add(day)
    assert {w: len(d) for w, d in ins.items()} == present
