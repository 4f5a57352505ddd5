"""Build hook only (all metadata is in pyproject.toml): the wheel carries the shipped unit
files and example configuration (``systemd/``, ``config/``) as package data of the data-only
package ``sitegate_files``, so `sitegate install-service` and `sitegate-central broker init`
work from an installed wheel, not only from a checkout. The folders stay where they are in the
repository (one source); a checkout finds them there (gateway/ops/service.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("systemd", "config")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "sitegate_files"
        for name in SHIPPED:
            src = HERE / name
            if src.is_dir():                  # an sdist carries them too (MANIFEST.in)
                shutil.copytree(src, target / name, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithShippedFiles})
