"""Exactly once in effect: `sitegate-central platform run` is killed with SIGKILL at random
moments while it pushes 10,000 attendance records to the shipped fake platform (real
processes); when it is left to finish, the platform holds every record once and was sent
each record once -- a write whose answer was lost to a kill is settled through the
platform's query, never sent again."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "central"))

from central.tables import platform_jobs  # noqa: E402
from central.store import Store  # noqa: E402
from platform_kit import (SECRET, FakeProc, Gateway, hunan_site, lane, today_ms,  # noqa: E402
                          write_config)
from procs import central_cmd  # noqa: E402
from sample import make_id  # noqa: E402

N = 10_000
WORKERS = 50
CN = dt.timezone(dt.timedelta(hours=8))
pytestmark = pytest.mark.timeout(300)


def test_killed_at_random_moments_the_platform_holds_each_record_once(tmp_path):
    rng = random.Random()
    key = os.urandom(32)
    db = f"sqlite:///{tmp_path / 'central.db'}"
    store = Store(db)
    c, wids = hunan_site(store, n_workers=WORKERS, key=key)
    gw = Gateway(store, "gw-kill-1", "HN-1")
    t0 = today_ms(5)
    bodies = [lane(wids[i % WORKERS], "in" if (i // WORKERS) % 2 == 0 else "out")
              for i in range(N)]
    gw.punches(bodies, t0, step_ms=1000, block=250)   # the wire allows 256 per block
    expected = set()
    for i, b in enumerate(bodies):
        when = dt.datetime.fromtimestamp((t0 + i * 1000) / 1000, CN).strftime("%Y-%m-%d %H:%M:%S")
        idn = make_id(wids.index(b["worker"]) + 1, "450103")
        expected.add(hashlib.sha256(f"{idn}|{when}|{'01' if b['dir'] == 'in' else '02'}"
                                    .encode()).hexdigest()[:32])
    assert len(expected) == N

    fake = FakeProc(process_ms=50)
    cfg = write_config(tmp_path / "platform.toml", fake.url, batch_size=20, timeout_s=2.0,
                       lease_s=4.5, settle_s=3.0, poll_s=0.05)
    env = dict(os.environ, SITEGATE_CENTRAL_KEY=key.hex(), SITEGATE_HOME=str(tmp_path / "home"),
               SITEGATE_TEST_PLATFORM_SECRET=SECRET)
    cmd = central_cmd("platform", "run", "--db", db, "--config", str(cfg), "--plan-every", "0.5",
                      "--claim", "2", "--watch-every", "3600")
    log = open(tmp_path / "run.log", "ab")
    # the registry first (an operator's `push`), so that the kills land on attendance
    out = subprocess.run(central_cmd("platform", "push", "--db", db, "--config", str(cfg),
                                     *[a for k in ("project", "company", "team", "worker",
                                                   "entry_exit", "contract")
                                       for a in ("--kind", k)], "--json"),
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    held_at_kill = []
    started = time.monotonic()
    try:
        for _ in range(30):
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
            time.sleep(rng.uniform(1.4, 2.4))        # start-up takes about 1.3 s of it
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            held_at_kill.append(fake.state()["held"]["attendance"])
            if held_at_kill[-1] >= N:
                break
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            st = fake.state()
            if st["held"]["attendance"] >= N:
                break
            time.sleep(0.5)
        deadline = time.monotonic() + 60               # and record the last answers (jobs
        while time.monotonic() < deadline:             # in doubt: after their lease, settled
            with store.engine.connect() as conn:       # through the query)
                left = conn.execute(sa.select(sa.func.count()).where(
                    platform_jobs.c.state != "done")).scalar()
            if left == 0:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        st = fake.state()
    finally:
        log.close()
        fake.stop()
    took = time.monotonic() - started

    assert st["held"]["attendance"] == N, (st["held"], held_at_kill)
    assert set(st["attendanceHeld"]) == expected            # every record, nothing else
    sent = st["submitted"]
    assert set(sent) == expected
    twice = {k: n for k, n in sent.items() if n != 1}
    assert not twice, f"{len(twice)} records were sent more than once"
    assert st["stats"].get("duplicates", 0) == 0 and st["stats"].get("invalid", 0) == 0
    with store.engine.connect() as conn:
        states = dict(conn.execute(sa.select(platform_jobs.c.state, sa.func.count()).group_by(
            platform_jobs.c.state)).all())
        by_query = conn.execute(sa.select(sa.func.count()).where(
            platform_jobs.c.resolvedBy == "query")).scalar()
    assert set(states) == {"done"}, states
    # the kills landed while records were still flowing
    assert sum(1 for h in held_at_kill if 0 < h < N) >= 4, held_at_kill
    print(f"\n{len(held_at_kill)} kills, held at each {held_at_kill}, {by_query} jobs settled "
          f"through the query, {took:.0f} s")
