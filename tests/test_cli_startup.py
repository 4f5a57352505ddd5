"""`sitegate` loads a command group only when it is used: `--help` and `sitegate run` do not
import the face stack, the fence geometry or the web stack; the command list still shows each
group's own one-line help, and every group resolves. (Start-up time and RSS: bench/bench_startup.py.)"""
from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from procs import sitegate_cmd

HEAVY = ("gateway.cli.faces", "gateway.cli.fences", "gateway.cli.web", "gateway.cli.phone",
         "geofence", "pyproj", "biometrics", "cv2", "fastapi", "uvicorn", "matplotlib",
         "sqlalchemy", "gateway.site")


def test_help_imports_no_command_group():
    code = ("import sys\nfrom gateway.cli.main import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\nimport json\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == []
    assert any(line.strip().startswith("install-service") for line in lines)


def test_short_help_table_matches_each_command():
    from gateway.cli.main import LAZY, SHORT_HELP, _lazy_command
    assert set(LAZY) == set(SHORT_HELP)
    for name in LAZY:
        cmd = _lazy_command(name)
        first = inspect.cleandoc(cmd.help).split("\n\n")[0].replace("\n", " ")
        assert SHORT_HELP[name] == first, f"SHORT_HELP[{name!r}] differs from the command's help"


@pytest.mark.parametrize("name", ["sim", "probe", "faces", "roster", "fences", "phone", "provision",
                                  "doctor", "install-service", "export", "web", "keys"])
def test_every_group_resolves(name):
    out = subprocess.run(sitegate_cmd(name, "--help"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Usage:" in out.stdout, out.stderr
