"""The unit files pass `systemd-analyze verify` (ExecStart pointed at an existing binary), and
`sitegate install-service --root` stages them with the udev rule."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from paths import ROOT
from procs import sitegate_cmd

ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.parametrize("unit", ["sitegate.service", "sitegate-central.service"])
def test_unit_verifies(tmp_path, unit):
    assert ANALYZE, "systemd-analyze is needed (apt-get install systemd)"
    text = (ROOT / "systemd" / unit).read_text()
    assert "Restart=always" in text
    if unit == "sitegate.service":
        assert "Type=notify" in text and "WatchdogSec=" in text and "NoNewPrivileges=yes" in text
    staged = tmp_path / unit
    staged.write_text(text.replace("/opt/sitegate/.venv/bin/", "/bin/true #"))
    out = subprocess.run([ANALYZE, "verify", str(staged)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_gateway_unit_sets_a_descriptor_budget_the_pages_stay_under():
    """Without LimitNOFILE the daemon gets the 1,024 soft limit; the pages' connection caps
    (computed from the limit the unit sets) leave the reserve for outbox, MQTT and lanes."""
    from gateway.https import RESERVED_FDS, Gate, connection_cap
    from gateway.phone.server import PHONE_LIMITS
    from gateway.web.app import WEB_LIMITS
    text = (ROOT / "systemd" / "sitegate.service").read_text()
    values = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("LimitNOFILE=")]
    assert len(values) == 1, "sitegate.service must set LimitNOFILE once"
    nofile = int(values[0].split(":")[0])
    assert nofile >= 4096
    held = sum(Gate(connection_cap(lim.max_connections, nofile), lim).hard_cap
               for lim in (PHONE_LIMITS, WEB_LIMITS))
    assert held + RESERVED_FDS <= nofile // 2
    assert connection_cap(PHONE_LIMITS.max_connections, nofile) == PHONE_LIMITS.max_connections
    tasks = [line for line in text.splitlines() if line.startswith("TasksMax=")]
    assert tasks and int(tasks[0].split("=")[1]) >= 256


def test_udev_rule_and_install_service(tmp_path):
    rule = (ROOT / "systemd" / "60-sitegate-idcard.rules").read_text()
    assert 'ATTR{idVendor}=="0400"' in rule and 'ATTR{idProduct}=="c35a"' in rule
    out = subprocess.run(sitegate_cmd("install-service", "--root", str(tmp_path)), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "etc/systemd/system/sitegate.service").read_text() == \
        (ROOT / "systemd" / "sitegate.service").read_text()
    assert (tmp_path / "etc/udev/rules.d/60-sitegate-idcard.rules").exists()
