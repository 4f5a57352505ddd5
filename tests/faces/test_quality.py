"""Enrolment quality gates and bad input: every problem is a reason, never a crash."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from biometrics.enrol import enrol_images
from biometrics.faces import FaceError, Quality, analyse
from faceframes import photo
from faceset import DATA


def reason(img, q=Quality.enrolment()):
    with pytest.raises(FaceError) as exc:
        analyse(img, q, detect_width=640)
    return exc.value.reason


def test_good_frontal_photo_enrols():
    f = analyse(photo("103", "103_7"), Quality.enrolment(), detect_width=640)
    assert f.encoding.shape == (128,) and f.encoding.dtype == np.float32


def test_bad_inputs_have_reasons(tmp_path):
    assert reason(b"") == "bad_image"
    assert reason(b"\xff\xd8\xff garbage" * 10) == "bad_image"
    assert reason(tmp_path / "missing.jpg") == "bad_image"
    assert reason(np.full((480, 640, 3), 100, np.uint8)) == "no_face"
    assert reason(DATA / "ageitgey" / "examples__two_people.jpg") == "multiple_faces"
    assert reason(photo("103", "103_18")) == "bad_pose"
    img = cv2.cvtColor(cv2.imread(str(photo("103", "103_7"))), cv2.COLOR_BGR2RGB)
    assert reason(cv2.GaussianBlur(img, (0, 0), 6)) == "blurry"
    small = cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3), interpolation=cv2.INTER_AREA)
    assert reason(small) == "face_too_small"


def test_enrolment_rejects_mixed_people():
    res = enrol_images([("a", photo("103", "103_7")), ("b", photo("105", "105_1"))])
    assert not res.ok and res.rejected[-1][1] == "inconsistent"
    res = enrol_images([("a", photo("103", "103_7")), ("bad", b"not an image")])
    assert len(res.accepted) == 1 and res.rejected == [("bad", "bad_image", res.rejected[0][2])]
