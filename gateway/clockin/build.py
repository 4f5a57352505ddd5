"""Build the configured lanes ([lanes.NAME] in site.toml) from real drivers: one card reader and
camera per lane, one relay-board connection per serial port shared by the lanes on it."""
from __future__ import annotations

from datetime import date
from typing import Any

from gateway.config import SiteConfig
from gateway.clockin.machine import LaneSettings
from gateway.clockin.faces import face_service
from gateway.clockin.runner import FrameGrabber, LaneDevices, LaneOptions, LaneRunner, SharedGate
from gateway.clockin.rules import rules_from
from gateway.site import open_roster, open_templates


def build_lanes(cfg: SiteConfig, outbox: Any) -> tuple[list[LaneRunner], list[Any]]:
    """(runners, things to close). Nothing is started."""
    from biometrics.liveness import LivenessPolicy
    from drivers.camera import Camera
    from drivers.sam.reader import SamReader
    from drivers.turnstile import ModbusRelayGate
    f = cfg.faces
    roster = open_roster(cfg)
    store = open_templates(cfg)
    faces = face_service(cfg, store)
    rules = rules_from(cfg.roster)
    liveness = None if f.liveness == "off" else LivenessPolicy(min_turn=f.min_turn, challenge=f.challenge)
    boards: dict[str, SharedGate] = {}
    closers: list[Any] = [roster, store]
    runners = []
    for lane in cfg.lanes:
        if lane.gate not in boards:
            driver = ModbusRelayGate(port=lane.gate, lanes={})
            boards[lane.gate] = SharedGate(driver)
            closers.append(driver)
        reader = grabber = None
        if lane.mode != "face":
            reader = SamReader.open(lane.idcard, timeout=0.5)
            closers.append(reader)
        if lane.mode != "card":
            grabber = FrameGrabber(Camera(lane.camera)).start()
            closers.insert(0, grabber)
        settings = LaneSettings(name=lane.name, direction=lane.dir, mode=lane.mode,
                                device=f"{cfg.gateway_id}/{lane.name}", anti_passback=lane.anti_passback,
                                rules=rules)
        options = LaneOptions(capture_frames=f.capture_frames, capture_timeout=f.capture_timeout_s,
                              passage_timeout=lane.passage_timeout_s, detect_width=f.detect_width,
                              liveness=liveness)
        runners.append(LaneRunner(settings, LaneDevices(reader, grabber, boards[lane.gate], lane.relay, lane.sensor),
                                  roster, faces if lane.mode != "card" else None, outbox, options,
                                  today=date.today))
    return runners, closers


def close_all(closers: list[Any]) -> None:
    for c in closers:
        try:
            (c.stop if hasattr(c, "stop") else c.close)()
        except Exception:  # noqa: BLE001 - best effort on shutdown
            pass
