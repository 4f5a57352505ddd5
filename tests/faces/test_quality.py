"""Enrolment quality gates and bad input: every problem is a reason, never a crash; each refusal
reason has words in Chinese and English for the person enrolling."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from biometrics.engines import get_engine
from biometrics.enrol import enrol_images
from biometrics.faces import FaceError, Quality, analyse
from faceframes import photo
from faceset import DATA
from gateway.clockin.reasons import PHOTO_REASONS, message


def reason(img, q=Quality.enrolment(), model="mobilefacenet-v2"):
    with pytest.raises(FaceError) as exc:
        analyse(img, q, detect_width=640, engine=get_engine(model))
    return exc.value.reason


@pytest.mark.parametrize("model, dim", [("mobilefacenet-v2", 192), ("mobilefacenet", 192), ("dlib", 128)])
def test_good_frontal_photo_enrols(model, dim):
    f = analyse(photo("103", "103_7"), Quality.enrolment(), detect_width=640, engine=get_engine(model))
    assert f.encoding.shape == (dim,) and f.encoding.dtype == np.float32 and f.model == model
    if model.startswith("mobilefacenet"):
        assert abs(float(np.linalg.norm(f.encoding)) - 1.0) < 1e-4


@pytest.mark.parametrize("model", ["mobilefacenet-v2", "dlib"])
def test_bad_inputs_have_reasons(tmp_path, model):
    r = lambda img: reason(img, model=model)  # noqa: E731
    assert r(b"") == "bad_image"
    assert r(b"\xff\xd8\xff garbage" * 10) == "bad_image"
    assert r(tmp_path / "missing.jpg") == "bad_image"
    assert r(np.full((480, 640, 3), 100, np.uint8)) == "no_face"
    assert r(DATA / "ageitgey" / "examples__two_people.jpg") == "multiple_faces"
    assert r(photo("103", "103_18")) == "bad_pose"
    img = cv2.cvtColor(cv2.imread(str(photo("103", "103_7"))), cv2.COLOR_BGR2RGB)
    assert r(cv2.GaussianBlur(img, (0, 0), 6)) == "blurry"
    small = cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3), interpolation=cv2.INTER_AREA)
    assert r(small) == "face_too_small"
    dark = (img.astype(np.float32) * 0.25).astype(np.uint8)
    assert r(dark) == "too_dark"


def test_every_refusal_reason_has_words_in_both_languages():
    for code in PHOTO_REASONS:
        zh, en = message(code, "zh"), message(code, "en")
        assert zh and en and zh != en and code not in zh and code not in en
    assert "正面" in message("bad_pose", "zh") and "dark" in message("too_dark", "en")


def test_enrolment_rejects_mixed_people():
    res = enrol_images([("a", photo("103", "103_7")), ("b", photo("105", "105_1"))])
    assert not res.ok and res.rejected[-1][1] == "inconsistent"
    res = enrol_images([("a", photo("103", "103_7")), ("bad", b"not an image")])
    assert len(res.accepted) == 1 and res.rejected == [("bad", "bad_image", res.rejected[0][2])]
    assert res.model == "mobilefacenet-v2"                      # the default model
