"""Two lanes on one relay board: a lane stuck waiting for a passage that never comes does not
hold up the other lane."""
from __future__ import annotations

import time
from datetime import date

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
from gateway.clockin.devices import FrameGrabber, LaneGate, ReaderFeed, supervise_gate
from gateway.clockin.runner import LaneDevices, LaneOptions, LaneRunner
from gateway.roster.store import Roster
from spine import make_gateway

pytestmark = pytest.mark.timeout(90)


def test_stalled_lane_does_not_block_the_other(home, tmp_path):
    outbox, _ = make_gateway(home / "outbox.db")
    roster = Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4")
    roster.add("W000103", id_number=RESIDENT["id_number"])
    roster.add("W000200", id_number=HMT["id_number"])
    store = TemplateStore(home / "faces" / "templates.db", key_file=home / "keys" / "templates.sm4")
    store.add("W000103", enrol_images([(n, photo("103", n)) for n in ("103_7", "103_10")]).accepted)
    frames = [p for i, n in enumerate(("103_6", "103_18"))
              for p in camera_frames(photo("103", n), tmp_path / "f", 2, seed=i)]
    sims = [IdCardSimulator([]).start(), IdCardSimulator([]).start(),
            TurnstileSimulator(lanes={0: 0}, walk_time=0.1, sensor_time=0.2).start()]
    card_a, card_b, tsim = sims
    cam = CameraSimulator(frames, fps=15).start()
    board = supervise_gate("gate", lambda: ModbusRelayGate(port=tsim.path, pulse=0.1,
                                                           lanes={"a": Lane(1, 5), "b": Lane(0, 0)})).start()
    readers = [ReaderFeed(card_a.path).start(), ReaderFeed(card_b.path).start()]
    grabber = FrameGrabber(Camera(cam.url, reconnect_interval=0.2)).start()
    faces = FaceService(store)
    today = lambda: date(2026, 11, 21)  # noqa: E731
    # lane A: card only, its passage sensor (input 5) never fires -> waits out 6 s
    lane_a = LaneRunner(LaneSettings(name="a", mode="card", device="gw/a"),
                        LaneDevices(readers[0], None, LaneGate(board, "a")), roster, None, outbox,
                        LaneOptions(passage_timeout=6.0), today=today).start()
    lane_b = LaneRunner(LaneSettings(name="b", device="gw/b"),
                        LaneDevices(readers[1], grabber, LaneGate(board, "b")), roster, faces, outbox,
                        LaneOptions(capture_frames=6, capture_timeout=3.0, passage_timeout=2.0),
                        today=today).start()
    try:
        time.sleep(0.5)
        card_a.tap(HMT)
        deadline = time.monotonic() + 5
        while lane_a.machine.state.value != "confirm" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lane_a.machine.state.value == "confirm"
        t0 = time.monotonic()
        card_b.tap(RESIDENT)
        while not (lane_b.committed and lane_b.machine.state.value == "ready") and time.monotonic() - t0 < 10:
            time.sleep(0.02)
        b_done = time.monotonic() - t0
        assert lane_b.committed and lane_b.committed[0][1]["decision"] == "allow", lane_b.committed
        assert tsim.passages == [0]
        assert lane_a.machine.state.value == "confirm", "lane A should still be waiting"
        assert b_done < 5.0
        deadline = time.monotonic() + 8
        while len(lane_a.committed) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [b["decision"] for _, b in lane_a.committed] == ["allow", "void"]
        assert lane_a.committed[1][1]["reason"] == "no_passage"
    finally:
        lane_a.stop()
        lane_b.stop()
        grabber.stop()
        for r in readers:
            r.stop()
        board.stop()
        cam.stop()
        for s in sims:
            s.stop()
        outbox.close()
