"""A structurally corrupt outbox is a clear failure, not a traceback: `sitegate status` and
`sitegate doctor` report it as a failed check, `sitegate run` stops before saying "up" with the
exit code the shipped systemd unit does not restart on.  And `sitegate status` shows what the
daemon's state topic shows (central's rejections included)."""
from __future__ import annotations

import configparser
import json
import subprocess

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway import keys
from gateway.config import load
from gateway.daemon import EXIT_CORRUPT
from outbox_faults import provision, site_toml, smash_pages
from paths import ROOT
from procs import central_cmd, sitegate_cmd
from spine import wait_for
from uplink.outbox import Outbox
from uplink.sm2 import Signer, generate_private_key

GW = "gw-corrupt-1"


def _corrupt_outbox(home, broker_url):
    site = site_toml(home, GW, broker_url)
    env = provision(home, site, GW, register=False)
    cfg = load(site, home)
    outbox = Outbox(cfg.outbox_path, GW, keys.load(cfg.key_file), cfg.limits)
    outbox.append_many([{"decision": "allow", "dir": "in", "worker": f"W{i:06d}",
                         "pad": "p" * 200} for i in range(3000)], ts_ms=1_767_225_600_000)
    outbox.seal()
    outbox.close()
    smash_pages(cfg.outbox_path, first_page=20, pages=6)
    return site, env


def test_status_and_doctor_report_a_corrupt_outbox(home, mosquitto):
    site, env = _corrupt_outbox(home, mosquitto.url)
    status = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"), env=env,
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in status.stderr, status.stderr
    assert status.returncode == 1
    report = json.loads(status.stdout)
    assert report["state"] == "alarm" and report["outbox"] is None
    alarm = next(a for a in report["alarms"] if a["code"] == "outbox_corrupt")
    assert alarm["level"] == "critical" and "corrupt" in alarm["message"]
    human = subprocess.run(sitegate_cmd("status", "-c", str(site)), env=env,
                           capture_output=True, text=True, timeout=120)
    assert "Traceback" not in human.stderr and "ALARM outbox_corrupt" in human.stdout

    doctor = subprocess.run(sitegate_cmd("doctor", "-c", str(site), "--json", "--offline"),
                            env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in doctor.stderr, doctor.stderr
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["outbox"]["verdict"] == "fail" and "corrupt" in checks["outbox"]["detail"]
    assert checks["outbox"]["fix"]
    assert doctor.returncode != 0


def test_daemon_stops_with_its_own_exit_code_which_the_unit_does_not_restart(home, mosquitto,
                                                                           tmp_path):
    site, env = _corrupt_outbox(home, mosquitto.url)
    run = subprocess.run(sitegate_cmd("run", "-c", str(site)), env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == EXIT_CORRUPT, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert " up: " not in run.stderr, "the daemon said it was up on a corrupt outbox"
    assert "corrupt" in run.stderr
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "systemd" / "sitegate.service").read_text())
    prevent = unit["Service"]["RestartPreventExitStatus"].split()
    assert str(EXIT_CORRUPT) in prevent


def test_status_shows_the_alarms_the_state_topic_shows(home, mosquitto, tmp_path):
    """Central rejects every block (the gateway is registered there with another key): the
    retained state topic carries a critical ``central_rejected``; so must `sitegate status`."""
    gw = "gw-status-1"
    site = site_toml(home, gw, mosquitto.url, simulate={"records": 20, "rate": 50})
    env = provision(home, site, gw, register=False)
    subprocess.run(central_cmd("gateways", "add", gw, "--public-key",
                               Signer(generate_private_key()).public_hex), env=env, check=True,
                   capture_output=True)
    states = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = lambda c, u, m: states.append(json.loads(m.payload))
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe(f"sitegate/v1/{gw}/state", 1)
    watcher.loop_start()
    log = open(tmp_path / "procs.log", "ab")
    central = subprocess.Popen(central_cmd("run", "--broker", mosquitto.url), env=env,
                               stdout=log, stderr=log)
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stdout=log,
                              stderr=log)
    try:
        wait_for(lambda: any(a["code"] == "central_rejected" for s in states
                             for a in s.get("alarms", [])), 60, "central_rejected on the topic")
        # the daemon writes its health file when the topic's alarms change (checked every 0.5 s)
        last = {}

        def status_alarms() -> bool:
            last["out"] = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"),
                                         env=env, capture_output=True, text=True)
            return last["out"].returncode == 1

        wait_for(status_alarms, 5, "the alarm in `sitegate status`")
        out = last["out"]
        report = json.loads(out.stdout)
        assert out.returncode == 1 and report["state"] == "alarm"
        alarm = next(a for a in report["alarms"] if a["code"] == "central_rejected")
        assert alarm["level"] == "critical" and "bad_signature" in alarm["message"]
    finally:
        daemon.terminate()
        daemon.wait(20)
        central.terminate()
        central.wait(20)
        watcher.loop_stop()
        log.close()
