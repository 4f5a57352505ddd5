"""A province against central: N gateways on their own connections, 1 or 2 real
`sitegate-central run` workers on PostgreSQL, one Mosquitto with its default limits.

Per configuration (fresh database each): register N gateways, start K workers on one shared
subscription, let ``bench/province.py`` make one 5-record block per gateway every PERIOD
seconds for SEND seconds (pre-signed), then wait up to DRAIN seconds for every block to be
acknowledged.  Reported:

* offered rec/s (N x 5 / PERIOD), goodput (records acknowledged per second between 10 s and
  SEND), ack latency p50/p99 (block due -> the ack that released it), whether every record
  was stored exactly once and acknowledged, busy answers, re-sends, ack timeouts;
* capacity: PERIOD 0 (every block due at once, each gateway's window of 8 kept full) at
  N = 500 -- the goodput of a saturated central -- so every other row has a ratio
  goodput / capacity measured in the same run; it drains like any other row (exactly once,
  nothing parked left);
* the workers' CPU per stored block, CPU seconds of workers / broker / load generator, the
  load average, the workers' own counters (busy, busy_cached, busy_dropped, parked, ...)
  and how many times Mosquitto logged "Outgoing messages are being dropped".

``--baseline-rev REV`` runs the same configurations with central's code at REV (git archive
into a temporary folder; the load generator and database are this checkout's) in the same run.

Run: PYTHONPATH=. .venv/bin/python bench/bench_province.py [--configs 500:5:1,1000:5:1,...]
     [--send 40] [--drain 60] [--baseline-rev 0e6ca06] [--json]
     (needs PostgreSQL at 127.0.0.1:5432 and mosquitto)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench_central import drop_db, fresh_db  # noqa: E402  (a fresh PostgreSQL database per row)
from brokers import Mosquitto  # noqa: E402
from central.store import now_ms  # noqa: E402
from province import make_blocks, run_province  # noqa: E402
from uplink.sm2 import Signer, generate_private_key  # noqa: E402
from uplink.wire import ZERO_HASH  # noqa: E402

KEYS = 16                    # gateways share a few keys (central caches a Verifier per gateway)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def run_config(n: int, period: float, workers: int, blocks: dict, signers: list, *,
               send_s: float, drain_s: float, code: Path, home: Path, tmp: Path) -> dict:
    url = fresh_db()
    # the schema of the code under test (a baseline revision knows fewer migrations)
    subprocess.run([sys.executable, "-c", "import sys; from central.store import Store; "
                    "Store(sys.argv[1]).close()", url], cwd=str(code), check=True,
                   env=dict(os.environ, PYTHONPATH=str(code)))
    names = [f"gw-p-{i:05d}" for i in range(n)]
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO gateways (gw_id, public_key, project, enabled, created_at, head_seq, "
            "head_hash) VALUES (:gw_id, :public_key, :project, true, :created_at, 0, :head)"), [
            {"gw_id": gw, "public_key": signers[i % KEYS].public_hex, "project": f"P-{i % 50}",
             "created_at": now_ms(), "head": ZERO_HASH} for i, gw in enumerate(names)])
    engine.dispose()
    mq_dir = tmp / f"mq-{uuid.uuid4().hex[:6]}"
    mq_dir.mkdir()
    mosq = Mosquitto(mq_dir, extra="log_type notice")     # notice: messages dropped
    env = dict(os.environ, SITEGATE_HOME=str(home), PYTHONPATH=str(code))
    procs, readies = [], []
    for k in range(workers):
        ready = tmp / f"ready-{uuid.uuid4().hex[:6]}"
        readies.append(ready)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "central.cli", "run", "--db", url, "--broker", mosq.url,
             "--share", "central", "--client-id", f"central-{k}", "--ready-file", str(ready),
             "--no-roster"], env=env, cwd=str(code),
            stdout=open(tmp / f"central-{k}.out", "wb"),
            stderr=open(tmp / f"central-{k}.log", "ab")))
    try:
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in readies):
            if time.monotonic() > deadline:
                raise RuntimeError("central workers did not get ready")
            time.sleep(0.05)
        cpu0 = [sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs]
        broker0 = sum(psutil.Process(mosq.proc.pid).cpu_times()[:2])
        gen0 = sum(psutil.Process().cpu_times()[:2])
        load0 = os.getloadavg()[0]
        n_blocks = max(1, int(send_s / period)) if period else None
        gws = [(gw, blocks[gw][:n_blocks] if n_blocks else blocks[gw]) for gw in names]
        stats, t0, t_end = asyncio.run(run_province(
            gws, "127.0.0.1", mosq.port, period_s=period, send_s=send_s,
            drain_s=drain_s))
        cpu = sum(sum(psutil.Process(p.pid).cpu_times()[:2]) - c for p, c in zip(procs, cpu0))
        broker_cpu = sum(psutil.Process(mosq.proc.pid).cpu_times()[:2]) - broker0
        gen_cpu = sum(psutil.Process().cpu_times()[:2]) - gen0
        load1 = os.getloadavg()[0]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        mosq.stop()
    counters: dict = {}
    for k in range(workers):                    # the workers' counters, printed on exit
        for line in (tmp / f"central-{k}.out").read_text().splitlines()[-1:]:
            try:
                for key, v in json.loads(line).get("counters", {}).items():
                    counters[key] = counters.get(key, 0) + v if key != "queue_max_seen" \
                        else max(counters.get(key, 0), v)
            except ValueError:
                pass
    mq_log = mq_dir / "mosquitto.log"
    broker_drops = mq_log.read_text(errors="replace").count("being dropped") \
        if mq_log.exists() else 0
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM records").scalar()
        stored_blocks = conn.exec_driver_sql("SELECT count(*) FROM blocks").scalar()
        parked = conn.exec_driver_sql("SELECT count(*) FROM pending_blocks").scalar()
        rej = dict(conn.exec_driver_sql("SELECT kind, count(*) FROM rejections GROUP BY kind").all())
    engine.dispose()
    drop_db(url)
    total = sum(len(b) for _, b in gws) * 5
    released = sum(r for _, r in stats.acked_at)
    lo, hi = t0 + 10, t0 + send_s
    steady = sum(r for t, r in stats.acked_at if lo <= t < hi) / (hi - lo)
    done_at = max((t for t, _ in stats.acked_at), default=t0) - t0
    return {"gateways": n, "period_s": period, "workers": workers,
            "offered_rec_s": round(n * 5 / period) if period else None,
            "goodput_rec_s": round(steady), "records": total, "stored": stored,
            "stored_blocks": stored_blocks, "released": released,
            "exactly_once": stored == total and released == total,
            "last_ack_s": round(done_at, 1),
            "ack_p50_ms": round(pct(stats.latencies, 50) * 1000),
            "ack_p99_ms": round(pct(stats.latencies, 99) * 1000),
            "busy": stats.busy, "resends": stats.resends, "timeouts": stats.timeouts,
            "gaps": stats.gaps, "rejected_acks": stats.rejected, "parked_left": parked,
            "rejection_rows": rej, "connect_failures": stats.connect_failures,
            "worker_cpu_ms_per_block": round(cpu * 1000 / max(stored_blocks, 1), 2),
            "cpu_s": {"workers": round(cpu, 1), "broker": round(broker_cpu, 1),
                      "generator": round(gen_cpu, 1), "wall": round(t_end - t0 + 2, 1)},
            "load_avg_1m": [round(load0, 2), round(load1, 2)],
            "broker_drop_episodes": broker_drops,
            "central": {k: counters[k] for k in sorted(counters) if k in (
                "busy", "busy_dropped", "busy_cached", "queue_max_seen", "parked",
                "parked_expired", "duplicate", "replay", "gap", "acks_merged", "blocks_ok",
                "busy_at_ack", "busy_first", "busy_again")}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="500:0:1,500:5:1,1000:5:1,2000:5:1,"
                                         "500:0:2,500:5:2,1000:5:2,2000:5:2",
                    help="N:PERIOD:WORKERS,... (PERIOD 0 = saturating, the capacity)")
    ap.add_argument("--send", type=float, default=40.0)
    ap.add_argument("--drain", type=float, default=60.0)
    ap.add_argument("--saturate-blocks", type=int, default=50,
                    help="blocks per gateway in a saturating run (more than the workers commit "
                         "in SEND seconds; the rest drains like any other run)")
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--baseline-configs", default="500:0:1,1000:5:1")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    configs = [tuple(float(x) for x in c.split(":")) for c in args.configs.split(",")]
    base_configs = [tuple(float(x) for x in c.split(":")) for c in args.baseline_configs.split(",")] \
        if args.baseline_rev else []
    n_max = int(max(c[0] for c in configs + base_configs))
    need = {}
    for n, period, _ in configs + base_configs:
        b = args.saturate_blocks if not period else max(1, int(args.send / period))
        for i in range(int(n)):
            need[i] = max(need.get(i, 0), b)
    t = time.perf_counter()
    signers = [Signer(generate_private_key()) for _ in range(KEYS)]
    blocks = {f"gw-p-{i:05d}": make_blocks(signers[i % KEYS], f"gw-p-{i:05d}", need[i])
              for i in range(n_max)}
    print(f"signed {sum(need.values())} blocks in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        home = tmp / "home"
        codes = [("new", ROOT, configs)]
        if args.baseline_rev:
            base = tmp / "base"
            base.mkdir()
            subprocess.run(f"git -C {ROOT} archive {args.baseline_rev} | tar -x -C {base}",
                           shell=True, check=True)
            codes.append(("baseline", base, base_configs))
        for label, code, cfgs in codes:
            for n, period, workers in cfgs:
                r = run_config(int(n), period, int(workers), blocks, signers, send_s=args.send,
                               drain_s=args.drain, code=code, home=home, tmp=tmp)
                r["code"] = label
                results.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
    for label in ("new", "baseline"):
        caps = {r["workers"]: r["goodput_rec_s"] for r in results
                if r["code"] == label and r["period_s"] == 0}
        for r in results:
            if r["code"] == label and r["workers"] in caps:
                r["goodput_over_capacity"] = round(r["goodput_rec_s"] / caps[r["workers"]], 2)
    out = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores "
                      f"{platform.python_version()}", "send_s": args.send,
           "drain_s": args.drain, "results": results}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{'code':8} {'N':>5} {'per':>4} {'K':>2} {'offered':>8} {'goodput':>8} {'g/cap':>6} "
          f"{'p50ms':>7} {'p99ms':>7} {'once':>5} {'busy':>6} {'resend':>6} {'cpu/blk':>7}")
    for r in results:
        print(f"{r['code']:8} {r['gateways']:5} {r['period_s']:4g} {r['workers']:2} "
              f"{r['offered_rec_s'] or 'sat':>8} {r['goodput_rec_s']:8} "
              f"{r.get('goodput_over_capacity', ''):>6} {r['ack_p50_ms']:7} {r['ack_p99_ms']:7} "
              f"{'yes' if r['exactly_once'] else 'no':>5} {r['busy']:6} {r['resends']:6} "
              f"{r['worker_cpu_ms_per_block']:7}")
    _ = statistics


if __name__ == "__main__":
    main()
