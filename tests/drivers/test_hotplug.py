"""Unplug / replug over real ptys: the supervisor reports the reader lost and re-opens it by
the same path when it comes back."""
from __future__ import annotations

import os
import time

import pytest

from drivers.sam.reader import CardRead, SamReader
from drivers.sim.samples import HMT, RESIDENT
from gateway.clockin.devices import DeviceStatus, DeviceSupervisor

pytestmark = pytest.mark.timeout(30)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_unplug_replug_reopens_by_same_path(idcard_sim):
    sim = idcard_sim([RESIDENT, HMT])
    events = []
    sup = DeviceSupervisor("idcard", lambda: SamReader.open(sim.path, timeout=0.3),
                           lambda r: r.poll(), events.append, retry=0.05).start(interval=0.02)
    try:
        assert wait_for(lambda: sup.state == "connected")
        sim.tap()
        assert wait_for(lambda: any(isinstance(e, CardRead) for e in events))
        first_tty = sim.tty

        sim.unplug()
        assert not os.path.exists(sim.path)
        assert wait_for(lambda: sup.state == "lost")
        time.sleep(0.2)                                  # several failed re-open attempts
        assert sup.state == "lost"

        sim.replug()
        sim.remove()
        assert wait_for(lambda: sup.state == "connected")
        assert os.path.realpath(sim.path) == sim.tty and sim.tty
        sim.tap()
        assert wait_for(lambda: sum(isinstance(e, CardRead) for e in events) == 2)
    finally:
        sup.stop()
    statuses = [e.state for e in events if isinstance(e, DeviceStatus)]
    assert statuses == ["connected", "lost", "connected"]
    assert [e.identity.card_type for e in events if isinstance(e, CardRead)] == \
        ["resident", "hmt_residence"]
    del first_tty


def test_reader_started_before_device_exists(tmp_path):
    from drivers.sim.idcard import IdCardSimulator
    link = str(tmp_path / "idcard0")
    events = []
    sup = DeviceSupervisor("idcard", lambda: SamReader.open(link, timeout=0.3),
                           lambda r: r.poll(), events.append, retry=0.05).start(interval=0.02)
    sim = None
    try:
        assert wait_for(lambda: sup.state == "lost")
        sim = IdCardSimulator([RESIDENT], link=link).start()
        assert wait_for(lambda: sup.state == "connected")
        sim.tap()
        assert wait_for(lambda: any(isinstance(e, CardRead) for e in events))
    finally:
        sup.stop()
        if sim:
            sim.stop()


def test_gps_supervised_through_unplug():
    from drivers.gps import GpsFix, GpsReader
    from drivers.sim.gps import GpsSimulator
    events = []
    with GpsSimulator(rate=20) as sim:
        sup = DeviceSupervisor("gps", lambda: GpsReader.open(sim.path), lambda r: r.poll(0.05),
                               events.append, retry=0.05).start(interval=0.01)
        try:
            assert wait_for(lambda: any(isinstance(e, GpsFix) for e in events))
            sim.unplug()
            assert wait_for(lambda: sup.state == "lost")
            n = sum(isinstance(e, GpsFix) for e in events)
            sim.replug()
            assert wait_for(lambda: sum(isinstance(e, GpsFix) for e in events) > n)
        finally:
            sup.stop()
    assert [e.state for e in events if isinstance(e, DeviceStatus)] == ["connected", "lost", "connected"]
