"""Templates that follow the worker: a certain card pass adds (bounded, rate-limited, logged) a
template of the site's model, which also moves a site enrolled with dlib, or with MobileFaceNet
v1, to the current model without re-enrolment (never comparing an old template with a new
probe); uncertain passes never teach the gallery. And the lane's multi-frame fusion picks the
frontal frames."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from biometrics.engines import DEFAULT_MODEL, get_engine
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


@pytest.fixture(params=["dlib", "mobilefacenet"])
def site(tmp_path, request):
    """W103 enrolled with an older model (dlib, or MobileFaceNet v1), W105 and W107 with the
    site's (mobilefacenet-v2)."""
    store = TemplateStore(tmp_path / "t.db", key=b"k" * 16)
    dl = enrol_images([(n, photo("103", n)) for n in ("103_7", "103_10")], engine=get_engine(request.param))
    store.add("W103", dl.accepted, model=request.param)
    for w, person, names in (("W105", "105", ("105_1", "105_6")), ("W107", "107", ("107_1", "107_2", "107_17"))):
        res = enrol_images([(n, photo(person, n)) for n in names])
        assert len(res.accepted) >= 2, res.rejected
        store.add(w, res.accepted[:2], model=res.model)
    yield store
    store.close()


def test_a_certain_pass_migrates_an_older_model_worker_without_re_enrolment(site, tmp_path, caplog):
    caplog.set_level(logging.INFO, "sitegate.faces")
    old, new = site.rows("W103")[0]["model"], DEFAULT_MODEL
    faces = FaceService(site, learning=Learning(every_h=24))
    assert faces.model == new and old != new
    assert faces.legacy_model_of("W103") == old and faces.legacy_model_of("W105") is None
    assert "W103" not in faces.gallery() and "W103" in faces.galleries()[old]    # never a new-way probe
    turn = frames(tmp_path, "103", ("103_7", "103_6"))
    d = faces.match_sequence(turn, "W103", liveness=LivenessPolicy())
    assert d.match.decision == "match" and d.match.model == old and d.result.liveness.passed
    assert d.learned and site.count("W103", new) == 1 and site.count("W103", old) == 2
    assert f"W103: learned a {new} template from a certain pass" in caplog.text
    # the next pass uses the site's model; no second template within the day
    assert faces.legacy_model_of("W103") is None
    d = faces.match_sequence(turn, "W103", liveness=LivenessPolicy())
    assert d.match.model == new and d.match.decision == "match" and not d.learned
    assert site.count("W103", new) == 1
    # a day later: a second template, and the old model's templates go
    faces.learning = Learning(every_h=0)
    assert faces.match_sequence(turn, "W103", liveness=LivenessPolicy()).learned
    assert site.count("W103", new) == 2 and site.count("W103", old) == 0
    assert f"{old} template(s) dropped" in caplog.text


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
    engine = get_engine()

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
