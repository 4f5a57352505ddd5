"""Electronic fences for linear construction sites (imports nothing else of sitegate).

Datums (``datum``), coordinate sanity (``coords``), fences in a per-fence metric CRS
(``fence``), GeoJSON/KML (``io``) and decisions with accuracy, hysteresis and plausibility
(``decide``).
"""
from .coords import CoordinateError, check_lonlat
from .datum import DATUMS, DatumError, convert
from .decide import (Decision, Fix, Policy, Tracker, classify, decide, decide_any, decide_many,
                     plausibility)
from .fence import Fence, FenceError, TimeWindow, build, circle, corridor, polygon
from .io import from_geojson, from_kml, load

__all__ = ["CoordinateError", "check_lonlat", "DATUMS", "DatumError", "convert", "Decision",
           "Fix", "Policy", "Tracker", "classify", "decide", "decide_any", "decide_many", "plausibility",
           "Fence", "FenceError", "TimeWindow", "build", "circle", "corridor", "polygon",
           "from_geojson", "from_kml", "load"]
