"""The selfie check behind phone clock-in: a narrow 1:1 interface, one implementation.

``verify_selfie(worker_id, image_bytes) -> (decision, distance_milli, reason)`` with decision
``match`` / ``mismatch`` / ``retry``.  Issue 4's ``biometrics`` package was not committed when
this was written, so the implementation sits directly on face_recognition (dlib ResNet, 128-d)
with a conservative tolerance: 0.45, not the library's 0.6, which accepts 39 % of East Asian
impostor pairs (reference faces.md: 0.45 -> 0.63 % FAR, ~20 % FRR on East Asian faces; a
rejected genuine worker retakes the selfie).  Swap in ``biometrics`` by implementing the same
protocol.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

DEFAULT_TOLERANCE = 0.45
MAX_SIDE = 800


class SelfieCheck(Protocol):
    def verify_selfie(self, worker_id: str, image_bytes: bytes) -> tuple[str, int, str]: ...


def _rgb(image_bytes: bytes) -> np.ndarray | None:
    import cv2
    arr = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        return None
    h, w = arr.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale < 1:
        arr = cv2.resize(arr, (int(w * scale), int(h * scale)))
    return np.ascontiguousarray(arr[:, :, ::-1])


def encode_face(image_bytes: bytes) -> tuple[np.ndarray | None, str]:
    """(128-d template, "ok") or (None, reason) with reason no_image / no_face / several_faces."""
    import face_recognition
    rgb = _rgb(image_bytes)
    if rgb is None:
        return None, "no_image"
    boxes = face_recognition.face_locations(rgb, number_of_times_to_upsample=1)
    if not boxes:
        return None, "no_face"
    if len(boxes) > 1:
        return None, "several_faces"
    return face_recognition.face_encodings(rgb, boxes)[0], "ok"


class FaceRecognitionSelfie:
    def __init__(self, templates: Callable[[str], np.ndarray | None],
                 tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.templates = templates
        self.tolerance = tolerance

    def verify_selfie(self, worker_id: str, image_bytes: bytes) -> tuple[str, int, str]:
        ref = self.templates(worker_id)
        if ref is None:
            return "mismatch", -1, "not_enrolled"
        enc, why = encode_face(image_bytes)
        if enc is None:
            return "retry", -1, why
        dist = float(np.linalg.norm(enc - ref))
        milli = int(round(dist * 1000))
        if dist <= self.tolerance:
            return "match", milli, "ok"
        return "mismatch", milli, "face_mismatch"
