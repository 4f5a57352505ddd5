"""Fixtures for the driver tests: sample identities (all check digits recomputed) and
simulators started in-process on real pseudo-terminals."""
from __future__ import annotations

import pytest

from drivers.sim.idcard import IdCardSimulator


@pytest.fixture
def idcard_sim():
    sims = []

    def make(identities=(), **kw) -> IdCardSimulator:
        sim = IdCardSimulator(identities, **kw).start()
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.stop()
