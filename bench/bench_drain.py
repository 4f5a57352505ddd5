"""A month offline, drained: records/s end to end, gateway CPU split, RSS, live-record latency.

An outbox is filled fast with N sealed records spread over 30 days (as a gateway that was
offline a month holds them: it seals while offline), then a real Mosquitto (free port), a real
``sitegate-central run`` process (SQLite) and the gateway's real uplink, ledger follower and
health loop (the daemon's threads, in this process) drain it.  Measured:

* records/s from the uplink's start to central's ack of the last record (exactly once:
  central's stored count is checked);
* gateway CPU per thread (uplink, ledger, health) and RSS;
* a live clock-in appended 5 s into the drain: how long until central acknowledged it (it
  goes to the end of the chain, so it waits for the drain);
* same-run baseline: the same drain at the old settings (``--baseline-window`` blocks in
  flight, no drain window) on the same filled outbox, and raw paho QoS 1 block-sized
  messages through the same broker (the transport ceiling).

Run: .venv/bin/python bench/bench_drain.py [--records N] [--json] [--no-baseline]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from brokers import Mosquitto  # noqa: E402
from gateway.clockin.simulate import clock_in  # noqa: E402
from gateway.config import parse  # noqa: E402
from gateway.ledger.site_data import LedgerFollower  # noqa: E402
from uplink.broker import BrokerConfig  # noqa: E402
from uplink.outbox import Limits, Outbox  # noqa: E402
from uplink.publisher import Uplink  # noqa: E402
from uplink.sm2 import Signer, generate_private_key  # noqa: E402

GW = "gw-drain-0001"
DAY_MS = 86_400_000


def fill(path: Path, signer: Signer, n: int, days: int = 30) -> float:
    """N records over ``days`` days ending an hour ago, sealed; returns seconds taken."""
    start = time.perf_counter()
    outbox = Outbox(path, GW, signer, Limits(max_unacked=max(n, 1) + 1000))
    outbox._conn.execute("PRAGMA synchronous=OFF")    # a fast fill; the drain runs as shipped
    t0 = time.time_ns() // 1_000_000 - days * DAY_MS - 3_600_000
    step = days * DAY_MS // max(n, 1)
    batch = 5000
    while outbox.head_seq < n:
        k = min(batch, n - outbox.head_seq)
        seq = outbox.head_seq
        outbox.append_many([clock_in(seq + 1 + i, 5000) for i in range(k)],
                           ts_ms=t0 + seq * step)
        outbox.seal()
    outbox.close()
    return time.perf_counter() - start


def filled(tmp: Path, n: int, cache: Path | None) -> tuple[Signer, Path, float]:
    if cache is not None:
        db, key = cache / f"filled-{n}.db", cache / f"filled-{n}.key"
        if db.exists() and key.exists():
            return Signer(key.read_text().strip()), db, 0.0
    private = generate_private_key()
    signer = Signer(private)
    template = tmp / "filled.db"
    took = fill(template, signer, n)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, cache / f"filled-{n}.db")
        (cache / f"filled-{n}.key").write_text(private)
    return signer, template, took


class Central:
    def __init__(self, home: Path, port: int, public_hex: str) -> None:
        self.home = home
        home.mkdir()
        self.env = dict(os.environ, SITEGATE_HOME=str(home), PYTHONPATH=str(ROOT))
        subprocess.run([sys.executable, "-m", "central.cli", "gateways", "add", GW,
                        "--public-key", public_hex], env=self.env, check=True,
                       capture_output=True)
        ready = home / "central.ready"
        self.proc = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--broker",
                                      f"mqtt://127.0.0.1:{port}", "--ready-file", str(ready)],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(home / "central.log", "w"))
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"central exited: {(home / 'central.log').read_text()[-2000:]}")
            time.sleep(0.05)
        self.key = subprocess.run([sys.executable, "-m", "central.cli", "key", "--hex"],
                                  env=self.env, check=True, capture_output=True,
                                  text=True).stdout.strip()

    def stored(self) -> int | None:
        """Records central holds for the gateway (None: its database is not where we look)."""
        for db in (self.home / "central" / "central.db",):
            if db.exists():
                con = sqlite3.connect(db)
                try:
                    return con.execute("SELECT count(*) FROM records WHERE gw_id = ?",
                                       (GW,)).fetchone()[0]
                except sqlite3.Error:
                    return None
                finally:
                    con.close()
        return None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def thread_cpu(proc: psutil.Process, ids: dict[str, int | None]) -> dict[str, float]:
    by_id = {t.id: t.user_time + t.system_time for t in proc.threads()}
    return {name: by_id.get(tid or -1, 0.0) for name, tid in ids.items()}


def drain(workdir: Path, template: Path, signer: Signer, n: int, port: int, *,
          window: int, drain_window: int | None, label: str,
          ledger_caught_up: bool = False) -> dict:
    home = workdir / label
    home.mkdir()
    shutil.copy(template, home / "outbox.db")
    if ledger_caught_up:      # as after a month of following the outbox while offline
        from gateway.ledger.ledger import Ledger
        reader, ledger = Outbox(home / "outbox.db", GW, readonly=True), Ledger(home / "attendance.db")
        ledger.catch_up(reader)
        reader.close()
        ledger.close()
    central = Central(home / "central", port, signer.public_hex)
    cfg = parse({"gateway": {"id": GW}, "broker": {"url": f"mqtt://127.0.0.1:{port}"},
                 "outbox": {"max_unacked": n + 100_000}}, home=home)
    outbox = Outbox(cfg.outbox_path, GW, signer, cfg.limits)
    import inspect
    kw = {} if drain_window is None or "drain_window" not in \
        inspect.signature(Uplink).parameters else {"drain_window": drain_window}
    uplink = Uplink(outbox, BrokerConfig(f"mqtt://127.0.0.1:{port}"), window=window,
                    linger=0.2, central_key=central.key, **kw)
    stop = threading.Event()
    follower = LedgerFollower(cfg)

    def health() -> None:                  # the daemon's main loop: alarms every 2 s
        while not stop.wait(2.0):
            uplink.all_alarms()

    threads = {"uplink": threading.Thread(target=uplink.run, args=(stop,), name="uplink"),
               "ledger": threading.Thread(target=follower.run, args=(stop,), name="ledger"),
               "health": threading.Thread(target=health, name="health")}
    me = psutil.Process()
    rss0 = me.memory_info().rss
    cpu0 = me.cpu_times()
    central_ps = psutil.Process(central.proc.pid)
    ccpu0 = central_ps.cpu_times()
    start = time.perf_counter()
    for t in threads.values():
        t.start()
    ids = {k: t.native_id for k, t in threads.items()}
    live_seq = live_at = live_acked = None
    peak = rss0
    progress = []
    try:
        while outbox.acked_seq < (live_seq or n):
            time.sleep(0.1)
            now = time.perf_counter() - start
            peak = max(peak, me.memory_info().rss)
            if live_seq is None and now >= 5.0:
                live_seq = outbox.append(clock_in(n + 1, 5000)).seq    # a worker clocks in
                live_at = now
            if live_seq is not None and live_acked is None and outbox.acked_seq >= live_seq:
                live_acked = now
            if not progress or now - progress[-1][0] >= 10:
                progress.append((now, outbox.acked_seq, uplink.drain_state()
                                 if hasattr(uplink, "drain_state") else None))
            if now > 3600:
                raise RuntimeError("drain did not finish within an hour")
        elapsed = time.perf_counter() - start
        if live_acked is None:
            live_acked = elapsed
        indexed = follower.ledger.last_seq if follower.ledger else None
        cpu = thread_cpu(me, ids)
        total = me.cpu_times()
        ccpu = central_ps.cpu_times()
    finally:
        stop.set()
        for t in threads.values():
            t.join(30)
        outbox.close()
        central.stop()
    gw_cpu = (total.user + total.system) - (cpu0.user + cpu0.system)
    stored = central.stored()
    return {
        "label": label, "window": window, "drain_window": drain_window,
        "records": n, "seconds": round(elapsed, 1),
        "records_per_s": round(n / elapsed),
        "central_stored": stored,
        "exactly_once": stored is None or stored == n + 1,
        "gateway_cpu_s": round(gw_cpu, 1),
        "gateway_cpu_pct_of_one_core": round(100 * gw_cpu / elapsed),
        "cpu_split_pct": {k: round(100 * v / max(gw_cpu, 1e-9)) for k, v in cpu.items()},
        "central_cpu_pct_of_one_core": round(
            100 * ((ccpu.user + ccpu.system) - (ccpu0.user + ccpu0.system)) / elapsed),
        "gateway_rss_peak_mib": round(peak / 2**20, 1),
        "live_appended_at_s": round(live_at or 0, 1),
        "live_acked_after_s": round(live_acked - (live_at or 0), 1),
        "resends": uplink.counters["resends"], "blocks": uplink.counters["published"],
        "ledger_indexed": indexed,
        "progress": [(round(t), a, d) for t, a, d in progress][:8],
    }


def raw_blocks(port: int, n_msgs: int, size: int) -> float:
    from bench_e2e import raw_paho
    return raw_paho(port, n_msgs, size)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_200_000)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--drain-window", type=int, default=32,
                    help="blocks in flight while draining ([uplink] drain_window)")
    ap.add_argument("--baseline-window", type=int, default=8)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--ledger-caught-up", action="store_true",
                    help="also drain with the ledger already indexed (as after a month of "
                         "following the outbox offline); the default run starts it empty")
    ap.add_argument("--baseline-tree", type=Path, default=None,
                    help="also run this bench on another checkout (e.g. `git archive main` "
                         "unpacked) in the same run: the code before, as the baseline")
    ap.add_argument("--fill-cache", type=Path, default=None,
                    help="keep the filled outbox (and its key) here and reuse it next time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    before = None
    if args.baseline_tree is not None:
        script = args.baseline_tree / "bench" / "bench_drain.py"
        shutil.copy(__file__, script)
        out = subprocess.run([sys.executable, str(script), "--records", str(args.records),
                              "--no-baseline", "--json"]
                             + (["--fill-cache", str(args.fill_cache)] if args.fill_cache else []), capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(args.baseline_tree)))
        if out.returncode:
            raise SystemExit(f"baseline run failed: {out.stderr[-3000:]}")
        before = json.loads(out.stdout)["runs"][0]
        before["label"] = f"before ({args.baseline_tree})"
    machine = (f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
               f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "broker").mkdir()
        broker = Mosquitto(tmp / "broker")
        try:
            signer, template, fill_s = filled(tmp, args.records, args.fill_cache)
            runs = [drain(tmp, template, signer, args.records, broker.port,
                          window=args.window, drain_window=args.drain_window, label="now")]
            if args.ledger_caught_up:
                runs.append(drain(tmp, template, signer, args.records, broker.port,
                                  window=args.window, drain_window=args.drain_window,
                                  label="now_ledger_caught_up", ledger_caught_up=True))
            if not args.no_baseline:
                runs.append(drain(tmp, template, signer, args.records, broker.port,
                                  window=args.baseline_window, drain_window=args.baseline_window,
                                  label="old_window"))
            size = template.stat().st_size // max(runs[0]["blocks"], 1) // 2
            raw = raw_blocks(broker.port, 2000, max(size, 1000))
        finally:
            broker.stop()
    per_block = args.records / max(runs[0]["blocks"], 1)
    report = {"machine": machine, "records": args.records, "fill_s": round(fill_s, 1),
              "runs": runs,
              "raw_paho_block_msgs_per_s": round(raw),
              "raw_ceiling_records_per_s": round(raw * per_block),
              "ratio_vs_raw_ceiling": round(runs[0]["records_per_s"] / (raw * per_block), 3)}
    by_label = {r["label"]: r for r in runs}
    if before is not None:
        runs.append(before)
        report["ratio_vs_before"] = round(runs[0]["records_per_s"]
                                          / max(before["records_per_s"], 1), 2)
    if "old_window" in by_label:
        report["ratio_vs_old_window"] = round(runs[0]["records_per_s"]
                                              / max(by_label["old_window"]["records_per_s"], 1), 2)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            if k != "runs":
                print(f"{k:32} {v}")
        for r in runs:
            print(f"--- {r['label']}")
            for k, v in r.items():
                print(f"  {k:30} {v}")

    missed = [r["label"] for r in runs[:1] if not r["exactly_once"]
              or (args.records >= 1_200_000 and r["records_per_s"] < TARGET)]
    if missed:
        print(f"missed: {missed} (exactly once, and >= {TARGET} records/s for 1.2 M)")
        raise SystemExit(1)


TARGET = 8000      # records/s end to end for a month of a large site (issue 17)

if __name__ == "__main__":
    main()
