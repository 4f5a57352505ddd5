"""A short frame sequence at the lane → one probe template plus a liveness verdict.

Every frame gets a (cheap) detection; frames with exactly one face give a yaw for the
head-turn check; the most frontal one is encoded (the expensive step, once per attempt).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .faces import Face, FaceError, Quality, analyse, decode, detect, _landmarks, _sharpness
from .liveness import Liveness, LivenessPolicy, Observation, assess, signature


@dataclass(frozen=True)
class SequenceResult:
    face_error: str | None
    message: str
    liveness: Liveness | None
    encoding: np.ndarray | None
    frames: int


def analyse_sequence(frames: list[np.ndarray], *, liveness: LivenessPolicy | None = LivenessPolicy(),
                     quality: Quality = Quality.probe(), detect_width: int = 320,
                     upsample: int = 0) -> SequenceResult:
    """``frames`` are RGB uint8 arrays (convert OpenCV BGR with ``biometrics.faces.bgr_to_rgb``).
    Detection runs on a copy ``detect_width`` wide without upsampling (faces of ~80 px and up
    at that width, i.e. ~160 px in a 640×480 frame: a worker at the turnstile), and retries
    with one upsample only when that finds nothing."""
    import cv2
    if not frames:
        return SequenceResult("no_frames", "the camera gave no frames", None, None, 0)
    obs: list[Observation] = []
    singles: list[tuple[Face, np.ndarray]] = []
    multi = 0
    for frame in frames:
        try:
            rgb = decode(frame)
        except FaceError as exc:
            return SequenceResult(exc.reason, str(exc), None, None, len(frames))
        boxes = detect(rgb, detect_width, upsample)
        if not boxes and upsample == 0:
            boxes = detect(rgb, detect_width, 1)    # small face: look harder before giving up
        yaw = None
        if len(boxes) == 1:
            eyes, nose = _landmarks(rgb, boxes[0])
            face = Face(box=boxes[0], eyes=eyes, nose=nose, sharpness=0.0)
            yaw = face.yaw
            singles.append((face, rgb))
        elif len(boxes) > 1:
            multi += 1
        obs.append(Observation(signature(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)), yaw))
    if multi * 2 >= len(frames):
        return SequenceResult("multiple_faces", "more than one face in front of the camera", None, None, len(frames))
    if not singles:
        return SequenceResult("no_face", "no face found in the frames", None, None, len(frames))
    live = assess(obs, liveness) if liveness is not None else None
    face, rgb = min(singles, key=lambda fr: abs(fr[0].yaw))
    face = Face(box=face.box, eyes=face.eyes, nose=face.nose, sharpness=_sharpness(rgb, face.box))
    try:
        # pose is judged by liveness; the probe only needs size and sharpness
        from .faces import check_quality
        check_quality(face, Quality(quality.min_eye_px, quality.min_sharpness, 9.0, 180.0))
    except FaceError as exc:
        return SequenceResult(exc.reason, str(exc), live, None, len(frames))
    import face_recognition
    enc = face_recognition.face_encodings(rgb, [face.box], num_jitters=1, model="small")[0]
    return SequenceResult(None, "ok", live, np.asarray(enc, np.float32), len(frames))


__all__ = ["SequenceResult", "analyse_sequence", "analyse"]
