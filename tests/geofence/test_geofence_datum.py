"""Datum conversions against published reference points; round trips under 0.5 m."""
from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geofence import datum

GEOD = Geod(ellps="WGS84")

# googollee/eviltransform test vectors (WGS-84 -> GCJ-02), given there as (lat, lon).
EVIL = [((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),   # Shanghai
        ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),    # Shenzhen
        ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069))]    # Beijing
# wandergis/coordtransform test values: gcj02->bd09 and wgs84->gcj02 of (116.404, 39.915).
CT_GCJ_TO_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))
CT_WGS_TO_GCJ = ((116.404, 39.915), (116.41024449916938, 39.91640428150164))


def dist(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


@pytest.mark.parametrize("wgs,gcj", EVIL + [CT_WGS_TO_GCJ])
def test_forward_matches_published_points(wgs, gcj):
    got = datum.wgs84_to_gcj02(*wgs)
    assert dist(got, gcj) < 0.05      # the packages agree to ~1 cm (different semi-major axes)


@pytest.mark.parametrize("wgs,gcj", EVIL + [CT_WGS_TO_GCJ])
def test_inverse_recovers_published_points(wgs, gcj):
    assert dist(datum.gcj02_to_wgs84(*gcj), wgs) < 0.05


def test_bd09_published_point():
    gcj, bd = CT_GCJ_TO_BD
    assert dist(datum.gcj02_to_bd09(*gcj), bd) < 0.01
    assert dist(datum.bd09_to_gcj02(*bd), gcj) < 0.01


def test_offsets_are_hundreds_of_metres():
    # the trap this module exists for: Beijing GCJ ~556 m, BD ~1.4 km from WGS (reference table)
    wgs = (116.3913, 39.9075)
    assert 450 < dist(datum.wgs84_to_gcj02(*wgs), wgs) < 650
    assert 1200 < dist(datum.wgs84_to_bd09(*wgs), wgs) < 1500


def test_round_trips_under_half_a_metre_over_china():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(74, 134, 5000), rng.uniform(18.5, 53, 5000)
    for src in ("gcj02", "bd09"):
        fwd = datum.convert(lon, lat, "wgs84", src)
        back = datum.convert(*fwd, src, "wgs84")
        err = GEOD.inv(lon, lat, back[0], back[1])[2]
        assert err.max() < 0.5, (src, err.max())
        assert err.max() < 0.001          # in fact sub-millimetre with the iterative inverse
    g2 = datum.convert(*datum.convert(lon, lat, "gcj02", "bd09"), "bd09", "gcj02")
    assert GEOD.inv(lon, lat, g2[0], g2[1])[2].max() < 0.01


def test_one_step_inverse_would_not_be_enough():
    # documents why we iterate: the one-step shortcut is metres off somewhere in China
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(74, 134, 3000), rng.uniform(18.5, 53, 3000)
    glon, glat = datum.wgs84_to_gcj02(lon, lat)
    dlon, dlat = datum._offset(glon, glat)
    err = GEOD.inv(lon, lat, glon - dlon, glat - dlat)[2]
    assert err.max() > 2.0


def test_outside_china_unchanged_and_scalar_types():
    assert datum.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert datum.gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)
    out = datum.convert(116.4, 39.9, "wgs84", "gcj02")
    assert all(type(v) is float for v in out)


def test_unknown_datum():
    with pytest.raises(datum.DatumError, match="allowed: wgs84, gcj02, bd09"):
        datum.convert(116.4, 39.9, "cgcs2000x", "wgs84")
