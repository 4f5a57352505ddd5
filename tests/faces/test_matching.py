"""The gallery's single matrix product agrees with face_recognition.face_distance, and the
decision rules say why they refuse."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from biometrics.matching import Gallery, Thresholds


def _gallery(seed: int, n: int) -> tuple[Gallery, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.12, (n, 128)).astype(np.float32)
    return Gallery({f"W{i:05d}": [x[i]] for i in range(n)}), x


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 300))
def test_distances_match_face_distance(seed, n):
    import face_recognition
    g, x = _gallery(seed, n)
    q = np.random.default_rng(seed + 1).normal(0, 0.12, 128).astype(np.float32)
    ref = face_recognition.face_distance(x.astype(np.float64), q.astype(np.float64))
    assert np.allclose(g.distances(q), ref, atol=2e-5)
    i, best, margin = g.nearest(q)
    assert i == int(np.argmin(ref)) or abs(ref[i] - ref.min()) < 2e-5
    if n > 1:
        assert abs(margin - (np.sort(ref)[1] - ref.min())) < 5e-5


def test_gallery_is_one_contiguous_float32_matrix_of_worker_means():
    a, b = np.full(128, 0.1, np.float32), np.full(128, 0.3, np.float32)
    g = Gallery({"W1": [a, b], "W2": [b]})
    assert g.matrix.shape == (2, 128) and g.matrix.dtype == np.float32 and g.matrix.flags.c_contiguous
    assert np.allclose(g.matrix[0], 0.2)


def test_decisions_and_reasons():
    base = np.zeros(128, np.float32)
    unit = np.eye(128, dtype=np.float32)
    g = Gallery({"A": [base], "B": [base + 0.5 * unit[0]], "C": [base + 0.9 * unit[1]]})
    t = Thresholds(verify=0.42, identify=0.40, margin=0.06)
    assert g.verify("A", base + 0.1 * unit[2], t).reason == "ok"
    assert g.verify("Z", base, t).reason == "not_enrolled"
    assert g.verify("A", base + 0.6 * unit[2], t).reason == "too_far"
    # the claimed worker is within the threshold but someone else is nearer
    assert g.verify("A", base + 0.3 * unit[0], t).reason == "nearer_other"
    assert g.identify(base + 0.05 * unit[3], t).as_dict() | {"distance": None, "margin": None} == \
        {"worker_id": "A", "distance": None, "margin": None, "decision": "match", "reason": "ok",
         "model": "dlib"}
    amb = g.identify(base + 0.26 * unit[0], t)              # halfway between A and B
    assert amb.worker_id is None and amb.reason == "ambiguous"
    assert g.identify(base + 2 * unit[5], t).reason == "too_far"
    assert Gallery().identify(base, t).reason == "empty_gallery"


def test_z_rule_needs_a_cohort_and_refuses_undistinct_matches():
    rng = np.random.default_rng(3)
    probe = rng.normal(0, 0.06, 128).astype(np.float32)
    others = {f"W{i}": [rng.normal(0, 0.06, 128).astype(np.float32)] for i in range(30)}
    crowd = Gallery(others).distances(probe)
    direction = rng.normal(0, 1, 128).astype(np.float32)
    direction /= np.linalg.norm(direction)
    t = Thresholds(verify=2.0, verify_nearest=True, verify_z=-2.5, min_cohort=10)
    just_nearest = Gallery(others | {"X": [probe + direction * float(crowd.min()) * 0.99]})
    assert just_nearest.verify("X", probe, t).reason == "not_distinct"
    clear = Gallery(others | {"X": [probe + direction * 0.1]})
    assert clear.verify("X", probe, t).reason == "ok"
    small = Gallery({"X": [probe + direction * float(crowd.min()) * 0.99], "W0": others["W0"]})
    assert small.verify("X", probe, t).reason == "ok"        # cohort too small: rule off


def test_cosine_gallery_fuses_unit_vectors_and_ranks_by_similarity():
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, (50, 192)).astype(np.float32)
    g = Gallery({f"W{i}": [x[i], x[i] * 3.0] for i in range(50)}, model="mobilefacenet")
    assert g.metric == "cosine" and np.allclose(np.linalg.norm(g.matrix, axis=1), 1.0, atol=1e-5)
    q = x[7] + rng.normal(0, 0.3, 192).astype(np.float32)
    d = g.distances(q)
    ref = 1 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    assert np.allclose(d, ref, atol=1e-5)
    i, best, margin = g.nearest(q)
    assert i == 7 and abs(best - ref.min()) < 1e-5 and abs(margin - (np.sort(ref)[1] - ref.min())) < 1e-5
    m = g.verify("W7", q)
    assert m.model == "mobilefacenet" and m.as_dict()["model"] == "mobilefacenet"
    assert g.thresholds == Thresholds.for_model("mobilefacenet") and Thresholds.for_model("dlib").verify == 0.42
