"""The SHIPPED unit files: `systemd-analyze verify` passes (ExecStart pointed at an existing
binary), `systemd-analyze security` scores each at most 4.0 (exposure), the hardening they
claim holds for our programs, and `sitegate install-service --root` stages them rendered with
this installation's program folder, with the udev rule and an example site.toml."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paths import ROOT
from procs import central_cmd, sitegate_cmd

ANALYZE = shutil.which("systemd-analyze")
UNITS = ["sitegate.service", "sitegate-central.service", "sitegate-central@.service"]
MAX_EXPOSURE = 4.0


def _staged(tmp_path: Path, unit: str) -> Path:
    """The shipped unit with its programs replaced by /bin/true (verify wants them to exist);
    a template is staged as one instance."""
    text = (ROOT / "systemd" / unit).read_text()
    name = unit.replace("@.", "@central-1.")
    staged = tmp_path / name
    staged.write_text(text.replace("/opt/sitegate/.venv/bin/", "/bin/true #"))
    return staged


@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies(tmp_path, unit):
    assert ANALYZE, "systemd-analyze is needed (apt-get install systemd)"
    text = (ROOT / "systemd" / unit).read_text()
    assert "Restart=always" in text and "Type=notify" in text and "NoNewPrivileges=yes" in text
    if unit == "sitegate.service":
        assert "WatchdogSec=" in text
    out = subprocess.run([ANALYZE, "verify", str(_staged(tmp_path, unit))], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr


def _exposure(path: Path) -> float:
    out = subprocess.run([ANALYZE, "security", "--offline=true", str(path)], capture_output=True,
                         text=True)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout)
    assert m, out.stdout[-500:] + out.stderr
    return float(m.group(1))


@pytest.mark.parametrize("unit", UNITS)
def test_unit_exposure_at_most_4(tmp_path, unit):
    """`systemd-analyze security` over the shipped unit: 10 = no sandbox at all, below 4 "OK"
    (the central unit scored 8.5 before it was hardened). Each unit also names the system-call
    filter and /proc hiding it is scored for."""
    if not ANALYZE:
        pytest.fail("systemd-analyze is needed (apt-get install systemd)")
    text = (ROOT / "systemd" / unit).read_text()
    for line in ("SystemCallFilter=@system-service", "SystemCallArchitectures=native",
                 "ProtectProc=invisible", "CapabilityBoundingSet=\n", "UMask=0077"):
        assert line in text, f"{unit}: {line.strip()} missing"
    score = _exposure(_staged(tmp_path, unit))
    assert score <= MAX_EXPOSURE, f"{unit}: exposure {score} > {MAX_EXPOSURE}"


def test_an_unhardened_unit_scores_above_the_bar(tmp_path):
    """The bar means something: the central unit without its hardening block is EXPOSED."""
    text = (ROOT / "systemd" / "sitegate-central.service").read_text()
    bare = "\n".join(line for line in text.splitlines()
                     if not re.match(r"(Protect|Private|Restrict|SystemCall|Capability|Ambient|"
                                     r"NoNewPriv|LockPers|RemoveIPC|MemoryDeny|DevicePolicy|"
                                     r"ProcSubset|UMask)", line))
    staged = tmp_path / "bare.service"
    staged.write_text(bare.replace("/opt/sitegate/.venv/bin/", "/bin/true #"))
    assert _exposure(staged) > MAX_EXPOSURE


def _mdwe() -> None:
    """PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN): what MemoryDenyWriteExecute=yes asks of the kernel."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_MDWE")


def test_central_runs_under_memory_deny_write_execute(tmp_path):
    """The central unit sets MemoryDenyWriteExecute=yes: central's code (SQLAlchemy, libcrypto
    through ctypes, gmssl, the signing key) works with W^X enforced by the kernel, inherited by
    the process the way systemd applies it."""
    import os
    assert "MemoryDenyWriteExecute=yes" in (ROOT / "systemd" / "sitegate-central.service").read_text()
    env = dict(os.environ, SITEGATE_HOME=str(tmp_path))
    try:
        out = subprocess.run(central_cmd("key", "--hex"), env=env, capture_output=True, text=True,
                             preexec_fn=_mdwe, timeout=120)
    except subprocess.SubprocessError as exc:
        if "PR_SET_MDWE" in str(exc):
            pytest.fail("the kernel has no PR_SET_MDWE (Linux >= 6.3 needed for this check)")
        raise
    assert out.returncode == 0 and len(out.stdout.strip()) == 128, out.stderr[-800:]
    out = subprocess.run(central_cmd("verify", "--json"), env=env, capture_output=True, text=True,
                         preexec_fn=_mdwe, timeout=120)
    assert out.returncode == 0, out.stderr[-800:]


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
    """Staged with this installation's program folder (not /opt/sitegate/.venv) and otherwise
    byte for byte the shipped files; an existing site.toml is kept."""
    rule = (ROOT / "systemd" / "60-sitegate-idcard.rules").read_text()
    assert 'ATTR{idVendor}=="0400"' in rule and 'ATTR{idProduct}=="c35a"' in rule
    bindir = tmp_path / "prefix" / "bin"
    bindir.mkdir(parents=True)
    for prog in ("sitegate", "sitegate-central"):
        (bindir / prog).write_text("#!/bin/sh\n")
        (bindir / prog).chmod(0o755)
    root = tmp_path / "root"
    out = subprocess.run(sitegate_cmd("install-service", "--root", str(root), "--central",
                                      "--bindir", str(bindir)), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    system = root / "etc/systemd/system"
    for unit in UNITS:
        shipped = (ROOT / "systemd" / unit).read_text()
        staged = (system / unit).read_text()
        assert "/opt/sitegate" not in staged
        assert staged == shipped.replace("/opt/sitegate/.venv/bin/", f"{bindir}/"), unit
        assert f"ExecStart={bindir}/sitegate" in staged
    assert (root / "etc/udev/rules.d/60-sitegate-idcard.rules").read_text() == rule
    example = root / "etc/sitegate/site.toml"
    assert example.read_text() == (ROOT / "config" / "site.toml").read_text()
    assert (root / "etc/sitegate/mosquitto.conf.example").exists()
    # a second run keeps the installer's configuration and says so
    example.write_text("# edited on site\n")
    out = subprocess.run(sitegate_cmd("install-service", "--root", str(root), "--bindir",
                                      str(bindir)), capture_output=True, text=True)
    assert out.returncode == 0 and f"kept {example}" in out.stdout, out.stdout + out.stderr
    assert example.read_text() == "# edited on site\n"


def test_install_service_refuses_a_folder_without_the_programs(tmp_path):
    out = subprocess.run(sitegate_cmd("install-service", "--root", str(tmp_path / "root"),
                                      "--bindir", str(tmp_path)), capture_output=True, text=True)
    assert out.returncode != 0 and "sitegate not found in" in out.stderr
    assert not (tmp_path / "root").exists()


def test_default_bindir_is_this_interpreters():
    from gateway.ops.service import default_bindir
    assert default_bindir() == Path(sys.executable).parent
