"""Several central processes share one delivery queue on PostgreSQL (FOR UPDATE SKIP LOCKED,
leases fenced by owner tokens): both work, and the platform is sent every record once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import psycopg
import pytest
import sqlalchemy as sa

from central.tables import platform_jobs
from central.store import Store
from platform_kit import SECRET, FakeProc, Gateway, hunan_site, lane, today_ms, write_config
from procs import central_cmd

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
N = 3000
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def pg_url():
    try:
        psycopg.connect(ADMIN, connect_timeout=2).close()
    except Exception:  # noqa: BLE001
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432 on this machine")
    name = f"sitegate_plat_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_central_processes_share_the_queue_and_send_each_record_once(pg_url, tmp_path):
    key = os.urandom(32)
    store = Store(pg_url)
    c, wids = hunan_site(store, n_workers=30, key=key)
    gw = Gateway(store, "gw-pg-plat", "HN-1")
    gw.punches([lane(wids[i % 30], "in" if (i // 30) % 2 == 0 else "out") for i in range(N)],
               today_ms(6), block=250)        # the wire allows 256 per block
    fake = FakeProc()
    cfg = write_config(tmp_path / "platform.toml", fake.url, batch_size=25)
    env = dict(os.environ, SITEGATE_CENTRAL_KEY=key.hex(), SITEGATE_HOME=str(tmp_path / "h"),
               SITEGATE_TEST_PLATFORM_SECRET=SECRET)
    cmd = central_cmd("platform", "run", "--db", pg_url, "--config", str(cfg), "--plan-every",
                      "0.5", "--claim", "2")
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and fake.state()["held"]["attendance"] < N:
            time.sleep(0.5)
        time.sleep(1.0)
        st = fake.state()
    finally:
        outs = []
        for p in procs:
            p.send_signal(signal.SIGTERM)
            outs.append(p.communicate(timeout=30)[0])
        fake.stop()
    assert st["held"]["attendance"] == N
    assert len(st["submitted"]) == N and set(st["submitted"].values()) == {1}
    assert st["stats"].get("duplicates", 0) == 0
    sent = [json.loads(o.strip().splitlines()[-1])["targets"]["hunan"]["counters"].get("sent", 0)
            for o in outs]
    assert all(n > 10 for n in sent), sent                  # both processes delivered
    with store.engine.connect() as conn:
        states = dict(conn.execute(sa.select(platform_jobs.c.state, sa.func.count()).group_by(
            platform_jobs.c.state)).all())
    assert set(states) == {"done"}
    assert sum(sent) == states["done"]                      # no job was sent by both
    store.close()
