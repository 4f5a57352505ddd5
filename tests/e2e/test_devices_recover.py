"""Devices that recover, with real processes: `sitegate run` drives a card lane whose ID-card
reader and relay board are `sitegate sim` processes on pseudo-terminals behind udev-style links.
Each simulator is killed (and its link removed, as udev does on unplug) while the lane runs: the
alarm appears on the retained state topic of a real Mosquitto, in `sitegate status` and in
`sitegate doctor`; while the relay board is away cards are refused with ``gate_offline``; the
simulator is started again on the same link and clock-ins resume without restarting the daemon.
Every record committed before, during and after is in the outbox exactly once."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from drivers.sim.samples import RESIDENT
from gateway.roster.store import Roster
from procs import central_cmd, sitegate_cmd
from uplink.outbox import Outbox

pytestmark = pytest.mark.timeout(240)
GW = "gw-hotplug-1"


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def records(home):
    path = home / "outbox.db"
    if not path.exists():
        return []
    ob = Outbox(path, GW, readonly=True)
    try:
        return [(r["seq"], r["body"]) for r in ob.iter_records()]
    finally:
        ob.close()


def lost_on(state: dict) -> set[str]:
    return {a.get("device") for a in state.get("alarms", []) if a["code"] == "device_lost"}


def test_reader_and_relay_unplugged_under_a_running_daemon(home, tmp_path, mosquitto):
    env = dict(os.environ, SITEGATE_HOME=str(home))
    Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4").add("W000103", id_number=RESIDENT["id_number"])
    cards = tmp_path / "cards.jsonl"
    cards.write_text(json.dumps(RESIDENT, ensure_ascii=False) + "\n")
    reader_link, gate_link = str(tmp_path / "idcard0"), str(tmp_path / "relay0")
    site = home / "site.toml"
    site.write_text(f"""
[gateway]
id = "{GW}"
[broker]
url = "{mosquitto.url}"
[uplink]
state_interval_s = 30
[lanes.entry]
mode = "card"
idcard = "{reader_link}"
gate = "{gate_link}"
relay = 0
sensor = 0
passage_timeout_s = 3
""")
    subprocess.run(sitegate_cmd("keygen", "-c", str(site)), env=env, check=True, capture_output=True)
    # central's public key where [gateway] central_key looks: no central here, but without it
    # the gateway would (rightly) carry a critical central_key_missing alarm throughout
    subprocess.run(central_cmd("key", "-o", str(home / "keys" / "central.pub.pem")), env=env,
                   check=True, capture_output=True)
    log = open(tmp_path / "procs.log", "ab")

    def start_reader():
        return subprocess.Popen(sitegate_cmd("sim", "idcard", "--link", reader_link, "--cards", str(cards),
                                             "--dwell", "1.0", "--gap", "1.5", "--no-pace"),
                                env=env, stdout=log, stderr=log)

    def start_relay():
        return subprocess.Popen(sitegate_cmd("sim", "turnstile", "--link", gate_link, "--walk-time", "0.2"),
                                env=env, stdout=log, stderr=log)

    def kill(proc, link):
        proc.send_signal(signal.SIGKILL)        # pulled out: no goodbye, the pty just closes
        proc.wait(10)
        os.unlink(link)                         # ... and udev removes the by-id link

    states: list[dict] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    sub.on_message = lambda c, u, m: states.append(json.loads(m.payload))
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe(f"sitegate/v1/{GW}/state", 1)
    sub.loop_start()

    def status():
        out = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"), env=env,
                             capture_output=True, text=True, timeout=60)
        return out.returncode, json.loads(out.stdout)

    def doctor():
        out = subprocess.run(sitegate_cmd("doctor", "-c", str(site), "--json", "--offline"), env=env,
                             capture_output=True, text=True, timeout=120)
        return {c["name"]: c for c in json.loads(out.stdout)["checks"]}

    def allowed():
        return sum(b["decision"] == "allow" for _, b in records(home))

    procs = {"reader": start_reader(), "relay": start_relay()}
    wait_for(lambda: os.path.exists(reader_link) and os.path.exists(gate_link), 20, "simulator links")
    daemon_err = open(tmp_path / "daemon.log", "w")
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stdout=subprocess.DEVNULL,
                              stderr=daemon_err)
    snapshots = []
    try:
        wait_for(lambda: (home / "run" / "health.json").exists(), 60, "the daemon to be up")
        wait_for(lambda: allowed() >= 2, 60, "two clock-ins before anything is unplugged")
        wait_for(lambda: states and not lost_on(states[-1]), 20, "a clean state message")

        # ---------------------------------------------------------------- the ID-card reader
        snapshots.append(records(home))
        kill(procs["reader"], reader_link)
        wait_for(lambda: "idcard:entry" in lost_on(states[-1]), 30, "device_lost on the state topic")
        rc, st = status()
        assert rc == 1 and st["state"] == "alarm", st
        assert [a["device"] for a in st["alarms"] if a["code"] == "device_lost"] == ["idcard:entry"]
        assert {d["name"]: d["state"] for d in st["devices"]} == {"idcard:entry": "lost",
                                                                 f"gate:{gate_link}": "connected"}
        checks = doctor()
        assert checks["entry idcard"]["verdict"] == "fail" and "lost for" in checks["entry idcard"]["detail"]
        assert checks["entry gate"]["verdict"] == "ok"
        before = allowed()
        procs["reader"] = start_reader()                          # plugged back in: same link, new pty
        wait_for(lambda: states and not lost_on(states[-1]), 30, "the alarm to clear on the state topic")
        rc, st = status()
        assert rc == 0 and not [a for a in st["alarms"] if a["code"] == "device_lost"], st
        assert all(d["state"] == "connected" for d in st["devices"])
        assert doctor()["entry idcard"]["verdict"] == "ok"
        wait_for(lambda: allowed() >= before + 2, 60, "clock-ins to resume after the reader came back")

        # ---------------------------------------------------------------- the relay board
        snapshots.append(records(home))
        kill(procs["relay"], gate_link)
        wait_for(lambda: f"gate:{gate_link}" in lost_on(states[-1]), 30, "gate device_lost on the state topic")
        assert doctor()["entry gate"]["verdict"] == "fail"
        wait_for(lambda: any(b["reason"] == "gate_offline" for _, b in records(home)), 30,
                 "a card refused with gate_offline while the relay board is away")
        before = allowed()
        procs["relay"] = start_relay()
        wait_for(lambda: states and not lost_on(states[-1]), 30, "the gate alarm to clear")
        wait_for(lambda: allowed() >= before + 2, 60, "clock-ins to resume after the relay board came back")
        snapshots.append(records(home))
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        finally:
            sub.loop_stop()
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(10)
            daemon_err.close()
            log.close()
    assert daemon.returncode == 0, (tmp_path / "daemon.log").read_text()[-3000:]

    final = records(home)
    seqs = [seq for seq, _ in final]
    assert seqs == list(range(1, len(final) + 1))                 # no gap, no duplicate
    for snap in snapshots:                                         # nothing committed was lost
        assert final[:len(snap)] == snap
    # every record the lane reported committing is there once, with the decision it logged
    logged = [(int(seq), decision, reason) for seq, decision, reason in
              re.findall(r"lane entry: seq (\d+) (\w+) (\w+)", (tmp_path / "daemon.log").read_text())]
    assert logged == [(seq, b["decision"], b["reason"]) for seq, b in final]
    reasons = [b["reason"] for _, b in final]
    assert {"ok", "gate_offline"} <= set(reasons) <= {"ok", "gate_offline", "no_passage", "gate_DeviceLost",
                                                      "gate_GateSilent"}
    # the daemon's log names devices and paths, never the card holder
    text = (tmp_path / "daemon.log").read_text()
    assert RESIDENT["id_number"] not in text and RESIDENT["name"] not in text
