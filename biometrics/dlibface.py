"""dlib's HOG detector, 5-point landmarks and ResNet descriptor (the models face_recognition
uses), called on dlib directly.

``import face_recognition`` needs ``pkg_resources`` (it prints "pip install git+…" and calls
``quit()`` without it) and loads the 68-point landmark model, whose training data (iBUG 300-W)
is not for commercial use. This module needs neither: the model files are found with
:func:`biometrics.modelfiles.dlib_model`, and only the 5-point model (eye corners and the base
of the nose) is loaded. Results are the same as ``face_recognition.face_locations`` /
``face_landmarks(model="small")`` / ``face_encodings(model="small")``.
"""
from __future__ import annotations

import threading

import numpy as np

DIM = 128


class Dlib:
    def __init__(self) -> None:
        import dlib

        from biometrics.modelfiles import dlib_model
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(dlib_model("shape_predictor_5_face_landmarks.dat")))
        self._encoder = dlib.face_recognition_model_v1(str(dlib_model("dlib_face_recognition_resnet_model_v1.dat")))
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray, upsample: int = 0) -> list[tuple[int, int, int, int]]:
        """HOG boxes (top, right, bottom, left), clipped to the image."""
        h, w = rgb.shape[:2]
        with self._lock:
            rects = self._detector(rgb, upsample)
        return [(max(r.top(), 0), min(r.right(), w), min(r.bottom(), h), max(r.left(), 0)) for r in rects]

    def _rect(self, box):
        top, right, bottom, left = box
        return self._dlib.rectangle(left, top, right, bottom)

    def landmarks(self, rgb: np.ndarray, box) -> np.ndarray:
        """5×2: right-eye corners (2), left-eye corners (2), base of the nose, as dlib orders them."""
        with self._lock:
            shape = self._shape(rgb, self._rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float64)

    def encode(self, rgb: np.ndarray, box, jitters: int = 1) -> np.ndarray:
        with self._lock:
            shape = self._shape(rgb, self._rect(box))
            enc = self._encoder.compute_face_descriptor(rgb, shape, jitters)
        return np.asarray(enc, np.float32)
