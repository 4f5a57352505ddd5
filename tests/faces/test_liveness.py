"""Liveness (pure): replayed identical frames, no head turn, wrong direction, a real turn; and
the yaw proxy measured on real photos through the detector."""
from __future__ import annotations

import numpy as np

from biometrics.liveness import LivenessPolicy, Observation, assess


def seq(yaws, identical=False, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (48, 64)).astype(np.float32)
    return [Observation(base if identical else base + rng.normal(0, 2, base.shape).astype(np.float32), y)
            for y in yaws]


def test_replayed_identical_frames_fail_even_with_a_turn():
    assert assess(seq([0.0, 0.0, 0.3, 0.3], identical=True)).reason == "replayed_frames"


def test_still_photo_with_sensor_noise_has_no_head_turn():
    r = assess(seq([0.02, 0.03, 0.01, 0.02, 0.03]))
    assert not r.passed and r.reason == "no_head_turn"


def test_real_turn_passes_and_direction_is_checked():
    r = assess(seq([0.0, 0.05, 0.15, 0.25]))
    assert r.passed and r.turn_milli == 250
    assert assess(seq([0.0, 0.05, 0.15, 0.25]), LivenessPolicy(challenge="left")).reason == "wrong_direction"
    assert assess(seq([0.0, -0.1, -0.2]), LivenessPolicy(challenge="left")).passed


def test_too_few_face_frames():
    assert assess(seq([0.0, None, None, 0.3])).reason == "too_few_frames"


def test_one_duplicated_frame_is_tolerated():
    obs = seq([0.0, 0.1, 0.2, 0.3])
    obs.insert(1, Observation(obs[0].signature, 0.0))
    assert assess(obs).passed


def test_yaw_proxy_on_real_photos():
    from biometrics.faces import Quality, analyse
    from faceframes import photo
    left = analyse(photo("103", "103_18"), Quality.none(), encode=False).yaw
    right = analyse(photo("103", "103_6"), Quality.none(), encode=False).yaw
    frontal = analyse(photo("103", "103_7"), Quality.none(), encode=False).yaw
    assert left < -0.15 and right > 0.15 and abs(frontal) < 0.08
