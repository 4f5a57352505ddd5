"""`sitegate fences ...` and the new config sections: exact JSON keys, clear errors, pictures."""
from __future__ import annotations

import json
import subprocess

import pytest

import geofence
from gateway.config import ConfigError, parse
from procs import sitegate_cmd

ROAD = [[108.30, 22.80], [108.35, 22.82], [108.40, 22.81]]


def run(*args, check=True):
    p = subprocess.run(sitegate_cmd(*args), capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def road_file(tmp_path):
    gcj = [list(geofence.convert(x, y, "wgs84", "gcj02")) for x, y in ROAD]
    f = tmp_path / "road.geojson"
    f.write_text(json.dumps({"type": "Feature", "geometry": {"type": "LineString",
                                                             "coordinates": gcj},
                             "properties": {"id": "G75-K12", "crs": "gcj02",
                                            "half_width_m": 100}}))
    return f


def test_check_json_keys_and_datums(home, road_file):
    out = json.loads(run("fences", "check", "--fence", str(road_file), "108.35", "22.82",
                         "--json").stdout)
    assert {"decision", "distance_m", "reason"} <= set(out)
    assert out["decision"] == "inside" and out["distance_m"] == pytest.approx(100, abs=0.5)
    # the same place read off an Amap tile, declared as such
    glon, glat = geofence.convert(108.35, 22.82, "wgs84", "gcj02")
    out = json.loads(run("fences", "check", "--fence", str(road_file), str(glon), str(glat),
                         "--crs", "gcj02", "--json").stdout)
    assert out["decision"] == "inside" and out["distance_m"] == pytest.approx(100, abs=0.5)
    # ... and not declared: outside, with a hint that names the datum
    out = json.loads(run("fences", "check", "--fence", str(road_file), str(glon), str(glat),
                         "--json").stdout)
    assert out["decision"] == "outside" and out["distance_m"] < 0
    assert "if it were gcj02" in out["hint"]
    # 80 m accuracy 20 m inside the edge: uncertain
    out = json.loads(run("fences", "check", "--fence", str(road_file), "108.35", "22.8207",
                         "--accuracy", "80", "--json").stdout)
    assert out["decision"] == "uncertain"


@pytest.mark.parametrize("lon,lat,match", [
    ("22.82", "108.35", "swapped: did you mean lon=108.35 lat=22.82"),
    ("nan", "22.82", "not a finite number"),
    ("108.35", "91", "outside [-90, 90]"),
    ("123.5", "35.0", "open sea"),
    ("2.35", "48.85", "outside China"),
])
def test_check_bad_points_are_errors(home, road_file, lon, lat, match):
    p = run("fences", "check", "--fence", str(road_file), lon, lat, "--json", check=False)
    assert p.returncode == 2 and match in p.stderr and p.stdout == ""


def test_far_point_says_so(home, road_file):
    out = json.loads(run("fences", "check", "--fence", str(road_file), "116.40", "39.90",
                         "--json").stdout)
    assert out["reason"] == "far_from_fences" and "longitude comes first" in out["hint"]


def test_add_list_show(home, road_file, tmp_path):
    assert "converted from gcj02" in run("fences", "add", str(road_file)).stdout
    p = run("fences", "add", str(road_file), check=False)
    assert p.returncode == 2 and "already exists" in p.stderr
    rows = json.loads(run("fences", "list", "--json").stdout)
    assert [(r["id"], r["kind"], r["drawn_crs"], r["half_width_m"]) for r in rows] == \
        [("G75-K12", "corridor", "gcj02", 100.0)]
    stored = json.loads((home / "fences" / "G75-K12.geojson").read_text())
    assert stored["properties"]["crs"] == "wgs84"
    assert stored["geometry"]["coordinates"][1] == pytest.approx([108.35, 22.82], abs=1e-8)
    # stored fence by id
    out = json.loads(run("fences", "check", "--fence", "G75-K12", "108.35", "22.82",
                         "--json").stdout)
    assert out["decision"] == "inside"
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("lon,lat,accuracy_m,crs\n108.35,22.82,8\n108.35,22.8207,80\n"
                     "108.36,22.83,10\n108.35,22.82,5,gcj02\n")
    png, svg = tmp_path / "map.png", tmp_path / "map.svg"
    out = run("fences", "show", "G75-K12", "--fixes", str(fixes), "-o", str(png)).stdout
    assert "4 fixes" in out and "inside" in out and "outside" in out and "uncertain" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    run("fences", "show", "G75-K12", "--fixes", str(fixes), "-o", str(svg), "--zoom")
    assert b"<svg" in svg.read_bytes()[:500]
    p = run("fences", "show", "G75-K12", "-o", str(tmp_path / "map.gif"), check=False)
    assert p.returncode == 2 and ".png or .svg" in p.stderr


@pytest.mark.parametrize("props,match", [
    ({"crs": "wgs84", "half_width_m": 0}, "must be a positive"),
    ({"half_width_m": 50}, "datum is not declared"),
])
def test_add_bad_fence_stores_nothing(home, tmp_path, props, match):
    f = tmp_path / "bad.geojson"
    f.write_text(json.dumps({"type": "Feature", "properties": dict(props, id="x"),
                             "geometry": {"type": "LineString", "coordinates": ROAD}}))
    p = run("fences", "add", str(f), check=False)
    assert p.returncode == 2 and match in p.stderr
    assert not (home / "fences" / "x.geojson").exists()


@pytest.mark.parametrize("data,match", [
    ({"schedule": {"push": "weekly"}}, "realtime or semimonthly"),
    ({"phone": {"port": 0}}, "port must be 1..65535"),
    ({"phone": {"listen_on": "x"}}, "unknown setting"),
    ({"fences": {"accept_accuracy_m": 500}}, "accept_accuracy_m <= max_accuracy_m"),
])
def test_new_config_sections(tmp_path, data, match):
    with pytest.raises(ConfigError, match=match):
        parse(dict(data, gateway={"id": "gw-1"}), home=tmp_path)
    cfg = parse({"gateway": {"id": "gw-1"}, "schedule": {"push": "semimonthly"},
                 "phone": {"listen": "0.0.0.0", "port": 9443}}, home=tmp_path)
    assert cfg.push == "semimonthly" and cfg.phone_port == 9443
    assert cfg.phone_cert == tmp_path / "phone" / "cert.pem"


def test_daemon_wires_the_push_schedule(tmp_path):
    from gateway.daemon import make_uplink
    from uplink.outbox import Outbox

    class NoSigner:
        pass
    outbox = Outbox(tmp_path / "o.db", "gw-1", NoSigner())
    try:
        real = make_uplink(parse({"gateway": {"id": "gw-1"}}, home=tmp_path), outbox)
        assert real.release_cutoff is None
        semi = make_uplink(parse({"gateway": {"id": "gw-1"}, "schedule": {"push": "semimonthly"}},
                                 home=tmp_path), outbox)
        from uplink.schedule import Schedule
        assert semi.release_cutoff(1_800_000_000_000) == \
            Schedule("semimonthly").cutoff_ms(1_800_000_000_000)
    finally:
        outbox.close()
