"""Bundle proof, passphrase-sealed keys, provision re-runs, sd_notify on a real datagram socket."""
from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from gateway import keys
from gateway.daemon import healthy
from gateway.ops.provision import Answers, ProvisionError, provision
from uplink.sdnotify import Notifier, watchdog_interval
from procs import central_cmd
from uplink import bundle


def _answers(**kw):
    base = dict(project="P1", gateway_id="gw-unit-1", broker_url="mqtt://127.0.0.1:1883")
    base.update(kw)
    return Answers(**base)


def test_bundle_round_trip_and_tamper(tmp_path):
    res = provision(_answers(), tmp_path)
    b = bundle.load(res.bundle_json.read_text())
    assert b["gateway_id"] == "gw-unit-1" and b["project"] == "P1"
    forged = dict(b, project="P2")
    with pytest.raises(bundle.BundleError, match="does not verify"):
        bundle.check(forged)
    with pytest.raises(bundle.BundleError, match="kind"):
        bundle.check({"kind": "x"})


def test_rerun_keeps_key_force_replaces(tmp_path):
    first = provision(_answers(), tmp_path)
    again = provision(_answers(), tmp_path)
    assert not again.key_made and again.bundle["public_key"] == first.bundle["public_key"]
    forced = provision(_answers(force=True), tmp_path)
    assert forced.key_made and forced.bundle["public_key"] != first.bundle["public_key"]
    with pytest.raises(ProvisionError, match="gateway id"):
        provision(_answers(gateway_id="bad id!"), tmp_path)


def test_passphrase_sealed_key(tmp_path, monkeypatch):
    res = provision(_answers(passphrase="correct horse"), tmp_path)
    assert keys.is_encrypted(res.key_file)
    assert oct(res.key_file.stat().st_mode & 0o777) == "0o600"
    monkeypatch.delenv("SITEGATE_KEY_PASSPHRASE", raising=False)
    with pytest.raises(keys.KeyFileError, match="passphrase"):
        keys.load(res.key_file)
    with pytest.raises(keys.KeyFileError, match="wrong passphrase"):
        keys.load(res.key_file, "wrong")
    monkeypatch.setenv("SITEGATE_KEY_PASSPHRASE", "correct horse")
    assert keys.load(res.key_file).public_hex == res.bundle["public_key"]


def test_central_refuses_edited_bundle(tmp_path):
    res = provision(_answers(), tmp_path)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(dict(res.bundle, gateway_id="gw-other")))
    env = dict(os.environ, SITEGATE_HOME=str(tmp_path))
    out = subprocess.run(central_cmd("gateways", "add", str(edited)), env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "does not verify" in out.stderr
    ok = subprocess.run(central_cmd("gateways", "add", str(res.bundle_json)), env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "registered gw-unit-1 (project P1)" in ok.stdout, ok.stderr


@pytest.mark.parametrize("abstract", [False, True])
def test_sd_notify_real_socket(tmp_path, abstract):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = f"@sitegate-test-{os.getpid()}" if abstract else str(tmp_path / "notify")
    srv.bind("\0" + addr[1:] if abstract else addr)
    srv.settimeout(2)
    n = Notifier(addr)
    assert n.notify("READY=1", "STATUS=up")
    assert srv.recv(4096) == b"READY=1\nSTATUS=up"
    n.close()
    srv.close()
    assert not Notifier("").notify("READY=1")


def test_watchdog_interval_and_health_gate():
    assert watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert healthy(True, [], [{"name": "a", "alive": True}])
    assert not healthy(False, [], [])
    assert not healthy(True, [], [{"name": "a", "alive": False}])
    assert not healthy(True, [{"code": "storage_error", "level": "critical"}], [])
    assert healthy(True, [{"code": "broker_unreachable", "level": "warning"}], [])
