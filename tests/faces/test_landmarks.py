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


def _rss_mb() -> int:
    import psutil
    return psutil.Process().memory_info().rss >> 20


def test_pnet_built_for_its_level_answers_exactly_as_the_resized_one():
    from biometrics.mtcnn import interpreter, pnet_for_shape
    raw = get_engine("mobilefacenet-v2").detector._pnet_raw
    rng = np.random.default_rng(7)
    for shape in [(1, 192, 144, 3), (1, 49, 37, 3), (1, 455, 341, 3)]:
        x = rng.random(shape, dtype=np.float32) * 2 - 1
        built = interpreter(pnet_for_shape(raw, shape[1], shape[2]))
        built.allocate_tensors()
        resized = interpreter(raw)
        resized.resize_tensor_input(resized.get_input_details()[0]["index"], list(shape))
        resized.allocate_tensors()
        for it in (built, resized):
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.invoke()
        for a, b in zip(built.get_output_details(), resized.get_output_details()):
            assert np.array_equal(built.get_tensor(a["index"]), resized.get_tensor(b["index"]))
    assert pnet_for_shape(b"not a p-net", 10, 10) is None


def test_photos_of_many_sizes_do_not_pile_up_detector_memory():
    """Every P-Net interpreter built at the file's stored 1280 x 960 shape held ~140 MB: a
    process that had enrolled photos of 24 sizes held ~4 GB; now a few hundred MB."""
    from biometrics.mtcnn import MTCNN
    from biometrics.modelfiles import tflite_dir
    det = MTCNN(tflite_dir(None))
    rgb = decode(photo("105", "105_1"))
    before = _rss_mb()
    for size in range(300, 660, 30):                 # 12 sizes, each twice: a cached level each
        small = np.ascontiguousarray(rgb[:size, :size])
        det.detect(small, 12.0)
        det.detect(small, 12.0)
    assert len(det._pnets) >= 8
    grew = _rss_mb() - before
    assert grew < 800, f"{grew} MB for {len(det._pnets)} cached P-Net levels"
