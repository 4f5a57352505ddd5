"""Landmarks for alignment (mobilefacenet-v2): O-Net measures the five points again on the
full-resolution face and on its mirror image, and averages them. The result is mirror-consistent
by construction and stays near the detection's points."""
from __future__ import annotations

import numpy as np

from biometrics.engines import get_engine
from biometrics.faces import decode, find
from faceframes import photo


def test_refined_points_are_mirror_consistent_and_near_the_detection():
    engine = get_engine("mobilefacenet-v2")
    rgb = decode(photo("105", "105_1"))
    (f,) = find(rgb, 640, 1, engine)
    top, right, bottom, left = f.box
    (pts,) = engine.detector.landmarks(rgb, [(left, top, right, bottom)])
    w = rgb.shape[1]
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    # the mirrored box of the mirrored image: the same two crops in the other order
    (back,) = engine.detector.landmarks(flipped, [(w - 1 - right, top, w - 1 - left, bottom)])
    back = back[[1, 0, 2, 4, 3]] * [-1, 1] + [w - 1, 0]
    assert np.abs(back - pts).max() < 1e-3, (back, pts)       # the same two crops: the same points       # exact up to the box's integer rounding
    eye_px = float(np.linalg.norm(f.points[1] - f.points[0]))
    assert np.abs(pts - f.points).max() < 0.15 * eye_px      # a refinement, not another face
    assert np.allclose(engine.points([(rgb, f)])[0], pts)                   # what v2 aligns on
    assert np.allclose(get_engine("mobilefacenet").points([(rgb, f)])[0], f.points)   # v1: the detection's
