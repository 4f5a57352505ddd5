"""`sitegate --help` start-up time and the gateway daemon's memory, this tree against a baseline
revision extracted from git into a temporary folder, measured alternately in the same run.

Usage: python bench/bench_startup.py [--baseline REV] [--runs N] [--json]
  REV defaults to the merge base with `main` (the code before the imports were trimmed).

Start-up: wall time of `python -m gateway.cli --help` (median of N, baseline and new
alternating). Memory: resident set (VmRSS) of `sitegate run` with a minimal site (uplink only,
broker unreachable) and with both pages on (phone page + web app on 127.0.0.1), read 4 s after
the daemon wrote its first health file; median of 3.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def extract(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def help_time(tree: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gateway.cli", "--help"], env=env, cwd=tree,
                   stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def daemon_rss(tree: Path, work: Path, pages: bool) -> int:
    """VmRSS (KiB) of `sitegate run` from ``tree`` once it is up."""
    home = work / ("pages" if pages else "minimal") / tree.name
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    text = f'[gateway]\nid = "gw-bench-1"\n[broker]\nurl = "mqtt://127.0.0.1:{free_port()}"\n'
    if pages:
        text += (f'[phone]\nlisten = "127.0.0.1"\nport = {free_port()}\n'
                 f'[web]\nlisten = "127.0.0.1"\nport = {free_port()}\n')
    (home / "site.toml").write_text(text)
    env = dict(os.environ, PYTHONPATH=str(tree), SITEGATE_HOME=str(home))
    subprocess.run([sys.executable, "-m", "gateway.cli", "keygen", "-c", str(home / "site.toml")],
                   env=env, cwd=tree, check=True, capture_output=True)
    if pages:
        subprocess.run([sys.executable, "-m", "gateway.cli", "phone", "cert", "-c",
                        str(home / "site.toml")], env=env, cwd=tree, check=True, capture_output=True)
        road = home / "road.geojson"
        road.write_text(json.dumps({"type": "Feature", "properties": {"id": "R1", "crs": "wgs84",
                                    "half_width_m": 50}, "geometry": {"type": "LineString",
                                    "coordinates": [[108.30, 22.80], [108.35, 22.82]]}}))
        subprocess.run([sys.executable, "-m", "gateway.cli", "fences", "add", str(road)], env=env,
                       cwd=tree, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "-c", str(home / "site.toml")],
                            env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (home / "run" / "health.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon from {tree} did not come up")
            time.sleep(0.1)
        time.sleep(4.0)
        return rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rev = a.baseline or subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
                                       capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        base = extract(rev, Path(tmp) / "baseline")
        new = ROOT
        for tree in (base, new):                   # warm the page cache and .pyc files
            help_time(tree)
        times = {"baseline": [], "new": []}
        for _ in range(a.runs):
            times["baseline"].append(help_time(base))
            times["new"].append(help_time(new))
        rss = {"baseline": {"minimal": [], "pages": []}, "new": {"minimal": [], "pages": []}}
        for _ in range(3):
            for label, tree in (("baseline", base), ("new", new)):
                for kind in ("minimal", "pages"):
                    rss[label][kind].append(daemon_rss(tree, Path(tmp) / "homes", kind == "pages"))
    out = {"baseline_rev": rev[:12], "runs": a.runs,
           "help_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
           "rss_mib": {k: {kind: round(statistics.median(v) / 1024, 1) for kind, v in d.items()}
                       for k, d in rss.items()}}
    out["help_ratio"] = round(out["help_s"]["new"] / out["help_s"]["baseline"], 2)
    out["rss_ratio"] = {kind: round(out["rss_mib"]["new"][kind] / out["rss_mib"]["baseline"][kind], 2)
                        for kind in ("minimal", "pages")}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"baseline {out['baseline_rev']}, {a.runs} runs each, alternating")
        print(f"sitegate --help: {out['help_s']['baseline']:.3f} s -> {out['help_s']['new']:.3f} s "
              f"(ratio {out['help_ratio']})")
        for kind in ("minimal", "pages"):
            print(f"sitegate run RSS ({kind}): {out['rss_mib']['baseline'][kind]} MiB -> "
                  f"{out['rss_mib']['new'][kind]} MiB (ratio {out['rss_ratio'][kind]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
