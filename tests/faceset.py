"""The shared labelled photos (../shared/data/faces) as templates, computed once and cached on
disk keyed by each file's SHA-256 and the analysis settings, so tests and the benchmark do not
re-run face detection on every run."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("SITEGATE_FACES_DATA", "/work/shared/data/faces"))
SETTINGS = {"detect_width": 320, "upsample": 1, "jitters": 1, "v": 1}


@dataclass(frozen=True)
class Photo:
    file: str
    person: str

    @property
    def path(self) -> Path:
        return DATA / self.file

    @property
    def east_asian(self) -> bool:
        return self.person.startswith("CN_")


def manifest(include_multi: bool = False) -> list[Photo]:
    """One row per distinct photo: rows marked ``duplicate_of`` (the same photo at another
    resolution or path) are dropped, so no such pair is ever counted as a genuine pair."""
    out, seen = [], set()
    with open(DATA / "manifest.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("duplicate_of") or row["file"] in seen:
                continue
            if row["person"] == "MULTI_FACE" and not include_multi:
                continue
            seen.add(row["file"])
            out.append(Photo(row["file"], row["person"]))
    return out


def _key(path: Path) -> str:
    h = hashlib.sha256(path.read_bytes())
    h.update(json.dumps(SETTINGS, sort_keys=True).encode())
    return h.hexdigest()


def _encode(path_str: str) -> tuple[list[float] | None, str]:
    from biometrics.faces import FaceError, Quality, analyse
    try:
        face = analyse(path_str, Quality.none(), detect_width=SETTINGS["detect_width"],
                       upsample=SETTINGS["upsample"], jitters=SETTINGS["jitters"])
    except FaceError as exc:
        return None, exc.reason
    return face.encoding.tolist(), "ok"


def encodings(cache_dir: Path, photos: list[Photo] | None = None,
              processes: int = 2) -> dict[str, np.ndarray | str]:
    """file -> float32 template, or the FaceError reason when the photo gave none."""
    photos = manifest() if photos is None else photos
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file = cache_dir / "face_encodings.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    keys = {p.file: _key(p.path) for p in photos}
    todo = [p for p in photos if keys[p.file] not in cache]
    if todo:
        if processes > 1 and len(todo) > 4:
            import multiprocessing as mp
            with mp.get_context("spawn").Pool(processes) as pool:
                results = pool.map(_encode, [str(p.path) for p in todo])
        else:
            results = [_encode(str(p.path)) for p in todo]
        for p, (enc, reason) in zip(todo, results):
            cache[keys[p.file]] = {"enc": enc, "reason": reason}
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache))
        tmp.replace(cache_file)
    out: dict[str, np.ndarray | str] = {}
    for p in photos:
        item = cache[keys[p.file]]
        out[p.file] = np.asarray(item["enc"], np.float32) if item["enc"] is not None else item["reason"]
    return out
