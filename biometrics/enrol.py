"""Enrolment: several photos of one worker → quality-checked templates (pure over images).

A photo is refused with a reason the enrolling person can act on: ``bad_pose`` (not
frontal), ``blurry``, ``too_dark``, ``multiple_faces`` (two faces), ``face_too_small``,
``no_face``, ``bad_image``; the words, Chinese and English, are in
``gateway/clockin/reasons.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engines import Engine, get_engine
from .faces import FaceError, Quality, analyse

# the same person's photos are never further apart than this (distances of the model's metric;
# shared photos, genuine pairs: dlib p99 ~0.55; MobileFaceNet p99 0.53, impostor median 0.85)
MAX_SPREAD = {"dlib": 0.55, "mobilefacenet": 0.70, "mobilefacenet-v2": 0.70}


@dataclass(frozen=True)
class EnrolResult:
    accepted: list[np.ndarray]
    rejected: list[tuple[str, str, str]]     # (label, reason, message)
    spread: float | None                     # max distance between accepted templates
    model: str = "mobilefacenet"

    @property
    def ok(self) -> bool:
        return bool(self.accepted)


def _distance(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    if metric == "cosine":
        return 1.0 - float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-10))
    return float(np.linalg.norm(a - b))


def enrol_images(images: list[tuple[str, bytes | str | Path | np.ndarray]],
                 quality: Quality = Quality.enrolment(), max_spread: float | None = None,
                 detect_width: int = 640, engine: Engine | None = None) -> EnrolResult:
    """Templates from ``(label, image)`` pairs. Photos that fail a quality gate are rejected
    with a reason. When the accepted photos disagree (two templates further apart than
    ``max_spread``, i.e. probably not the same person) nothing is accepted."""
    engine = engine or get_engine()
    max_spread = MAX_SPREAD[engine.name] if max_spread is None else max_spread
    accepted: list[np.ndarray] = []
    rejected: list[tuple[str, str, str]] = []
    for label, img in images:
        try:
            face = analyse(img, quality, detect_width=detect_width, engine=engine)
        except FaceError as exc:
            rejected.append((label, exc.reason, str(exc)))
            continue
        assert face.encoding is not None        # analyse encodes unless told not to
        accepted.append(face.encoding)
    spread = None
    if len(accepted) > 1:
        spread = max(_distance(accepted[i], accepted[j], engine.metric)
                     for i in range(len(accepted)) for j in range(i + 1, len(accepted)))
        if spread > max_spread:
            return EnrolResult([], rejected + [("*", "inconsistent", f"the photos look like different people "
                                                                    f"(spread {spread:.2f} > {max_spread})")],
                               spread, engine.name)
    return EnrolResult(accepted, rejected, spread, engine.name)
