"""Face detector memory: find faces in the shared photos (all sizes, as enrolment sees them)
and report the process's peak RSS and time, for this tree and a baseline revision, in one run.

    PYTHONPATH=. .venv/bin/python bench/bench_detector_memory.py [--photos 60] [--baseline-rev REV]

Each run is a fresh process (peak RSS is per process). The baseline is ``git archive REV``
unpacked into a temporary folder, run with the same interpreter and models.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_startup import extract  # (git archive REV, unpacked)

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import csv, json, resource, sys, time
from pathlib import Path
import cv2
from biometrics.engines import MobileFaceNetEngine
from biometrics import faces
root, n = Path(sys.argv[1]), int(sys.argv[2])
rows = list(csv.DictReader(open(root / "manifest.csv")))[:n]
eng = MobileFaceNetEngine()
t0, cpu0, found = time.perf_counter(), time.process_time(), 0
for r in rows:
    img = cv2.imread(str(root / r["file"]))
    if img is None:
        continue
    found += len(faces.find(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), 640, 1, eng))
print(json.dumps({"photos": len(rows), "faces": found,
                  "wall_s": round(time.perf_counter() - t0, 1),
                  "cpu_s": round(time.process_time() - cpu0, 1),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def run(tree: Path, photos: Path, n: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), SITEGATE_MODELS=str(ROOT / "models"))
    out = subprocess.run([sys.executable, "-c", CHILD, str(photos), str(n)], env=env, cwd=tree,
                         capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--faces", type=Path, default=Path(os.environ.get(
        "SITEGATE_TEST_FACES", ROOT.parent / "shared" / "data" / "faces")))
    ap.add_argument("--baseline-rev", default=None, help="e.g. 7f541cc^ (before the P-Net fix)")
    args = ap.parse_args()
    rows = []
    if args.baseline_rev:
        with tempfile.TemporaryDirectory() as tmp:
            tree = extract(args.baseline_rev, Path(tmp) / "tree")
            rows.append(("baseline " + args.baseline_rev, run(tree, args.faces, args.photos)))
    rows.append(("this tree", run(ROOT, args.faces, args.photos)))
    print("| code | photos | faces | peak RSS MB | wall s | CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['photos']} | {r['faces']} | {r['peak_rss_mb']:,} | {r['wall_s']} "
              f"| {r['cpu_s']} |")
    if len(rows) == 2:
        a, b = rows[0][1], rows[1][1]
        print(f"\nratio this/baseline: peak RSS {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}, "
              f"CPU {b['cpu_s'] / max(a['cpu_s'], 0.1):.2f}")


if __name__ == "__main__":
    main()
