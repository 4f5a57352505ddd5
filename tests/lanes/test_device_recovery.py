"""A lane whose devices come and go: the ID reader, the camera and the relay board are each
unplugged and plugged back under a running lane. While one is away the lane says so (alarm,
out of service) and refuses a card with a clear reason instead of stalling; when it is back the
lane clocks workers in again, with no restart. Every record is in the outbox exactly once."""
from __future__ import annotations

import time

import pytest

from drivers.sim.samples import RESIDENT
from faceframes import camera_frames, photo
from gateway.clockin.devices import device_alarms

pytestmark = pytest.mark.timeout(180)


def wait_for(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def live(rig, seed):
    return [p for i, n in enumerate(("103_6", "103_18"))
            for p in camera_frames(photo("103", n), rig.frames_dir / f"live{seed}", 2, seed=seed + i)]


def lost(rig):
    return [a["device"] for a in device_alarms(s.info() for s in
                                                (rig.reader.supervisor, rig.grabber.supervisor, rig.gate))]


def test_each_device_unplugged_and_back_under_a_running_lane(rig):
    rig.show(live(rig, 1))
    assert rig.card(RESIDENT)["decision"] == "allow"

    # --- the ID reader: no card can be read, the lane is out of service, then back
    rig.idsim.unplug()
    assert wait_for(lambda: lost(rig) == ["idcard:entry"])
    assert rig.runner.out_of_service() == ("idcard",)
    rig.idsim.replug()
    assert wait_for(lambda: lost(rig) == [] and rig.runner.out_of_service() == ())
    assert rig.card(RESIDENT)["decision"] == "allow"

    # --- the relay board: a card is refused with gate_offline, nothing is pulsed
    time.sleep(0.5)                                   # the last walker has cleared the sensor
    pulses = len(rig.tsim.pulses)
    rig.tsim.unplug()
    assert wait_for(lambda: lost(rig) == [f"gate:{rig.tsim.path}"])
    body = rig.card(RESIDENT)
    assert (body["decision"], body["reason"], body["worker"]) == ("deny", "gate_offline", "W000103")
    rig.tsim.replug()
    assert wait_for(lambda: lost(rig) == [])
    assert len(rig.tsim.pulses) == pulses
    assert rig.card(RESIDENT)["decision"] == "allow"
    assert len(rig.tsim.pulses) == pulses + 1

    # --- the camera: refused with camera_offline (not a misleading no_face), then back
    rig.camsim.unplug()
    assert wait_for(lambda: lost(rig) == ["camera:entry"])
    body = rig.card(RESIDENT)
    assert (body["decision"], body["reason"]) == ("deny", "camera_offline")
    assert ("ready", "capture") not in rig.runner.machine.history[-2:]
    rig.camsim.replug()
    assert wait_for(lambda: lost(rig) == [] and rig.grabber.latest() is not None)
    rig.show(live(rig, 5))
    assert rig.card(RESIDENT)["decision"] == "allow"

    # every decision committed once, in order, nothing lost while devices came and went
    stored = [(r["seq"], r["body"]) for r in rig.outbox.iter_records()]
    assert stored == rig.runner.committed
    assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1))
    assert [b["reason"] for _, b in stored] == ["ok", "ok", "gate_offline", "ok", "camera_offline", "ok"]
    assert rig.runner.errors == 0 and rig.runner._thread.is_alive()
    for sup in (rig.reader.supervisor, rig.grabber.supervisor, rig.gate):
        assert sup.info()["reopened"] == 1, sup.info()
