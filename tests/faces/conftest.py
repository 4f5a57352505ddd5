"""Face templates of the shared photos, computed once per model and cached on disk (keyed by
each file's SHA-256, the model and the analysis settings) under the pytest cache."""
from __future__ import annotations

import pytest

from biometrics.engines import DEFAULT_MODEL
from faceset import DATA, encodings, manifest


@pytest.fixture(scope="session")
def photos():
    if not (DATA / "manifest.csv").exists():
        pytest.fail(f"the shared face photos are missing at {DATA} (set SITEGATE_TEST_FACES)")
    return manifest(more=True)


def _cache(request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)      # None under -p no:cacheprovider
    return cache.mkdir("faces") if cache is not None else tmp_path_factory.mktemp("faces")


@pytest.fixture(scope="session")
def face_encodings(request, photos, tmp_path_factory):
    """Templates of every photo with the product's model (mobilefacenet-v2)."""
    return encodings(_cache(request, tmp_path_factory), photos, DEFAULT_MODEL)


@pytest.fixture(scope="session")
def v1_encodings(request, photos, tmp_path_factory):
    """MobileFaceNet v1 templates (aligned on the detection's points) of the East Asian photos."""
    return encodings(_cache(request, tmp_path_factory), [p for p in photos if p.east_asian], "mobilefacenet")


@pytest.fixture(scope="session")
def dlib_encodings(request, photos, tmp_path_factory):
    """dlib templates of the East Asian photos (the comparison)."""
    return encodings(_cache(request, tmp_path_factory), [p for p in photos if p.east_asian], "dlib", processes=2)
