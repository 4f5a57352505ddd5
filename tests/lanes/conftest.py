"""A real lane rig: ID-card simulator + turnstile relay simulator on ptys, the camera simulator
streaming MJPEG over HTTP through the real camera driver, each device under its supervisor (as
in the daemon), a real outbox, roster and encrypted template store in a fresh SITEGATE_HOME."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from biometrics.enrol import enrol_images
from biometrics.store import TemplateStore
from drivers.camera import Camera
from drivers.sim.camera import CameraSimulator
from drivers.sim.idcard import IdCardSimulator
from drivers.sim.samples import HMT, RESIDENT
from drivers.sim.turnstile import TurnstileSimulator
from drivers.turnstile import Lane, ModbusRelayGate
from faceframes import camera_frames, photo
from gateway.clockin.machine import LaneSettings
from gateway.clockin.faces import FaceService
from gateway.clockin.devices import Backoff, FrameGrabber, LaneGate, ReaderFeed, supervise_gate
from gateway.clockin.runner import LaneDevices, LaneOptions, LaneRunner
from gateway.roster.store import Roster
from gateway.clockin.rules import Rules
from spine import make_gateway


@dataclass
class Rig:
    home: Path
    frames_dir: Path
    idsim: IdCardSimulator
    tsim: TurnstileSimulator
    camsim: CameraSimulator
    runner: LaneRunner
    roster: Roster
    store: TemplateStore
    outbox: object
    reader: ReaderFeed
    grabber: FrameGrabber
    gate: object                              # the gate's DeviceSupervisor

    def show(self, paths) -> None:
        self.camsim.show(paths)
        time.sleep(0.4)                       # let the grabber move past older frames

    def card(self, spec, timeout: float = 20.0) -> dict:
        """Tap a card, wait for the lane's decision (and passage or timeout), lift the card."""
        before = len(self.runner.committed)
        self.idsim.tap(spec)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.runner.committed) > before and self.runner.machine.state.value == "ready" \
                    and not self.runner.busy.is_set():
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"lane made no decision; state {self.runner.machine.state}, "
                                 f"alarms {self.runner.alarms}, errors {self.runner.errors}")
        self.idsim.remove()
        time.sleep(0.4)                       # reader sees the card leave
        return self.runner.committed[-1][1]


@pytest.fixture
def rig(tmp_path, home):
    outbox, _ = make_gateway(home / "outbox.db")
    roster = Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4")
    roster.add("W000103", id_number=RESIDENT["id_number"], name=RESIDENT["name"])
    roster.add("W000666", id_number=HMT["id_number"], name=HMT["name"])
    roster.blacklist("W000666", "safety violation")
    store = TemplateStore(home / "faces" / "templates.db", key_file=home / "keys" / "templates.sm4")
    res = enrol_images([(n, photo("103", n)) for n in ("103_7", "103_10")])
    assert len(res.accepted) == 2, res.rejected
    store.add("W000103", res.accepted)
    res = enrol_images([(n, photo("105", n)) for n in ("105_1", "105_6")])
    store.add("W000105", res.accepted)
    frames_dir = tmp_path / "frames"
    blank = camera_frames(photo("103", "103_6"), frames_dir / "blank", 1, noise=0)
    idsim = IdCardSimulator([]).start()
    tsim = TurnstileSimulator(lanes={0: 0}, walk_time=0.1, sensor_time=0.2).start()
    camsim = CameraSimulator(blank, fps=15).start()
    quick = Backoff(0.05, 0.2)
    reader = ReaderFeed(idsim.path, name="idcard:entry", lanes=["entry"], backoff=quick).start()
    gate = supervise_gate(f"gate:{tsim.path}",
                          lambda: ModbusRelayGate(port=tsim.path, lanes={"entry": Lane(0, 0)}, pulse=0.1),
                          path=tsim.path, lanes=["entry"], backoff=quick).start()
    grabber = FrameGrabber(Camera(camsim.url, timeout=1.0), name="camera:entry", lanes=["entry"],
                           backoff=quick).start()
    runner = LaneRunner(LaneSettings(name="entry", direction="in", device="gw-test-1/entry",
                                     rules=Rules()),
                        LaneDevices(reader, grabber, LaneGate(gate, "entry")),
                        roster, FaceService(store), outbox,
                        LaneOptions(capture_frames=6, capture_timeout=3.0, passage_timeout=2.0),
                        today=lambda: date(2026, 11, 21)).start()
    r = Rig(home, frames_dir, idsim, tsim, camsim, runner, roster, store, outbox, reader, grabber, gate)
    yield r
    runner.stop()
    grabber.stop()
    reader.stop()
    gate.stop()
    camsim.stop()
    tsim.stop()
    idsim.stop()
    outbox.close()
