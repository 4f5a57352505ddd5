"""Gateway -> central -> platform, every part a real process: `sitegate run` clocks simulated
workers in and uploads over a real Mosquitto, `sitegate-central run` verifies and stores,
`sitegate-central platform run` pushes to the shipped fake platform, which ends holding the
project, its team and workers, and every punch once, each with the lane that took it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "central"))

from central.tables import registrations  # noqa: E402
from central.store import Store  # noqa: E402
from platform_kit import (SECRET, FakeProc, aes_open, hunan_site, national_call,  # noqa: E402
                          write_config)
from procs import central_cmd, sitegate_cmd  # noqa: E402
from sample import make_id  # noqa: E402

GW = "gw-platform-1"
N = 300
WORKERS = 50
pytestmark = pytest.mark.timeout(240)


def test_gateway_central_platform_with_real_processes(home, mosquitto, tmp_path):
    key = os.urandom(32)
    env = dict(os.environ, SITEGATE_HOME=str(home), SITEGATE_CENTRAL_KEY=key.hex(),
               SITEGATE_TEST_PLATFORM_SECRET=SECRET)
    site = home / "site.toml"
    site.write_text("\n".join([
        "[gateway]", f'id = "{GW}"', "[broker]", f'url = "{mosquitto.url}"',
        "[outbox]", "max_block_records = 50", "[uplink]", "ack_timeout_s = 3",
        # under one punch per worker and second: a platform keys punches by worker, second
        # and direction, and would rightly call a second one a duplicate
        "[simulate]", f"records = {N}", f"rate = {WORKERS - 10}", f"workers = {WORKERS}"])
        + "\n")
    subprocess.run(sitegate_cmd("keygen", "-c", str(site)), env=env, check=True,
                   capture_output=True)
    subprocess.run(central_cmd("key", "-o", str(home / "keys" / "central.pub.pem")), env=env,
                   check=True, capture_output=True)        # acks verify: the gateway releases
    subprocess.run(central_cmd("gateways", "add", GW, "--public-key",
                               str(home / "keys" / "gateway.key.pem.pub"), "--project", "HN-1"),
                   env=env, check=True, capture_output=True)
    store = Store(f"sqlite:///{home / 'central' / 'central.db'}")
    c, wids = hunan_site(store, n_workers=WORKERS, key=key)
    with store.engine.begin() as conn:      # the site's roster ids, as intake maps them
        conn.execute(registrations.insert(), [
            {"gw_id": GW, "seq": 1_000_000 + i, "projectCode": "HN-1",
             "gatewayWorker": f"W{i:06d}", "workerId": w, "state": "pending", "registeredAt": 0}
            for i, w in enumerate(wids)])
    fake = FakeProc()
    cfg = write_config(tmp_path / "platform.toml", fake.url)
    log = open(tmp_path / "procs.log", "ab")
    procs = [subprocess.Popen(cmd, env=env, stdout=log, stderr=log) for cmd in (
        central_cmd("run", "--broker", mosquitto.url),
        sitegate_cmd("run", "-c", str(site)),
        central_cmd("platform", "run", "--config", str(cfg), "--plan-every", "1"))]
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if fake.state()["held"]["attendance"] >= N:
                break
            time.sleep(0.5)
        time.sleep(1.0)
        st = fake.state()
        status = json.loads(subprocess.run(
            central_cmd("platform", "status", "--config", str(cfg), "--json"), env=env,
            capture_output=True, text=True, check=True).stdout)
        parked = json.loads(subprocess.run(
            central_cmd("platform", "parked", "--config", str(cfg), "--json"), env=env,
            capture_output=True, text=True, check=True).stdout)
        rows = [r for page in range(3) for r in fake_query(fake, page)["data"]["rows"]]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
        fake.stop()

    assert st["held"] == {"project": 1, "company": 1, "team": 1, "worker": WORKERS,
                          "entry_exit": WORKERS, "contract": WORKERS, "attendance": N,
                          "payroll": 0}, st["held"]
    assert len(st["submitted"]) == N and set(st["submitted"].values()) == {1}
    assert parked == []
    hunan = status["targets"]["hunan"]
    assert hunan["records"]["done"] == N + 3 + 3 * WORKERS and set(hunan["jobs"]) == {"done"}
    assert store.seqs(GW) == list(range(1, N + 1))
    assert len(rows) == N
    assert {r["channel"] for r in rows} == {"lane-1", "lane-2", "lane-3", "lane-4"}
    assert {r["attendType"] for r in rows} == {"011"}            # simulated: 其他
    assert {aes_open(r["idCardNumber"]) for r in rows} <= {make_id(i + 1, "450103")
                                                           for i in range(WORKERS)}


def fake_query(fake, page):
    import datetime as dt
    day = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    return national_call(fake.url, "WorkerAttendance.Query",
                         {"projectCode": "HN-1", "date": day, "pageIndex": page,
                          "pageSize": 200})
