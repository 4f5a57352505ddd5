"""The face path imports and runs in a Python environment without setuptools (every Python
>= 3.12 venv; setuptools >= 81 no longer ships ``pkg_resources``), where
``import face_recognition`` prints "pip install git+..." and calls quit().

A real venv is built (``python -m venv --without-pip``, no download): its site-packages holds
links to this environment's installed packages except setuptools, ``pkg_resources`` and
``_distutils_hack``. The full install from PyPI on Python 3.11, 3.12 and 3.13 without
setuptools is bench/bench_install.py (it downloads the wheels, so it is not run on every
test run)."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from faceframes import photo
from paths import ROOT

LEFT_OUT = ("setuptools", "pkg_resources", "_distutils_hack")


def _venv_without_setuptools(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    py = where / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.startswith(LEFT_OUT) or entry.suffix == ".pth" or entry.name.startswith("__editable__"):
            continue
        (site / entry.name).symlink_to(entry)
    return py


def test_face_path_without_setuptools(tmp_path):
    py = _venv_without_setuptools(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'tests'}"
    run = lambda code: subprocess.run([str(py), "-c", code], capture_output=True, text=True, env=env,  # noqa: E731
                                      timeout=300)
    # the environment really lacks pkg_resources, and the library's own import gives up there
    assert "ModuleNotFoundError" in run("import pkg_resources").stderr
    old = run("import face_recognition; print('still running')")
    assert "pip install git+" in old.stdout and "still running" not in old.stdout     # quit() mid-import
    # our face path: both engines load their models and analyse a photo; the CLI starts
    out = run(f"""
import sys, biometrics.faces as f
from biometrics.engines import get_engine
assert 'pkg_resources' not in sys.modules
for m in ('mobilefacenet', 'dlib'):
    face = f.analyse({str(photo('103', '103_7'))!r}, f.Quality.enrolment(), detect_width=640, engine=get_engine(m))
    print(m, face.encoding.shape[0])
from gateway.cli.main import main
assert 'face_recognition' not in sys.modules and 'pkg_resources' not in sys.modules
print('ok')
""")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["mobilefacenet", "192", "dlib", "128", "ok"], out.stdout
