"""Datums used in China: WGS-84 (GPS), GCJ-02 (Amap/Tencent), BD-09 (Baidu).

Every function takes and returns ``(lon, lat)`` in that order, as floats or numpy arrays.
WGS-84 -> GCJ-02 is the public closed-form offset (Krasovsky ellipsoid); GCJ-02 -> WGS-84 has
no closed form and is solved by fixed-point iteration until the forward image matches within
1e-9 degrees (about 0.1 mm; three iterations usually suffice).  BD-09 is a polar rotation and
shift on top of GCJ-02, inverted the same way.  Outside the rough China rectangle every vendor
returns the input unchanged; so do we.
"""
from __future__ import annotations

import math

import numpy as np

DATUMS = ("wgs84", "gcj02", "bd09")
_A = 6378245.0                       # Krasovsky 1940 semi-major axis
_EE = 0.00669342162296594323         # Krasovsky first eccentricity squared
_XPI = math.pi * 3000.0 / 180.0
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)   # lon_min, lat_min, lon_max, lat_max
_TOL_DEG = 1e-9
_MAX_ITER = 10


class DatumError(ValueError):
    pass


def check_datum(name: str) -> str:
    if name in DATUMS:
        return name
    key = str(name).lower().replace("-", "").replace("_", "")
    aliases = {"wgs84": "wgs84", "epsg4326": "wgs84", "gps": "wgs84", "gcj02": "gcj02",
               "gcj": "gcj02", "amap": "gcj02", "bd09": "bd09", "bd09ll": "bd09",
               "baidu": "bd09"}
    if key not in aliases:
        raise DatumError(f"unknown datum {name!r} (allowed: wgs84, gcj02, bd09)")
    return aliases[key]


def in_china_box(lon, lat):
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return (lon >= CHINA_BOX[0]) & (lon <= CHINA_BOX[2]) & (lat >= CHINA_BOX[1]) & \
        (lat <= CHINA_BOX[3])


def _offset(lon, lat):
    """The GCJ-02 offset (dlon, dlat) in degrees at WGS-84 (lon, lat)."""
    x, y = lon - 105.0, lat - 35.0
    sx = np.sqrt(np.abs(x))
    s6x, s6y = np.sin(6.0 * x * np.pi), np.sin(2.0 * x * np.pi)
    common = (20.0 * s6x + 20.0 * s6y) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _out(lon, lat, scalar):
    return (float(lon), float(lat)) if scalar else (lon, lat)


def wgs84_to_gcj02(lon, lat):
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _offset(lon, lat)
    inside = in_china_box(lon, lat)
    return _out(np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat), scalar)


def gcj02_to_wgs84(lon, lat):
    """Iterative inverse: w <- w - (f(w) - g) until |f(w) - g| < 1e-9 degrees."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = glon.copy(), glat.copy()
    inside = in_china_box(glon, glat)
    for _ in range(_MAX_ITER):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = np.asarray(flon) - glon, np.asarray(flat) - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < _TOL_DEG) and np.all(np.abs(elat) < _TOL_DEG):
            break
    return _out(np.where(inside, wlon, glon), np.where(inside, wlat, glat), scalar)


def gcj02_to_bd09(lon, lat):
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _XPI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def _bd09_to_gcj02_approx(lon, lat):
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _XPI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon, lat):
    """Closed-form approximate inverse, refined by fixed-point iteration against the forward."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    blon, blat = np.asarray(lon, float), np.asarray(lat, float)
    glon, glat = _bd09_to_gcj02_approx(blon, blat)
    for _ in range(_MAX_ITER):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = np.asarray(flon) - blon, np.asarray(flat) - blat
        glon, glat = glon - elon, glat - elat
        if np.all(np.abs(elon) < _TOL_DEG) and np.all(np.abs(elat) < _TOL_DEG):
            break
    return _out(glon, glat, scalar)


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_CONVERT = {
    ("wgs84", "gcj02"): wgs84_to_gcj02, ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09, ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09, ("bd09", "wgs84"): bd09_to_wgs84,
}


def convert(lon, lat, src: str, dst: str = "wgs84"):
    """Convert ``(lon, lat)`` from datum ``src`` to ``dst`` (names as in ``DATUMS``)."""
    src, dst = check_datum(src), check_datum(dst)
    if src == dst:
        scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
        return (float(lon), float(lat)) if scalar else (np.asarray(lon, float),
                                                         np.asarray(lat, float))
    return _CONVERT[(src, dst)](lon, lat)
