"""Platform connector benchmarks.

* pipeline vs the platform: N attendance records pushed through the whole connector (plan from
  the stored records, seal, sign, send, poll the asynchronous result, commit) to the shipped
  fake platform, records/s from the start of the push until the last job is done; and, in the
  same run against the same fake process, the fake's own acceptance rate: the same number of
  records in pre-built, pre-signed ``WorkerAttendance.Add`` batches of the same size posted
  back to back on one keep-alive connection.  Ratio pipeline / fake (target >= 0.5).
  Alternated twice, best of each.
* queue on PostgreSQL: the same attendance planned into jobs of ``--pg-batch`` records, then
  delivered by K = 1, then 2 ``sitegate-central platform run`` processes (fresh database and
  fresh fake each); jobs/s from the first send to the last job done (``sentAt`` .. ``doneAt``
  in the queue), and the ratio K=2 / K=1.

Run: PYTHONPATH=. .venv/bin/python bench/bench_platform.py [--records 20000] [--pg-records 6000]
     [--json]   (PostgreSQL at 127.0.0.1:5432 for the second part)
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "central")]

import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from central.platform.national import NationalProfile  # noqa: E402
from central.platform.profile import Credentials  # noqa: E402
from central.platform.service import Platform  # noqa: E402
from central.tables import platform_jobs  # noqa: E402
from central.store import Store  # noqa: E402
from platform_kit import (APPID, SECRET, FakeProc, Gateway, aes_seal, hunan_site,  # noqa: E402
                          lane, national_call, targets, today_ms, write_config)
from procs import central_cmd  # noqa: E402
from sample import make_id  # noqa: E402

WORKERS = 50
BATCH = int(os.environ.get("BENCH_BATCH", "500"))
CONC = int(os.environ.get("BENCH_CONC", "2"))
REGISTRY = ["project", "company", "team", "worker", "entry_exit", "contract"]


def site(url: str, records: int, key: bytes | None = None, offset: int = 0):
    store = Store(url)
    c, wids = hunan_site(store, n_workers=WORKERS, key=key)
    gw = Gateway(store, "gw-bench-1", "HN-1")
    gw.punches([lane(wids[i % WORKERS], "in" if (i // WORKERS) % 2 == 0 else "out")
                for i in range(records)], today_ms(0) + 1000 + offset * 1000, step_ms=1000,
               block=250)
    return store, c


def cpu_s(pid: int | None = None) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def direct_rate(fake: FakeProc, records: int, tag: str, offset: int) -> tuple[float, float]:
    """The fake's own acceptance: pre-signed batches posted back to back."""
    code = f"BENCH-{tag}"
    national_call(fake.url, "Project.Add", {
        "projectCode": code, "name": "基准项目", "contractorCorpCode": "91430100MA4L000001",
        "contractorCorpName": "湖南建工", "areaCode": "430102", "prjStatus": "003"})
    time.sleep(0.2)
    ids = [make_id(i + 1, "430102") for i in range(WORKERS)]
    national_call(fake.url, "ProjectWorker.Add", {
        "projectCode": code, "corpCode": "91430100MA4L000001", "corpName": "湖南建工",
        "workerList": [{"workerName": f"工人{i}", "idCardType": "01", "idCardNumber": aes_seal(x),
                        "workType": "020", "workRole": "20", "isTeamLeader": 0}
                       for i, x in enumerate(ids)]})
    time.sleep(0.2)
    prof = NationalProfile(fake.url)
    cred = Credentials(APPID, SECRET)
    t0 = today_ms(0) + 1000 + offset * 1000
    reqs = []
    for b in range(0, records, BATCH):
        items = [{"idCardType": "01", "idCardNumber": ids[i % WORKERS],
                  "date": time.strftime("%Y-%m-%d %H:%M:%S",
                                        time.gmtime((t0 + i * 1000) / 1000 + 8 * 3600)),
                  "direction": "01" if (i // WORKERS) % 2 == 0 else "02", "attendType": "001",
                  "channel": "lane-2"} for i in range(b, min(b + BATCH, records))]
        reqs.append(prof.write("attendance", {"projectCode": code, "dataList": items}, False,
                               cred, int(time.time() * 1000), uuid.uuid4().hex))
    u = urlsplit(fake.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    start, fake_cpu = time.perf_counter(), cpu_s(fake.proc.pid)
    for r in reqs:
        conn.request("POST", u.path, body=r.body, headers=r.headers)
        ans = json.loads(conn.getresponse().read())
        assert ans["code"] == 0, ans
    took = time.perf_counter() - start
    fake_cpu = cpu_s(fake.proc.pid) - fake_cpu
    conn.close()
    return records / took, fake_cpu / records * 1e6


def pipeline_rate(tmp: Path, fake: FakeProc, records: int, tag: str,
                  offset: int) -> tuple[float, float, float]:
    store, c = site(f"sqlite:///{tmp / f'pipe-{tag}.db'}", records, offset=offset)
    cfg = write_config(tmp / f"p-{tag}.toml", fake.url, batch_size=BATCH, poll_s=0.02,
                       settle_s=5.0, timeout_s=10.0, lease_s=40.0, concurrency=CONC)
    svc = Platform(store, c.cipher, targets(cfg))
    svc.push(kinds=REGISTRY)                       # untimed: the project and its workers
    start, ours, theirs = time.perf_counter(), cpu_s(), cpu_s(fake.proc.pid)
    out = svc.push(kinds=["attendance"])
    took = time.perf_counter() - start
    ours, theirs = cpu_s() - ours, cpu_s(fake.proc.pid) - theirs
    s = out["targets"]["hunan"]
    assert set(s["jobs"]) == {"done"}, s["jobs"]
    store.close()
    return records / took, ours / records * 1e6, theirs / records * 1e6


def bench_pipeline(records: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fake = FakeProc(process_ms=10)
        try:
            direct, piped = [], []
            for i in range(2):
                # every run's punches are distinct (their own seconds), so none is a duplicate
                direct.append(direct_rate(fake, records, f"{i}", i * records))
                piped.append(pipeline_rate(tmp, fake, records, f"{i}", i * records))
            st = fake.state()
        finally:
            fake.stop()
    assert set(st["submitted"].values()) == {1}
    best_d, best_p = max(d[0] for d in direct), max(p[0] for p in piped)
    # CPU per record (user + system, from psutil): the fake's while it takes the pre-signed
    # batches; the connector's (this process: planning, sealing, delivery threads) and the
    # fake's while the pipeline runs
    return {"records": records, "batch": BATCH, "fake_accept_rps": [round(d[0]) for d in direct],
            "pipeline_rps": [round(p[0]) for p in piped],
            "ratio_pipeline_vs_fake": round(best_p / best_d, 2),
            "cpu_us_per_record": {"fake_direct": [round(d[1], 1) for d in direct],
                                  "connector": [round(p[1], 1) for p in piped],
                                  "fake_during_pipeline": [round(p[2], 1) for p in piped]}}


def bench_queue(records: int, batch: int) -> dict:
    import psycopg
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    out = {}
    for k in (1, 2):
        name = f"sitegate_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        key = os.urandom(32)
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            fake = FakeProc(process_ms=10)
            try:
                store, c = site(url, records, key)
                cfg = write_config(tmp / "p.toml", fake.url, batch_size=batch, poll_s=0.02,
                                   settle_s=5.0, timeout_s=10.0, lease_s=40.0, concurrency=CONC)
                svc = Platform(store, c.cipher, targets(cfg))
                svc.push(kinds=REGISTRY)
                svc.plan(kinds=["attendance"])
                with store.engine.connect() as conn:
                    jobs = conn.execute(sa.select(sa.func.count()).where(
                        platform_jobs.c.kind == "attendance")).scalar()
                env = dict(os.environ, SITEGATE_CENTRAL_KEY=key.hex(),
                           SITEGATE_HOME=str(tmp / "h"), SITEGATE_TEST_PLATFORM_SECRET=SECRET)
                cmd = central_cmd("platform", "run", "--db", url, "--config", str(cfg),
                                  "--plan-every", "3600", "--watch-every", "3600", "--claim", "4")
                procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL) for _ in range(k)]
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    with store.engine.connect() as conn:
                        left = conn.execute(sa.select(sa.func.count()).where(
                            platform_jobs.c.state != "done")).scalar()
                    if left == 0:
                        break
                    time.sleep(0.2)
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    p.wait(30)
                with store.engine.connect() as conn:
                    first, last = conn.execute(sa.select(
                        sa.func.min(platform_jobs.c.sentAt), sa.func.max(platform_jobs.c.doneAt))
                        .where(platform_jobs.c.kind == "attendance")).one()
                st = fake.state()
                assert st["held"]["attendance"] >= records and \
                    set(st["submitted"].values()) == {1}
                store.close()
            finally:
                fake.stop()
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        secs = (last - first) / 1000
        out[f"k{k}"] = {"jobs": jobs, "seconds": round(secs, 2), "jobs_per_s": round(jobs / secs, 1),
                        "records_per_s": round(records / secs)}
    out["ratio_k2_vs_k1"] = round(out["k2"]["jobs_per_s"] / out["k1"]["jobs_per_s"], 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--pg-records", type=int, default=6_000)
    ap.add_argument("--pg-batch", type=int, default=25)
    ap.add_argument("--only", choices=["pipeline", "queue"])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = {"machine": f"{platform.machine()} {psutil.cpu_count()} vCPU, load "
                      f"{os.getloadavg()[0]:.1f}"}
    if a.only in (None, "pipeline"):
        res["pipeline"] = bench_pipeline(a.records)
    if a.only in (None, "queue"):
        res["queue_postgres"] = bench_queue(a.pg_records, a.pg_batch)
    if a.json:
        print(json.dumps(res))
    else:
        print(json.dumps(res, indent=2))
    ok = res.get("pipeline", {}).get("ratio_pipeline_vs_fake", 1) >= 0.5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
