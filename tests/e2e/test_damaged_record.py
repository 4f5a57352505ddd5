"""One record's bytes flipped on disk (SQLite's integrity check still "ok"): real `sitegate run`,
real `sitegate-central run`, real Mosquitto.  The gateway finds it when sealing (the bytes no
longer hash to the chain), raises a critical alarm and reports the damaged range to central as
a signed damage report; central records it and everything after it arrives.  (Today the gateway
seals and sends the damaged record, central refuses the broken chain every few seconds forever
and nothing after it arrives.)"""
from __future__ import annotations

import json
import subprocess

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.store import Store
from gateway import keys
from gateway.config import load
from outbox_faults import flip, integrity_ok, provision, site_toml
from procs import central_cmd, sitegate_cmd
from spine import wait_for
from uplink.outbox import Outbox

GW = "gw-flip-1"


def test_flipped_record_is_reported_as_damage_and_the_chain_goes_on(home, mosquitto, tmp_path):
    site = site_toml(home, GW, mosquitto.url)
    env = provision(home, site, GW)
    cfg = load(site, home)
    outbox = Outbox(cfg.outbox_path, GW, keys.load(cfg.key_file), cfg.limits)
    outbox.append_many([{"decision": "allow", "dir": "in", "worker": f"W{i:06d}"}
                        for i in range(1, 41)], ts_ms=1_767_225_600_000)
    outbox.close()                                   # checkpointed: the rows are in the file
    flip(cfg.outbox_path, b'"worker":"W000017"', b'"worker":"W000071"')
    assert integrity_ok(cfg.outbox_path), "SQLite itself cannot see this damage"

    states = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = lambda c, u, m: states.append(json.loads(m.payload))
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe(f"sitegate/v1/{GW}/state", 1)
    watcher.loop_start()
    store = Store(f"sqlite:///{home / 'central' / 'central.db'}")
    log = open(tmp_path / "procs.log", "ab")
    central = subprocess.Popen(central_cmd("run", "--broker", mosquitto.url), env=env,
                               stdout=log, stderr=log)
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stdout=log,
                              stderr=log)
    try:
        wait_for(lambda: store.gateway(GW)["head_seq"] == 40, 60, "the chain reaches 40")
        assert store.seqs(GW) == [s for s in range(1, 41) if s != 17]

        def alarmed(level):
            return any(a["code"] == "record_damaged" and a["level"] == level
                       for s in states for a in s.get("alarms", []))
        wait_for(lambda: alarmed("critical") or alarmed("warning"), 30,
                 "record_damaged on the state topic")

        def reported():
            out = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"), env=env,
                                 capture_output=True, text=True)
            report = json.loads(out.stdout)
            return report["outbox"]["acked_seq"] == 40 and any(
                a["code"] == "record_damaged" and "17..17" in a["message"]
                for a in report["alarms"])
        wait_for(reported, 30, "status shows the damaged range, acknowledged by central")
    finally:
        daemon.terminate()
        daemon.wait(20)
        central.terminate()
        central.wait(20)
        watcher.loop_stop()
        log.close()
    verify = subprocess.run(central_cmd("verify", "--json", "--gateway", GW), env=env,
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    result = json.loads(verify.stdout)[0]
    assert result["ok"] and result["verified_records"] == 39
    assert result["unstored"] == [[17, 17, "damaged"]]
    assert result["rejections"].get("broken_chain", 0) == 0
    # followers of the outbox (the attendance ledger) never get the damaged bytes as a record
    ob = Outbox(cfg.outbox_path, GW, None, cfg.limits, readonly=True)
    assert [r["seq"] for r in ob.iter_records()] == [s for s in range(1, 41) if s != 17]
    ob.close()
