"""`sitegate fences check|add|list|show`: thin shells over geofence and gateway.fences."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import geofence
from geofence import CoordinateError, FenceError, Fix

from gateway.cli.options import emit, json_option, progress_bar
from gateway.fences import store
from gateway.words import cli_lang, tr


class BadInput(click.ClickException):
    exit_code = 2


def _fences(name, crs=None):
    try:
        return store.resolve(name, crs=crs)
    except (FenceError, ValueError) as exc:
        raise BadInput(str(exc)) from None


@click.group("fences")
def fences():
    """Electronic fences: check a point, add, list, draw."""


@fences.command()
@click.option("--fence", "fence_name", required=True, metavar="FILE",
              help="GeoJSON/KML file or the id of a stored fence.")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--crs", default="wgs84", show_default=True,
              type=click.Choice(["wgs84", "gcj02", "bd09"]), help="Datum of LON LAT.")
@click.option("--accuracy", type=float, default=None, metavar="M",
              help="Horizontal accuracy (68 %% radius, metres); without it the point is exact.")
@click.option("--json", "as_json", is_flag=True, help="Print decision, distance_m, reason as JSON.")
def check(fence_name, lon, lat, crs, accuracy, as_json):
    """Is LON LAT inside the fence?  distance_m is signed, positive inside."""
    fs = _fences(fence_name)
    exact = accuracy is None
    try:
        dec = geofence.decide_any(fs, Fix(lon, lat, crs, 0.001 if exact else accuracy))
    except CoordinateError as exc:
        raise BadInput(f"{exc}") from None
    out = dec.as_dict()
    out["accuracy_m"] = None if exact else accuracy
    out["crs"] = crs
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, sort_keys=True))
    else:
        colour = {"inside": "green", "outside": "red", "uncertain": "yellow"}[dec.decision]
        con = Console()
        con.print(f"[bold {colour}]{tr(dec.decision)}[/] {dec.fence}: {dec.distance_m:+.2f} m "
                  f"({dec.reason}) {dec.message}", highlight=False)
        if dec.hint:
            con.print(f"[yellow]{tr('hint:')}[/] {dec.hint}", highlight=False)


@fences.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", type=click.Choice(["wgs84", "gcj02", "bd09"]), default=None,
              help="Datum the file was drawn in, if the file does not say.")
@click.option("--replace", is_flag=True, help="Overwrite fences with the same id.")
@json_option
def add(file, crs, replace, as_json):
    """Validate and store the fences in FILE (GeoJSON or KML)."""
    try:
        added = store.add(file, crs=crs, replace=replace)
    except (FenceError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    if as_json:
        emit([{"id": f.id, "kind": f.kind, "size": f.size_text(), "drawn_crs": f.source_crs}
              for f in added], True, "")
        return
    for f in added:
        note = " " + tr("(converted from {crs})", crs=f.source_crs) if f.source_crs != "wgs84" else ""
        click.echo(tr("added {id}: {kind}, {size}", id=f.id, kind=tr(f.kind), size=f.size_text())
                   + note)


@fences.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json):
    """The stored fences."""
    try:
        fs = store.all_fences()
    except (FenceError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    rows = [{"id": f.id, "kind": f.kind, "size": f.size_text(), "drawn_crs": f.source_crs,
             "half_width_m": f.half_width_m or None, "radius_m": f.radius_m or None,
             "windows": [w.text for w in f.windows], "centre": [round(c, 6) for c in f.centroid]}
            for f in fs]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, sort_keys=True))
        return
    if not rows:
        click.echo(tr("no fences in {path} (add one: sitegate fences add FILE)", path=store.fence_dir()))
        return
    t = Table()
    for col in ("id", tr("kind"), tr("size"), tr("drawn in"), tr("windows"), tr("centre (WGS-84)")):
        t.add_column(col)
    for r in rows:
        t.add_row(r["id"], tr(r["kind"]), r["size"], r["drawn_crs"],
                  ", ".join(r["windows"]) or tr("always"), f"{r['centre'][0]}, {r['centre'][1]}")
    Console().print(t)


@fences.command()
@click.argument("fence_name", metavar="FENCE")
@click.option("--fixes", type=click.Path(exists=True, dir_okay=False),
              help="Fixes to draw: CSV lon,lat[,accuracy_m[,crs]] or JSON lines.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="map.png or map.svg")
@click.option("--accuracy", type=float, default=10.0, show_default=True,
              help="Accuracy assumed for fixes that give none.")
@click.option("--zoom", is_flag=True, help="Frame the fixes rather than the whole fence.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="Words on the picture (default: the command line's language).")
@json_option
def show(fence_name, fixes, output, accuracy, zoom, lang, as_json):
    """Draw FENCE with FILE's fixes coloured by decision (inside/outside/uncertain).  Chinese
    words and fence names need a CJK font (found through fontconfig; SITEGATE_MAP_FONT names
    one); without one the picture is drawn in English and says so on stderr."""
    from gateway.fences.map import render
    fmt = Path(output).suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise BadInput(tr("{path}: the picture must be .png or .svg", path=output))
    fs = _fences(fence_name)
    decisions, bad = [], 0
    if fixes:
        try:
            fix_list = store.read_fixes(fixes)
        except (FenceError, ValueError, OSError) as exc:
            raise BadInput(str(exc)) from None
        with progress_bar(tr("deciding fixes"), len(fix_list), as_json=as_json) as update:
            for i, fx in enumerate(fix_list, 1):
                if fx.accuracy_m is None:
                    fx = Fix(fx.lon, fx.lat, fx.datum, accuracy, fx.time_ms, fx.mock)
                try:
                    decisions.append(geofence.decide(fs[0], fx))
                except CoordinateError as exc:
                    bad += 1
                    click.echo(tr("skipped fix: {why}", why=exc), err=True)
                update(i)
    Path(output).write_bytes(render(fs[0], decisions, fmt, zoom=zoom, lang=lang or cli_lang()))
    summary = {}
    for d in decisions:
        summary[d.decision] = summary.get(d.decision, 0) + 1
    if as_json:
        emit({"output": output, "fence": fs[0].id, "fixes": len(decisions), "decisions": summary,
              "skipped": bad}, True, "")
    else:
        click.echo(tr("wrote {path}: {fence} with {n} fixes", path=output, fence=fs[0].id,
                      n=len(decisions)) + " "
                   + ", ".join(f"{tr(k)} {v}" for k, v in sorted(summary.items()))
                   + ("; " + tr("{n} impossible fixes skipped", n=bad) if bad else ""))
    if bad:
        sys.exit(2)
