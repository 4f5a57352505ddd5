"""End to end over the simulators: card + face opens the lane and commits one record; an
impostor, a replayed photo, a blacklisted worker and bad input are refused with reasons."""
from __future__ import annotations

import pytest

from drivers.sim.samples import FOREIGN, HMT, RESIDENT
from faceframes import camera_frames, photo
from faceset import DATA

pytestmark = pytest.mark.timeout(120)


def live(rig, person: str, names: tuple[str, ...], seed: int = 1):
    """A head turn: frames of the same person at different yaw, each with its own noise."""
    out = []
    for i, n in enumerate(names):
        out += camera_frames(photo(person, n), rig.frames_dir / "live", 2, seed=seed + i)
    return out


def records(rig):
    return [r["body"] for r in rig.outbox.iter_records()]


def test_enrolled_worker_opens_lane_with_one_record(rig, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    rig.show(live(rig, "103", ("103_6", "103_18")))
    body = rig.card(RESIDENT)
    assert body["decision"] == "allow", body
    assert body["reason"] == "ok" and body["worker"] == "W000103"
    assert body["liveness"] == "ok" and abs(body["turn_milli"]) >= 120
    assert 0 < body["distance_milli"] <= 420
    assert rig.tsim.passages == [0]
    assert records(rig) == [body]                   # exactly one record, committed
    assert rig.roster.last_direction("W000103") == "in"
    # nothing personal in the record
    text = repr(records(rig)) + caplog.text
    assert "seq 1 allow ok" in caplog.text
    assert RESIDENT["id_number"] not in text and RESIDENT["name"] not in text
    # each face step's time in the lane's debug log; one embedding call over the fused frames
    step = next(r.getMessage() for r in caplog.records if "face steps" in r.getMessage())
    assert all(k in step for k in ("capture", "detect", "embed", "match", "total", "model mobilefacenet")), step


def test_impostor_face_with_the_card_is_refused(rig):
    rig.show(live(rig, "105", ("105_24", "105_3")))
    body = rig.card(RESIDENT)
    assert body["decision"] == "deny" and body["reason"] == "face_mismatch", body
    assert body["worker"] == "W000103"
    assert rig.tsim.pulses == []


def test_photo_replay_fails_liveness(rig):
    still = camera_frames(photo("103", "103_6"), rig.frames_dir / "still", 1, noise=0)
    rig.show(still)
    body = rig.card(RESIDENT)
    assert body["decision"] == "deny" and body["reason"] == "liveness_replayed_frames", body
    # a photo held still in front of a real sensor (noise, no identical frames): no head turn
    held = camera_frames(photo("103", "103_6"), rig.frames_dir / "held", 4, seed=7)
    rig.show(held)
    body = rig.card(RESIDENT)
    assert body["decision"] == "deny" and body["reason"] == "liveness_no_head_turn", body
    assert rig.tsim.pulses == []


def test_blacklisted_worker_refused_before_capture(rig):
    rig.show(live(rig, "103", ("103_6", "103_18")))
    body = rig.card(HMT)
    assert body == {"worker": "W000666", "dir": "in", "method": "card+face", "device": "gw-test-1/entry",
                    "lane": "entry", "decision": "deny", "reason": "blacklisted"}
    assert ("ready", "capture") not in rig.runner.machine.history
    assert rig.tsim.pulses == []


def test_bad_input_gives_reasons_not_crashes(rig, tmp_path):
    rig.show(camera_frames(DATA / "ageitgey" / "examples__two_people.jpg", rig.frames_dir / "two", 4, seed=3))
    assert rig.card(RESIDENT)["reason"] == "multiple_faces"
    import cv2
    import numpy as np
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.full((480, 640, 3), 90, np.uint8))
    rig.show(camera_frames(empty, rig.frames_dir / "empty", 4, seed=4))
    assert rig.card(RESIDENT)["reason"] == "no_face"
    assert rig.card(FOREIGN)["reason"] == "unknown_worker"      # card not on the roster
    assert rig.runner.errors == 0 and rig.runner.alarms == []
    assert rig.tsim.pulses == []
    assert [b["decision"] for b in records(rig)] == ["deny"] * 3


def test_face_only_lane_identifies_and_opens(rig):
    """1:N lane (no card): the same rig's devices, a second runner in face mode."""
    from gateway.clockin.machine import LaneSettings
    from gateway.clockin.runner import LaneDevices, LaneOptions, LaneRunner
    rig.runner.stop()
    rig.show(live(rig, "103", ("103_6", "103_18")))
    dev = rig.runner.dev
    face_lane = LaneRunner(LaneSettings(name="entry", mode="face", device="gw-test-1/entry"),
                           LaneDevices(None, dev.grabber, dev.gate),
                           rig.roster, rig.runner.faces, rig.outbox,
                           LaneOptions(capture_frames=6, capture_timeout=3.0, passage_timeout=2.0,
                                       face_cooldown=30.0)).start()
    try:
        import time
        deadline = time.monotonic() + 20
        while not (face_lane.committed and face_lane.machine.state.value == "ready") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        face_lane.stop()
    (seq, body), = face_lane.committed
    assert body["method"] == "face" and body["decision"] == "allow" and body["worker"] == "W000103", body
    assert body["margin_milli"] >= 60 and rig.tsim.passages == [0]
