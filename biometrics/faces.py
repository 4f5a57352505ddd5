"""Face analysis: decode an image, find faces, check quality, compute the 128-d template.

The only module that touches dlib (through face_recognition). Detection runs on a downscaled
copy (HOG on ~320 px wide with one upsample costs ~18 ms instead of ~70 ms at 640x480); the
encoding runs on the full-resolution crop. Every problem is a :class:`FaceError` with a short
``reason`` key, never a crash: ``bad_image``, ``no_face``, ``multiple_faces``,
``face_too_small``, ``blurry``, ``bad_pose``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIM = 128


class FaceError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Quality:
    """Quality gates. Enrolment is strict; a probe at the lane is looser (a retry is cheap)."""
    min_eye_px: float = 28.0       # inter-ocular distance in px (face width ~ 2.5x this)
    min_sharpness: float = 20.0    # variance of the Laplacian on a 128x128 face crop
    max_yaw: float = 0.30          # |nose offset from eye midpoint| / eye distance
    max_roll_deg: float = 25.0

    @classmethod
    def enrolment(cls) -> "Quality":
        return cls(min_eye_px=32.0, min_sharpness=30.0, max_yaw=0.20, max_roll_deg=15.0)

    @classmethod
    def probe(cls) -> "Quality":
        return cls()

    @classmethod
    def none(cls) -> "Quality":
        return cls(min_eye_px=0.0, min_sharpness=0.0, max_yaw=9.0, max_roll_deg=180.0)


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]           # top, right, bottom, left in the given image
    eyes: tuple[tuple[float, float], tuple[float, float]]   # (x, y) of each eye centre, image left first
    nose: tuple[float, float]
    sharpness: float
    encoding: np.ndarray | None = None       # float32 (128,)

    @property
    def eye_px(self) -> float:
        (x1, y1), (x2, y2) = self.eyes
        return float(np.hypot(x2 - x1, y2 - y1))

    @property
    def yaw(self) -> float:
        """Signed head-turn proxy: nose offset from the eye midpoint along the eye line, in
        units of the eye distance (0 = frontal, about ±0.3 at 30°)."""
        (x1, y1), (x2, y2) = self.eyes
        ex, ey = x2 - x1, y2 - y1
        d2 = ex * ex + ey * ey or 1.0
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        nx, ny = self.nose
        return float(((nx - mx) * ex + (ny - my) * ey) / d2)

    @property
    def roll_deg(self) -> float:
        (x1, y1), (x2, y2) = self.eyes
        return float(np.degrees(np.arctan2(y2 - y1, x2 - x1)))


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


def detect(rgb: np.ndarray, detect_width: int = 320, upsample: int = 1) -> list[tuple[int, int, int, int]]:
    """Face boxes (top, right, bottom, left) in ``rgb`` coordinates; HOG on a copy at most
    ``detect_width`` wide."""
    import cv2
    import face_recognition
    h, w = rgb.shape[:2]
    scale = min(1.0, detect_width / w)
    small = rgb if scale == 1.0 else np.ascontiguousarray(
        cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA))
    boxes = face_recognition.face_locations(small, number_of_times_to_upsample=upsample, model="hog")
    out = []
    for t, r, b, l in boxes:
        out.append((max(0, round(t / scale)), min(w, round(r / scale)),
                    min(h, round(b / scale)), max(0, round(l / scale))))
    return out


def _sharpness(rgb: np.ndarray, box: tuple[int, int, int, int]) -> float:
    import cv2
    t, r, b, l = box
    crop = rgb[t:b, l:r]
    if crop.size == 0:
        return 0.0
    gray = cv2.cvtColor(cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def _landmarks(rgb: np.ndarray, box) -> tuple[tuple, tuple]:
    import face_recognition
    marks = face_recognition.face_landmarks(rgb, [box], model="small")[0]
    e1 = tuple(np.mean(marks["left_eye"], axis=0))
    e2 = tuple(np.mean(marks["right_eye"], axis=0))
    eyes = (e1, e2) if e1[0] <= e2[0] else (e2, e1)
    return eyes, tuple(map(float, marks["nose_tip"][0]))


def analyse(image: bytes | str | Path | np.ndarray, quality: Quality = Quality.probe(), *,
            encode: bool = True, detect_width: int = 320, upsample: int = 1,
            jitters: int = 1) -> Face:
    """The one face in the image, quality-checked, with its template. Raises FaceError."""
    import face_recognition
    rgb = decode(image)
    boxes = detect(rgb, detect_width, upsample)
    if not boxes and rgb.shape[1] <= detect_width:
        boxes = detect(rgb, detect_width, upsample + 1)   # small crops: look harder
    if not boxes:
        raise FaceError("no_face", "no face found in the image")
    if len(boxes) > 1:
        raise FaceError("multiple_faces", f"{len(boxes)} faces in the image; exactly one is needed")
    box = boxes[0]
    eyes, nose = _landmarks(rgb, box)
    face = Face(box=box, eyes=eyes, nose=nose, sharpness=_sharpness(rgb, box))
    check_quality(face, quality)
    if encode:
        enc = face_recognition.face_encodings(rgb, [box], num_jitters=jitters, model="small")[0]
        face = Face(box=face.box, eyes=face.eyes, nose=face.nose, sharpness=face.sharpness,
                    encoding=np.asarray(enc, dtype=np.float32))
    return face


def check_quality(face: Face, q: Quality) -> None:
    if face.eye_px < q.min_eye_px:
        raise FaceError("face_too_small", f"face too small: eyes {face.eye_px:.0f} px apart, "
                                          f"need {q.min_eye_px:.0f}")
    if face.sharpness < q.min_sharpness:
        raise FaceError("blurry", f"face too blurry (sharpness {face.sharpness:.0f} < {q.min_sharpness:.0f})")
    if abs(face.yaw) > q.max_yaw or abs(face.roll_deg) > q.max_roll_deg:
        raise FaceError("bad_pose", f"face not frontal (yaw {face.yaw:+.2f}, roll {face.roll_deg:+.0f}°); "
                                    "look straight at the camera")
