"""Nothing lost, nothing doubled: real processes, real Mosquitto (default queue limits),
a deliberately slow central, kill -9 of the gateway at 20+ random moments, the broker stopped
and restarted, central killed for a while.  Central must end with exactly seq 1..N, verified."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

from central.audit import verify_gateway
from central.store import Store
from procs import central_cmd, sitegate_cmd

N = 10_000
GW = "gw-fault-1"


def write_site(home, broker_url, **extra):
    sim = extra.pop("simulate", {"records": N, "rate": 500})
    outbox = extra.pop("outbox", {"max_block_records": 50})
    lines = ["[gateway]", f'id = "{extra.pop("gw", GW)}"', "[broker]", f'url = "{broker_url}"',
             "[outbox]", *[f"{k} = {v}" for k, v in outbox.items()],
             "[uplink]", "ack_timeout_s = 3", "window = 8", "state_interval_s = 1",
             "[simulate]", *[f"{k} = {v}" for k, v in sim.items()]]
    path = home / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def provision(home, site, gw=GW):
    env = dict(os.environ, SITEGATE_HOME=str(home))
    subprocess.run(sitegate_cmd("keygen", "-c", str(site)), env=env, check=True,
                   capture_output=True)
    subprocess.run(central_cmd("gateways", "add", gw, "--public-key",
                               str(home / "keys" / "gateway.key.pem.pub")),
                   env=env, check=True, capture_output=True)
    subprocess.run(central_cmd("key", "-o", str(home / "keys" / "central.pub.pem")),
                   env=env, check=True, capture_output=True)      # acks verify with it
    return env


def start(cmd, env, log):
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log)


def kill9(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_kill9_broker_restart_central_outage_loses_nothing(home, mosquitto, tmp_path):
    rng = random.Random()
    site = write_site(home, mosquitto.url)
    env = provision(home, site)
    store = Store(f"sqlite:///{home / 'central' / 'central.db'}")
    log = open(tmp_path / "procs.log", "ab")
    central_run = central_cmd("run", "--broker", mosquitto.url, "--delay-ms", "40")
    central = start(central_run, env, log)
    gateway = start(sitegate_cmd("run", "-c", str(site)), env, log)
    head_at_kill = []

    def central_head():
        g = store.gateway(GW)
        return g["head_seq"] if g else 0

    try:
        for i in range(22):
            time.sleep(rng.uniform(0.3, 1.6))
            kill9(gateway)
            head_at_kill.append(central_head())
            if i == 7:                               # the broker goes away and comes back
                mosquitto.stop()
                time.sleep(2.0)
                mosquitto.start()
            if i == 13:                              # central dies and stays down a while
                kill9(central)
                time.sleep(4.0)
                central = start(central_run, env, log)
            time.sleep(rng.uniform(0.0, 0.4))
            gateway = start(sitegate_cmd("run", "-c", str(site)), env, log)
        deadline = time.monotonic() + 240
        while central_head() < N and time.monotonic() < deadline:
            time.sleep(0.5)
        # let the gateway hear the last acks, then check its outbox drained
        deadline = time.monotonic() + 30
        status = {}
        while time.monotonic() < deadline:
            out = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"), env=env,
                                 capture_output=True, text=True)
            status = json.loads(out.stdout)
            if status["outbox"]["backlog"] == 0:
                break
            time.sleep(0.5)
    finally:
        kill9(gateway)
        central.terminate()
        central.wait(15)
        log.close()

    seqs = store.seqs(GW)
    assert len(seqs) == N, f"central has {len(seqs)} records, expected {N}"
    assert seqs == list(range(1, N + 1)), "central's records are not exactly 1..N"
    audit = verify_gateway(store, GW)
    assert audit.ok, audit.problems[:5]
    assert audit.verified_records == N
    assert status["outbox"]["head_seq"] == N, "the gateway made more or fewer than N records"
    assert status["outbox"]["acked_seq"] == N and status["outbox"]["backlog"] == 0
    # the kills landed while records were still flowing, not all after the end
    assert sum(1 for h in head_at_kill if h < N) >= 20, head_at_kill
