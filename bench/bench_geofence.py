"""Geofence speed: one decision on a prepared corridor, and a batch of 1,000,000 fixes, each as a
ratio to bare shapely ``contains_xy`` on the same fence.

Usage: PYTHONPATH=. python bench/bench_geofence.py [--json] [--runs 5] [--points 1000000]

Fence: a 50 km corridor (1,000 vertices, geodesic wiggle) at 36°N with a 100 m half-width.
Fixes: uniform along the line with N(0, 150 m) lateral noise (about half inside), accuracies
drawn from 3-80 m.  Baseline: ``shapely.contains_xy`` on the prepared buffer polygon of the
same corridor (quad_segs 8, in the fence's metric CRS) with the fixes already in metres -- the
bare geometric test, no projection, no accuracy rule, no distance.  Ours: ``geofence.decide``
(WGS-84 in, validation, projection, exact signed distance, accuracy rule, Decision object) and
``geofence.decide_many`` (projection, exact distances, accuracy rule, vectorised).
Single-call figures: median of --runs timed loops of 20,000 calls cycling through 20,000 fixes.
Batch figures: median of --runs runs.  Target: one decision < 20 µs.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import geofence  # noqa: E402
from geosites import GEOD, centreline  # noqa: E402

TARGET_US = 20.0


def make_fixes(line: np.ndarray, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(line) - 1, n)
    a, b = line[idx], line[idx + 1]
    t = rng.random(n)[:, None]
    mid = a + (b - a) * t
    az = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[0]
    off = rng.normal(0, 150, n)
    lon, lat, _ = GEOD.fwd(mid[:, 0], mid[:, 1], az + np.where(off >= 0, 90, -90), np.abs(off))
    acc = rng.uniform(3, 80, n)
    return lon, lat, acc


def per_call_us(fn, args, runs: int, calls: int = 20_000) -> float:
    m = len(args)
    for i in range(min(m, 2000)):
        fn(*args[i])
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for i in range(calls):
            fn(*args[i % m])
        out.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(out)


def timed(fn, runs: int) -> float:
    fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args(argv)

    line = centreline(108.0, 36.0, 90.0, 50_000.0, n=1000)
    fence = geofence.corridor("bench", line.tolist(), 100.0)
    poly = fence.metric.buffer(100.0)
    shapely.prepare(poly)

    lon, lat, acc = make_fixes(line, 20_000, seed=1)
    x, y = fence.to_metric(lon, lat)
    fixes = [(geofence.Fix(float(a), float(b), accuracy_m=float(c)),) for a, b, c in
             zip(lon, lat, acc)]
    xy = list(zip(x.tolist(), y.tolist()))

    base_one = per_call_us(lambda px, py: shapely.contains_xy(poly, px, py), xy, args.runs)
    ours_one = per_call_us(lambda f: geofence.decide(fence, f), fixes, args.runs)
    dist_one = per_call_us(fence.signed_distance_xy, xy, args.runs)

    BL, BA, BC = make_fixes(line, args.points, seed=2)
    BX, BY = fence.to_metric(BL, BA)
    base_batch = timed(lambda: shapely.contains_xy(poly, BX, BY), args.runs)
    ours_batch = timed(lambda: geofence.decide_many(fence, BL, BA, BC), args.runs)
    screen_batch = timed(lambda: fence.contains_many(BL, BA), args.runs)
    codes, _ = geofence.decide_many(fence, BL, BA, BC)
    # agreement with the baseline where the two must agree (well away from the edge, good fix)
    d = fence.signed_distances(BL[:20000], BA[:20000])
    inside_poly = shapely.contains_xy(poly, BX[:20000], BY[:20000])
    clear = np.abs(d) > 1.0
    agree = float(np.mean(inside_poly[clear] == (d[clear] >= 0)))

    rows = [
        {"case": "one decision, prepared corridor", "ours_us": ours_one, "baseline_us": base_one,
         "ratio": ours_one / base_one, "target_us": TARGET_US, "meets_target": ours_one < TARGET_US},
        {"case": "one signed distance (metric in)", "ours_us": dist_one, "baseline_us": base_one,
         "ratio": dist_one / base_one},
        {"case": f"batch of {args.points:,} decisions", "ours_s": ours_batch,
         "baseline_s": base_batch, "ratio": ours_batch / base_batch,
         "ours_us_per_fix": ours_batch / args.points * 1e6},
        {"case": f"batch of {args.points:,} inside tests (dwithin)", "ours_s": screen_batch,
         "baseline_s": base_batch, "ratio": screen_batch / base_batch},
    ]
    meta = {"python": platform.python_version(), "shapely": shapely.__version__,
            "geos": shapely.geos_version_string, "machine": platform.machine(),
            "fence": "50 km corridor, 1,000 vertices, half-width 100 m, 36°N",
            "inside_share": float(np.mean(codes == 2)), "uncertain_share": float(np.mean(codes == 1)),
            "agreement_with_buffer_polygon": agree}
    if args.json:
        print(json.dumps({"rows": rows, "meta": meta}, sort_keys=True))
        return 0
    print(f"geofence bench — {meta['fence']}; shapely {meta['shapely']}, GEOS {meta['geos']}")
    print(f"{'case':44} {'ours':>12} {'contains_xy':>12} {'ratio':>7}")
    for r in rows:
        if "ours_us" in r:
            print(f"{r['case']:44} {r['ours_us']:>9.2f} µs {r['baseline_us']:>9.2f} µs "
                  f"{r['ratio']:>6.1f}×")
        else:
            print(f"{r['case']:44} {r['ours_s']:>10.3f} s {r['baseline_s']:>10.3f} s "
                  f"{r['ratio']:>6.1f}×")
    ok = rows[0]["meets_target"]
    print(f"one decision: {rows[0]['ours_us']:.1f} µs (target < {TARGET_US:.0f} µs: "
          f"{'met' if ok else 'MISSED'}); batch {rows[2]['ours_us_per_fix']:.2f} µs/fix; "
          f"inside {meta['inside_share']:.0%}, uncertain {meta['uncertain_share']:.0%}; "
          f"agrees with the buffer polygon on {agree:.4%} of fixes >1 m from the edge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
