"""The site's fences on disk (``$SITEGATE_HOME/fences/<id>.geojson``, WGS-84) and fix files.

Stored fences are normalised: geometry in WGS-84 with ``crs: wgs84`` and the as-drawn geometry
and datum kept under ``source`` / ``drawn_crs`` for display.  A datum is converted exactly once,
when the fence is added.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import geofence
from geofence import Fence, FenceError, Fix

from gateway.config import sitegate_home

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


def fence_dir(home: Path | None = None) -> Path:
    return (home or sitegate_home()) / "fences"


def add(path: str | Path, crs: str | None = None, replace: bool = False,
        home: Path | None = None) -> list[Fence]:
    """Validate every fence in a file, then store them all (nothing is stored on any error)."""
    fences = geofence.load(path, crs=crs)
    d = fence_dir(home)
    for f in fences:
        if not _ID.match(f.id):
            raise FenceError(f"fence id {f.id!r}: use letters, digits, '_', '.', '+', '-' "
                             f"(set an \"id\" property)")
        if (d / f"{f.id}.geojson").exists() and not replace:
            raise FenceError(f"fence {f.id} already exists (use --replace)")
    d.mkdir(parents=True, exist_ok=True)
    for f in fences:
        tmp = d / f".{f.id}.tmp"
        tmp.write_text(json.dumps(f.to_geojson(), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(d / f"{f.id}.geojson")
    return fences


def all_fences(home: Path | None = None) -> list[Fence]:
    d = fence_dir(home)
    return [f for p in sorted(d.glob("*.geojson")) for f in geofence.load(p)]


def resolve(name: str, home: Path | None = None, crs: str | None = None) -> list[Fence]:
    """A path to a GeoJSON/KML file, or the id of a stored fence."""
    p = Path(name)
    if p.exists():
        return geofence.load(p, crs=crs)
    stored = fence_dir(home) / f"{name}.geojson"
    if stored.exists():
        return geofence.load(stored)
    raise FenceError(f"{name}: no such file and no stored fence with that id "
                     f"(see `sitegate fences list`)")


def read_fixes(path: str | Path, default_crs: str = "wgs84") -> list[Fix]:
    """Fixes from CSV (``lon,lat[,accuracy_m[,crs[,time_ms]]]``, header optional) or JSON lines
    (``{"lon":..,"lat":..,"accuracy_m":..,"crs":..,"time_ms":..,"mock":..}``)."""
    text = Path(path).read_text(encoding="utf-8")
    out = []
    if text.lstrip().startswith("{"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                o = json.loads(line)
                out.append(Fix(float(o["lon"]), float(o["lat"]), o.get("crs", default_crs),
                               _opt(o.get("accuracy_m")), o.get("time_ms"),
                               bool(o.get("mock", False))))
            except (ValueError, KeyError, TypeError) as exc:
                raise FenceError(f"{path}:{n}: bad fix line: {exc}") from None
        return out
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or row[0].strip().startswith("#") or row[0].strip().lower() == "lon":
            continue
        try:
            acc = _opt(row[2]) if len(row) > 2 else None
            crs = row[3].strip() if len(row) > 3 and row[3].strip() else default_crs
            t = int(row[4]) if len(row) > 4 and row[4].strip() else None
            out.append(Fix(float(row[0]), float(row[1]), crs, acc, t))
        except (ValueError, IndexError) as exc:
            raise FenceError(f"{path}:{n}: bad fix row {row!r}: {exc}") from None
    return out


def _opt(v):
    return None if v in (None, "") else float(v)
