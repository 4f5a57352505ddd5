"""The picture: a fence in its own metric CRS with fixes coloured by decision (PNG or SVG).

Drawn in metres (true shape, true widths), so an installer can see whether the fence sits on
the road: the centre line, the fence area, the as-drawn geometry when it was drawn in another
datum (dashed: "where the fence would be if nobody had converted"), and each fix with its
accuracy circle.

Words on the picture come from the catalogue (:mod:`gateway.words`, entries ``map.*``) in the
language asked for.  Chinese needs a CJK font: :func:`cjk_font` finds one among the fonts
matplotlib knows (it reads fontconfig's list; ``SITEGATE_MAP_FONT`` names a family or a font
file to use instead), then among those fontconfig knows for Chinese (``fc-list :lang=zh``: a
font installed after matplotlib cached its list is still found) and adds it as a fallback after DejaVu Sans, so Latin text looks as before
and Chinese glyphs are real.  Without one the map is drawn with English words and the fence id
instead of its Chinese name, and a warning says which package to install -- never boxes.
"""
from __future__ import annotations

import io
import logging
import os
import re
from functools import lru_cache

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402
from matplotlib.patches import Polygon as MplPolygon  # noqa: E402

from gateway import words  # noqa: E402

log = logging.getLogger("sitegate.fences")
COLOURS = {"inside": "#1a9850", "outside": "#d73027", "uncertain": "#fdae61", "error": "#7b3294"}
# families to try first (then any font that has the glyphs)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN",
                "Microsoft YaHei", "SimHei", "PingFang SC")
FONT_HINT = "install a CJK font (Debian/Ubuntu: apt install fonts-noto-cjk or fonts-wqy-microhei)"
_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff]")


def needs_cjk(text: str) -> bool:
    return bool(_CJK.search(text or ""))


def _covers(path: str, sample: str = "中文围栏") -> bool:
    from matplotlib.ft2font import FT2Font
    if "lastresort" in os.path.basename(path).lower().replace(" ", ""):
        return False        # matplotlib's Last Resort font "has" every glyph: as boxes
    try:
        font = FT2Font(path)
        return all(font.get_char_index(ord(c)) for c in sample)
    except (OSError, RuntimeError, ValueError):
        return False


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a font with Chinese glyphs, or None (see the module's notes)."""
    from matplotlib import font_manager
    wanted = os.environ.get("SITEGATE_MAP_FONT", "").strip()
    if wanted and os.path.isfile(wanted):
        font_manager.fontManager.addfont(wanted)
        name = font_manager.FontProperties(fname=wanted).get_name()
        if _covers(wanted):
            return name
        log.warning("SITEGATE_MAP_FONT=%s has no Chinese glyphs; looking for another font", wanted)
    fonts = font_manager.fontManager.ttflist
    by_name: dict[str, str] = {}
    for f in fonts:
        by_name.setdefault(f.name, f.fname)
    for name in ((wanted,) if wanted else ()) + CJK_FAMILIES:
        if name in by_name and _covers(by_name[name]):
            return name
    for f in fonts:
        if _covers(f.fname):
            return f.name
    for path in _fontconfig_chinese():          # installed after matplotlib's cache was built
        if _covers(path):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


def _fontconfig_chinese() -> list[str]:
    """Font files fontconfig lists for Chinese, the known families first ([] without fc-list)."""
    import shutil
    import subprocess
    if not shutil.which("fc-list"):
        return []
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family", "file"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        path, _, family = line.partition(":")
        if path.lower().endswith((".ttf", ".otf", ".ttc")):
            rank = min((i for i, n in enumerate(CJK_FAMILIES) if n in family), default=len(CJK_FAMILIES))
            found.append((rank, path.strip()))
    return [p for _, p in sorted(found)]


def _fonts_for(lang: str, *texts: str) -> tuple[str, dict]:
    """(the language to draw in, matplotlib rc settings) -- English when Chinese cannot be drawn."""
    family = cjk_font()
    if family is not None:
        return lang, {"font.family": ["DejaVu Sans", family]}
    if lang == "zh" or any(needs_cjk(t) for t in texts):
        log.warning("fence map: no font with Chinese glyphs found; drawing English words and "
                    "fence ids instead: %s", FONT_HINT)
    return "en", {"font.family": ["DejaVu Sans"]}


def _patch_polys(geom):
    return list(geom.geoms) if hasattr(geom, "geoms") else [geom]


def render(fence, decisions: list | None = None, fmt: str = "png", title: str | None = None,
           zoom: bool = False, lang: str = "en") -> bytes:
    """``decisions``: ``geofence.Decision`` objects (WGS-84 lon/lat inside).  ``zoom`` frames
    the fixes (with a few fence widths around them) instead of the whole fence.  ``lang``:
    ``zh`` or ``en`` for the words on the picture."""
    lang, rc = _fonts_for(words.pick(lang), title or "", fence.name or "")
    with plt.rc_context(rc):
        return _render(fence, decisions or [], fmt, title, zoom, lang)


def _render(fence, decisions: list, fmt: str, title: str | None, zoom: bool, lang: str) -> bytes:
    def w(key: str, **kw) -> str:
        return words.text(f"map.{key}", lang, **kw)

    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    try:
        area = fence.outline_metric()
        for poly in _patch_polys(area):
            ax.add_patch(MplPolygon(np.asarray(poly.exterior.coords), closed=True,
                                    facecolor="#4575b4", alpha=0.18, edgecolor="#4575b4", lw=1.2))
        if fence.kind == "corridor":
            x, y = np.asarray(fence.metric.coords).T
            ax.plot(x, y, color="#4575b4", lw=1, ls="-", label=w("centre_line"))
        elif fence.kind == "circle":
            ax.plot([0], [0], marker="+", color="#4575b4")
        if fence.source_geometry is not None and fence.source_crs != "wgs84":
            raw = shapely.transform(fence.source_geometry, fence._to_metric_arr)
            rx, ry = (np.asarray(raw.exterior.coords).T if raw.geom_type == "Polygon"
                      else np.asarray(raw.coords).T)
            ax.plot(rx, ry, color="grey", ls="--", lw=0.8,
                    label=w("as_drawn", crs=fence.source_crs))
        counts = {}
        for dec in decisions:
            mx, my = fence.to_metric(dec.lon, dec.lat)
            c = COLOURS.get(dec.decision, "black")
            counts[dec.decision] = counts.get(dec.decision, 0) + 1
            if dec.accuracy_m:
                ax.add_patch(Circle((mx, my), dec.accuracy_m, facecolor=c, alpha=0.12,
                                    edgecolor=c, lw=0.5))
            ax.plot(mx, my, "o", ms=5, color=c, mec="black", mew=0.4)
        for k, n in counts.items():
            ax.plot([], [], "o", color=COLOURS.get(k, "black"), label=w(f"decision.{k}", n=n) if words.has(f"map.decision.{k}") else f"{k}: {n}")
        minx, miny, maxx, maxy = area.bounds
        if zoom and decisions:
            minx = miny = float("inf")
            maxx = maxy = float("-inf")
        for dec in decisions:
            mx, my = fence.to_metric(dec.lon, dec.lat)
            r = dec.accuracy_m or 0
            minx, miny = min(minx, mx - r), min(miny, my - r)
            maxx, maxy = max(maxx, mx + r), max(maxy, my + r)
        size = fence.half_width_m or fence.radius_m or 100.0
        pad = max(3 * size, 150.0) if zoom and decisions else 0.05 * max(maxx - minx, maxy - miny, 50)
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
        ax.set_aspect("equal")
        ax.set_xlabel(w("east"))
        ax.set_ylabel(w("north"))
        ax.grid(True, lw=0.3, alpha=0.5)
        lon, lat = fence.centroid
        if title and needs_cjk(title) and cjk_font() is None:
            title = None                           # boxes otherwise; the standard title instead
        named = fence.name if fence.name and (cjk_font() or not needs_cjk(fence.name)) else ""
        kind = w(f"kind.{fence.kind}") if words.has(f"map.kind.{fence.kind}") else fence.kind
        ax.set_title(title or w("title", fence=f"{named} ({fence.id})" if named else fence.id,
                                kind=kind, size=fence.size_text(), lon=lon, lat=lat), fontsize=9)
        ax.legend(loc="best", fontsize=7)
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)
