"""The selfie check behind phone clock-in: a narrow 1:1 interface over issue 4's biometrics.

``verify_selfie(worker_id, image_bytes) -> (decision, distance_milli, reason)`` with decision
``match`` / ``mismatch`` / ``retry``.  It uses the site's one template store (the same templates
the turnstile lanes use, SM4-sealed), the site's face model (``[faces] model``; a worker still
enrolled with an older model is checked with that one) and ``biometrics.matching.Gallery.verify``:
distance to the claimed worker within ``[faces] verify`` (the model's measured default), the
claimed worker must be the nearest enrolled face, and from 10 other workers on the distance must
stand out from the cohort.  A photo without exactly one usable face is ``retry`` with the reason
(``no_face``, ``multiple_faces``, ``blurry``, ``too_dark``, ``face_too_small``, ``bad_pose``):
the phone page tells the worker what to fix (``gateway/clockin/reasons.py``).  A selfie never
adds a template (no liveness on a phone).
"""
from __future__ import annotations

from typing import Protocol


class SelfieCheck(Protocol):
    def verify_selfie(self, worker_id: str, image_bytes: bytes) -> tuple[str, int, str]: ...


class BiometricsSelfie:
    def __init__(self, faces, thresholds=None) -> None:
        """``faces``: a ``gateway.clockin.faces.FaceService`` (cached galleries over the template store)."""
        self.faces = faces
        self.thresholds = thresholds or faces.thresholds

    def verify_selfie(self, worker_id: str, image_bytes: bytes) -> tuple[str, int, str]:
        from biometrics.faces import FaceError, Quality, analyse
        model = self.faces.legacy_model_of(worker_id) or self.faces.model
        try:
            face = analyse(image_bytes, Quality.probe(), detect_width=480, engine=self.faces.engine(model))
        except FaceError as exc:
            return "retry", -1, exc.reason
        except ValueError:
            return "retry", -1, "no_image"
        t = self.thresholds if model == self.faces.model else self.faces.thresholds_for(model)
        m = self.faces.galleries()[model].verify(worker_id, face.encoding, t)
        if m.reason == "not_enrolled":
            return "mismatch", -1, "not_enrolled"
        milli = int(round(m.distance * 1000))
        if m.decision == "match":
            return "match", milli, "ok"
        return "mismatch", milli, m.reason


def open_selfie_check(cfg) -> BiometricsSelfie:
    """The site's selfie check, from ``[faces]`` (store, model, thresholds) as the lanes use it."""
    from gateway.clockin.faces import face_service
    return BiometricsSelfie(face_service(cfg))
