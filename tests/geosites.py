"""Synthetic linear sites for tests and the benchmark: geodesic centre lines with realistic bends."""
from __future__ import annotations

import math

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")


def centreline(lon0: float, lat0: float, azimuth: float, length_m: float, n: int = 1000,
               wiggle_deg: float = 25.0, seed: int = 0) -> np.ndarray:
    """``n`` vertices by geodesic stepping with a sinusoidal heading wiggle (lon, lat rows)."""
    step = length_m / (n - 1)
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * math.pi)
    pts = [(lon0, lat0)]
    lon, lat = lon0, lat0
    for i in range(1, n):
        az = azimuth + wiggle_deg * math.sin(phase + 2 * math.pi * i / 150)
        lon, lat, _ = GEOD.fwd(lon, lat, az, step)
        pts.append((lon, lat))
    return np.array(pts)


def offset_points(line: np.ndarray, count: int, max_off: float = 200.0, seed: int = 1):
    """Points 0..max_off metres perpendicular to random segments (either side), with indices."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(line) - 1, count)
    t = rng.uniform(0.05, 0.95, count)
    off = rng.uniform(0, max_off, count)
    side = rng.choice([-90.0, 90.0], count)
    out = []
    for i, tt, o, s in zip(idx, t, off, side):
        (a_lon, a_lat), (b_lon, b_lat) = line[i], line[i + 1]
        az, _, seg = GEOD.inv(a_lon, a_lat, b_lon, b_lat)
        m_lon, m_lat, back = GEOD.fwd(a_lon, a_lat, az, tt * seg)
        fwd_az = back + 180.0
        p_lon, p_lat, _ = GEOD.fwd(m_lon, m_lat, fwd_az + s, o)
        out.append((p_lon, p_lat))
    return np.array(out), idx


# name -> (start lon, start lat, azimuth, length m)
SITES = {
    "50km-EW-36N": (108.0, 36.0, 90.0, 50_000.0),
    "300km-EW-crosses-UTM48/49": (105.5, 36.0, 90.0, 300_000.0),
    "300km-NS-104E": (104.0, 30.0, 0.0, 300_000.0),
    "300km-NE-Xinjiang": (84.0, 42.0, 45.0, 300_000.0),
}
