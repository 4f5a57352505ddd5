"""Threshold calibration from the site's own enrolments (pure).

Genuine pairs: two templates of the same worker. Impostor pairs: templates of different
workers. The recommended 1:1 threshold is the largest distance whose impostor accept rate is
≤ the target FAR; the report says how many pairs back it (a FAR of 1e-3 needs thousands of
impostor pairs before it means anything).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class Calibration:
    workers: int
    genuine_pairs: int
    impostor_pairs: int
    target_far: float
    threshold: float | None       # measured threshold for the target FAR
    recommended: float | None     # None when there is too little data to move off the defaults
    far: float | None
    frr: float | None
    eer: float | None
    eer_threshold: float | None
    genuine_median: float | None
    impostor_median: float | None
    impostor_p001: float | None   # 0.1 % quantile of impostor distances
    warnings: tuple[str, ...]

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def pair_distances(templates: Mapping[str, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    labels, rows = [], []
    for wid, encs in templates.items():
        for e in encs:
            labels.append(wid)
            rows.append(np.asarray(e, np.float64))
    if len(rows) < 2:
        return np.zeros(0), np.zeros(0)
    x = np.stack(rows)
    sq = np.einsum("ij,ij->i", x, x)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0))
    lab = np.array(labels)
    iu = np.triu_indices(len(rows), 1)
    same = lab[iu[0]] == lab[iu[1]]
    return d[iu][same], d[iu][~same]


def recommend(genuine: np.ndarray, impostor: np.ndarray, target_far: float = 1e-3) -> tuple[float | None, float | None, float | None]:
    """(threshold, far, frr): the largest threshold with impostor accept rate ≤ target."""
    if len(impostor) == 0:
        return None, None, None
    imp = np.sort(impostor)
    k = int(np.floor(target_far * len(imp)))          # impostor pairs we may accept
    t = float(imp[k]) - 1e-6 if k < len(imp) else float(imp[-1])
    far = float(np.mean(impostor <= t))
    frr = float(np.mean(genuine > t)) if len(genuine) else None
    return round(t, 4), far, frr


def equal_error(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float | None, float | None]:
    if not len(genuine) or not len(impostor):
        return None, None
    grid = np.unique(np.concatenate([genuine, impostor]))
    far = np.searchsorted(np.sort(impostor), grid, side="right") / len(impostor)
    frr = 1 - np.searchsorted(np.sort(genuine), grid, side="right") / len(genuine)
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2), float(grid[i])


def calibrate(templates: Mapping[str, list[np.ndarray]], target_far: float = 1e-3) -> Calibration:
    genuine, impostor = pair_distances(templates)
    warnings = []
    if len(genuine) < 30:
        warnings.append(f"only {len(genuine)} genuine pairs: enrol 2-3 photos per worker for more")
    if len(impostor) < 3 / target_far:
        warnings.append(f"only {len(impostor)} impostor pairs: a FAR of {target_far:g} needs at least "
                        f"{int(3 / target_far)} to be measurable; keep the defaults until more workers are enrolled")
    t, far, frr = recommend(genuine, impostor, target_far)
    eer, eer_t = equal_error(genuine, impostor)
    enough = len(impostor) >= 3 / target_far and len(genuine) >= 30
    med = lambda a: float(np.median(a)) if len(a) else None  # noqa: E731
    return Calibration(workers=len(templates), genuine_pairs=len(genuine), impostor_pairs=len(impostor),
                       target_far=target_far, threshold=t,
                       recommended=t if enough else None, far=far, frr=frr, eer=eer,
                       eer_threshold=eer_t, genuine_median=med(genuine), impostor_median=med(impostor),
                       impostor_p001=float(np.quantile(impostor, 0.001)) if len(impostor) else None,
                       warnings=tuple(warnings))
