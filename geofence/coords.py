"""Sanity checks on raw coordinates: the wrong-order and wrong-datum traps, caught loudly.

A coordinate pair that cannot be a place on a Chinese construction site is an error with a
message that says what is probably wrong (lon/lat swapped, a number that is not a number, a
point in the open sea), never a silent "outside".
"""
from __future__ import annotations

import math

from .datum import CHINA_BOX

# Coarse boxes that are open sea on every map (kept well off the coasts and islands).
SEA_BOXES = (
    ("Bohai Sea", 119.6, 38.6, 120.9, 39.4),
    ("Yellow Sea", 122.8, 33.2, 124.6, 36.6),
    ("East China Sea", 123.2, 26.6, 127.0, 31.3),
    ("South China Sea", 110.8, 9.0, 118.3, 15.9),
    ("Pacific Ocean east of Taiwan", 122.5, 18.5, 130.0, 24.0),
    ("Bay of Bengal", 84.0, 8.0, 92.0, 19.0),
    ("Sea of Japan", 131.5, 37.0, 137.0, 41.0),
)

# Mainland China, Hainan, Hong Kong and Macau fit in this tighter rectangle than the GCJ box.
MAINLAND_BOX = (73.4, 18.1, 135.1, 53.6)


class CoordinateError(ValueError):
    """A coordinate that cannot be right; the message says why and what was probably meant."""


def _in(box, lon, lat) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def sea_name(lon: float, lat: float) -> str | None:
    for name, *box in SEA_BOXES:
        if _in(box, lon, lat):
            return name
    return None


def plausible_in_china(lon: float, lat: float) -> bool:
    return _in(MAINLAND_BOX, lon, lat) and sea_name(lon, lat) is None


_SEA = tuple(b[1:] for b in SEA_BOXES)


def check_lonlat(lon, lat, what: str = "point") -> tuple[float, float]:
    """Return ``(lon, lat)`` as floats or raise :class:`CoordinateError` with a clear hint."""
    if type(lon) is float and type(lat) is float and 73.4 <= lon <= 135.1 and \
            18.1 <= lat <= 53.6:                               # fast path: on land in China
        for x0, y0, x1, y1 in _SEA:
            if x0 <= lon <= x1 and y0 <= lat <= y1:
                break
        else:
            return lon, lat
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise CoordinateError(f"{what}: longitude and latitude must be numbers "
                              f"(got {lon!r}, {lat!r})") from None
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise CoordinateError(f"{what}: longitude/latitude is not a finite number "
                              f"(got {lon}, {lat})")
    swapped_ok = plausible_in_china(lat, lon)
    hint = (f"; lon and lat look swapped: did you mean lon={lat} lat={lon}?"
            if swapped_ok else "")
    if not -90.0 <= lat <= 90.0:
        raise CoordinateError(f"{what}: latitude {lat} is outside [-90, 90]{hint}")
    if not -180.0 <= lon <= 180.0:
        raise CoordinateError(f"{what}: longitude {lon} is outside [-180, 180]{hint}")
    sea = sea_name(lon, lat)
    if sea:
        raise CoordinateError(f"{what}: lon={lon} lat={lat} lies in the open sea ({sea}){hint or '; check the lon/lat order and the datum'}")
    if not _in(MAINLAND_BOX, lon, lat):
        raise CoordinateError(f"{what}: lon={lon} lat={lat} is outside China{hint or '; check the order (lon first) and the units (degrees)'}")
    return lon, lat


__all__ = ["CoordinateError", "check_lonlat", "plausible_in_china", "sea_name", "CHINA_BOX"]
