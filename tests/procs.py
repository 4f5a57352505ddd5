"""Command lines for the product's two programs, run as real processes by the tests."""
from __future__ import annotations

import sys


def sitegate_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


def central_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "central.cli", *args]
