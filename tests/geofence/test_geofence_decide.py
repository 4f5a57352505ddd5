"""Decisions: accuracy, wrong order / wrong datum diagnostics, hysteresis, plausibility."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import geofence
from geofence import CoordinateError, Fix, Policy, Tracker, classify, decide, decide_any, plausibility
from geofence.decide import DECISION_CODES
from geosites import GEOD

ROAD = [[108.30, 22.80], [108.35, 22.82], [108.40, 22.81]]


@pytest.fixture(scope="module")
def road():
    return geofence.corridor("G75", ROAD, 100)


def at(dist_from_centre: float, az: float = 0.0) -> tuple[float, float]:
    """A point north of the centre line's middle vertex, ``dist`` metres away (negative = south)."""
    lon, lat, _ = GEOD.fwd(108.35, 22.82, az if dist_from_centre >= 0 else az + 180,
                           abs(dist_from_centre))
    return lon, lat


def test_accuracy_near_the_edge(road):
    # 80 m accuracy, 20 m inside the edge: only ~65 % likely inside -> uncertain, retry
    d = decide(road, Fix(*at(80), accuracy_m=80))
    assert (d.decision, d.reason) == ("uncertain", "near_edge")
    assert d.distance_m == pytest.approx(20, abs=3)
    assert 0.55 < d.p_inside < 0.75
    # same spot with 10 m accuracy: inside
    assert decide(road, Fix(*at(80), accuracy_m=10)).decision == "inside"
    # 80 m accuracy on the centre line: 94 % -> inside
    assert decide(road, Fix(*at(0), accuracy_m=80)).decision == "inside"
    # 300 m accuracy never says inside
    assert decide(road, Fix(*at(0), accuracy_m=300)).reason == "low_accuracy"
    # outside, clear: whole error circle out
    d = decide(road, Fix(*at(400), accuracy_m=20))
    assert d.decision == "outside" and d.distance_m == pytest.approx(-300, abs=5)
    assert "outside the edge" in d.message
    # no accuracy: retry
    assert decide(road, Fix(*at(0))).reason == "no_accuracy"
    assert decide(road, Fix(*at(0), accuracy_m=0)).reason == "no_accuracy"


@settings(max_examples=300, deadline=None)
@given(st.floats(-2000, 2000), st.floats(0.5, 500))
def test_classify_never_calls_inside_outside(d, acc):
    decision, reason, p = classify(d, acc)
    if decision == "inside":
        assert d >= 0 and acc <= Policy().max_accuracy_m
    if decision == "outside":
        assert d < 0
    if d >= 0 and acc <= Policy().accept_accuracy_m:
        assert decision == "inside"


def test_wrong_order_is_an_error_not_an_outside(road):
    with pytest.raises(CoordinateError, match="swapped: did you mean lon=108.35 lat=22.82"):
        decide(road, Fix(22.82, 108.35, accuracy_m=5))
    with pytest.raises(CoordinateError, match="outside China"):
        decide(road, Fix(2.35, 48.85, accuracy_m=5))
    with pytest.raises(CoordinateError, match="open sea"):
        decide(road, Fix(123.5, 35.0, accuracy_m=5))
    for bad in [(math.nan, 22.8), (108.3, math.inf), (108.3, 91.0), (200.0, 22.8)]:
        with pytest.raises(CoordinateError):
            decide(road, Fix(*bad, accuracy_m=5))
    with pytest.raises(CoordinateError, match="accuracy"):
        decide(road, Fix(108.35, 22.82, accuracy_m=math.nan))


def test_far_from_every_fence(road):
    d = decide_any([road], Fix(116.40, 39.90, accuracy_m=5))      # Beijing, ~1,900 km away
    assert d.decision == "outside" and d.reason == "far_from_fences"
    assert "longitude comes first" in d.hint


@pytest.mark.parametrize("truth,told", [("gcj02", "wgs84"), ("bd09", "wgs84"),
                                        ("wgs84", "gcj02")])
def test_wrong_datum_is_named(road, truth, told):
    lon, lat = geofence.convert(*at(0), "wgs84", truth)
    right = decide_any([road], Fix(lon, lat, datum=truth, accuracy_m=5))
    assert right.decision == "inside"
    wrong = decide_any([road], Fix(lon, lat, datum=told, accuracy_m=5))
    assert wrong.decision == "outside"
    assert f"if it were {truth}" in wrong.hint


def test_exit_needs_two_clear_fixes(road):
    t = Tracker(road)
    seq = [(0, 10, "enter"), (150, 10, None),   # 50 m outside: beyond the 20 m band, 1st
           (0, 10, None),                       # back inside: count resets
           (150, 10, None), (60, 10, None),     # one clear exit then a fix inside
           (150, 10, None), (112, 10, None),    # 12 m outside: inside the exit band, resets
           (150, 10, None), (130, 80, None),    # uncertain (80 m accuracy): no change
           (160, 10, "exit"), (170, 10, None), (0, 10, "enter")]
    for dist, acc, event in seq:
        dec = decide(road, Fix(*at(dist), accuracy_m=acc))
        assert t.update(dec) == event, (dist, acc, dec)
    assert t.state == "inside"


def test_plausibility_signals():
    now = 1_800_000_000_000
    a = Fix(108.35, 22.82, accuracy_m=10, time_ms=now - 10_000)
    assert plausibility(a, None, now) == []
    assert plausibility(Fix(108.35, 22.82, accuracy_m=10, time_ms=now, mock=True),
                        None, now) == ["mock_location"]
    assert "future_time" in plausibility(Fix(108.35, 22.82, 10, time_ms=now + 600_000), None, now)
    assert "stale_time" in plausibility(Fix(108.35, 22.82, 10, time_ms=now - 600_000), None, now)
    assert "identical_repeat" in plausibility(Fix(108.35, 22.82, accuracy_m=10, time_ms=now),
                                              a, now)
    far = Fix(*GEOD.fwd(108.35, 22.82, 90, 5000)[:2], accuracy_m=10, time_ms=now)
    assert "implied_speed" in plausibility(far, a, now)          # 5 km in 10 s
    walk = Fix(*GEOD.fwd(108.35, 22.82, 90, 15)[:2], accuracy_m=10, time_ms=now)
    assert "implied_speed" not in plausibility(walk, a, now)


def test_decide_many_agrees_with_decide(road):
    import numpy as np
    rng = np.random.default_rng(5)
    n = 3000
    pts = [at(float(o), float(a)) for o, a in zip(rng.uniform(-250, 250, n), rng.uniform(-20, 20, n))]
    lon, lat = np.array(pts).T
    acc = rng.choice([3.0, 10.0, 30.0, 60.0, 80.0, 200.0], n)
    codes, dist = geofence.decide_many(road, lon, lat, acc)
    for i in range(n):
        d = decide(road, Fix(lon[i], lat[i], accuracy_m=acc[i]))
        assert DECISION_CODES[codes[i]] == d.decision, (i, d)
        assert abs(dist[i] - d.distance_m) < 1e-6
