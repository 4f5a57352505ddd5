"""The live roster end to end, all real processes: `sitegate-central run` and `sitegate run`
(a card lane on the ID-card and turnstile simulators' ptys) through the SHIPPED broker
configuration with one account per gateway and per central worker.

A worker entered at central passes the gate; exited at central, the running gateway refuses
them at once -- no restart.  An update not signed by central, and central's own older
snapshot replayed, both published with a central worker's broker password, are refused
with critical alarms on the retained state topic and in `sitegate status`; the gate keeps
refusing.  `status` and `doctor` show the roster version and its age.  Offline (no broker,
no central), a restarted gateway decides from the roster it holds."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "central"))   # month, sample

from central.crypto import FieldCipher, load_key
from central.escrow import Escrow
from central.registry import Registry
from central.roster import RosterService, load_signer
from central.store import Store
from drivers.sim.idcard import IdCardSimulator
from drivers.sim.samples import RESIDENT
from drivers.sim.turnstile import TurnstileSimulator
from month import Central, register_project  # noqa: E402
from procs import central_cmd, sitegate_cmd
from sample import SUBCONTRACTOR  # noqa: E402
from shipped_broker import start_shipped_broker
from spine import wait_for
from uplink.broker import connect, new_client
from uplink.outbox import Outbox
from uplink.roster import decode_update, sign_update
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import topic

pytestmark = pytest.mark.timeout(300)
GW = "gw-live-1"
CODE = "GX-LIVE-1"


def _json(cmd, env) -> dict:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout, r.stderr
    return json.loads(r.stdout)


class StateWatch:
    """The gateway's retained state topic, read with a central worker's account."""

    def __init__(self, broker, user: str) -> None:
        self.latest: dict = {}
        self.client = new_client(broker.cfg(user), user)
        self.client.on_connect = lambda c, *a: c.subscribe(topic(GW, "state"), qos=1)
        self.client.on_message = lambda c, u, m: setattr(self, "latest", json.loads(m.payload))
        connect(self.client, broker.cfg(user))
        self.client.loop_start()

    def codes(self) -> set[str]:
        return {a["code"] for a in self.latest.get("alarms", [])}

    def publish(self, name: str, payload: bytes) -> None:
        self.client.publish(name, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_central_changes_reach_the_running_gates(tmp_path):
    broker = start_shipped_broker(tmp_path / "broker", gateways=[GW],
                                  centrals=["central-1", "central-2"])
    central_home, gw_home = tmp_path / "central", tmp_path / "gateway"
    central_home.mkdir()
    gw_home.mkdir()
    cenv = dict(os.environ, SITEGATE_HOME=str(central_home))
    genv = dict(os.environ, SITEGATE_HOME=str(gw_home))
    # central: a project and one worker (the ID card the simulator will present), entered today
    store = Store(f"sqlite:///{central_home / 'central' / 'central.db'}")
    c = Central(store)
    c.cipher = FieldCipher(load_key(central_home))        # the central process's field key
    c.reg, c.esc = Registry(store, c.cipher), Escrow(store, c.cipher)
    register_project(c, CODE, n_workers=0)
    wid = c.reg.add_worker({"idCardNumber": RESIDENT["id_number"], "workerName": RESIDENT["name"]})
    c.reg.enter({"projectCode": CODE, "workerId": wid, "corpCode": SUBCONTRACTOR,
                 "workType": "020", "entryDate": dt.date.today().isoformat()})
    # the gateway: key, central's key, credentials, a card lane on the simulators
    idsim = IdCardSimulator([]).start()
    tsim = TurnstileSimulator(lanes={0: 0}, walk_time=0.1, sensor_time=0.2).start()
    (gw_home / "keys").mkdir()
    (gw_home / "keys" / "broker.password").write_text(broker.passwords[GW] + "\n")
    site = gw_home / "site.toml"
    site.write_text(f"""
[gateway]
id = "{GW}"
[broker]
url = "{broker.url}"
username = "{GW}"
password_file = "keys/broker.password"
ca_file = "{broker.pki / 'ca.pem'}"
[uplink]
state_interval_s = 1
[lanes.entry]
mode = "card"
idcard = "{idsim.path}"
gate = "{tsim.path}"
relay = 0
sensor = 0
passage_timeout_s = 2
""")
    subprocess.run(sitegate_cmd("keygen", "-c", str(site)), env=genv, check=True, capture_output=True)
    subprocess.run(central_cmd("key", "-o", str(gw_home / "keys" / "central.pub.pem")), env=cenv,
                   check=True, capture_output=True)
    gw_key = (gw_home / "keys" / "gateway.key.pem.pub").read_text()
    subprocess.run(central_cmd("gateways", "add", GW, "--public-key", gw_key, "--project", CODE),
                   env=cenv, check=True, capture_output=True)
    log = open(tmp_path / "procs.log", "ab")
    # the gateway comes up first: its first question finds no central listening, it asks again
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=genv, stdout=log, stderr=log)
    central = None
    watch = StateWatch(broker, "central-2")

    def status() -> dict:
        return _json(sitegate_cmd("status", "-c", str(site), "--json"), genv)

    def tap() -> dict:
        """Present the card; the lane's decision as committed to the outbox."""
        before = status()["outbox"]["head_seq"]
        passages = len(tsim.passages)
        idsim.tap(RESIDENT)
        wait_for(lambda: status()["outbox"]["head_seq"] > before, 30, "the lane's decision")
        idsim.remove()
        time.sleep(0.6)
        ob = Outbox(gw_home / "outbox.db", GW, readonly=True)
        try:
            body = list(ob.iter_records())[-1]["body"]
        finally:
            ob.close()
        return dict(body, passed=len(tsim.passages) > passages)

    try:
        wait_for(lambda: (gw_home / "outbox.db").exists(), 30, "the daemon up")
        time.sleep(2.0)
        central = subprocess.Popen(central_cmd(
            "run", "--broker", broker.url, "--username", "central-1", "--ca-file",
            str(broker.pki / "ca.pem"), "--share", "central"),
            env=dict(cenv, SITEGATE_BROKER_PASSWORD=broker.passwords["central-1"]),
            stdout=log, stderr=log)
        wait_for(lambda: status()["roster"]["version"] > 0, 60, "the first roster from central")
        s = status()
        assert s["roster"]["project"] == CODE and 0 <= s["roster"]["age_s"] < 60
        doc = _json(sitegate_cmd("doctor", "-c", str(site), "--json", "--offline"), genv)
        roster_check = {ch["name"]: ch for ch in doc["checks"]}["roster"]
        assert roster_check["verdict"] == "ok" and f"version {s['roster']['version']}" in \
            roster_check["detail"], roster_check
        # entered at central -> the gate opens
        first = tap()
        assert (first["decision"], first["passed"]) == ("allow", True), first
        # central's own signed full snapshot of today, kept by an eavesdropper for later
        central_signer = load_signer(central_home)
        old = RosterService(store, central_signer, c.cipher).delta(GW, 0)
        old_payload = sign_update(old, central_signer)
        assert decode_update(old_payload, central_signer.public_hex, GW)["full"]
        v_entered = status()["roster"]["version"]

        # exit at central -> the running gateway refuses, without a restart
        c.reg.exit(CODE, wid, dt.date.today().isoformat())
        wait_for(lambda: status()["roster"]["version"] > v_entered, 30, "the exit to arrive")
        second = tap()
        assert (second["decision"], second["reason"], second["passed"]) == ("deny", "exited", False)
        v_exited = status()["roster"]["version"]

        # a central worker's broker password, but not central's key: forged, then replayed
        forged = dict(old, to=v_exited + 1000)
        watch.publish(topic(GW, "roster"), sign_update(forged, Signer(generate_private_key())))
        watch.publish(topic(GW, "roster"), old_payload)
        wait_for(lambda: {"roster_forged", "roster_replayed"} <= watch.codes(), 20,
                 "both alarms on the retained state topic")
        assert watch.latest["state"] == "alarm"
        # status shows what the topic shows (the daemon's health snapshot, every 2 s)
        wait_for(lambda: {"roster_forged", "roster_replayed"} <= {
            a["code"] for a in status()["alarms"]}, 10, "the alarms in `sitegate status`")
        s = status()
        assert s["state"] == "alarm" and s["roster"]["version"] == v_exited
        third = tap()
        assert (third["decision"], third["reason"], third["passed"]) == ("deny", "exited", False)
        doc = _json(sitegate_cmd("doctor", "-c", str(site), "--json", "--offline"), genv)
        assert {ch["name"]: ch for ch in doc["checks"]}["roster"]["verdict"] == "fail"

        # offline: no central, no broker; a restarted gateway decides from its roster
        central.terminate()
        central.wait(15)
        broker.stop()
        daemon.terminate()
        daemon.wait(30)
        daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=genv, stdout=log,
                                  stderr=log)
        time.sleep(2.0)
        fourth = tap()
        assert (fourth["decision"], fourth["reason"], fourth["passed"]) == ("deny", "exited", False)
        assert status()["roster"]["version"] == v_exited
    finally:
        watch.close()
        for p in (daemon, central):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        broker.stop()
        tsim.stop()
        idsim.stop()
        log.close()
