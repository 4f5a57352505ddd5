"""Reading fences from GeoJSON (datum declared in ``properties.crs``) and KML."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from .fence import Fence, FenceError, build

_KML = "{http://www.opengis.net/kml/2.2}"


def load(path: str | Path, crs: str | None = None) -> list[Fence]:
    """All fences in a ``.geojson``/``.json`` or ``.kml`` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FenceError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FenceError(f"{path}: unreadable: {exc}") from None
    if path.suffix.lower() == ".kml" or text.lstrip().startswith("<"):
        fences = from_kml(text, crs=crs, default_id=path.stem)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FenceError(f"{path}: not JSON: {exc}") from None
        fences = from_geojson(data, crs=crs, default_id=path.stem)
    if not fences:
        raise FenceError(f"{path}: no fence in the file")
    return fences


def from_geojson(data: dict, crs: str | None = None, default_id: str = "fence") -> list[Fence]:
    if not isinstance(data, dict) or "type" not in data:
        raise FenceError("not a GeoJSON object")
    if data["type"] == "FeatureCollection":
        feats = data.get("features") or []
        if not feats:
            raise FenceError("FeatureCollection has no features (empty geometry)")
        many = len(feats) > 1
        return [_feature(f, crs, f"{default_id}-{i + 1}" if many else default_id,
                         data.get("properties"))
                for i, f in enumerate(feats)]
    if data["type"] == "Feature":
        return [_feature(data, crs, default_id, None)]
    raise FenceError(f"GeoJSON {data['type']}: give a Feature or FeatureCollection whose "
                     f"properties declare crs and sizes")


def _feature(feat: dict, crs, default_id: str, collection_props: dict | None) -> Fence:
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise FenceError(f"{default_id}: not a GeoJSON Feature")
    props = dict(collection_props or {})
    props.update(feat.get("properties") or {})
    return build(feat.get("geometry"), props, default_id=default_id, crs=crs)


def from_kml(text: str, crs: str | None = None, default_id: str = "fence") -> list[Fence]:
    """Placemarks with Polygon, LineString or Point; sizes and crs from ExtendedData.

    KML is WGS-84 by definition, but files exported from Chinese map apps are often GCJ-02,
    so the datum must still be declared (``<Data name="crs">`` or the ``crs`` argument).
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FenceError(f"not valid KML: {exc}") from None
    marks = list(root.iter(f"{_KML}Placemark")) or list(root.iter("Placemark"))
    out = []
    for i, pm in enumerate(marks):
        ns = _KML if pm.tag.startswith(_KML) else ""
        props: dict[str, str | float] = {}
        name = pm.find(f"{ns}name")
        if name is not None and name.text:
            props["name"] = name.text.strip()
        for data in pm.iter(f"{ns}Data"):
            key, value = data.get("name"), data.find(f"{ns}value")
            if not key or value is None or value.text is None:
                continue
            text = value.text.strip()
            if key in ("half_width_m", "radius_m"):
                try:
                    props[key] = float(text)
                except ValueError:
                    raise FenceError(f"KML placemark {i + 1}: {key} must be a number") from None
            else:
                props[key] = text
        geom = None
        for tag, gtype in (("Polygon", "Polygon"), ("LineString", "LineString"),
                           ("Point", "Point")):
            el = pm.find(f".//{ns}{tag}")
            if el is None:
                continue
            if tag == "Polygon":
                ring = el.find(f".//{ns}outerBoundaryIs//{ns}coordinates")
                geom = {"type": gtype, "coordinates": [_kml_coords(ring, i)]}
            else:
                pts = _kml_coords(el.find(f"{ns}coordinates"), i)
                geom = {"type": gtype, "coordinates": pts[0] if tag == "Point" and pts else pts}
            break
        fid = str(props.get("id") or props.get("name") or (
            f"{default_id}-{i + 1}" if len(marks) > 1 else default_id))
        out.append(build(geom, props, default_id=fid, crs=crs))
    return out


def _kml_coords(el, i: int) -> list:
    if el is None or not (el.text or "").strip():
        return []
    pts = []
    for tok in el.text.split():
        parts = tok.split(",")
        try:
            pts.append([float(parts[0]), float(parts[1])])
        except (ValueError, IndexError):
            raise FenceError(f"KML placemark {i + 1}: bad coordinate {tok!r}") from None
    return pts
