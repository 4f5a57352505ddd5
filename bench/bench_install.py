"""Install anywhere: the package and its face stack installed from PyPI into fresh venvs on
Python 3.11, 3.12 and 3.13 with setuptools removed (Python >= 3.12 venvs have none; setuptools
>= 81 no longer ships pkg_resources), then both face engines analyse a photo and the CLI starts.

It downloads the wheels (pip's cache makes later runs quick), so it is a benchmark, not a test;
tests/faces/test_install_anywhere.py is the fast check on every run.

Usage: PYTHONPATH=. python bench/bench_install.py [PYTHON ...]
       (default: python3.11, python3.12, python3.13 found on PATH or under ~/.pyenv/versions)
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

CHECK = """
import sys, biometrics.faces as f
from biometrics.engines import get_engine
assert 'pkg_resources' not in sys.modules
for m in ('mobilefacenet', 'dlib'):
    face = f.analyse(sys.argv[1], f.Quality.enrolment(), detect_width=640, engine=get_engine(m))
    print(m, face.encoding.shape[0])
import importlib.util
print('setuptools', importlib.util.find_spec('setuptools') is not None,
      'pkg_resources', importlib.util.find_spec('pkg_resources') is not None)
"""


def pythons(args: list[str]) -> list[str]:
    if args:
        return args
    out = []
    for v in ("3.11", "3.12", "3.13"):
        candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{v}*/bin/python{v}")))
        candidates += [c for c in [shutil.which(f"python{v}")] if c]
        for c in candidates:           # a pyenv shim may exist for a version that is not active
            if subprocess.run([c, "-c", "import venv"], capture_output=True).returncode == 0:
                out.append(c)
                break
    return out


def one(py: str, photo: Path) -> dict:
    with tempfile.TemporaryDirectory() as d:
        venv = Path(d) / "venv"
        t0 = time.monotonic()
        subprocess.run([py, "-m", "venv", str(venv)], check=True)
        vpy = str(venv / "bin" / "python")
        pip = [vpy, "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run(pip + ["uninstall", "-y", "setuptools"], capture_output=True)
        subprocess.run(pip + ["install", str(ROOT), "dlib-bin", "face-recognition-models"], check=True)
        subprocess.run(pip + ["uninstall", "-y", "setuptools"], capture_output=True)   # in case a dependency brought it
        installed = time.monotonic() - t0
        env = dict(os.environ, SITEGATE_MODELS=str(ROOT / "models"))
        env.pop("PYTHONPATH", None)
        r = subprocess.run([vpy, "-c", CHECK, str(photo)], capture_output=True, text=True, env=env, cwd=d)
        cli = subprocess.run([str(venv / "bin" / "sitegate"), "faces", "--help"], capture_output=True, text=True,
                             env=env, cwd=d)
        version = subprocess.run([vpy, "-V"], capture_output=True, text=True).stdout.strip()
        ok = (r.returncode == 0 and "mobilefacenet 192" in r.stdout and "dlib 128" in r.stdout
              and "setuptools False pkg_resources False" in r.stdout and cli.returncode == 0)
        return {"python": version, "ok": ok, "install_s": round(installed), "out": r.stdout.strip(),
                "err": r.stderr.strip()[-500:], "cli": cli.returncode}


def main() -> None:
    from faceframes import photo
    results = [one(py, photo("103", "103_7")) for py in pythons(sys.argv[1:])]
    for r in results:
        print(f"{r['python']}: {'ok' if r['ok'] else 'FAILED'} (install {r['install_s']} s) "
              f"{r['out'].replace(chr(10), '; ')} {r['err'] if not r['ok'] else ''}")
    sys.exit(0 if results and all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
