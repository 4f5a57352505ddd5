"""Face alignment: a similarity transform (rotation, uniform scale, shift) of five landmarks onto
the standard 112×112 ArcFace template, then one affine warp. The embedding model was trained on
faces aligned this way; without it (a plain square crop) it is worse than dlib.
"""
from __future__ import annotations

import numpy as np

# eye centres (image left, image right), nose tip, mouth corners (image left, image right)
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 similarity transform mapping ``src`` points onto ``dst`` in the least-squares
    sense (Umeyama 1991, no reflection)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = len(src)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / n
    u, sv, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    r = u @ np.diag(sign) @ vt
    var = (s ** 2).sum() / n
    scale = (sv * sign).sum() / var if var > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def warp(rgb: np.ndarray, points: np.ndarray, size: int = 112) -> np.ndarray:
    """The face of ``rgb`` whose five landmarks are ``points`` (5×2, order as ARCFACE_112),
    aligned to ``size``×``size`` (uint8 RGB)."""
    import cv2
    m = similarity(points, ARCFACE_112 * (size / 112.0))
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)
