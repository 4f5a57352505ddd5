"""The picture: a fence in its own metric CRS with fixes coloured by decision (PNG or SVG).

Drawn in metres (true shape, true widths), so an installer can see whether the fence sits on
the road: the centre line, the fence area, the as-drawn geometry when it was drawn in another
datum (dashed: "where the fence would be if nobody had converted"), and each fix with its
accuracy circle.
"""
from __future__ import annotations

import io

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402
from matplotlib.patches import Polygon as MplPolygon  # noqa: E402

COLOURS = {"inside": "#1a9850", "outside": "#d73027", "uncertain": "#fdae61", "error": "#7b3294"}


def _patch_polys(geom):
    return list(geom.geoms) if hasattr(geom, "geoms") else [geom]


def render(fence, decisions: list | None = None, fmt: str = "png", title: str | None = None,
           zoom: bool = False) -> bytes:
    """``decisions``: ``geofence.Decision`` objects (WGS-84 lon/lat inside).  ``zoom`` frames
    the fixes (with a few fence widths around them) instead of the whole fence."""
    decisions = decisions or []
    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    try:
        area = fence.outline_metric()
        for poly in _patch_polys(area):
            ax.add_patch(MplPolygon(np.asarray(poly.exterior.coords), closed=True,
                                    facecolor="#4575b4", alpha=0.18, edgecolor="#4575b4", lw=1.2))
        if fence.kind == "corridor":
            x, y = np.asarray(fence.metric.coords).T
            ax.plot(x, y, color="#4575b4", lw=1, ls="-", label="centre line")
        elif fence.kind == "circle":
            ax.plot([0], [0], marker="+", color="#4575b4")
        if fence.source_geometry is not None and fence.source_crs != "wgs84":
            raw = shapely.transform(fence.source_geometry, fence._to_metric_arr)
            rx, ry = (np.asarray(raw.exterior.coords).T if raw.geom_type == "Polygon"
                      else np.asarray(raw.coords).T)
            ax.plot(rx, ry, color="grey", ls="--", lw=0.8,
                    label=f"as drawn ({fence.source_crs}), unconverted")
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
            ax.plot([], [], "o", color=COLOURS.get(k, "black"), label=f"{k}: {n}")
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
        ax.set_xlabel("east (m, fence-centred transverse Mercator)")
        ax.set_ylabel("north (m)")
        ax.grid(True, lw=0.3, alpha=0.5)
        lon, lat = fence.centroid
        ax.set_title(title or f"{fence.id}: {fence.kind}, {fence.size_text()}, "
                              f"centre {lon:.5f}E {lat:.5f}N (WGS-84)", fontsize=9)
        ax.legend(loc="best", fontsize=7)
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)
