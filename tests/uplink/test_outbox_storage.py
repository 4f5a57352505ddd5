"""The gateway survives its own storage: at the database size limit or the free-disk limit,
acknowledged rows go before capture is refused, and whatever was committed can still be
sealed.  Real `sitegate run`, real `sitegate-central run`, real Mosquitto, a real (small)
filesystem."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from central.store import Store
from gateway.config import load
from outbox_faults import provision, site_toml
from procs import central_cmd, sitegate_cmd
from spine import wait_for
from uplink.outbox import Outbox
from uplink.wire import decode_upload

GW = "gw-store-1"


def test_at_the_size_limit_acked_rows_go_before_capture_is_refused(home, mosquitto, tmp_path):
    """3,000 records through a 256 KiB outbox (each costs ~0.5 KiB with its block): only
    possible if acknowledged rows make room before their 7-day retention ends."""
    site = site_toml(home, GW, mosquitto.url, outbox={"max_db_mb": 0.25, "max_block_records": 50},
                     simulate={"records": 3000, "rate": 400})
    env = provision(home, site, GW)
    store = Store(f"sqlite:///{home / 'central' / 'central.db'}")
    log = open(tmp_path / "procs.log", "ab")
    central = subprocess.Popen(central_cmd("run", "--broker", mosquitto.url), env=env,
                               stdout=log, stderr=log)
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stdout=log,
                              stderr=log)
    try:
        wait_for(lambda: (store.gateway(GW) or {}).get("head_seq") == 3000, 120,
                 "all 3,000 records at central")
    finally:
        daemon.terminate()
        daemon.wait(20)
        central.terminate()
        central.wait(20)
        log.close()
    assert store.seqs(GW) == list(range(1, 3001))
    cfg = load(site, home)
    assert cfg.outbox_path.stat().st_size <= 256 * 1024 + 8192
    ob = Outbox(cfg.outbox_path, GW, None, cfg.limits, readonly=True)
    assert ob.stats()["rows"] < 3000, "acknowledged rows were kept: the limit was not reached"
    ob.close()


def test_committed_records_can_always_be_sealed_at_the_size_limit(home, mosquitto, tmp_path):
    """No central: the outbox fills until capture is refused; every committed record is still
    sealed into a signed block (room is kept for it).  Blocks are sealed every ~256 records, as
    in a burst: without the reserve the last records committed find no room for their block."""
    site = site_toml(home, GW, mosquitto.url, outbox={"max_db_mb": 0.2},
                     simulate={"records": 100000, "rate": 200}, uplink={"linger_s": 5})
    env = provision(home, site, GW, register=False)
    log = tmp_path / "daemon.log"
    with open(log, "ab") as f:
        daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stdout=f,
                                  stderr=f)

    def refused():
        return "clock-in refused" in log.read_text(errors="replace")
    try:
        wait_for(refused, 90, "capture refused at the size limit")
        cfg = load(site, home)

        def all_sealed():
            ob = Outbox(cfg.outbox_path, GW, None, cfg.limits, readonly=True)
            try:
                st = ob.stats()
                return st["sealed_seq"] == st["head_seq"] > 100
            finally:
                ob.close()
        wait_for(all_sealed, 30, "every committed record sealed")
    finally:
        daemon.terminate()
        daemon.wait(20)
    ob = Outbox(cfg.outbox_path, GW, None, cfg.limits, readonly=True)
    blocks = ob.blocks_after(0, 10_000)
    assert blocks[0][0] == 1 and blocks[-1][1] == ob.head_seq
    assert all(decode_upload(p).last == last for _, last, p in blocks)
    ob.close()


FREE_DISK = textwrap.dedent('''
    import json, subprocess, sys
    from pathlib import Path
    d = Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(d)], check=True)
    from spine import make_gateway
    from uplink.outbox import Limits, OutboxFull
    outbox, _ = make_gateway(d / "outbox.db", "gw-disk-1",
                             limits=Limits(min_free_bytes=12 * 1024 * 1024))
    made, refused = 0, None
    for i in range(400):                  # ~40 MB of records through a 24 MB filesystem
        try:
            outbox.append_many([{"pad": "z" * 800, "n": i * 50 + j} for j in range(50)])
            made += 50
        except OutboxFull as exc:
            refused = str(exc)
            break
        outbox.seal()
        outbox.ack(outbox.sealed_seq, outbox.hash_of(outbox.sealed_seq))   # central has them
    # nobody acknowledges any more: capture must now stop at the limit, loudly
    try:
        for i in range(1000):
            outbox.append_many([{"pad": "z" * 800, "n": i} for _ in range(50)])
            outbox.seal()
    except OutboxFull as exc:
        print(json.dumps({"made": made, "refused_early": refused, "then": str(exc),
                          "sealed": outbox.sealed_seq, "head": outbox.head_seq}))
''')


def test_at_the_free_disk_limit_acked_rows_go_before_capture_is_refused(tmp_path):
    """A real 24 MiB filesystem (tmpfs in a private mount namespace) with min_free at 12 MiB:
    20,000 records of ~1 KiB pass through it while central acknowledges them; once nothing is
    acknowledged, capture is refused at the limit and what was committed is sealed."""
    tests = Path(__file__).resolve().parents[1]          # spine.py, and the product beside it
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests.parent), str(tests)]))
    out = subprocess.run(["unshare", "--mount", "--map-root-user", sys.executable, "-c",
                          FREE_DISK, str(tmp_path / "disk")], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["refused_early"] is None, result
    assert result["made"] == 20_000
    assert "disk almost full" in result["then"] and result["sealed"] == result["head"]
