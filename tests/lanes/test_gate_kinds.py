"""Gate drivers through the seam: the lane's gate comes from ``create_gate_driver`` by the
configured ``gate_kind``. The Modbus relay board, the HTTP turnstile controller and a vendor's
kind -- shipped in its own distribution and found through the ``sitegate.gate_drivers`` entry
point -- each drive a real lane in `sitegate run` from site.toml; an unknown kind or a wrong
option is a configuration error that names the key."""
from __future__ import annotations

import json
import subprocess
import textwrap
import threading
import time
import tomllib
from pathlib import Path

import pytest

from drivers.sim.httpgate import HttpTurnstileSimulator
from drivers.sim.idcard import IdCardSimulator
from drivers.sim.samples import RESIDENT
from drivers.sim.turnstile import TurnstileSimulator
from gateway import keys
from gateway.config import ConfigError, load, parse
from gateway.daemon import run
from gateway.roster.store import Roster
from procs import sitegate_cmd
from uplink.outbox import Outbox

pytestmark = pytest.mark.timeout(120)

VENDOR = '''
"""acme-gates: a dry-contact output, written as lines to a file (stands in for a GPIO)."""
import os


class ContactGate:
    def __init__(self, address, *, lanes, pulse_ms=300):
        self.path, self.lanes, self.pulse_ms = address, lanes, pulse_ms
        open(self.path, "a").close()

    def check(self):
        if not os.path.exists(self.path):
            raise OSError(f"{self.path} is gone")

    def confirms_passage(self, lane):
        return False

    def open(self, lane):
        with open(self.path, "a") as fh:
            fh.write(f"open {self.lanes[lane].relay} {self.pulse_ms}ms\\n")

    def wait_passage(self, lane, timeout):
        return True

    def open_all(self):
        pass

    def release_all(self):
        pass

    def close(self):
        pass
'''


def vendor_distribution(root):
    """A tiny installed distribution: a package plus its dist-info with the entry point."""
    (root / "acme_gates").mkdir(parents=True)
    (root / "acme_gates" / "__init__.py").write_text(VENDOR)
    info = root / "acme_gates-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-gates\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sitegate.gate_drivers]\nacme-contact = acme_gates:ContactGate\n")
    return root


def site_toml(home, mosquitto, idcard, gate_lines):
    site = home / "site.toml"
    site.write_text(textwrap.dedent(f"""
        [gateway]
        id = "gw-gates-1"
        [broker]
        url = "{mosquitto.url}"
        [lanes.entry]
        mode = "card"
        idcard = "{idcard}"
        passage_timeout_s = 2
        """) + textwrap.dedent(gate_lines))
    return site


def devices_connected(home):
    try:
        health = json.loads((home / "run" / "health.json").read_text())
    except (OSError, ValueError):
        return []
    return [d["role"] for d in health.get("devices", []) if d["state"] == "connected"]


def records(cfg):
    if not cfg.outbox_path.exists():
        return []
    ob = Outbox(cfg.outbox_path, cfg.gateway_id, readonly=True)
    try:
        return [r["body"] for r in ob.iter_records()]
    finally:
        ob.close()


@pytest.mark.parametrize("kind", ["modbus-relay", "http-turnstile", "acme-contact"])
def test_each_gate_kind_drives_a_lane(kind, home, tmp_path, mosquitto, monkeypatch):
    Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4").add("W000103", id_number=RESIDENT["id_number"])
    idsim = IdCardSimulator([]).start()
    sims = [idsim]
    if kind == "modbus-relay":
        tsim = TurnstileSimulator(lanes={0: 0}, walk_time=0.1, sensor_time=0.2).start()
        sims.append(tsim)
        lines = f'gate = "{tsim.path}"\nrelay = 0\nsensor = 0\n'           # gate_kind defaults
        passed = lambda: tsim.passages == [0]  # noqa: E731
    elif kind == "http-turnstile":
        hsim = HttpTurnstileSimulator(doors=(3,), walk_time=0.1).start()
        sims.append(hsim)
        lines = f'gate_kind = "http-turnstile"\ngate = "{hsim.url}"\nrelay = 3\ngate_options = {{ timeout = 1.5 }}\n'
        passed = lambda: hsim.opens == [3] and hsim.passages(3) == 1  # noqa: E731
    else:
        monkeypatch.syspath_prepend(str(vendor_distribution(tmp_path / "vendor")))
        contact = tmp_path / "contact.out"
        lines = f'gate_kind = "acme-contact"\ngate = "{contact}"\nrelay = 3\ngate_options = {{ pulse_ms = 200 }}\n'
        passed = lambda: contact.exists() and contact.read_text() == "open 3 200ms\n"  # noqa: E731
    cfg = load(site_toml(home, mosquitto, idsim.path, lines))
    assert cfg.lanes[0].gate_kind == kind
    keys.generate(cfg.key_file)
    stop = threading.Event()
    t = threading.Thread(target=run, args=(cfg, stop), daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 30                    # reader and gate open in the daemon
        while sorted(devices_connected(home)) != ["gate", "idcard"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(devices_connected(home)) == ["gate", "idcard"]
        idsim.tap(RESIDENT)
        deadline = time.monotonic() + 20
        while not (passed() and records(cfg)) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        idsim.remove()
    finally:
        stop.set()
        t.join(30)
        for s in sims:
            s.stop()
    assert not t.is_alive()
    assert passed()
    bodies = records(cfg)
    assert len(bodies) == 1, bodies
    assert (bodies[0]["decision"], bodies[0]["reason"], bodies[0]["worker"]) == ("allow", "ok", "W000103")


def test_unknown_gate_kind_is_a_config_error_naming_the_key(home, tmp_path):
    site = home / "site.toml"
    site.write_text('[gateway]\nid = "gw-gates-2"\n[lanes.entry]\nmode = "card"\nidcard = "/dev/null"\n'
                    'gate = "/dev/null"\ngate_kind = "nope"\n')
    with pytest.raises(ConfigError, match=r"\[lanes.entry\] gate_kind = 'nope': unknown gate driver "
                                          r"'nope'; known: .*http-turnstile.*modbus-relay"):
        load(site)
    out = subprocess.run(sitegate_cmd("run", "-c", str(site)), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "[lanes.entry] gate_kind = 'nope'" in out.stderr, out.stderr
    assert not (home / "outbox.db").exists()                   # refused before anything opened


def test_wrong_gate_option_is_a_config_error(home):
    site = home / "site.toml"
    base = '[gateway]\nid = "gw-gates-3"\n[lanes.entry]\nmode = "card"\nidcard = "/dev/null"\n'
    site.write_text(base + 'gate = "http://127.0.0.1:9"\ngate_kind = "http-turnstile"\n'
                           'gate_options = { baudrate = 9600 }\n')
    with pytest.raises(ConfigError, match=r"\[lanes.entry\] gate_options: .*baudrate.*http-turnstile"):
        load(site)
    site.write_text(base + 'gate = "/dev/null"\ngate_options = "fast"\n')
    with pytest.raises(ConfigError, match=r"\[lanes.entry\] gate_options = 'fast': must be a table"):
        load(site)
    site.write_text(base + 'gate = "/dev/ttyUSB1"\ngate_options = { baudrate = 19200 }\n'
                           '[lanes.exit]\nmode = "card"\nidcard = "/dev/null"\ngate = "/dev/ttyUSB1"\nrelay = 1\n')
    with pytest.raises(ConfigError, match=r"\[lanes.exit\] gate_options: differ from \[lanes.entry\]"):
        load(site)


def test_shipped_lane_example_parses_with_both_kinds(tmp_path):
    """The commented [lanes.*] example in config/site.toml, uncommented, is a valid config."""
    text = (Path(__file__).resolve().parents[2] / "config" / "site.toml").read_text()
    example = text[text.index("# [lanes.entry]"):]
    lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in example.splitlines()]
    cfg = parse({"gateway": {"id": "gw-example"}, **tomllib.loads("\n".join(lines))}, tmp_path)
    kinds = {ln.name: (ln.gate_kind, ln.gate, ln.relay, ln.gate_options) for ln in cfg.lanes}
    assert kinds["entry"][0] == "modbus-relay" and kinds["entry"][3]["device_id"] == 1
    assert kinds["exit"][:3] == ("http-turnstile", "http://192.168.1.30:8090", 2)
