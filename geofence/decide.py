"""Decisions: is this fix inside a fence?  Pure functions over data, no I/O.

``decide`` answers ``inside`` / ``outside`` / ``uncertain`` with the signed distance to the
edge (metres, positive inside) and a reason code.  It is accuracy-aware: the reported accuracy
is taken as the 68 % radius of a circular Gaussian (Android's definition), so a fix 20 m inside
a corridor edge with 80 m accuracy is only ~65 % likely to be inside and the answer is
"uncertain, retry".  ``Tracker`` adds exit hysteresis (two consecutive clear outside fixes);
``plausibility`` lists fraud and data-quality signals that flag a record for review.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from pyproj import Geod

from .coords import CoordinateError, check_lonlat
from .datum import DATUMS, check_datum, convert
from .fence import Fence

_GEOD = Geod(ellps="WGS84")
FAR_M = 100_000.0        # farther than this from every fence: probably swapped or wrong units


@dataclass(frozen=True)
class Policy:
    accept_accuracy_m: float = 50.0    # inside and this accurate: inside, whatever P says
    p_inside: float = 0.9              # otherwise inside needs P(inside) >= this
    p_outside: float = 0.1             # outside needs P(inside) <= this, or the whole circle out
    max_accuracy_m: float = 150.0      # worse than this never decides "inside"
    exit_margin_m: float = 20.0        # exit band: max(this, 10 % of the size) beyond the edge
    exit_fixes: int = 2                # consecutive clear outside fixes to confirm an exit
    max_speed_mps: float = 50.0
    stale_s: float = 120.0
    future_s: float = 30.0


@dataclass(frozen=True)
class Fix:
    lon: float
    lat: float
    datum: str = "wgs84"
    accuracy_m: float | None = None
    time_ms: int | None = None         # device time of the fix
    mock: bool = False

    def wgs84(self) -> "Fix":
        """The same fix in WGS-84 (validated); raises CoordinateError on impossible input."""
        datum = check_datum(self.datum)
        check_lonlat(self.lon, self.lat, what="fix")
        if self.accuracy_m is not None and (isinstance(self.accuracy_m, bool) or
                                            not math.isfinite(float(self.accuracy_m))):
            raise CoordinateError(f"fix: accuracy {self.accuracy_m!r} is not a number")
        if datum == "wgs84":
            return self
        lon, lat = convert(self.lon, self.lat, datum, "wgs84")
        return replace(self, lon=lon, lat=lat, datum="wgs84")


@dataclass(slots=True)
class Decision:
    decision: str                      # inside | outside | uncertain
    distance_m: float                  # signed, positive inside
    reason: str                        # code, see REASONS
    fence: str
    accuracy_m: float | None = None
    p_inside: float | None = None
    message: str = ""
    hint: str = ""
    lon: float = 0.0                   # WGS-84 position used
    lat: float = 0.0

    def as_dict(self) -> dict:
        out = {"decision": self.decision, "distance_m": round(self.distance_m, 2),
               "reason": self.reason, "fence": self.fence, "message": self.message,
               "accuracy_m": self.accuracy_m, "lon": round(self.lon, 7),
               "lat": round(self.lat, 7)}
        if self.p_inside is not None:
            out["p_inside"] = round(self.p_inside, 3)
        if self.hint:
            out["hint"] = self.hint
        return out


REASONS = {
    "inside": "inside the fence",
    "outside": "outside the fence",
    "near_edge": "near the edge for this accuracy: retry for a better fix",
    "low_accuracy": "location accuracy too poor: retry outdoors / with GPS on",
    "no_accuracy": "the fix reports no accuracy: retry",
    "outside_window": "outside the fence's time window",
    "far_from_fences": "hundreds of km from every fence",
}


def p_inside(distance_m: float, accuracy_m: float) -> float:
    """P(true position inside) for a fix ``distance_m`` inside the edge (across-track normal)."""
    sigma = max(accuracy_m, 1e-6) / 1.51
    return 0.5 * (1.0 + math.erf(distance_m / (sigma * math.sqrt(2.0))))


def classify(d: float, accuracy: float | None, policy: Policy = Policy()) -> tuple[str, str, float | None]:
    """Pure rule on a signed distance and an accuracy: (decision, reason, P(inside))."""
    if accuracy is None or accuracy <= 0:
        return "uncertain", "no_accuracy", None
    p = p_inside(d, accuracy)
    if d >= 0:
        if accuracy > policy.max_accuracy_m:
            return "uncertain", "low_accuracy", p
        if accuracy <= policy.accept_accuracy_m or p >= policy.p_inside:
            return "inside", "inside", p
        return "uncertain", "near_edge", p
    if d + accuracy < 0 or p <= policy.p_outside:
        return "outside", "outside", p
    return "uncertain", ("low_accuracy" if accuracy > policy.max_accuracy_m else "near_edge"), p


def decide(fence: Fence, fix: Fix, policy: Policy = Policy()) -> Decision:
    """One fix against one fence (fix may be in any datum; impossible input raises)."""
    w = fix.wgs84()
    d = fence.signed_distance(w.lon, w.lat)
    decision, reason, p = classify(d, fix.accuracy_m, policy)
    if decision == "inside" and not fence.in_window(fix.time_ms):
        decision, reason = "outside", "outside_window"
    msg = REASONS[reason]
    if reason in ("inside", "outside", "near_edge"):
        msg = f"{msg} ({abs(d):.0f} m {'inside' if d >= 0 else 'outside'} the edge)"
    return Decision(decision, d, reason, fence.id, fix.accuracy_m, p, msg, "", w.lon, w.lat)


def decide_any(fences: list[Fence], fix: Fix, policy: Policy = Policy()) -> Decision:
    """The best decision over several fences, with wrong-datum and far-away diagnostics."""
    if not fences:
        raise ValueError("no fences configured")
    results = [decide(f, fix, policy) for f in fences]
    rank = {"inside": 2, "uncertain": 1, "outside": 0}
    best = max(results, key=lambda r: (rank[r.decision], r.distance_m))
    if best.decision == "inside":
        return best
    if best.distance_m < -FAR_M:
        hint = (f"{-best.distance_m / 1000:.0f} km from the nearest fence ({best.fence}): "
                f"check that longitude comes first, that the numbers are degrees, and the datum")
        best = replace(best, reason="far_from_fences", message=REASONS["far_from_fences"],
                       hint=hint)
        return best
    # would another datum put this fix inside?  Then the datum is probably wrong.
    here = check_datum(fix.datum)
    for other in DATUMS:
        if other == here:
            continue
        lon, lat = convert(fix.lon, fix.lat, other, "wgs84")
        for f in fences:
            d = f.signed_distance(lon, lat)
            if d >= 0 and d - best.distance_m > 50:
                hint = (f"this fix is {abs(best.distance_m):.0f} m outside as {here}, but it would "
                        f"be {d:.0f} m inside {f.id} if it were {other}: check the datum of the "
                        f"phone/SDK (Amap/Tencent report gcj02, Baidu bd09, GPS wgs84)")
                return replace(best, hint=hint)
    return best


# ---------------------------------------------------------------- hysteresis
@dataclass
class Tracker:
    """Per worker and fence: enter on one inside decision, exit on N consecutive clear exits.

    A clear exit is beyond the exit band (``max(exit_margin_m, 10 % of the half-width or
    radius)`` outside the edge) with the whole error circle outside.  Uncertain fixes change
    nothing and keep the count.
    """
    fence: Fence
    policy: Policy = field(default_factory=Policy)
    state: str = "unknown"
    _outside_run: int = 0

    def band(self) -> float:
        size = self.fence.half_width_m or self.fence.radius_m
        return max(self.policy.exit_margin_m, 0.1 * size)

    def update(self, dec: Decision) -> str | None:
        """Feed one decision; returns ``"enter"``, ``"exit"`` or None."""
        if dec.decision == "inside":
            self._outside_run = 0
            if self.state != "inside":
                self.state = "inside"
                return "enter"
            return None
        if dec.decision == "uncertain":
            return None
        acc = dec.accuracy_m or 0.0
        clear = dec.distance_m < -self.band() and dec.distance_m + acc < 0
        if self.state == "inside":
            if not clear:
                self._outside_run = 0
                return None
            self._outside_run += 1
            if self._outside_run >= self.policy.exit_fixes:
                self.state, self._outside_run = "outside", 0
                return "exit"
            return None
        self.state = "outside"
        return None


# ---------------------------------------------------------------- plausibility
def plausibility(fix: Fix, previous: Fix | None = None, now_ms: int | None = None,
                 policy: Policy = Policy()) -> list[str]:
    """Signals that flag a record for review (never a silent drop).  Both fixes in WGS-84."""
    flags = []
    if fix.mock:
        flags.append("mock_location")
    if now_ms is not None and fix.time_ms is not None:
        if fix.time_ms > now_ms + policy.future_s * 1000:
            flags.append("future_time")
        elif fix.time_ms < now_ms - policy.stale_s * 1000:
            flags.append("stale_time")
    if fix.accuracy_m is not None and fix.accuracy_m > policy.max_accuracy_m:
        flags.append("low_accuracy")
    if previous is not None:
        if (previous.lon, previous.lat) == (fix.lon, fix.lat):
            flags.append("identical_repeat")
        elif previous.time_ms is not None and fix.time_ms is not None:
            dt = (fix.time_ms - previous.time_ms) / 1000
            _, _, dist = _GEOD.inv(previous.lon, previous.lat, fix.lon, fix.lat)
            dist -= (previous.accuracy_m or 0) + (fix.accuracy_m or 0)
            if dist > 0 and (dt <= 0 or dist / dt > policy.max_speed_mps):
                flags.append("implied_speed")
    return flags


def geodesic_m(lon1, lat1, lon2, lat2) -> float:
    return _GEOD.inv(lon1, lat1, lon2, lat2)[2]


# ---------------------------------------------------------------- batches
DECISION_CODES = ("outside", "uncertain", "inside")


def decide_many(fence: Fence, lon, lat, accuracy, policy: Policy = Policy()):
    """Vectorised ``decide`` for arrays of WGS-84 fixes (already validated and converted).

    Returns ``(codes, distances)``: codes index ``DECISION_CODES`` (0 outside, 1 uncertain,
    2 inside); distances signed in metres.  Same rule as ``classify`` (no time windows).
    """
    import numpy as np
    d = fence.signed_distances(lon, lat)
    acc = np.broadcast_to(np.asarray(accuracy, float), d.shape)
    codes = np.ones(d.shape, np.int8)                       # uncertain by default
    ok = acc > 0
    sigma = np.where(ok, acc, 1.0) / 1.51
    # P(inside) >= p  <=>  d / sigma >= z_p  (normal quantiles; no scipy needed)
    z_in, z_out = _z(policy.p_inside), _z(policy.p_outside)
    inside = ok & (d >= 0) & (acc <= policy.max_accuracy_m) & \
        ((acc <= policy.accept_accuracy_m) | (d >= z_in * sigma))
    outside = ok & (d < 0) & ((d + acc < 0) | (d <= z_out * sigma))
    codes[inside] = 2
    codes[outside] = 0
    return codes, d


def _z(p: float) -> float:
    """Standard normal quantile by bisection on erf (called twice per batch)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
