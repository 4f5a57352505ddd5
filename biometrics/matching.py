"""1:1 verification and 1:N identification over an in-memory gallery (pure numpy, no I/O).

The gallery holds one row per worker (the mean of their enrolment templates) in ONE
contiguous float32 N×128 matrix with precomputed squared row norms. A search is one
matrix-vector product: ``d² = |g|² − 2 g·q + |q|²``.

Defaults come from measurement on the East Asian photos of the shared set (BENCHMARKS.md),
not from the library README's 0.6 (which accepted ~40 % of East Asian impostor pairs):

* 1:1 (card + face): accept when the distance to the claimed worker's template is ≤ 0.42
  **and** no other enrolled worker is nearer **and** (with at least 10 other workers
  enrolled) the distance stands out from the distances to everyone else: z-score
  ``(d − mean(others)) / std(others) ≤ −2.5``. The site's own roster is the cohort: the
  nearest check removes "buddy with a colleague's card" accepts, the z-score check halves
  to quarters the accepts of people who are not enrolled at all.
* 1:N (face only): take the nearest worker only when its distance is ≤ 0.40 **and** the
  second-nearest is at least 0.06 further away; otherwise nobody.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

DIM = 128


@dataclass(frozen=True)
class Thresholds:
    verify: float = 0.42          # 1:1 max distance
    verify_nearest: bool = True   # 1:1 also needs the claimed worker to be the nearest
    verify_z: float | None = -2.5 # 1:1 max z-score against the other enrolled workers
    min_cohort: int = 10          # the z rule applies from this many other workers on
    identify: float = 0.40        # 1:N max distance of the best match
    margin: float = 0.06          # 1:N min (second best − best)

    def as_dict(self) -> dict:
        return {"verify": self.verify, "verify_nearest": self.verify_nearest, "verify_z": self.verify_z,
                "min_cohort": self.min_cohort, "identify": self.identify, "margin": self.margin}


@dataclass(frozen=True)
class Match:
    worker_id: str | None
    distance: float | None        # to the chosen / claimed worker
    margin: float | None          # second best − best (None when < 2 workers)
    decision: str                 # "match" | "no_match"
    reason: str                   # ok | not_enrolled | too_far | ambiguous | nearer_other | not_distinct | empty_gallery

    def as_dict(self) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        return {"worker_id": self.worker_id, "distance": r(self.distance), "margin": r(self.margin),
                "decision": self.decision, "reason": self.reason}


class Gallery:
    """Immutable after construction; rebuild (cheap) when enrolments change."""

    def __init__(self, templates: Mapping[str, Iterable[np.ndarray]] | None = None) -> None:
        templates = templates or {}
        self.ids: list[str] = []
        rows = []
        for wid, encs in templates.items():
            encs = [np.asarray(e, np.float32).reshape(DIM) for e in encs]
            if encs:
                self.ids.append(wid)
                rows.append(np.mean(encs, axis=0))
        self.matrix = np.ascontiguousarray(np.stack(rows) if rows else np.zeros((0, DIM)),
                                           dtype=np.float32)
        self.sqnorms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self.index = {w: i for i, w in enumerate(self.ids)}

    @classmethod
    def from_matrix(cls, ids: list[str], matrix: np.ndarray) -> "Gallery":
        g = cls()
        g.ids = list(ids)
        g.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        g.sqnorms = np.einsum("ij,ij->i", g.matrix, g.matrix)
        g.index = {w: i for i, w in enumerate(g.ids)}
        return g

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, worker_id: str) -> bool:
        return worker_id in self.index

    def distances(self, probe: np.ndarray) -> np.ndarray:
        """Euclidean distance from ``probe`` to every worker: one matrix-vector product."""
        q = np.asarray(probe, np.float32).reshape(DIM)
        d2 = self.sqnorms - 2.0 * (self.matrix @ q) + float(q @ q)
        return np.sqrt(np.maximum(d2, 0.0))

    def nearest(self, probe: np.ndarray) -> tuple[int, float, float | None]:
        """(index of best, best distance, second − best or None). Ranks by ``|g|² − 2 g·q``
        (the query's own norm does not change the order) with an O(N) partition; square roots
        only for the two winners."""
        q = np.asarray(probe, np.float32).reshape(DIM)
        score = self.sqnorms - 2.0 * (self.matrix @ q)
        qq = float(q @ q)
        if len(score) == 1:
            return 0, float(np.sqrt(max(score[0] + qq, 0.0))), None
        two = np.argpartition(score, 1)[:2]
        i, j = (two[0], two[1]) if score[two[0]] <= score[two[1]] else (two[1], two[0])
        di, dj = (float(np.sqrt(max(float(score[k]) + qq, 0.0))) for k in (i, j))
        return int(i), di, dj - di

    # ------------------------------------------------------------------ decisions
    def verify(self, worker_id: str, probe: np.ndarray, t: Thresholds = Thresholds()) -> Match:
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

    def identify(self, probe: np.ndarray, t: Thresholds = Thresholds()) -> Match:
        if not self.ids:
            return Match(None, None, None, "no_match", "empty_gallery")
        i, best, margin = self.nearest(probe)
        if best > t.identify:
            return Match(None, best, margin, "no_match", "too_far")
        if margin is not None and margin < t.margin:
            return Match(None, best, margin, "no_match", "ambiguous")
        return Match(self.ids[i], best, margin, "match", "ok")
