"""Where the shared reference data lives: ``shared/`` beside the checkout (as in CI), or
``$SITEGATE_SHARED``; the labelled face photos at ``$SITEGATE_TEST_FACES`` (default
``shared/data/faces``) and the extra East Asian identities at ``$SITEGATE_TEST_FACES_MORE``
(default ``faces_more`` beside the photos)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SITEGATE_SHARED") or ROOT.parent / "shared")
FACES = Path(os.environ.get("SITEGATE_TEST_FACES") or SHARED / "data" / "faces")
FACES_MORE = Path(os.environ.get("SITEGATE_TEST_FACES_MORE") or FACES.parent / "faces_more")
if not (FACES / "manifest.csv").is_file():
    raise RuntimeError(f"the labelled face photos are not at {FACES} (no manifest.csv): set "
                       "SITEGATE_TEST_FACES to their folder (default: shared/data/faces beside the "
                       "checkout; SITEGATE_SHARED moves the whole shared/ folder)")
