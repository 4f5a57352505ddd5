"""The wheel installs anywhere: built from a copy of the source, installed (no dependencies,
they come from the test environment) into a fresh venv, and run from outside any checkout with
the optional stacks made unimportable -- `sitegate --help`, `sitegate install-service` (its
units and example config come from the wheel, rendered with the venv's own bin folder) and
`sitegate keygen` work on the core dependencies alone; the extras are declared by role."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from paths import ROOT

pytestmark = pytest.mark.timeout(300)

# what a gateway never needs: central's stack, the demo broker, maps, the face stack, test tools
OPTIONAL = ("sqlalchemy", "alembic", "psycopg", "holidays", "apprise", "amqtt",
            "matplotlib", "face_recognition", "face_recognition_models", "dlib", "PIL", "psutil",
            "tomli_w", "pytest")
BLOCKER = f"""
import sys
class _Block:
    names = {OPTIONAL!r}
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{{name}} is not installed (a gateway without extras)")
        return None
sys.meta_path.insert(0, _Block())
"""
SOURCE_PARTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "gateway", "central",
                "uplink", "drivers", "biometrics", "geofence", "systemd", "config")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for part in SOURCE_PARTS:
        p = ROOT / part
        if p.is_dir():
            shutil.copytree(p, src / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(p, src / part)
    dist = tmp / "dist"
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(dist), str(src)], capture_output=True, text=True, cwd=tmp)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(dist.glob("sitegate-*.whl"))
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # dependencies from the test environment (a plain path: its .pth files, such as an editable
    # install of this checkout, are not processed), the optional stacks blocked
    (site / "zz_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (site / "sitecustomize.py").write_text(BLOCKER)
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                          "--no-index", "-q", str(wheel)], capture_output=True, text=True, cwd=tmp)
    assert out.returncode == 0, out.stderr[-2000:]
    return tmp, env_dir, wheel


def _run(venv, *args, **kw):
    tmp, env_dir, _ = venv
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(SITEGATE_HOME=str(tmp / "home"), PATH=f"{env_dir / 'bin'}:/usr/bin:/bin")
    return subprocess.run(list(args), capture_output=True, text=True, cwd=tmp, env=env,
                          timeout=120, **kw)


def test_wheel_carries_units_config_and_templates(venv):
    import zipfile
    names = set(zipfile.ZipFile(venv[2]).namelist())
    for f in ("sitegate_files/systemd/sitegate.service", "sitegate_files/systemd/sitegate-central.service",
              "sitegate_files/systemd/sitegate-central@.service",
              "sitegate_files/systemd/60-sitegate-idcard.rules", "sitegate_files/config/site.toml",
              "sitegate_files/config/mosquitto.conf", "sitegate_files/config/mosquitto-dynsec.json",
              "gateway/web/templates/login.html", "central/migrations/script.py.mako"):
        assert f in names, f


def test_installed_program_runs_from_outside_the_checkout(venv):
    tmp, env_dir, _ = venv
    where = _run(venv, str(env_dir / "bin" / "python"), "-c",
                 "import gateway, central.broker_admin as b; print(gateway.__file__); print(b.TEMPLATE)")
    assert where.returncode == 0, where.stderr
    gw_file, template = where.stdout.split()
    assert gw_file.startswith(str(env_dir)) and template.startswith(str(env_dir)), where.stdout
    assert str(ROOT) not in where.stdout
    out = _run(venv, str(env_dir / "bin" / "sitegate"), "--help")
    assert out.returncode == 0, out.stderr[-2000:]
    for command in ("run", "demo", "install-service", "provision", "web", "phone"):
        assert command in out.stdout


def test_install_service_from_the_wheel(venv):
    tmp, env_dir, _ = venv
    root = tmp / "root"
    out = _run(venv, str(env_dir / "bin" / "sitegate"), "install-service", "--root", str(root))
    assert out.returncode == 0, out.stderr[-2000:]
    unit = (root / "etc/systemd/system/sitegate.service").read_text()
    assert f"ExecStart={env_dir / 'bin' / 'sitegate'} run -c /etc/sitegate/site.toml" in unit
    assert unit == (ROOT / "systemd" / "sitegate.service").read_text().replace(
        "/opt/sitegate/.venv/bin/", f"{env_dir / 'bin'}/")
    assert (root / "etc/sitegate/site.toml").read_text() == (ROOT / "config" / "site.toml").read_text()
    assert (root / "etc/udev/rules.d/60-sitegate-idcard.rules").exists()


def test_gateway_commands_need_no_extras(venv):
    """The blocker is real (central's stack is refused) and a gateway command that touches keys
    and config still works without it."""
    tmp, env_dir, _ = venv
    refused = _run(venv, str(env_dir / "bin" / "python"), "-c", "import sqlalchemy")
    assert refused.returncode != 0 and "not installed" in refused.stderr
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    (home / "site.toml").write_text('[gateway]\nid = "gw-wheel-1"\n')
    out = _run(venv, str(env_dir / "bin" / "sitegate"), "keygen", "-c", str(home / "site.toml"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert (home / "keys" / "gateway.key.pem").exists()


def test_extras_by_role_in_the_metadata(venv):
    tmp, env_dir, _ = venv
    out = _run(venv, str(env_dir / "bin" / "python"), "-c",
               "import importlib.metadata as m, json; md = m.metadata('sitegate'); "
               "print(json.dumps({'extras': md.get_all('Provides-Extra'), 'req': md.get_all('Requires-Dist')}))")
    assert out.returncode == 0, out.stderr
    import json
    md = json.loads(out.stdout)
    assert {"central", "faces", "maps", "demo", "test"} <= set(md["extras"])
    core = [r for r in md["req"] if "extra ==" not in r]
    for name in ("SQLAlchemy", "alembic", "psycopg", "amqtt", "matplotlib", "psutil", "tomli-w",
                 "holidays", "apprise"):
        assert not any(r.lower().startswith(name.lower()) for r in core), f"{name} in the core"
    extra = {r.split(";")[0].strip().split(">")[0].split("=")[0].split("[")[0].lower(): r
             for r in md["req"] if "extra ==" in r}
    assert 'extra == "central"' in extra["sqlalchemy"] and 'extra == "demo"' in extra["amqtt"]
    assert 'extra == "faces"' in extra["dlib-bin"] and 'extra == "maps"' in extra["matplotlib"]
