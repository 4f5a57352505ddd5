"""Corridor distances against exact geodesic distances; polygons, circles, loading, bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from pyproj import Proj
from shapely.geometry import LineString

import geofence
from geofence import FenceError, Fix, decide
from geosites import GEOD, SITES, centreline, offset_points


def geodesic_distance_to_line(line: np.ndarray, lon: float, lat: float, near: int) -> float:
    """Ground truth: azimuthal equidistant projection centred on the point (distances from the
    centre are exact), the line's vertices around ``near`` projected, distance from the origin."""
    lo, hi = max(near - 6, 0), min(near + 8, len(line))
    aeqd = Proj(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m")
    x, y = aeqd(line[lo:hi, 0], line[lo:hi, 1])
    # densify each segment geodesically so the truth line follows geodesics between vertices
    pts = []
    for i in range(len(x) - 1):
        a, b = (line[lo + i], line[lo + i + 1])
        mid = GEOD.npts(a[0], a[1], b[0], b[1], 8)
        mx, my = aeqd([p[0] for p in mid], [p[1] for p in mid])
        pts.append((x[i], y[i]))
        pts.extend(zip(mx, my))
    pts.append((x[-1], y[-1]))
    return LineString(pts).distance(shapely.Point(0, 0))


@pytest.mark.parametrize("site", ["50km-EW-36N", "300km-EW-crosses-UTM48/49", "300km-NS-104E",
                                  "300km-NE-Xinjiang"])
def test_corridor_matches_geodesic_within_half_a_metre(site):
    lon0, lat0, az, length = SITES[site]
    line = centreline(lon0, lat0, az, length)
    hw = 100.0
    fence = geofence.corridor(site, line.tolist(), hw)
    assert abs(fence.metric.length - length) / length < 1e-3
    pts, idx = offset_points(line, 250, seed=11)
    errs, wrong = [], 0
    for (lon, lat), i in zip(pts, idx):
        truth = geodesic_distance_to_line(line, lon, lat, int(i))
        ours = fence.signed_distance(lon, lat)
        errs.append(abs((hw - ours) - truth))
        if abs(truth - hw) > 0.5:
            dec = decide(fence, Fix(lon, lat, accuracy_m=3.0)).decision
            wrong += dec != ("inside" if truth <= hw else "outside") and dec != "uncertain"
            if abs(truth - hw) > 5.0:          # 3 m accuracy decides cleanly beyond 5 m
                wrong += dec == "uncertain"
    assert max(errs) < 0.5, f"{site}: max error {max(errs):.3f} m"
    assert wrong == 0
    # the vectorised path agrees with the scalar one
    vec = fence.signed_distances(pts[:, 0], pts[:, 1])
    scal = np.array([fence.signed_distance(lon, lat) for lon, lat in pts])
    assert np.abs(vec - scal).max() < 1e-6


def test_degree_buffer_would_fail_this_test():
    # sanity of the test itself: measuring in raw degrees x 111,320 is metres off
    line = centreline(*SITES["50km-EW-36N"][:3], 50_000.0, n=200)
    pts, idx = offset_points(line, 60, seed=2)
    deg = LineString(line)
    errs = [abs(deg.distance(shapely.Point(lon, lat)) * 111_320 -
                geodesic_distance_to_line(line, lon, lat, int(i)))
            for (lon, lat), i in zip(pts, idx)]
    assert max(errs) > 0.5


def test_circle_and_polygon_signed_distances():
    c = geofence.circle("yard", 108.33, 22.83, 150)
    lon, lat, _ = GEOD.fwd(108.33, 22.83, 37.0, 100.0)
    assert c.signed_distance(lon, lat) == pytest.approx(50.0, abs=0.05)
    lon, lat, _ = GEOD.fwd(108.33, 22.83, 200.0, 400.0)
    assert c.signed_distance(lon, lat) == pytest.approx(-250.0, abs=0.1)
    # a ~1 km square: a point 100 m inside the west edge, one 60 m outside the south edge
    ring = [[108.30, 22.80], [108.31, 22.80], [108.31, 22.81], [108.30, 22.81], [108.30, 22.80]]
    p = geofence.polygon("camp", ring)
    lon, lat, _ = GEOD.fwd(108.30, 22.805, 90.0, 100.0)
    assert p.signed_distance(lon, lat) == pytest.approx(100.0, abs=0.3)
    lon, lat, _ = GEOD.fwd(108.305, 22.80, 180.0, 60.0)
    assert p.signed_distance(lon, lat) == pytest.approx(-60.0, abs=0.3)
    # far away (beyond the grid's reach) still exact through GEOS
    lon, lat, _ = GEOD.fwd(108.305, 22.80, 180.0, 5000.0)
    assert p.signed_distance(lon, lat) == pytest.approx(-5000.0, abs=5)


def test_fence_drawn_in_gcj02_is_converted_once():
    wgs_line = [[108.30, 22.80], [108.35, 22.82], [108.40, 22.81]]
    gcj_line = [list(geofence.convert(x, y, "wgs84", "gcj02")) for x, y in wgs_line]
    f = geofence.corridor("road", gcj_line, 50, crs="gcj02")
    assert np.allclose(shapely.get_coordinates(f.geometry), wgs_line, atol=1e-8)
    assert f.source_crs == "gcj02"
    # a GPS fix on the real road is inside; the same spot read off the Amap tile is not WGS-84
    assert decide(f, Fix(108.35, 22.82, accuracy_m=5)).decision == "inside"
    gx, gy = geofence.convert(108.35, 22.82, "wgs84", "gcj02")
    assert decide(f, Fix(gx, gy, datum="gcj02", accuracy_m=5)).decision == "inside"
    assert decide(f, Fix(gx, gy, datum="wgs84", accuracy_m=5)).decision == "outside"


def feature(geom, **props):
    return {"type": "Feature", "properties": props, "geometry": geom}


@pytest.mark.parametrize("geom,props,match", [
    ({"type": "LineString", "coordinates": [[108.3, 22.8], [108.4, 22.8]]},
     {"half_width_m": 50}, "datum is not declared"),
    ({"type": "LineString", "coordinates": [[108.3, 22.8], [108.4, 22.8]]},
     {"crs": "wgs84", "half_width_m": 0}, "half_width_m = 0.0: must be a positive"),
    ({"type": "LineString", "coordinates": [[108.3, 22.8], [108.4, 22.8]]},
     {"crs": "wgs84"}, "half_width_m.*required"),
    ({"type": "LineString", "coordinates": [[108.3, 22.8], [108.3, 22.8]]},
     {"crs": "wgs84", "half_width_m": 50}, "two distinct points"),
    ({"type": "Point", "coordinates": [108.3, 22.8]}, {"crs": "wgs84", "radius_m": -1},
     "must be a positive"),
    ({"type": "Polygon", "coordinates": [[[108.30, 22.80], [108.31, 22.81], [108.31, 22.80],
                                          [108.30, 22.81], [108.30, 22.80]]]},
     {"crs": "wgs84"}, "Self-intersection"),
    ({"type": "Polygon", "coordinates": []}, {"crs": "wgs84"}, "empty geometry"),
    ({"type": "LineString", "coordinates": [[22.8, 108.3], [22.8, 108.4]]},
     {"crs": "wgs84", "half_width_m": 50}, "swapped: did you mean lon=108.3 lat=22.8"),
    ({"type": "Point", "coordinates": [108.3, float("nan")]},
     {"crs": "wgs84", "radius_m": 50}, "not a finite number"),
    ({"type": "Point", "coordinates": [108.3, 22.8]}, {"crs": "gcj-03", "radius_m": 5},
     "unknown datum"),
    ({"type": "LineString", "coordinates": [[108.3, 22.8], [108.4, 22.8]]},
     {"crs": "wgs84", "half_width_m": 50, "windows": ["7:00-19:00"]}, "time window"),
    ({"type": "Point", "coordinates": [108.3, 22.8]}, {"crs": "wgs84", "radius_m": 5, "kind": "blob"},
     r"unknown kind 'blob' \(allowed: polygon, corridor, circle\)"),
    ({"type": "Point", "coordinates": [108.3, 22.8]},
     {"crs": "wgs84", "radius_m": 5, "kind": ["circle"]}, r"unknown kind \['circle'\]"),
    ({"type": "MultiPoint", "coordinates": [[108.3, 22.8]]}, {"crs": "wgs84"},
     "geometry MultiPoint is not a fence"),
])
def test_bad_fences_are_clear_errors(geom, props, match):
    with pytest.raises(FenceError, match=match):
        geofence.from_geojson(feature(geom, **props))


def test_geojson_and_kml_load(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        feature({"type": "LineString", "coordinates": [[108.3, 22.8], [108.4, 22.81]]},
                id="G75-K12", crs="gcj02", half_width_m=80, windows=["mon-sat 06:00-20:00"]),
        feature({"type": "Point", "coordinates": [108.35, 22.83]}, id="yard", crs="bd09",
                radius_m=200)]}
    path = tmp_path / "site.geojson"
    path.write_text(json.dumps(fc))
    fences = geofence.load(path)
    assert [f.id for f in fences] == ["G75-K12", "yard"]
    assert [f.kind for f in fences] == ["corridor", "circle"]
    assert fences[0].source_crs == "gcj02" and fences[1].source_crs == "bd09"
    kml = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>canal</name>
<ExtendedData><Data name="crs"><value>gcj02</value></Data>
<Data name="half_width_m"><value>60</value></Data></ExtendedData>
<LineString><coordinates>108.3,22.8,0 108.4,22.81,0</coordinates></LineString></Placemark>
</Document></kml>"""
    (tmp_path / "canal.kml").write_text(kml)
    (k,) = geofence.load(tmp_path / "canal.kml")
    assert (k.id, k.kind, k.half_width_m, k.source_crs) == ("canal", "corridor", 60.0, "gcj02")
    # a GeoJSON round trip keeps the drawn datum and the geometry
    again = geofence.from_geojson(fences[0].to_geojson())[0]
    assert again.source_crs == "gcj02"
    assert np.allclose(shapely.get_coordinates(again.geometry),
                       shapely.get_coordinates(fences[0].geometry))
    # a <Data> without a name is not a property (it would be written out as "null")
    stray = kml.replace("<ExtendedData>", "<ExtendedData><Data><value>x</value></Data>")
    (tmp_path / "stray.kml").write_text(stray)
    (s,) = geofence.load(tmp_path / "stray.kml")
    assert "null" not in json.dumps(s.to_geojson()["properties"]) and None not in s.properties
    (tmp_path / "nocrs.kml").write_text(kml.replace("gcj02", ""))
    with pytest.raises(FenceError, match="datum is not declared"):
        geofence.load(tmp_path / "nocrs.kml")
    (tmp_path / "empty.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(FenceError, match="no features"):
        geofence.load(tmp_path / "empty.geojson")


def test_time_windows():
    f = geofence.corridor("r", [[108.3, 22.8], [108.4, 22.8]], 100,
                          windows=["mon-fri 07:00-19:00", "sat 22:00-02:00"])
    def ms(day, hh, mm):   # 2026-11-16 is a Monday; local time UTC+8
        return int((1794787200 + (day * 86400) + hh * 3600 + mm * 60 - 8 * 3600) * 1000)
    assert f.in_window(ms(0, 7, 0)) and not f.in_window(ms(0, 6, 59))
    assert not f.in_window(ms(0, 19, 0)) and f.in_window(ms(4, 18, 59))
    assert f.in_window(ms(5, 23, 0)) and f.in_window(ms(6, 1, 30))   # Saturday night into Sunday
    assert not f.in_window(ms(6, 23, 0))
    fix = Fix(108.35, 22.8, accuracy_m=5, time_ms=ms(6, 12, 0))
    d = decide(f, fix)
    assert (d.decision, d.reason) == ("outside", "outside_window")
    assert d.distance_m == pytest.approx(100, abs=1)
    assert math.isfinite(d.distance_m)
