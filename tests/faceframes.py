"""Turn the shared photos into camera-like 640×480 frames (letterboxed, with sensor noise) for
the camera simulator, and name the photos the lane tests use."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from faceset import DATA

CN = DATA / "asian_faces"


def photo(person_dir: str, name: str) -> Path:
    """``photo("103", "103_6")`` → the East Asian target photo file."""
    return CN / f"DCleaning_tool__target_images__{person_dir}__{name}.jpg"


def camera_frames(src: Path, out_dir: Path, n: int = 1, seed: int = 0, noise: float = 3.0,
                  size: tuple[int, int] = (640, 480)) -> list[Path]:
    """``n`` frames of ``src`` fitted into ``size`` (aspect kept); each gets its own noise
    unless ``noise`` is 0 (then all frames are pixel-identical: a replayed still)."""
    import cv2
    img = cv2.imread(str(src))
    w, h = size
    s = min(w / img.shape[1], h / img.shape[0])
    img = cv2.resize(img, (max(1, int(img.shape[1] * s)), max(1, int(img.shape[0] * s))),
                     interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 110, np.uint8)
    y, x = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
    canvas[y:y + img.shape[0], x:x + img.shape[1]] = img
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        f = canvas if not noise else np.clip(canvas + rng.normal(0, noise, canvas.shape), 0, 255).astype(np.uint8)
        p = out_dir / f"{src.stem}-{seed}-{i}.png"
        cv2.imwrite(str(p), f)
        paths.append(p)
    return paths
