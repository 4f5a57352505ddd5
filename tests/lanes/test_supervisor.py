"""Device supervision: the re-open schedule (bounded, jittered), the alarms it raises, and the
supervised ID reader, camera and gate against the simulators over real ptys and HTTP --
including a udev-like link that comes back pointing at a *different* /dev/pts."""
from __future__ import annotations

import os
import threading
import time

import pytest

from drivers.errors import DeviceLost
from drivers.sam.reader import CardRead
from drivers.sim.camera import CameraSimulator
from drivers.sim.idcard import IdCardSimulator
from drivers.sim.samples import HMT, RESIDENT
from drivers.sim.turnstile import TurnstileSimulator
from drivers.turnstile import Lane, ModbusRelayGate
from faceframes import photo
from gateway.clockin.devices import (Backoff, DeviceSupervisor, FrameGrabber, LaneGate, ReaderFeed,
                                     device_alarms, supervise_gate)

pytestmark = pytest.mark.timeout(60)
QUICK = Backoff(0.05, 0.2)


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------------- the schedule
def test_backoff_is_bounded_and_jittered():
    assert Backoff() == Backoff(first=0.25, cap=2.0)
    b = Backoff(first=0.25, cap=4.0)
    for attempt in range(1, 40):
        step = min(4.0, 0.25 * 2 ** (attempt - 1))
        lo, hi = b.delay(attempt, 0.0), b.delay(attempt, 0.999999)
        assert lo == pytest.approx(step / 2) and hi == pytest.approx(step, rel=1e-5)
        assert 0.125 <= lo < hi <= 4.0
    assert [b.delay(n, 0.0) for n in (1, 2, 3, 4, 5, 6)] == [0.125, 0.25, 0.5, 1.0, 2.0, 2.0]
    assert b.delay(10_000, 0.5) <= 4.0                    # no overflow on a device gone for days


def test_failed_opens_wait_for_the_schedule_not_a_busy_loop():
    calls = []

    def opener():
        calls.append(time.monotonic())
        raise DeviceLost("cannot open /dev/idcard0: No such file or directory")

    sup = DeviceSupervisor("idcard:entry", opener, lambda d: [], role="idcard", path="/dev/idcard0",
                           lanes=["entry"], backoff=Backoff(10.0, 60.0), rng=lambda: 0.0)
    assert sup.run_once() is False and sup.state == "lost" and len(calls) == 1
    assert sup.run_once() is False and len(calls) == 1          # not due yet: no second open
    wait = sup._next_open - time.monotonic()
    assert 9.0 < wait <= 10.0                                   # attempt 2: step 20 s, half fixed
    with pytest.raises(DeviceLost, match="idcard0 unavailable: cannot open"):
        sup.current()
    (alarm,) = device_alarms([sup.info()])
    assert alarm["code"] == "device_lost" and alarm["level"] == "critical"
    assert alarm["device"] == "idcard:entry" and "ID-card reader /dev/idcard0 (lane entry)" in alarm["message"]


def test_alarms_only_for_devices_not_connected():
    devices = [{"name": "gate:/dev/gate", "role": "gate", "path": "/dev/gate", "lanes": ["a", "b"],
                "state": "connected"},
               {"name": "camera:a", "role": "camera", "path": "rtsp://cam", "lanes": ["a"],
                "state": "lost", "since": time.time(), "message": "read failed"}]
    (alarm,) = device_alarms(devices)
    assert alarm["device"] == "camera:a" and "camera rtsp://cam (lane a) lost: read failed" in alarm["message"]
    assert alarm["since"] == devices[1]["since"]
    assert device_alarms([]) == []


# ---------------------------------------------------------------------- real devices
def test_reader_follows_the_link_to_a_new_device(tmp_path):
    """Unplugged, then a different reader appears behind the same udev-style link."""
    link = str(tmp_path / "idcard0")
    first = IdCardSimulator([], link=link).start()
    feed = ReaderFeed(link, name="idcard:entry", lanes=["entry"], backoff=QUICK).start()
    second = None
    try:
        assert wait_for(lambda: feed.available)
        first_tty = os.path.realpath(link)
        first.tap(RESIDENT)
        assert wait_for(lambda: any(isinstance(e, CardRead) for e in feed.events()))
        first.stop()                                            # unplugged: pty closed, link gone
        assert wait_for(lambda: feed.supervisor.state == "lost")
        assert not feed.available and device_alarms([feed.supervisor.info()])
        holder = os.openpty()                                   # keep the old pts number busy
        second = IdCardSimulator([], link=link).start()
        assert os.path.realpath(link) != first_tty
        assert wait_for(lambda: feed.available)
        info = feed.supervisor.info()
        assert info["target"] == second.tty and info["reopened"] == 1
        second.tap(HMT)
        got = []
        assert wait_for(lambda: got.extend(feed.events()) or any(isinstance(e, CardRead) for e in got))
        assert [e.identity.card_type for e in got if isinstance(e, CardRead)] == ["hmt_residence"]
        for fd in holder:
            os.close(fd)
    finally:
        feed.stop()
        if second:
            second.stop()


def test_paused_reader_is_still_watched_but_not_polled(idcard_sim_factory):
    sim = idcard_sim_factory()
    feed = ReaderFeed(sim.path, backoff=QUICK, check_every=0.05).start()
    try:
        assert wait_for(lambda: feed.available)
        feed.pause()                                            # the lane is deciding
        sim.tap(RESIDENT)
        time.sleep(0.4)
        assert feed.events() == []                              # a card is not read meanwhile
        sim.unplug()
        assert wait_for(lambda: feed.supervisor.state == "lost")   # ...but a loss is seen
        sim.replug()
        assert wait_for(lambda: feed.available)
        feed.resume()
        got = []
        assert wait_for(lambda: got.extend(feed.events()) or any(isinstance(e, CardRead) for e in got))
    finally:
        feed.stop()


def test_gate_loss_is_noticed_between_passages_and_reported_by_a_lane(tmp_path):
    sim = TurnstileSimulator(link=str(tmp_path / "gate0"), lanes={0: 0}, walk_time=0.05).start()
    sup = supervise_gate("gate:x", lambda: ModbusRelayGate(sim.path, lanes={"entry": Lane(0, 0)},
                                                           pulse=0.05, timeout=0.3),
                         path=sim.path, lanes=["entry"], interval=0.1, backoff=QUICK).start()
    gate = LaneGate(sup, "entry")
    try:
        assert wait_for(lambda: gate.available)
        gate.open()
        assert gate.wait_passage(2.0) is True
        sim.unplug()
        assert wait_for(lambda: sup.state == "lost")            # no lane touched it: the check did
        with pytest.raises(DeviceLost, match="unavailable"):
            gate.open()
        sim.replug()
        assert wait_for(lambda: gate.available)
        assert wait_for(lambda: not sim.board.inputs[0])      # the first walker has cleared the sensor
        gate.open()
        assert gate.wait_passage(2.0) is True and sim.passages == [0, 0]
        # a failure seen by a lane is handed to the supervisor at once
        driver = sup.current()
        sup.report_lost(driver, DeviceLost("write failed"))
        assert sup.state == "lost" and sup.message == "write failed"
        assert wait_for(lambda: gate.available) and sup.current() is not driver
    finally:
        sup.stop()
        sim.stop()


def test_camera_lost_means_no_frames_then_back(tmp_path):
    cam = CameraSimulator([photo("103", "103_6")], fps=20, size=(320, 240)).start()
    grabber = FrameGrabber(cam.url, name="camera:entry", lanes=["entry"], backoff=QUICK).start()
    try:
        assert wait_for(lambda: grabber.latest() is not None)
        cam.unplug()
        assert wait_for(lambda: grabber.supervisor.state == "lost")
        assert grabber.latest() is None and grabber.collect(1, 0.1) == []   # never a stale picture
        cam.replug()
        assert wait_for(lambda: grabber.available and grabber.latest() is not None)
        assert grabber.supervisor.info()["reopened"] == 1
    finally:
        grabber.stop()
        cam.stop()


def test_stop_closes_the_device_from_any_state():
    closed = []

    class Dev:
        def close(self):
            closed.append(self)

    sup = DeviceSupervisor("x", Dev, lambda d: [], interval=0.01).start()
    assert wait_for(lambda: sup.state == "connected")
    stopper = threading.Thread(target=sup.stop)
    stopper.start()
    stopper.join(5)
    assert len(closed) == 1 and sup.device is None


@pytest.fixture
def idcard_sim_factory():
    sims = []

    def make(identities=(), **kw):
        sim = IdCardSimulator(identities, **kw).start()
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.stop()
