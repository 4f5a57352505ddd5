"""Face templates of the shared photos, computed once per session and cached on disk (keyed by
each file's SHA-256 and the analysis settings) under the pytest cache."""
from __future__ import annotations

import pytest

from faceset import DATA, encodings, manifest


@pytest.fixture(scope="session")
def photos():
    if not (DATA / "manifest.csv").exists():
        pytest.fail(f"the shared face photos are missing at {DATA} (set SITEGATE_FACES_DATA)")
    return manifest()


@pytest.fixture(scope="session")
def face_encodings(request, photos, tmp_path_factory):
    cache = getattr(request.config, "cache", None)      # None under -p no:cacheprovider
    where = cache.mkdir("faces") if cache is not None else tmp_path_factory.mktemp("faces")
    return encodings(where, photos)
