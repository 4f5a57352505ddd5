"""1:1 verification and 1:N identification over an in-memory gallery (pure numpy, no I/O).

The gallery holds one row per worker (their enrolment templates fused: the normalised sum for
MobileFaceNet, the mean for dlib) in ONE contiguous float32 N×dim matrix. A search is one
matrix-vector product. Every rule speaks of a *distance* (lower is nearer): ``1 − cosine
similarity`` for MobileFaceNet (``[faces] model = "mobilefacenet"``), Euclidean for dlib.

Defaults per model (``Thresholds.for_model``), chosen across people (thresholds picked on some
East Asian identities and scored on others, BENCHMARKS.md "Faces: MobileFaceNet"), not from a
library README (dlib's 0.6 accepted ~40 % of East Asian impostor pairs):

* 1:1 (card + face): accept when the distance to the claimed worker's template is ≤ ``verify``
  **and** no other enrolled worker is nearer **and** (with at least ``min_cohort`` other
  workers enrolled) the distance stands out from the distances to everyone else: z-score
  ``(d − mean(others)) / std(others) ≤ verify_z``. The site's own roster is the cohort: the
  nearest check removes "buddy with a colleague's card" accepts, the z-score check cuts the
  accepts of people who are not enrolled at all.
* 1:N (face only): take the nearest worker only when its distance is ≤ ``identify`` **and**
  the second-nearest is at least ``margin`` further away; otherwise nobody.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

METRICS = {"mobilefacenet-v2": "cosine", "mobilefacenet": "cosine", "dlib": "euclidean"}


@dataclass(frozen=True)
class Thresholds:
    # field defaults = the default model's (mobilefacenet-v2)
    verify: float = 0.43          # 1:1 max distance (MobileFaceNet: cosine similarity >= 0.57)
    verify_nearest: bool = True   # 1:1 also needs the claimed worker to be the nearest
    verify_z: float | None = -3.0 # 1:1 max z-score against the other enrolled workers
    min_cohort: int = 10          # the z rule applies from this many other workers on
    identify: float = 0.42        # 1:N max distance of the best match
    margin: float = 0.12          # 1:N min (second best − best)

    @classmethod
    def for_model(cls, model: str) -> "Thresholds":
        return DEFAULTS[model]

    def as_dict(self) -> dict:
        return {"verify": self.verify, "verify_nearest": self.verify_nearest, "verify_z": self.verify_z,
                "min_cohort": self.min_cohort, "identify": self.identify, "margin": self.margin}


DEFAULTS = {
    # chosen across people on all 25 East Asian identities (tests/faceset.py ``choose``: verify
    # 0.435, identify 0.422, margin 0.12), each rounded down to 2 decimals (the stricter side)
    "mobilefacenet-v2": Thresholds(verify=0.43, verify_z=-3.0, identify=0.42, margin=0.12),
    # v1 (aligned on the detection's points), as chosen before v2: for sites' existing templates
    "mobilefacenet": Thresholds(verify=0.43, verify_z=-3.0, identify=0.40, margin=0.12),
    # dlib (face_recognition's ResNet), Euclidean: chosen on the shared East Asian photos (issue 4)
    "dlib": Thresholds(verify=0.42, verify_nearest=True, verify_z=-2.5, min_cohort=10, identify=0.40, margin=0.06),
}


@dataclass(frozen=True)
class Match:
    worker_id: str | None
    distance: float | None        # to the chosen / claimed worker
    margin: float | None          # second best − best (None when < 2 workers)
    decision: str                 # "match" | "no_match"
    reason: str                   # ok | not_enrolled | too_far | ambiguous | nearer_other | not_distinct | empty_gallery
    model: str | None = None

    def as_dict(self) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        return {"worker_id": self.worker_id, "distance": r(self.distance), "margin": r(self.margin),
                "decision": self.decision, "reason": self.reason, "model": self.model}


class Gallery:
    """Immutable after construction; rebuild (cheap) when enrolments change. ``model`` names
    the engine whose templates it holds (and so the metric and default thresholds)."""

    def __init__(self, templates: Mapping[str, Iterable[np.ndarray]] | None = None,
                 model: str = "dlib") -> None:
        self.model = model
        self.metric = METRICS[model]
        templates = templates or {}
        self.ids: list[str] = []
        rows = []
        for wid, encs in templates.items():
            encs = [np.asarray(e, np.float32).ravel() for e in encs]
            if encs:
                self.ids.append(wid)
                rows.append(self._fuse(np.stack(encs)))
        dim = rows[0].shape[0] if rows else 0
        self._set(np.stack(rows) if rows else np.zeros((0, dim)))

    def _fuse(self, x: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            s = x.sum(0)
            return s / max(float(np.linalg.norm(s)), 1e-10)
        return x.mean(0)

    def _set(self, matrix: np.ndarray) -> None:
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.sqnorms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self.index = {w: i for i, w in enumerate(self.ids)}

    @classmethod
    def from_matrix(cls, ids: list[str], matrix: np.ndarray, model: str = "dlib") -> "Gallery":
        g = cls(model=model)
        g.ids = list(ids)
        if g.metric == "cosine":
            matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-10)
        g._set(matrix)
        return g

    @property
    def thresholds(self) -> Thresholds:
        return DEFAULTS[self.model]

    def _query(self, probe: np.ndarray) -> np.ndarray:
        q = np.asarray(probe, np.float32).ravel()
        if self.metric == "cosine":
            q = q / max(float(np.linalg.norm(q)), 1e-10)
        return q

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, worker_id: str) -> bool:
        return worker_id in self.index

    def distances(self, probe: np.ndarray) -> np.ndarray:
        """Distance from ``probe`` to every worker (1 − cosine, or Euclidean): one
        matrix-vector product."""
        q = self._query(probe)
        if self.metric == "cosine":
            return 1.0 - self.matrix @ q
        d2 = self.sqnorms - 2.0 * (self.matrix @ q) + float(q @ q)
        return np.sqrt(np.maximum(d2, 0.0))

    def nearest(self, probe: np.ndarray) -> tuple[int, float, float | None]:
        """(index of best, best distance, second − best or None). Ranks by ``|g|² − 2 g·q``
        (the query's own norm does not change the order) with an O(N) partition; square roots
        only for the two winners. Cosine: by ``−g·q``."""
        q = self._query(probe)
        if self.metric == "cosine":
            score = -(self.matrix @ q)
            if len(score) == 1:
                return 0, 1.0 + float(score[0]), None
            two = np.argpartition(score, 1)[:2]
            i, j = (two[0], two[1]) if score[two[0]] <= score[two[1]] else (two[1], two[0])
            return int(i), 1.0 + float(score[i]), float(score[j] - score[i])
        score = self.sqnorms - 2.0 * (self.matrix @ q)
        qq = float(q @ q)
        if len(score) == 1:
            return 0, float(np.sqrt(max(score[0] + qq, 0.0))), None
        two = np.argpartition(score, 1)[:2]
        i, j = (two[0], two[1]) if score[two[0]] <= score[two[1]] else (two[1], two[0])
        di, dj = (float(np.sqrt(max(float(score[k]) + qq, 0.0))) for k in (i, j))
        return int(i), di, dj - di

    # ------------------------------------------------------------------ decisions
    def verify(self, worker_id: str, probe: np.ndarray, t: Thresholds | None = None) -> Match:
        t = t or self.thresholds
        m = self._verify(worker_id, probe, t)
        return Match(m.worker_id, m.distance, m.margin, m.decision, m.reason, self.model)

    def _verify(self, worker_id: str, probe: np.ndarray, t: Thresholds) -> Match:
        if worker_id not in self.index:
            return Match(None, None, None, "no_match", "not_enrolled")
        d = self.distances(probe)
        k = self.index[worker_id]
        dk = float(d[k])
        others = np.delete(d, k)
        margin = float(others.min() - dk) if len(others) else None
        if dk > t.verify:
            return Match(worker_id, dk, margin, "no_match", "too_far")
        if t.verify_nearest and margin is not None and margin < 0:
            return Match(worker_id, dk, margin, "no_match", "nearer_other")
        if t.verify_z is not None and len(others) >= t.min_cohort:
            sd = float(others.std())
            if sd > 0 and (dk - float(others.mean())) / sd > t.verify_z:
                return Match(worker_id, dk, margin, "no_match", "not_distinct")
        return Match(worker_id, dk, margin, "match", "ok")

    def identify(self, probe: np.ndarray, t: Thresholds | None = None) -> Match:
        t = t or self.thresholds
        m = self._identify(probe, t)
        return Match(m.worker_id, m.distance, m.margin, m.decision, m.reason, self.model)

    def _identify(self, probe: np.ndarray, t: Thresholds) -> Match:
        if not self.ids:
            return Match(None, None, None, "no_match", "empty_gallery")
        i, best, margin = self.nearest(probe)
        if best > t.identify:
            return Match(None, best, margin, "no_match", "too_far")
        if margin is not None and margin < t.margin:
            return Match(None, best, margin, "no_match", "ambiguous")
        return Match(self.ids[i], best, margin, "match", "ok")
