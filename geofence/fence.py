"""Fences: polygon, corridor (centre line + half-width) and circle, checked in metres.

A fence is stored in WGS-84 whatever datum it was drawn in (the original vertices are kept
for display).  Each fence gets its own transverse Mercator projection centred on its centroid
(scale 1 on the central meridian): distance errors stay below 5 cm for sites of several hundred
kilometres, with no UTM zone edges.  Geometry in that CRS is prepared once at load time.

``signed_distance`` is positive inside: for a corridor ``half_width - distance to the centre
line`` (exact distance to the line, not a faceted buffer polygon), for a circle ``radius -
distance to the centre``, for a polygon the distance to the boundary with the sign of
containment.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry

from .coords import CoordinateError, check_lonlat
from .datum import check_datum, convert

KINDS = ("polygon", "corridor", "circle")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(?:(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?\s+)?"
                     r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class FenceError(ValueError):
    """A fence that cannot be used; the message names the fence and the problem."""


@dataclass(frozen=True)
class TimeWindow:
    """Local-time window (China Standard Time by default, UTC+8, no DST)."""
    days: frozenset[int]     # 0 = Monday
    start_min: int
    end_min: int
    text: str

    @classmethod
    def parse(cls, text: str) -> "TimeWindow":
        m = _WINDOW.match(str(text).strip().lower())
        if not m:
            raise FenceError(f"time window {text!r}: expected 'HH:MM-HH:MM' or "
                             f"'mon-fri HH:MM-HH:MM'")
        d0, d1 = m.group(1), m.group(2)
        if d0 is None:
            days = frozenset(range(7))
        else:
            a, b = _DAYS.index(d0), _DAYS.index(d1 or d0)
            days = frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
        start = int(m.group(3)) * 60 + int(m.group(4))
        end = int(m.group(5)) * 60 + int(m.group(6))
        if end > 24 * 60:
            raise FenceError(f"time window {text!r}: end after 24:00")
        if start == end:
            raise FenceError(f"time window {text!r}: empty (start equals end)")
        return cls(days, start, end, str(text).strip())

    def contains(self, local_day: int, local_min: int) -> bool:
        if self.start_min < self.end_min:
            return local_day in self.days and self.start_min <= local_min < self.end_min
        # overnight window (e.g. 22:00-06:00): the part after midnight belongs to the day before
        if local_min >= self.start_min:
            return local_day in self.days
        return local_min < self.end_min and (local_day - 1) % 7 in self.days


@dataclass
class Fence:
    id: str
    kind: str
    geometry: BaseGeometry           # in WGS-84 lon/lat
    half_width_m: float = 0.0        # corridor
    radius_m: float = 0.0            # circle
    source_crs: str = "wgs84"        # datum it was drawn in
    source_geometry: BaseGeometry | None = None   # as drawn (for display), in source_crs
    windows: tuple[TimeWindow, ...] = ()
    tz_offset_min: int = 480
    name: str = ""
    properties: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FenceError(f"fence {self.id}: unknown kind {self.kind!r} (allowed: {KINDS})")
        c = self.geometry.centroid
        self.centroid = (c.x, c.y)
        self.proj = (f"+proj=tmerc +lat_0={c.y:.7f} +lon_0={c.x:.7f} +k=1 +x_0=0 +y_0=0 "
                     f"+ellps=WGS84 +units=m +no_defs")
        self._fwd = Transformer.from_crs("EPSG:4326", self.proj, always_xy=True)
        self._inv = Transformer.from_crs(self.proj, "EPSG:4326", always_xy=True)
        self.metric = shapely.transform(self.geometry, self._to_metric_arr)
        if self.kind == "polygon":
            self._edge = self.metric.exterior if not self.metric.interiors else self.metric.boundary
            self._area = self.metric
            shapely.prepare(self._area)
        elif self.kind == "corridor":
            self._edge = self.metric
        else:
            self._edge = self.metric          # the centre point
        shapely.prepare(self._edge)
        self._cx, self._cy = (float(self.metric.x), float(self.metric.y)) if self.kind == "circle" \
            else (0.0, 0.0)
        if self.kind != "circle":
            rings = ([self.metric] if self.kind == "corridor" else
                     [self.metric.exterior, *self.metric.interiors])
            segs = np.concatenate([np.concatenate([np.asarray(r.coords)[:-1],
                                                   np.asarray(r.coords)[1:]], axis=1)
                                   for r in rings])
            self._segments = shapely.linestrings(segs.reshape(-1, 2, 2))
            self._tree = shapely.STRtree(self._segments)
            reach = max(self.half_width_m, 100.0) + 400.0
            self._grid = SegmentGrid(segs, reach, cell=max(reach / 8, 25.0))

    # ------------------------------------------------------------ projection
    def _to_metric_arr(self, xy: np.ndarray) -> np.ndarray:
        x, y = self._fwd.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    def to_metric(self, lon, lat):
        return self._fwd.transform(lon, lat)

    def to_lonlat(self, x, y):
        return self._inv.transform(x, y)

    # ------------------------------------------------------------ distances
    def signed_distance_xy(self, x: float, y: float) -> float:
        """Signed distance (m, positive inside) of one point in this fence's metric CRS."""
        if self.kind == "circle":
            return self.radius_m - math.hypot(x - self._cx, y - self._cy)
        d = self._grid.distance(x, y)
        if d is None:                       # farther than the grid's reach: ask GEOS
            d = self._edge.distance(Point(x, y))
        if self.kind == "corridor":
            return self.half_width_m - d
        return d if shapely.contains_xy(self._area, x, y) else -d

    def signed_distance(self, lon: float, lat: float) -> float:
        x, y = self._fwd.transform(lon, lat)
        return self.signed_distance_xy(x, y)

    def signed_distances(self, lon, lat) -> np.ndarray:
        """Vectorised signed distances for arrays of WGS-84 lon/lat."""
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        x, y = np.asarray(x), np.asarray(y)
        if self.kind == "circle":
            return self.radius_m - np.hypot(x - self._cx, y - self._cy)
        pts = shapely.points(x, y)
        if self.kind == "corridor":
            _, dist = self._tree.query_nearest(pts, return_distance=True, all_matches=False)
            return self.half_width_m - dist
        d = shapely.distance(self._edge, pts)
        return np.where(shapely.contains_xy(self._area, x, y), d, -d)

    def contains_many(self, lon, lat) -> np.ndarray:
        """Vectorised plain inside test (no accuracy), for bulk screening."""
        x, y = self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))
        if self.kind == "circle":
            return np.hypot(np.asarray(x) - self._cx, np.asarray(y) - self._cy) <= self.radius_m
        if self.kind == "corridor":
            return shapely.dwithin(self._edge, shapely.points(x, y), self.half_width_m)
        return shapely.contains_xy(self._area, x, y)

    # ------------------------------------------------------------ display
    def outline_metric(self):
        """The fence area in metres (a buffer polygon for corridors: display only)."""
        if self.kind == "corridor":
            return self.metric.buffer(self.half_width_m, quad_segs=16)
        if self.kind == "circle":
            return self.metric.buffer(self.radius_m, quad_segs=32)
        return self.metric

    def in_window(self, time_ms: int | None) -> bool:
        if not self.windows or time_ms is None:
            return True
        local = time_ms / 1000 + self.tz_offset_min * 60
        days = int(local // 86400)
        day = (days + 3) % 7            # 1970-01-01 was a Thursday
        minute = int(local % 86400 // 60)
        return any(w.contains(day, minute) for w in self.windows)

    def size_text(self) -> str:
        if self.kind == "corridor":
            return f"{self.metric.length / 1000:.2f} km × {2 * self.half_width_m:g} m"
        if self.kind == "circle":
            return f"r {self.radius_m:g} m"
        return f"{self.metric.area / 1e6:.3f} km²"

    def to_geojson(self) -> dict:
        """Feature in WGS-84 with the drawn geometry kept under ``source``."""
        props = dict(self.properties, id=self.id, kind=self.kind, crs="wgs84",
                     drawn_crs=self.source_crs)
        if self.name:
            props["name"] = self.name
        if self.kind == "corridor":
            props["half_width_m"] = self.half_width_m
        if self.kind == "circle":
            props["radius_m"] = self.radius_m
        if self.windows:
            props["windows"] = [w.text for w in self.windows]
        if self.tz_offset_min != 480:
            props["tz_offset_min"] = self.tz_offset_min
        if self.source_crs != "wgs84" and self.source_geometry is not None:
            props["source"] = mapping(self.source_geometry)
        return {"type": "Feature", "properties": props, "geometry": mapping(self.geometry)}


class SegmentGrid:
    """Exact point-to-polyline distance for points near the line, without GEOS objects.

    Square cells of side ``cell``; each segment is listed in every cell that its bounding box,
    grown by ``reach``, touches, so any segment within ``reach`` of a point is listed in the
    point's cell.  Each cell's list is sorted by a lower bound on the distance from anywhere in
    the cell (distance to the cell centre minus the half-diagonal), so the scan stops early.
    The minimum is exact whenever it is at most ``reach``; otherwise ``distance`` returns None
    and the caller asks GEOS.  (Creating a shapely Point costs more than this whole path.)
    """

    def __init__(self, segs: np.ndarray, reach: float, cell: float = 50.0) -> None:
        self.reach = float(reach)
        self.cell = c = float(cell)
        half_diag = c * math.sqrt(0.5)
        cells: dict[tuple[int, int], list] = {}
        for x0, y0, x1, y1 in segs.tolist():
            i0, i1 = math.floor((min(x0, x1) - reach) / c), math.floor((max(x0, x1) + reach) / c)
            j0, j1 = math.floor((min(y0, y1) - reach) / c), math.floor((max(y0, y1) + reach) / c)
            dx, dy = x1 - x0, y1 - y0
            ll = dx * dx + dy * dy
            seg = (x0, y0, dx, dy, ll)
            for i in range(i0, i1 + 1):
                for j in range(j0, j1 + 1):
                    d = math.sqrt(_d2(((i + 0.5) * c), ((j + 0.5) * c), seg))
                    if d - half_diag <= reach:
                        cells.setdefault((i, j), []).append((max(d - half_diag, 0.0), seg))
        self.cells = {k: tuple((lb * lb, s) for lb, s in sorted(v, key=lambda e: e[0]))
                      for k, v in cells.items()}

    def distance(self, x: float, y: float) -> float | None:
        entries = self.cells.get((math.floor(x / self.cell), math.floor(y / self.cell)))
        if not entries:
            return None
        best = math.inf
        for lb2, (x0, y0, dx, dy, ll) in entries:
            if lb2 >= best:
                break
            px, py = x - x0, y - y0
            t = (px * dx + py * dy) / ll if ll > 0 else 0.0
            if t < 0.0:
                t = 0.0
            elif t > 1.0:
                t = 1.0
            ex, ey = px - t * dx, py - t * dy
            d2 = ex * ex + ey * ey
            if d2 < best:
                best = d2
        best = math.sqrt(best)
        return best if best <= self.reach else None


def _d2(x: float, y: float, seg) -> float:
    x0, y0, dx, dy, ll = seg
    px, py = x - x0, y - y0
    t = min(max((px * dx + py * dy) / ll, 0.0), 1.0) if ll > 0 else 0.0
    ex, ey = px - t * dx, py - t * dy
    return ex * ex + ey * ey


# ---------------------------------------------------------------- construction and checks
def _num(props: dict, key: str, fid: str) -> float:
    v = props.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FenceError(f"fence {fid}: property {key!r} (metres) is required and must be a number")
    v = float(v)
    if not math.isfinite(v) or v <= 0:
        raise FenceError(f"fence {fid}: {key} = {v}: must be a positive number of metres")
    return v


def _check_vertices(coords, fid: str) -> None:
    for i, (lon, lat, *_) in enumerate(coords):
        try:
            check_lonlat(lon, lat, what=f"fence {fid} vertex {i}")
        except CoordinateError as exc:
            raise FenceError(str(exc)) from None


def build(geometry: dict | None, props: dict | None, default_id: str = "fence", crs: str | None = None) -> Fence:
    """Build a fence from a GeoJSON geometry and its properties; every problem is a FenceError."""
    props = dict(props or {})
    fid = str(props.get("id") or props.get("name") or default_id)
    declared = props.get("crs", crs)
    if crs is not None and props.get("crs") is not None and check_datum(crs) != check_datum(props["crs"]):
        raise FenceError(f"fence {fid}: file says crs={props['crs']!r} but {crs!r} was given")
    if declared is None:
        raise FenceError(f"fence {fid}: the datum is not declared; add a property "
                         f"\"crs\": \"wgs84\" | \"gcj02\" | \"bd09\" (Amap/Tencent maps draw in "
                         f"gcj02, Baidu in bd09, GPS is wgs84)")
    try:
        datum = check_datum(declared)
    except ValueError as exc:
        raise FenceError(f"fence {fid}: {exc}") from None
    if not geometry:
        raise FenceError(f"fence {fid}: no geometry")
    try:
        geom = shape(geometry)
    except Exception as exc:  # noqa: BLE001 - shapely raises several types
        raise FenceError(f"fence {fid}: unreadable geometry: {exc}") from None
    if geom.is_empty:
        raise FenceError(f"fence {fid}: empty geometry")
    coords = shapely.get_coordinates(geom)
    if not np.all(np.isfinite(coords)):
        raise FenceError(f"fence {fid}: a coordinate is not a finite number")
    _check_vertices(coords, fid)
    kind = props.get("kind")
    gtype = geom.geom_type
    if kind is None:
        kind = {"Polygon": "polygon", "LineString": "corridor", "Point": "circle"}.get(gtype)
        if kind is None:
            raise FenceError(f"fence {fid}: geometry {gtype} is not a fence (use Polygon, "
                             f"LineString + half_width_m, or Point + radius_m)")
    elif not isinstance(kind, str) or kind not in KINDS:
        raise FenceError(f"fence {fid}: unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
    expected = {"polygon": "Polygon", "corridor": "LineString", "circle": "Point"}[kind]
    if gtype != expected:
        raise FenceError(f"fence {fid}: kind {kind!r} needs a {expected}, got {gtype}")
    half_width = radius = 0.0
    if kind == "corridor":
        half_width = _num(props, "half_width_m", fid)
        if len(set(map(tuple, coords))) < 2:
            raise FenceError(f"fence {fid}: a corridor centre line needs two distinct points")
    elif kind == "circle":
        radius = _num(props, "radius_m", fid)
    wlon, wlat = convert(coords[:, 0], coords[:, 1], datum, "wgs84")
    wgs = shapely.set_coordinates(shapely.force_2d(geom), np.column_stack([wlon, wlat]))
    if kind == "polygon":
        if not wgs.is_valid:
            raise FenceError(f"fence {fid}: invalid polygon: {shapely.is_valid_reason(wgs)} "
                             f"(self-intersecting or badly closed ring?)")
        if wgs.area == 0:
            raise FenceError(f"fence {fid}: polygon has zero area")
    windows = props.get("windows") or []
    if isinstance(windows, str):
        windows = [windows]
    try:
        windows = tuple(TimeWindow.parse(w) for w in windows)
    except FenceError as exc:
        raise FenceError(f"fence {fid}: {exc}") from None
    tz = props.get("tz_offset_min", 480)
    if isinstance(tz, bool) or not isinstance(tz, int) or abs(tz) > 14 * 60:
        raise FenceError(f"fence {fid}: tz_offset_min must be an integer number of minutes")
    extra = {k: v for k, v in props.items()
             if k not in {"id", "name", "crs", "kind", "half_width_m", "radius_m", "windows",
                          "tz_offset_min", "drawn_crs", "source"}}
    source = geom if datum != "wgs84" else None
    if props.get("drawn_crs") and datum == "wgs84" and props.get("source"):
        source, datum = shape(props["source"]), check_datum(props["drawn_crs"])
    fence = Fence(id=fid, kind=kind, geometry=wgs, half_width_m=half_width, radius_m=radius,
                  source_crs=datum, source_geometry=source, windows=windows,
                  tz_offset_min=tz, name=str(props.get("name") or ""), properties=extra)
    if kind == "corridor" and fence.metric.length < 1.0:
        raise FenceError(f"fence {fid}: centre line shorter than 1 m")
    return fence


def corridor(fid: str, lonlat: list, half_width_m: float, crs: str = "wgs84", **props) -> Fence:
    return build({"type": "LineString", "coordinates": lonlat},
                 dict(props, id=fid, crs=crs, half_width_m=half_width_m))


def circle(fid: str, lon: float, lat: float, radius_m: float, crs: str = "wgs84", **props) -> Fence:
    return build({"type": "Point", "coordinates": [lon, lat]},
                 dict(props, id=fid, crs=crs, radius_m=radius_m))


def polygon(fid: str, ring: list, crs: str = "wgs84", **props) -> Fence:
    return build({"type": "Polygon", "coordinates": [ring]}, dict(props, id=fid, crs=crs))


__all__ = ["Fence", "FenceError", "TimeWindow", "build", "corridor", "circle", "polygon"]
