"""A short frame sequence at the lane → one probe template plus a liveness verdict.

Every frame gets a (cheap) detection on a reduced copy; frames with exactly one face give a
yaw for the head-turn check. The best few frames (frontal, sharp, large: :func:`frame_score`)
are embedded in ONE engine call and fused into one template (the liveness capture already
took them, so this costs no extra waiting). Each step's time is returned for the lane's debug
log.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from .engines import Engine, Found, fuse as fuse_templates, get_engine
from .faces import Face, FaceError, Quality, check_quality, decode, face_of, find
from .liveness import Liveness, LivenessPolicy, Observation, assess, signature


@dataclass(frozen=True)
class SequenceResult:
    face_error: str | None
    message: str
    liveness: Liveness | None
    encoding: np.ndarray | None
    frames: int
    fused: int = 0                      # frames fused into ``encoding``
    model: str | None = None
    timings_ms: dict = field(default_factory=dict)
    chosen: tuple[int, ...] = ()        # indices of the frames fused, best first


def frame_score(face: Face) -> float:
    """Higher is a better frame to embed: frontal (yaw proxy near 0), sharp, large."""
    frontal = max(0.0, 1.0 - abs(face.yaw) / 0.3)
    sharp = min(face.sharpness, 200.0) / 200.0
    size = min(face.eye_px, 80.0) / 80.0
    return frontal * 2.0 + sharp + size


def analyse_sequence(frames: list[np.ndarray], *, liveness: LivenessPolicy | None = LivenessPolicy(),
                     quality: Quality = Quality.probe(), detect_width: int = 320,
                     upsample: int = 0, fuse: int | None = None, engine: Engine | None = None) -> SequenceResult:
    """``frames`` are RGB uint8 arrays (convert OpenCV BGR with ``biometrics.faces.bgr_to_rgb``).
    Detection runs on a copy ``detect_width`` wide (faces of ~40 px and up at that width, i.e.
    ~80 px in a 640×480 frame: a worker at the turnstile), and retries looking for smaller
    faces only when that finds nothing. ``fuse`` frames (default: the engine's, 3 for
    MobileFaceNet, 1 for dlib) are embedded in one call and fused."""
    import cv2
    engine = engine or get_engine()
    fuse = engine.fuse if fuse is None else max(1, fuse)
    timings = {"detect": 0.0, "embed": 0.0}
    n = len(frames)
    if not frames:
        return SequenceResult("no_frames", "the camera gave no frames", None, None, 0, model=engine.name)
    obs: list[Observation] = []
    singles: list[tuple[Face, Found, np.ndarray, int]] = []
    multi = 0
    t0 = time.perf_counter()
    for index, frame in enumerate(frames):
        try:
            rgb = decode(frame)
        except FaceError as exc:
            return SequenceResult(exc.reason, str(exc), None, None, n, model=engine.name)
        found = find(rgb, detect_width, upsample, engine)
        if not found:
            found = find(rgb, detect_width, upsample + 1, engine)    # small face: look harder
        yaw = None
        if len(found) == 1:
            face = face_of(rgb, found[0])
            yaw = face.yaw
            singles.append((face, found[0], rgb, index))
        elif len(found) > 1:
            multi += 1
        obs.append(Observation(signature(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)), yaw))
    timings["detect"] = (time.perf_counter() - t0) * 1e3
    timings["frames"] = n
    done = lambda err, msg, live=None: SequenceResult(err, msg, live, None, n, model=engine.name,  # noqa: E731
                                                      timings_ms=timings)
    if multi * 2 >= n:
        return done("multiple_faces", "more than one face in front of the camera")
    if not singles:
        return done("no_face", "no face found in the frames")
    live = assess(obs, liveness) if liveness is not None else None
    # pose is judged by liveness; a probe frame only needs size, light and sharpness
    gate = replace(quality, max_yaw=9.0, max_roll_deg=180.0)
    usable: list[tuple[Face, Found, np.ndarray, int]] = []
    first_error: FaceError | None = None
    for single in sorted(singles, key=lambda s: -frame_score(s[0])):
        try:
            check_quality(single[0], gate)
        except FaceError as exc:
            first_error = first_error or exc
            continue
        usable.append(single)
    if not usable:
        assert first_error is not None          # singles is not empty: each one failed the gate
        return done(first_error.reason, str(first_error), live)
    chosen = usable[:fuse]
    t1 = time.perf_counter()
    encs = engine.embed([(rgb, found) for _, found, rgb, _ in chosen])
    timings["embed"] = (time.perf_counter() - t1) * 1e3
    enc = fuse_templates(encs, engine.metric)
    return SequenceResult(None, "ok", live, enc, n, fused=len(chosen), model=engine.name, timings_ms=timings,
                          chosen=tuple(c[3] for c in chosen))


__all__ = ["SequenceResult", "analyse_sequence", "frame_score"]
