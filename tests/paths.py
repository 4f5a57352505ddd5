"""Where the shared reference data lives: ``shared/`` beside the checkout (as in CI), or
``$SITEGATE_SHARED``."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SITEGATE_SHARED") or ROOT.parent / "shared")
FACES = SHARED / "data" / "faces"
if not FACES.is_dir():
    raise RuntimeError(f"shared test data not found at {FACES}: check out shared/ beside the "
                       "repository or set SITEGATE_SHARED")
