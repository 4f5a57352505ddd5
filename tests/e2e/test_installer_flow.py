"""Issue 7 "done means": a fresh SITEGATE_HOME, `sitegate provision` non-interactive (finding the
simulated ID-card reader and relay board on their ptys), `sitegate-central gateways add BUNDLE`,
`sitegate run`, then `sitegate doctor` green -- all real processes and a password-protected
Mosquitto."""
from __future__ import annotations

import json
import os
import subprocess
import time

from doctor_clock import kernel_synchronised
from procs import central_cmd, sitegate_cmd

GW = "gw-e2e-prov-1"


def _start(cmd, env, log):
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_path(path, timeout=15):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_provision_register_run_doctor(home, make_mosquitto, tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), GW, "gw-secret"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "central", "central-secret"], check=True)
    broker = make_mosquitto(f"allow_anonymous false\npassword_file {pw}")
    env = dict(os.environ, SITEGATE_HOME=str(home))
    log = open(tmp_path / "procs.log", "ab")
    reader_pty, gate_pty = str(tmp_path / "reader"), str(tmp_path / "gate")
    procs = [_start(sitegate_cmd("sim", "idcard", "--link", reader_pty, "--gap", "30"), env, log),
             _start(sitegate_cmd("sim", "turnstile", "--link", gate_pty), env, log)]
    try:
        _wait_path(reader_pty)
        _wait_path(gate_pty)
        # central's public key, as the central operator hands it to the installer
        central_pub = tmp_path / "central.pub.pem"
        subprocess.run(central_cmd("key", "-o", str(central_pub)), env=env, check=True,
                       capture_output=True, timeout=60)
        out = subprocess.run(sitegate_cmd(
            "provision", "-y", "--project", "430100-P1", "--gateway-id", GW, "--broker", broker.url,
            "--password", "gw-secret", "--central-key", str(central_pub),
            "--port", reader_pty, "--port", gate_pty),
            env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        site = home / "site.toml"
        text = site.read_text()
        assert f'idcard = "{reader_pty}"' in text and f'gate = "{gate_pty}"' in text, text
        assert "gw-secret" not in text                       # the password lives in a 0600 file
        assert oct((home / "keys" / "broker.password").stat().st_mode & 0o777) == "0o600"
        bundle = home / f"{GW}.bundle.json"
        assert (home / f"{GW}.bundle.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        key_before = (home / "keys" / "gateway.key.pem").read_bytes()

        # re-running is safe: the key is kept
        again = subprocess.run(sitegate_cmd("provision", "-y", "--project", "430100-P1", "--gateway-id", GW,
                                            "--broker", broker.url, "--password", "gw-secret", "--no-probe"),
                               env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "kept" in again.stdout, again.stdout + again.stderr
        assert (home / "keys" / "gateway.key.pem").read_bytes() == key_before
        site.write_text(text)            # keep the probed lanes (the second run skipped probing)
        # records for central to acknowledge: the simulated clock-in source alongside the lane
        with site.open("a") as fh:
            fh.write("\n[simulate]\nrecords = 40\nrate = 40\n")

        reg = subprocess.run(central_cmd("gateways", "add", str(bundle)), env=env,
                             capture_output=True, text=True, timeout=60)
        assert reg.returncode == 0 and f"registered {GW}" in reg.stdout, reg.stderr
        procs.append(_start(central_cmd("run", "--broker", broker.url, "--username", "central",
                                        "--password", "central-secret"), env, log))
        procs.append(_start(sitegate_cmd("run", "-c", str(site)), env, log))

        deadline = time.monotonic() + 60
        while True:
            doc = subprocess.run(sitegate_cmd("doctor", "--json"), env=env, capture_output=True,
                                 text=True, timeout=60)
            report = json.loads(doc.stdout)
            verdicts = {c["name"]: c["verdict"] for c in report["checks"]}
            settled = all(v == "ok" for k, v in verdicts.items() if k != "clock")
            if settled or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert settled, json.dumps(report, indent=1, ensure_ascii=False)
        assert {"config", "key", "central key", "clock", "disk", "backlog", "lane1 idcard",
                "lane1 gate", "broker", "central", "roster"} <= set(verdicts)
        # the clock verdict follows the kernel's own NTP state; all green when it is synchronised
        assert verdicts["clock"] == ("ok" if kernel_synchronised() else "fail")
        assert (doc.returncode == 0) == (verdicts["clock"] == "ok")
    finally:
        for p in reversed(procs):
            _stop(p)
        log.close()
