"""The import arrows (pyproject.toml [tool.importlinter], ARCHITECTURE.md): the shipped contracts
hold on the shipped tree, break on a deliberately wrong import, and cover every module."""
from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["gateway", "central", "uplink", "drivers", "biometrics", "geofence"]
LINT = Path(sys.executable).parent / "lint-imports"
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache", str(ROOT / "pyproject.toml")],
                          cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for p in PACKAGES:
        shutil.copytree(ROOT / p, tmp_path / p, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_shipped_tree_keeps_every_contract(tree):
    out = lint(tree)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("gateway/clockin/rules.py", "import gateway.cli.options", "The gateway's rooms"),
    ("gateway/roster/store.py", "import gateway.web.app", "The gateway's rooms"),
    ("uplink/wire.py", "import gateway.config", "Programs above libraries"),
    ("drivers/errors.py", "import biometrics.crypto", "Programs above libraries"),
    ("central/ingest.py", "import geofence", "Central imports nothing of ours but uplink"),
    ("central/store.py", "import central.cli_common", "Central's runtime never imports its CLI"),
    ("central/platform/fake.py", "import central.platform.national",
     "The fake platform is built from the conventions"),
    ("uplink/wire.py", "import uplink.outbox", "No import circles"),
])
def test_a_wrong_import_breaks_a_contract(tree, module, line, contract):
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # deliberately wrong\n")
    out = lint(tree)
    assert out.returncode != 0
    text = " ".join(out.stdout.split())          # long contract names wrap
    name = next(c["name"] for c in CONTRACTS if c["name"].startswith(contract))
    assert f"{name} BROKEN" in text, out.stdout


def test_every_gateway_room_and_central_module_is_named_in_a_contract():
    rooms = {c["name"]: c for c in CONTRACTS}
    layered = {m.strip() for layer in rooms["The gateway's rooms: data flows downward"]["layers"]
               for m in layer.split("|")}
    gw = importlib.import_module("gateway")
    children = {m.name for m in pkgutil.iter_modules(gw.__path__)}
    assert children == layered, f"add {children - layered} to the rooms contract"
    central = importlib.import_module("central")
    runtime = {m.name for m in pkgutil.iter_modules(central.__path__)
               if not m.name.startswith("cli")}            # cli, cli_ops, cli_rules, cli_broker, cli_platform, cli_common
    listed = {m.removeprefix("central.") for m in
              rooms["Central's runtime never imports its CLI"]["source_modules"]}
    assert runtime == listed, f"add {runtime - listed} to the central runtime contract"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports_alone(package):
    """Each module in a fresh interpreter (an import circle shows up only when a module is the
    first one imported, e.g. `python -c 'import central.tables'`)."""
    pkg = importlib.import_module(package)
    names = [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")
             if not m.name.startswith("central.migrations.") and not m.name.endswith("__main__")]
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    for name in names:
        out = subprocess.run([sys.executable, "-c", code, name], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, f"{name}: {out.stderr.strip().splitlines()[-1:]}"
