"""`make bench`: run every benchmark in bench/ one after another (each prints its own ratios
against a baseline taken in the same run; see BENCHMARKS.md). Exit 1 if any script failed or
reported a missed target.

Usage: python bench/run_all.py [NAME ...]     e.g. webapp geofence (default: all)
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    wanted = set(sys.argv[1:])
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not wanted or p.stem[6:] in wanted)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    failed = []
    for script in scripts:
        print(f"\n=== {script.name}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)], env=env, cwd=HERE.parent)
        print(f"=== {script.name}: exit {rc} in {time.monotonic() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print(f"\nnot clean: {', '.join(failed)} (missed targets or errors; see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
