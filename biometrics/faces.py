"""Face analysis: decode an image, find faces, check quality, compute the template.

Which model finds faces and makes templates is the engine's business
(:mod:`biometrics.engines`, ``[faces] model``; MobileFaceNet by default, dlib for comparison).
Detection runs on a downscaled copy (faces at a turnstile or in an enrolment photo are large);
the template is made from the full-resolution frame. Every problem is a :class:`FaceError` with
a short ``reason`` key, never a crash: ``bad_image``, ``no_face``, ``multiple_faces``,
``face_too_small``, ``blurry``, ``too_dark``, ``bad_pose`` (the words shown to people are in
``gateway/clockin/reasons.py``, Chinese and English).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .engines import Engine, Found, get_engine


class FaceError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Quality:
    """Quality gates. Enrolment is strict; a probe at the lane is looser (a retry is cheap)."""
    min_eye_px: float = 28.0       # inter-ocular distance in px (face width ~ 2.5x this)
    min_sharpness: float = 20.0    # variance of the Laplacian on a 128x128 face crop
    max_yaw: float = 0.40          # |nose offset from eye midpoint| / eye distance (MTCNN nose tip: ~0.25 at 15°)
    max_roll_deg: float = 25.0
    min_brightness: float = 35.0   # mean grey level (0-255) of the face box

    @classmethod
    def enrolment(cls) -> "Quality":
        return cls(min_eye_px=32.0, min_sharpness=30.0, max_yaw=0.25, max_roll_deg=15.0, min_brightness=50.0)

    @classmethod
    def probe(cls) -> "Quality":
        return cls()

    @classmethod
    def none(cls) -> "Quality":
        return cls(min_eye_px=0.0, min_sharpness=0.0, max_yaw=9.0, max_roll_deg=180.0, min_brightness=0.0)


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]           # top, right, bottom, left in the given image
    eyes: tuple[tuple[float, float], tuple[float, float]]   # (x, y) of each eye centre, image left first
    nose: tuple[float, float]
    sharpness: float
    encoding: np.ndarray | None = None       # float32 template (model's dimension)
    brightness: float = 128.0
    model: str | None = None                 # engine that made ``encoding``

    @property
    def eye_px(self) -> float:
        (x1, y1), (x2, y2) = self.eyes
        return float(np.hypot(x2 - x1, y2 - y1))

    @property
    def yaw(self) -> float:
        """Signed head-turn proxy: nose offset from the eye midpoint along the eye line, in
        units of the eye distance (0 = frontal, about ±0.3 at 30°)."""
        return yaw_of(self.eyes, self.nose)

    @property
    def roll_deg(self) -> float:
        (x1, y1), (x2, y2) = self.eyes
        return float(np.degrees(np.arctan2(y2 - y1, x2 - x1)))

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


def yaw_of(eyes, nose) -> float:
    (x1, y1), (x2, y2) = eyes
    ex, ey = x2 - x1, y2 - y1
    d2 = ex * ex + ey * ey or 1.0
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    nx, ny = nose
    return float(((nx - mx) * ex + (ny - my) * ey) / d2)


def decode(data: bytes | str | Path | np.ndarray) -> np.ndarray:
    """An RGB uint8 array from image bytes, a path or an array (BGR arrays from OpenCV are
    passed as ``bgr_to_rgb(frame)``). Raises FaceError('bad_image')."""
    import cv2
    if isinstance(data, np.ndarray):
        img = data
    else:
        if isinstance(data, (str, Path)):
            try:
                data = Path(data).read_bytes()
            except OSError as exc:
                raise FaceError("bad_image", f"cannot read image: {exc.strerror}") from exc
        buf = np.frombuffer(data, np.uint8)
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        if bgr is None:
            raise FaceError("bad_image", "not a decodable image (corrupt or unsupported format)")
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or min(img.shape[:2]) < 16:
        raise FaceError("bad_image", f"unusable image array {img.shape} {img.dtype}")
    return np.ascontiguousarray(img)


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[:, :, ::-1])


NEAR = 0.5    # a face counts when at least this fraction of the largest face's height


def present(found: list[Found]) -> list[Found]:
    """The faces that count: the largest and any other at least half its height. A bystander
    far behind (a small face) is not "two people in front of the camera"; the photos' own
    background faces were at most 0.42 of the subject's height, real pairs 0.66 and more."""
    if len(found) < 2:
        return found
    top = max(f.box[2] - f.box[0] for f in found)
    return [f for f in found if f.box[2] - f.box[0] >= NEAR * top]


def find(rgb: np.ndarray, detect_width: int = 320, upsample: int = 1,
         engine: Engine | None = None) -> list[Found]:
    """Faces in ``rgb`` that count (:func:`present`), largest first, found on a copy at most
    ``detect_width`` wide."""
    return present((engine or get_engine()).find(rgb, detect_width, upsample))


def detect(rgb: np.ndarray, detect_width: int = 320, upsample: int = 1,
           engine: Engine | None = None) -> list[tuple[int, int, int, int]]:
    """Face boxes (top, right, bottom, left) in ``rgb`` coordinates."""
    return [f.box for f in find(rgb, detect_width, upsample, engine)]


def crop_stats(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """(sharpness, brightness) of the face box: variance of the Laplacian on a 128×128 grey
    copy, and its mean grey level."""
    import cv2
    top, right, bottom, left = box
    crop = rgb[top:bottom, left:right]
    if crop.size == 0:
        return 0.0, 0.0
    gray = cv2.cvtColor(cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var()), float(gray.mean())


def face_of(rgb: np.ndarray, found: Found) -> Face:
    sharp, bright = crop_stats(rgb, found.box)
    return Face(box=found.box, eyes=found.eyes, nose=found.nose, sharpness=sharp, brightness=bright)


def analyse(image: bytes | str | Path | np.ndarray, quality: Quality = Quality.probe(), *,
            encode: bool = True, detect_width: int = 320, upsample: int = 1,
            jitters: int = 1, engine: Engine | None = None) -> Face:
    """The one face in the image, quality-checked, with its template. Raises FaceError."""
    engine = engine or get_engine()
    rgb = decode(image)
    found = find(rgb, detect_width, upsample, engine)
    if not found and rgb.shape[1] <= detect_width:
        found = find(rgb, detect_width, upsample + 1, engine)   # small crops: look harder
    if not found:
        raise FaceError("no_face", "no face found in the image")
    if len(found) > 1:
        raise FaceError("multiple_faces", f"{len(found)} faces in the image; exactly one is needed")
    face = face_of(rgb, found[0])
    check_quality(face, quality)
    if encode:
        enc = engine.embed([(rgb, found[0])], jitters)[0]
        face = replace(face, encoding=np.asarray(enc, np.float32), model=engine.name)
    return face


def check_quality(face: Face, q: Quality) -> None:
    if face.eye_px < q.min_eye_px:
        raise FaceError("face_too_small", f"face too small: eyes {face.eye_px:.0f} px apart, "
                                          f"need {q.min_eye_px:.0f}")
    if face.brightness < q.min_brightness:
        raise FaceError("too_dark", f"face too dark (brightness {face.brightness:.0f} < {q.min_brightness:.0f}); "
                                    "more light, no backlight")
    if face.sharpness < q.min_sharpness:
        raise FaceError("blurry", f"face too blurry (sharpness {face.sharpness:.0f} < {q.min_sharpness:.0f})")
    if abs(face.yaw) > q.max_yaw or abs(face.roll_deg) > q.max_roll_deg:
        raise FaceError("bad_pose", f"face not frontal (yaw {face.yaw:+.2f}, roll {face.roll_deg:+.0f}°); "
                                    "look straight at the camera")
