"""`sitegate install-service`: the shipped unit files, udev rule and example configuration,
rendered for this installation and put in place under a root directory.

The files come from the source checkout (``systemd/``, ``config/``) when this package runs from
one, else from the wheel's data-only package ``sitegate_files`` (copied there at build time by
``setup.py``), so an installed wheel installs its units as well as a checkout does.  The units
name ``/opt/sitegate/.venv/bin/…`` as shipped; rendering puts the directory this installation's
console scripts really live in instead (the interpreter's ``scripts`` path).
"""
from __future__ import annotations

import importlib.util
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

SHIPPED_BINDIR = "/opt/sitegate/.venv/bin/"
DATA_PACKAGE = "sitegate_files"


class ServiceError(RuntimeError):
    pass


def shipped_dir() -> Path:
    """The folder holding ``systemd/`` and ``config/``: the checkout's root, or the installed
    data package."""
    root = Path(__file__).resolve().parents[2]
    if (root / "systemd" / "sitegate.service").is_file() and (root / "config").is_dir():
        return root
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if (Path(loc) / "systemd" / "sitegate.service").is_file():
                return Path(loc)
    raise ServiceError(f"unit files not found: neither a source checkout at {root} nor the "
                       f"installed package data ({DATA_PACKAGE}); reinstall sitegate")


def shipped(rel: str) -> Path:
    """A shipped file by its repository path, e.g. ``systemd/sitegate.service``."""
    path = shipped_dir() / rel
    if not path.is_file():
        raise ServiceError(f"{rel}: not among the shipped files ({shipped_dir()})")
    return path


def default_bindir() -> Path:
    """Where this installation's console scripts are (a venv's ``bin``, ``/usr/local/bin``)."""
    return Path(sysconfig.get_path("scripts"))


def render_unit(text: str, bindir: Path) -> str:
    """Pure: the unit with its programs at ``bindir`` instead of the shipped location."""
    return text.replace(SHIPPED_BINDIR, str(bindir).rstrip("/") + "/")


@dataclass(frozen=True)
class Step:
    source: str            # shipped file (repository path)
    target: str            # path under the root
    render: bool = False   # a unit: programs at the real bindir
    keep: bool = False     # configuration: never overwrite an existing file
    mode: int = 0o644


GATEWAY_STEPS = (
    Step("systemd/sitegate.service", "etc/systemd/system/sitegate.service", render=True),
    Step("systemd/60-sitegate-idcard.rules", "etc/udev/rules.d/60-sitegate-idcard.rules"),
    Step("config/site.toml", "etc/sitegate/site.toml", keep=True, mode=0o640),
)
CENTRAL_STEPS = (
    Step("systemd/sitegate-central.service", "etc/systemd/system/sitegate-central.service",
         render=True),
    Step("systemd/sitegate-central@.service", "etc/systemd/system/sitegate-central@.service",
         render=True),
    Step("config/mosquitto.conf", "etc/sitegate/mosquitto.conf.example"),
)


def plan(central: bool = False) -> tuple[Step, ...]:
    return GATEWAY_STEPS + (CENTRAL_STEPS if central else ())


def install(root: str | Path, central: bool = False, bindir: str | Path | None = None,
            programs: tuple[str, ...] = ("sitegate",)) -> list[tuple[Path, str]]:
    """Put the files in place under ``root``; returns (path, "installed" | "kept")."""
    root = Path(root)
    bindir = Path(bindir) if bindir else default_bindir()
    wanted = programs + (("sitegate-central",) if central else ())
    missing = [p for p in wanted if not os.access(bindir / p, os.X_OK)]
    if missing:
        raise ServiceError(f"{', '.join(missing)} not found in {bindir}: pass --bindir with the "
                           "folder of the installed sitegate programs")
    done = []
    for step in plan(central):
        src = shipped(step.source)
        dst = root / step.target
        if step.keep and dst.exists():
            done.append((dst, "kept"))
            continue
        text = src.read_text(encoding="utf-8")
        if step.render:
            text = render_unit(text, bindir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(step.mode)
        os.replace(tmp, dst)
        done.append((dst, "installed"))
    return done
