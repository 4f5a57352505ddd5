"""Templates that follow the worker: a certain card pass adds (bounded, rate-limited, logged) a
template of the site's model, which also moves a site enrolled with dlib to the new model
without re-enrolment; uncertain passes never teach the gallery. And the lane's multi-frame
fusion picks the frontal frames."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from biometrics.engines import get_engine
from biometrics.enrol import enrol_images
from biometrics.liveness import LivenessPolicy
from biometrics.sequence import analyse_sequence
from biometrics.store import TemplateStore
from faceframes import camera_frames, photo
from gateway.clockin.faces import FaceService, Learning


def frames(tmp_path, person, names, seed=1):
    out = []
    for i, n in enumerate(names):
        for p in camera_frames(photo(person, n), tmp_path / "f", 2, seed=seed + i):
            out.append(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB))
    return out


@pytest.fixture
def site(tmp_path):
    """W103 enrolled with dlib (an older site), W105 and W107 with MobileFaceNet."""
    store = TemplateStore(tmp_path / "t.db", key=b"k" * 16)
    dl = enrol_images([(n, photo("103", n)) for n in ("103_7", "103_10")], engine=get_engine("dlib"))
    store.add("W103", dl.accepted, model="dlib")
    for w, person, names in (("W105", "105", ("105_1", "105_6")), ("W107", "107", ("107_1", "107_2", "107_17"))):
        res = enrol_images([(n, photo(person, n)) for n in names])
        assert len(res.accepted) >= 2, res.rejected
        store.add(w, res.accepted[:2], model=res.model)
    yield store
    store.close()


def test_a_certain_pass_migrates_a_dlib_worker_without_re_enrolment(site, tmp_path, caplog):
    caplog.set_level(logging.INFO, "sitegate.faces")
    faces = FaceService(site, learning=Learning(every_h=24))
    assert faces.legacy_model_of("W103") == "dlib" and faces.legacy_model_of("W105") is None
    turn = frames(tmp_path, "103", ("103_7", "103_6"))
    d = faces.match_sequence(turn, "W103", liveness=LivenessPolicy())
    assert d.match.decision == "match" and d.match.model == "dlib" and d.result.liveness.passed
    assert d.learned and site.count("W103", "mobilefacenet") == 1 and site.count("W103", "dlib") == 2
    assert "W103: learned a mobilefacenet template from a certain pass" in caplog.text
    # the next pass uses the site's model; no second template within the day
    assert faces.legacy_model_of("W103") is None
    d = faces.match_sequence(turn, "W103", liveness=LivenessPolicy())
    assert d.match.model == "mobilefacenet" and d.match.decision == "match" and not d.learned
    assert site.count("W103", "mobilefacenet") == 1
    # a day later: a second template, and the old model's templates go
    faces.learning = Learning(every_h=0)
    assert faces.match_sequence(turn, "W103", liveness=LivenessPolicy()).learned
    assert site.count("W103", "mobilefacenet") == 2 and site.count("W103", "dlib") == 0
    assert "dlib template(s) dropped" in caplog.text


def test_uncertain_passes_never_teach(site, tmp_path):
    faces = FaceService(site, learning=Learning(every_h=0))
    turn = frames(tmp_path, "105", ("105_1", "105_6"), seed=3)
    before = site.count("W105")
    # no liveness (off), a face-only lane (no card), a match not well inside the threshold
    assert not faces.match_sequence(turn, "W105", liveness=None).learned
    assert not faces.match_sequence(turn, None, liveness=LivenessPolicy()).learned
    strict = FaceService(site, learning=Learning(every_h=0, inside=0.01))
    d = strict.match_sequence(turn, "W105", liveness=LivenessPolicy())
    assert d.match.decision == "match" and not d.learned
    # somebody else's face with the card: refused, nothing learned
    d = faces.match_sequence(turn, "W107", liveness=LivenessPolicy())
    assert d.match.decision == "no_match" and not d.learned
    assert site.count("W105") == before and site.count("W107") == 2
    # learning off by configuration
    off = FaceService(site, learning=Learning(enabled=False))
    assert not off.match_sequence(turn, "W105", liveness=LivenessPolicy()).learned


def test_fusion_embeds_the_frontal_frames_in_one_call(tmp_path):
    turn = frames(tmp_path, "103", ("103_7", "103_18", "103_6"))       # frontal, left, right; 2 each
    calls = []
    engine = get_engine("mobilefacenet")

    class Counting:
        name, dim, metric, fuse = engine.name, engine.dim, engine.metric, engine.fuse

        def find(self, *a, **k):
            return engine.find(*a, **k)

        def embed(self, faces, jitters=1):
            calls.append(len(faces))
            return engine.embed(faces, jitters)

    res = analyse_sequence(turn, liveness=LivenessPolicy(), engine=Counting())
    assert calls == [3] and res.fused == 3 and res.liveness.passed
    assert set(res.chosen[:2]) == {0, 1}                                # the two frontal frames first
    assert abs(float(np.linalg.norm(res.encoding)) - 1) < 1e-5
    assert {"detect", "embed", "frames"} <= set(res.timings_ms)
    one = analyse_sequence(turn, liveness=None, fuse=1)
    assert one.fused == 1 and one.chosen[0] in (0, 1)
