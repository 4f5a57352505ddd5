"""The selfie check behind phone clock-in: a narrow 1:1 interface over issue 4's biometrics.

``verify_selfie(worker_id, image_bytes) -> (decision, distance_milli, reason)`` with decision
``match`` / ``mismatch`` / ``retry``.  It uses the site's one template store (the same templates
the turnstile lanes use, SM4-sealed) and ``biometrics.matching.Gallery.verify``: distance to the
claimed worker <= ``[faces] verify`` (0.42; face_recognition's own 0.6 accepts ~40 % of East
Asian impostor pairs), the claimed worker must be the nearest enrolled face, and from 10 other
workers on the distance must stand out from the cohort.  A photo without exactly one usable
face (none, several, blurred, turned away) is ``retry``: the worker takes another selfie.
"""
from __future__ import annotations

from typing import Protocol


class SelfieCheck(Protocol):
    def verify_selfie(self, worker_id: str, image_bytes: bytes) -> tuple[str, int, str]: ...


class BiometricsSelfie:
    def __init__(self, faces, thresholds=None) -> None:
        """``faces``: a ``gateway.clockin.faces.FaceService`` (cached gallery over the template store)."""
        from biometrics.matching import Thresholds
        self.faces = faces
        self.thresholds = thresholds or faces.thresholds or Thresholds()

    def verify_selfie(self, worker_id: str, image_bytes: bytes) -> tuple[str, int, str]:
        from biometrics.faces import FaceError, Quality, analyse
        try:
            face = analyse(image_bytes, Quality.probe(), detect_width=480)
        except FaceError as exc:
            return "retry", -1, exc.reason
        except ValueError:
            return "retry", -1, "no_image"
        m = self.faces.gallery().verify(worker_id, face.encoding, self.thresholds)
        if m.reason == "not_enrolled":
            return "mismatch", -1, "not_enrolled"
        milli = int(round(m.distance * 1000))
        if m.decision == "match":
            return "match", milli, "ok"
        return "mismatch", milli, m.reason


def open_selfie_check(cfg) -> BiometricsSelfie:
    """The site's selfie check, from ``[faces]`` (store, thresholds) as the lanes use it."""
    from gateway.clockin.faces import FaceService
    from gateway.site import open_templates, thresholds
    return BiometricsSelfie(FaceService(open_templates(cfg), thresholds(cfg)))
