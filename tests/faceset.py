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


# ---------------------------------------------------------------------- evaluation protocol
def evaluate(photos: list[Photo], encs: dict, thresholds=None, rounds: int = 10, k: int = 2,
             seed: int = 0) -> dict:
    """Accuracy of the product's decision rules (biometrics.matching) on ``photos``.

    Each round enrols ``k`` photos per identity (seeded random split; identities with fewer
    photos enrol all but one) and probes with the rest:

    * 1:1 genuine: a probe claims its own identity (gallery = everyone enrolled, the site's
      cohort) → FRR.
    * 1:1 impostor, enrolled colleague: a probe claims every other enrolled identity.
    * 1:1 impostor, not enrolled: each identity is left out of the gallery in turn and all its
      photos claim every enrolled identity.
    * 1:N open set: the left-out identity's photos are identified → any answer is wrong.
    * 1:N closed set: enrolled identities' probes → correct / wrong / nobody.
    """
    import random

    from biometrics.matching import Gallery, Thresholds
    t = thresholds or Thresholds()
    by: dict[str, list[np.ndarray]] = {}
    for p in photos:
        e = encs[p.file]
        if not isinstance(e, str):
            by.setdefault(p.person, []).append(e)
    people = sorted(by)
    c = dict(genuine=0, false_reject=0, imp_enrolled=0, fa_enrolled=0, imp_unenrolled=0, fa_unenrolled=0,
             open_probes=0, open_wrong=0, closed_probes=0, closed_correct=0, closed_wrong=0)
    rng = random.Random(seed)
    for _ in range(rounds):
        enrol, probes = {}, {}
        for q in people:
            items = list(range(len(by[q])))
            rng.shuffle(items)
            n = min(k, len(items) - 1)
            if n >= 1:
                enrol[q] = [by[q][i] for i in items[:n]]
                probes[q] = [by[q][i] for i in items[n:]]
        full = Gallery(enrol)
        for q, ps in probes.items():
            for pr in ps:
                c["genuine"] += 1
                c["false_reject"] += full.verify(q, pr, t).decision != "match"
                for other in enrol:
                    if other != q:
                        c["imp_enrolled"] += 1
                        c["fa_enrolled"] += full.verify(other, pr, t).decision == "match"
                m = full.identify(pr, t)
                c["closed_probes"] += 1
                c["closed_correct"] += m.worker_id == q
                c["closed_wrong"] += m.worker_id not in (None, q)
        for q in people:
            g = Gallery({w: v for w, v in enrol.items() if w != q})
            for pr in by[q]:
                c["open_probes"] += 1
                c["open_wrong"] += g.identify(pr, t).worker_id is not None
                for other in g.ids:
                    c["imp_unenrolled"] += 1
                    c["fa_unenrolled"] += g.verify(other, pr, t).decision == "match"
    rate = lambda a, b: a / b if b else 0.0  # noqa: E731
    imp = c["imp_enrolled"] + c["imp_unenrolled"]
    fa = c["fa_enrolled"] + c["fa_unenrolled"]
    return c | {"identities": len(people), "photos": sum(len(v) for v in by.values()), "rounds": rounds,
                "frr": rate(c["false_reject"], c["genuine"]), "far": rate(fa, imp),
                "far_enrolled": rate(c["fa_enrolled"], c["imp_enrolled"]),
                "far_unenrolled": rate(c["fa_unenrolled"], c["imp_unenrolled"]),
                "open_wrong_rate": rate(c["open_wrong"], c["open_probes"]),
                "closed_correct_rate": rate(c["closed_correct"], c["closed_probes"]),
                "closed_wrong_rate": rate(c["closed_wrong"], c["closed_probes"])}
