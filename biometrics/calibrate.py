"""Threshold calibration from the site's own enrolments (pure), and its picture.

Genuine pairs: two templates of the same worker. Impostor pairs: templates of different
workers. The recommended 1:1 threshold is the largest distance whose impostor accept rate is
≤ the target FAR; the report says how many pairs back it (a FAR of 1e-3 needs thousands of
impostor pairs before it means anything). Distances are the model's (``1 − cosine`` for
MobileFaceNet, Euclidean for dlib). :func:`plot` draws both distributions with the thresholds
and their expected FAR/FRR as a PNG for the installer.
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
    model: str = "dlib"

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def pair_distances(templates: Mapping[str, list[np.ndarray]], metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    labels, rows = [], []
    for wid, encs in templates.items():
        for e in encs:
            labels.append(wid)
            rows.append(np.asarray(e, np.float64))
    if len(rows) < 2:
        return np.zeros(0), np.zeros(0)
    x = np.stack(rows)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-10)
        d = 1.0 - x @ x.T
    else:
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


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    """(expected FAR, expected FRR) of the pairs at a distance threshold."""
    far = float(np.mean(impostor <= threshold)) if len(impostor) else None
    frr = float(np.mean(genuine > threshold)) if len(genuine) else None
    return far, frr


def calibrate(templates: Mapping[str, list[np.ndarray]], target_far: float = 1e-3,
              model: str = "dlib") -> Calibration:
    from .matching import METRICS
    genuine, impostor = pair_distances(templates, METRICS[model])
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
                       warnings=tuple(warnings), model=model)


def plot(genuine: np.ndarray, impostor: np.ndarray, thresholds: Mapping[str, float], path,
         title: str = "") -> None:
    """A PNG of the genuine and impostor distance distributions with each named threshold as
    a vertical line labelled with its expected FAR and FRR on these pairs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    both = np.concatenate([genuine, impostor]) if len(genuine) + len(impostor) else np.array([0.0, 1.0])
    bins = np.linspace(float(both.min()) - 0.02, float(both.max()) + 0.02, 50).tolist()
    if len(impostor):
        ax.hist(impostor, bins=bins, density=True, alpha=0.55, color="#c62828",
                label=f"impostor pairs (different workers), n={len(impostor)}")
    if len(genuine):
        ax.hist(genuine, bins=bins, density=True, alpha=0.55, color="#2e7d32",
                label=f"genuine pairs (same worker), n={len(genuine)}")
    top = ax.get_ylim()[1]
    for i, (name, t) in enumerate(thresholds.items()):
        far, frr = rates_at(genuine, impostor, t)
        ax.axvline(t, color="#1565c0" if i == 0 else "#6a1b9a", ls="--" if i else "-", lw=1.5)
        txt = f"{name} {t:.3f}\nFAR {'-' if far is None else f'{far:.3%}'}\nFRR {'-' if frr is None else f'{frr:.1%}'}"
        ax.text(t, top * (0.95 - 0.22 * i), " " + txt.replace("\n", "\n "), va="top", fontsize=8)
    ax.set_xlabel("distance (lower = more alike)")
    ax.set_ylabel("density")
    ax.set_title(title or "face calibration on this site's enrolments")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
