"""Enrolment: several photos of one worker → quality-checked templates (pure over images)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .faces import FaceError, Quality, analyse


@dataclass(frozen=True)
class EnrolResult:
    accepted: list[np.ndarray]
    rejected: list[tuple[str, str, str]]     # (label, reason, message)
    spread: float | None                     # max distance between accepted templates

    @property
    def ok(self) -> bool:
        return bool(self.accepted)


def enrol_images(images: list[tuple[str, bytes | str | Path | np.ndarray]],
                 quality: Quality = Quality.enrolment(), max_spread: float = 0.55,
                 detect_width: int = 640) -> EnrolResult:
    """Templates from ``(label, image)`` pairs. Photos that fail a quality gate are rejected
    with a reason. When the accepted photos disagree (two templates further apart than
    ``max_spread``, i.e. probably not the same person) nothing is accepted."""
    accepted: list[np.ndarray] = []
    rejected: list[tuple[str, str, str]] = []
    for label, img in images:
        try:
            face = analyse(img, quality, detect_width=detect_width)
        except FaceError as exc:
            rejected.append((label, exc.reason, str(exc)))
            continue
        accepted.append(face.encoding)
    spread = None
    if len(accepted) > 1:
        x = np.stack(accepted)
        spread = float(max(np.linalg.norm(x[i] - x[j]) for i in range(len(x)) for j in range(i + 1, len(x))))
        if spread > max_spread:
            return EnrolResult([], rejected + [("*", "inconsistent", f"the photos look like different people "
                                                                    f"(spread {spread:.2f} > {max_spread})")], spread)
    return EnrolResult(accepted, rejected, spread)
