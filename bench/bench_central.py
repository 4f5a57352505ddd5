"""Central benchmarks on PostgreSQL.

* ingest: G simulated gateways (outboxes pre-filled and pre-sealed, so gateway-side signing is
  not measured) publish through a fresh Mosquitto to K = 1, then 2 ``sitegate-central run``
  processes on one shared subscription, each run on a fresh database; records/s from the
  first publish to the last central ack, and the scaling ratio K=2 / K=1;
* direct: the same kind of blocks handed straight to ``Ingest.handle`` in K = 1, 2 processes
  (gateways split between them): central's verify + commit path alone, no broker and no load
  generator competing for the cores;
* warnings: 1,000 projects x 12 months of data (10 workers each: attendance days, payroll
  lines matched to bank payouts, labour-cost inflows, some late or missing) loaded with COPY;
  then the time of one full ``evaluate`` (first run, raising warnings) and of a re-run
  (idempotent, nothing new), and of an on-event evaluation of one project.  The same data is
  evaluated by the evaluation code of an older revision (``--baseline-rev``, checked out from
  git into a temporary package at bench time) in the same run, alternating old and new, best
  of two each: ``warnings_ratio_new_vs_old``.

Run: .venv/bin/python bench/bench_central.py [--gateways 8] [--records 2000] [--projects 1000]
     [--only warnings] [--baseline-rev REV] [--json]
     (needs PostgreSQL at 127.0.0.1:5432 and mosquitto)
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import psutil  # noqa: E402
import psycopg  # noqa: E402

from brokers import Mosquitto  # noqa: E402
from central.store import Store  # noqa: E402
from uplink.broker import BrokerConfig  # noqa: E402
from uplink.outbox import Limits, Outbox  # noqa: E402
from uplink.publisher import Uplink  # noqa: E402
from uplink.sm2 import Signer, generate_private_key  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def fresh_db() -> str:
    name = f"sitegate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_db(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def ingest(workers: int, gateways: int, per_gw: int, tmp: Path, port: int) -> dict:
    url = fresh_db()
    store = Store(url)
    boxes = []
    day0 = 1_767_225_600_000
    for g in range(gateways):
        gw = f"gw-bench-{workers}-{g:03d}"
        signer = Signer(generate_private_key())
        store.add_gateway(gw, signer.public_hex, project=f"P-BENCH-{g % 4}")
        box = Outbox(tmp / f"{gw}.db", gw, signer, Limits(max_block_records=100))
        for i in range(0, per_gw, 500):
            box.append_many([{"decision": "allow", "device": "lane-1", "dir": "in",
                              "method": "card+face", "score_milli": 700,
                              "worker": f"W{(i + j) % 400:05d}"} for j in range(500)],
                            ts_ms=day0 + (i // 500) * 86_400_000)
        while box.seal():
            pass
        boxes.append(box)
    store.close()
    env = dict(os.environ, SITEGATE_HOME=str(tmp / "home"), PYTHONPATH=str(ROOT))
    procs, readies = [], []
    for k in range(workers):
        ready = tmp / f"w{workers}-{k}.ready"
        readies.append(ready)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "central.cli", "run", "--db", url, "--broker",
             f"mqtt://127.0.0.1:{port}", "--share", "bench", "--client-id",
             f"central-{workers}-{k}", "--ready-file", str(ready), "--no-roster"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        while not all(r.exists() for r in readies):
            time.sleep(0.05)
        central_key = subprocess.run([sys.executable, "-m", "central.cli", "key", "--hex"], env=env,
                                     check=True, capture_output=True, text=True).stdout.strip()
        stops, threads, ups = [], [], []
        start = time.perf_counter()
        for box in boxes:
            up = Uplink(box, BrokerConfig(f"mqtt://127.0.0.1:{port}"), window=8,
                        ack_timeout=60.0, linger=0.05,   # queueing, not loss: no re-sends
                        central_key=central_key)
            stop = threading.Event()
            t = threading.Thread(target=up.run, args=(stop,), daemon=True)
            t.start()
            stops.append(stop)
            threads.append(t)
            ups.append(up)
        total = gateways * per_gw
        while sum(b.acked_seq for b in boxes) < total and time.perf_counter() - start < 900:
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        for s in stops:
            s.set()
        for t in threads:
            t.join(10)
        resends = sum(u.counters["resends"] for u in ups)
        cpu = sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs)
        bench_cpu = sum(psutil.Process().cpu_times()[:2])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    store = Store(url)
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM records").scalar()
        days = conn.exec_driver_sql("SELECT count(*) FROM attendance_days").scalar()
    store.close()
    drop_db(url)
    return {"records": total, "stored": stored, "attendance_days": days,
            "seconds": round(elapsed, 2), "records_per_s": round(total / elapsed),
            "resends": resends, "worker_cpu_ms_per_block": round(cpu * 1000 * 100 / total, 1),
            "worker_cpu_share": round(cpu / elapsed / workers, 2),
            "load_generator_cpu_s": round(bench_cpu, 1)}


def _direct_worker(url: str, jobs: list, start, out) -> None:
    from central.ingest import Ingest
    store = Store(url)
    ingest = Ingest(store)
    start.wait()
    t, c = time.perf_counter(), time.process_time()
    bad = sum(ingest.handle(topic, payload).status != "ok" for topic, payload in jobs)
    out.put((time.perf_counter() - t, bad, time.process_time() - c))
    store.close()


def direct(workers: int, gateways: int, per_gw: int) -> dict:
    """The same blocks handed straight to ``Ingest.handle`` in K processes (gateways split
    between them, as a sticky broker would): central's verify + commit path without MQTT or a
    load generator competing for the cores."""
    import multiprocessing as mp
    from uplink.wire import ZERO_HASH, canonical, make_record, record_hash, seal_block
    url = fresh_db()
    store = Store(url)
    jobs: list[list] = [[] for _ in range(workers)]
    for g in range(gateways):
        gw = f"gw-direct-{g:03d}"
        signer = Signer(generate_private_key())
        store.add_gateway(gw, signer.public_hex, project=f"P-D-{g % 4}")
        prev, recs = ZERO_HASH, []
        for seq in range(1, per_gw + 1):
            r = make_record(gw, seq, prev, 1_767_225_600_000 + (seq // 500) * 86_400_000,
                            "attendance", {"decision": "allow", "device": "lane-1", "dir": "in",
                                           "method": "card+face", "score_milli": 700,
                                           "worker": f"W{seq % 400:05d}"})
            prev = record_hash(canonical(r))
            recs.append(r)
        jobs[g % workers] += [(f"sitegate/v1/{gw}/blocks", seal_block(signer, gw, recs[i:i + 100], i))
                              for i in range(0, per_gw, 100)]
    store.close()
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_direct_worker, args=(url, j, start, out)) for j in jobs]
    for p in procs:
        p.start()
    time.sleep(1.0)
    t = time.perf_counter()
    start.set()
    results = [out.get(timeout=900) for _ in procs]
    elapsed = time.perf_counter() - t
    for p in procs:
        p.join(30)
    store = Store(url)
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM records").scalar()
    store.close()
    drop_db(url)
    total = gateways * per_gw
    return {"records_per_s": round(total / elapsed), "stored": stored, "records": total,
            "not_ok": sum(r[1] for r in results),
            "worker_cpu_busy": round(sum(r[2] for r in results) / elapsed / workers, 2)}


def _copy(conn, table: str, cols: list[str], rows) -> None:
    names = ", ".join(f'"{c}"' for c in cols)
    with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


def old_warnings_module(rev: str, tmp: Path):
    """The evaluation path (warnings, checks, rules) as it was at ``rev``, importable as
    ``oldcentral.warnings`` on today's schema, store and codes -- for the baseline only."""
    import importlib
    pkg = tmp / "oldcentral"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    # the old code imports the tables as .tables or .schema (their name for a while)
    for mod, real in (("tables", "tables"), ("schema", "tables"), ("store", "store"), ("codes", "codes")):
        (pkg / f"{mod}.py").write_text(f"from central.{real} import *  # noqa\n"
                                       f"from central.{real} import now_ms  # noqa\n"
                                       if mod == "store" else f"from central.{real} import *  # noqa\n")
    for mod in ("warnings", "checks", "rules"):
        src = subprocess.run(["git", "show", f"{rev}:central/{mod}.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        (pkg / f"{mod}.py").write_text(src)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("oldcentral.warnings")


def warnings_bench(n_projects: int, workers: int = 10, baseline_rev: str | None = None) -> dict:
    from central.warnings import Warnings
    url = fresh_db()
    Store(url).close()                                       # schema
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    contractor = "91450100000000070F"
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute('INSERT INTO companies ("corpCode", "corpName", "createdAt") '
                     "VALUES (%s, 'bench', 0)", (contractor,))
        regions = ["450103", "370102", "430102", "110105"]
        _copy(conn, "projects", ["projectCode", "name", "contractorCorpCode", "areaCode",
                                 "prjStatus", "invest", "labourCostMonthly", "contractSignDate",
                                 "startDate", "builderLicenseNum", "laborManagerIdIndex",
                                 "noticeBoardDate", "depositExempt", "createdAt", "sector",
                                 "pushSchedule", "permitDate", "contractStartDate", "address",
                                 "labourCostRatio", "buildCorpCode"],
              ((f"P{p:05d}", "bench", contractor, regions[p % 4], "003", 10**9, 10**7,
                dt.date(2024, 12, 1), dt.date(2025, 1, 1), "LIC", "x" * 64,
                dt.date(2025, 1, 1), p % 10 != 0, 0,
                "transport" if p % 8 == 2 else "building",
                "semimonthly" if p % 8 == 2 else "daily", dt.date(2024, 12, 10),
                dt.date(2025, 1, 1), "addr", 2500, contractor) for p in range(n_projects)))
        _copy(conn, "special_accounts", ["accountId", "projectCode", "accountName", "bankCode",
                                         "accountNoEnc", "accountNoIndex", "accountMasked",
                                         "openedDate"],
              ((p + 1, f"P{p:05d}", "acc", "102", "enc", f"i{p}", "****", dt.date(2024, 12, 15))
               for p in range(n_projects)))
        conn.execute("SELECT setval(pg_get_serial_sequence('special_accounts', 'accountId'), "
                     "%s)", (n_projects,))
        _copy(conn, "workers", ["workerId", "idCardType", "idCardIndex", "idCardNumberEnc",
                                "idCardMasked", "workerNameEnc", "createdAt"],
              ((f"W{p:05d}{w:02d}", "01", f"ix{p}-{w}", "enc", "masked", "enc", 0)
               for p in range(n_projects) for w in range(workers)))

        def flows():
            for p in range(n_projects):
                for i, m in enumerate(months):
                    late = 25 if (p + i) % 7 == 0 else 5          # some transfers are late
                    day = dt.date(2025, i + 1, late)
                    if (p + i) % 31 != 0:                          # and a few never arrive
                        yield (f"IN{p}-{m}", p + 1, f"P{p:05d}", day, "in", "labour_cost",
                               10**7, m, received(day, p + i))
                    for w in range(workers):
                        day = dt.date(2025, i + 1, 1) + dt.timedelta(days=40)
                        yield (f"OUT{p}-{m}-{w}", p + 1, f"P{p:05d}", day, "out",
                               "payout", 600000, m, received(day, p + i + w))

        def received(day, k):                      # when central got it; now and then late
            at = dt.datetime(day.year, day.month, day.day, 12,
                             tzinfo=dt.timezone(dt.timedelta(hours=8)))
            return int((at + dt.timedelta(days=2 if k % 211 == 0 else 0)).timestamp() * 1000)
        _copy(conn, "account_flows", ["bankSerial", "accountId", "projectCode", "valueDate",
                                      "direction", "kind", "amount", "forMonth", "receivedAt"],
              flows())

        month_days = [sum(1 for d in range(31) if (dt.date(2025, i + 1, 1) + dt.timedelta(
            days=d)).month == i + 1 and (dt.date(2025, i + 1, 1) + dt.timedelta(days=d))
            .weekday() < 5) for i in range(12)]    # paid days = days attended

        _copy(conn, "payment_guarantees", ["guaranteeNo", "projectCode", "issuer", "amount",
                                           "validFrom", "validTo"],       # Shandong's art. 13
              ((f"PG{p}", f"P{p:05d}", "bank", 10**8, dt.date(2024, 12, 1), dt.date(2026, 12, 31))
               for p in range(n_projects) if p % 4 == 1))

        def lines():
            for p in range(n_projects):
                for i, m in enumerate(months):
                    for w in range(workers):
                        if (p * 13 + i + w) % 97 == 0:           # an unpaid worker now and then
                            continue
                        yield (f"PR{p}-{m}-{w}", f"P{p:05d}", contractor, f"W{p:05d}{w:02d}", m,
                               month_days[i], 600000, 600000, False, False,
                               dt.date(2025, i + 1, 1) + dt.timedelta(days=40),
                               f"OUT{p}-{m}-{w}")
        _copy(conn, "payroll_lines", ["thirdPayRollCode", "projectCode", "corpCode", "workerId",
                                      "payMonth", "days", "totalPayAmount", "actualAmount",
                                      "isBackPay", "isFinal", "balanceDate", "bankSerial"],
              lines())

        def att():
            d0 = dt.date(2025, 1, 1)
            work_days = [d0 + dt.timedelta(days=i) for i in range(365)
                         if (d0 + dt.timedelta(days=i)).weekday() < 5]
            for p in range(n_projects):
                for w in range(workers):
                    wid = f"W{p:05d}{w:02d}"
                    for d in work_days:
                        yield (f"P{p:05d}", wid, d, 0)
        _copy(conn, "attendance_days", ["projectCode", "workerId", "day", "firstIn"], att())
        conn.execute("ANALYZE")
        n_att = conn.execute("SELECT count(*) FROM attendance_days").fetchone()[0]
    load_s = time.perf_counter() - t0
    store = Store(url)
    as_of = dt.date(2025, 12, 31)

    def run(warn) -> dict:
        with store.engine.begin() as conn:         # each run starts from no warnings
            conn.exec_driver_sql("DELETE FROM notifications; DELETE FROM warning_events; "
                                 "DELETE FROM warnings")
        t = time.perf_counter()
        first = warn.evaluate(as_of)
        first_s = time.perf_counter() - t
        t = time.perf_counter()
        again = warn.evaluate(as_of)
        again_s = time.perf_counter() - t
        t = time.perf_counter()
        warn.evaluate(as_of, ["P00042"])
        with store.engine.connect() as conn:
            by_rule = dict(conn.exec_driver_sql(
                "SELECT rule, count(*) FROM warnings GROUP BY rule ORDER BY rule").all())
        return {"by_rule": by_rule, "first_s": first_s, "rerun_s": again_s, "one_s": time.perf_counter() - t,
                "opened": first.get("opened", 0), "rerun_opened": again.get("opened", 0)}
    new_runs, old_runs = [], []
    old = None
    if baseline_rev:
        old = old_warnings_module(baseline_rev, Path(tempfile.mkdtemp(prefix="sg-old-")))
    for _ in range(2):
        if old is not None:
            old_runs.append(run(old.Warnings(store)))
        new_runs.append(run(Warnings(store)))
    store.close()
    drop_db(url)
    best = {k: min(r[k] for r in new_runs) for k in ("first_s", "rerun_s", "one_s")}
    out = {"projects": n_projects, "months": 12, "attendance_days_rows": n_att,
           "load_s": round(load_s, 1), "evaluate_first_s": round(best["first_s"], 2),
           "warnings_opened": new_runs[0]["opened"], "by_rule": new_runs[0]["by_rule"],
           "evaluate_rerun_s": round(best["rerun_s"], 2),
           "rerun_opened": new_runs[0]["rerun_opened"],
           "evaluate_one_project_s": round(best["one_s"], 3)}
    if old_runs:
        ob = {k: min(r[k] for r in old_runs) for k in ("first_s", "rerun_s", "one_s")}
        out.update({"baseline_rev": baseline_rev,
                    "baseline_evaluate_first_s": round(ob["first_s"], 2),
                    "baseline_warnings_opened": old_runs[0]["opened"],
                    "baseline_by_rule": old_runs[0]["by_rule"],
                    "baseline_evaluate_rerun_s": round(ob["rerun_s"], 2),
                    "baseline_evaluate_one_project_s": round(ob["one_s"], 3),
                    "ratio_new_vs_old_first": round(best["first_s"] / ob["first_s"], 2),
                    "ratio_new_vs_old_rerun": round(best["rerun_s"] / ob["rerun_s"], 2)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=8)
    ap.add_argument("--records", type=int, default=2000, help="records per gateway")
    ap.add_argument("--projects", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", choices=["warnings"], help="Run only this part.")
    ap.add_argument("--baseline-rev", default="7a1df10",
                    help="git revision whose warning evaluation is the same-run baseline "
                         "('' for none)")
    args = ap.parse_args()
    if args.only == "warnings":
        report = {f"warnings_{k}": v for k, v in
                  warnings_bench(args.projects, baseline_rev=args.baseline_rev or None).items()}
        print(json.dumps(report, indent=2) if args.json else
              "\n".join(f"{k:42} {v}" for k, v in report.items()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "broker").mkdir()
        broker = Mosquitto(tmp / "broker", "max_inflight_messages 100\nmax_queued_messages 100000")
        try:
            one = ingest(1, args.gateways, args.records, tmp / "k1", broker.port) \
                if (tmp / "k1").mkdir() is None else None
            two = ingest(2, args.gateways, args.records, tmp / "k2", broker.port) \
                if (tmp / "k2").mkdir() is None else None
        finally:
            broker.stop()
    d1 = direct(1, args.gateways, args.records)
    d2 = direct(2, args.gateways, args.records)
    warn = warnings_bench(args.projects, baseline_rev=args.baseline_rev or None)
    report = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
                   f"Python {platform.python_version()}",
        "ingest_gateways": args.gateways, "ingest_records": one["records"],
        "ingest_1_worker_records_per_s": one["records_per_s"],
        "ingest_2_workers_records_per_s": two["records_per_s"],
        "ingest_scaling_ratio_2_vs_1": round(two["records_per_s"] / one["records_per_s"], 2),
        "ingest_stored_exactly": one["stored"] == one["records"] == two["stored"],
        "ingest_resends_1_2": f"{one['resends']}/{two['resends']}",
        "ingest_worker_cpu_busy_1_2": f"{one['worker_cpu_share']}/{two['worker_cpu_share']}",
        "ingest_worker_cpu_ms_per_100_records": one["worker_cpu_ms_per_block"],
        "ingest_load_generator_cpu_s_1_2": f"{one['load_generator_cpu_s']}/"
                                           f"{two['load_generator_cpu_s']}",
        "direct_ingest_1_worker_records_per_s": d1["records_per_s"],
        "direct_ingest_2_workers_records_per_s": d2["records_per_s"],
        "direct_ingest_scaling_ratio_2_vs_1": round(d2["records_per_s"] / d1["records_per_s"], 2),
        "direct_ingest_stored_exactly": d1["stored"] == d1["records"] == d2["stored"]
        and d1["not_ok"] == d2["not_ok"] == 0,
        **{f"warnings_{k}": v for k, v in warn.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:42} {v}")


if __name__ == "__main__":
    main()
