"""Build the configured lanes ([lanes.NAME] in site.toml) from real drivers: one card reader and
camera per lane, one gate driver per controller (same ``gate_kind`` and ``gate`` address) shared
by the lanes wired to it, each device under a supervisor that re-opens it after an unplug."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.config import LaneConfig, SiteConfig
from gateway.clockin.devices import (DeviceSupervisor, FrameGrabber, LaneGate, ReaderFeed,
                                     device_alarms, supervise_gate)
from gateway.clockin.faces import face_service
from gateway.clockin.machine import LaneSettings
from gateway.clockin.runner import LaneDevices, LaneOptions, LaneRunner
from gateway.clockin.rules import rules_from
from gateway.site import open_roster, open_templates


@dataclass
class SiteLanes:
    """The site's lanes and their supervised devices; nothing runs until :meth:`start`."""
    runners: list[LaneRunner] = field(default_factory=list)
    feeds: list[Any] = field(default_factory=list)             # ReaderFeed / FrameGrabber
    gates: list[DeviceSupervisor] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)           # roster, template store

    def start(self) -> "SiteLanes":
        for part in (*self.gates, *self.feeds, *self.runners):
            part.start()
        return self

    def stop(self) -> None:
        for part in (*self.runners, *self.feeds, *self.gates):
            try:
                part.stop()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
        close_all(self.closers)

    def supervisors(self) -> list[DeviceSupervisor]:
        return [f.supervisor for f in self.feeds] + list(self.gates)

    def device_info(self) -> list[dict]:
        return [s.info() for s in self.supervisors()]

    def alarms(self) -> list[dict]:
        """Alarm source for the uplink's state message and the health file."""
        return device_alarms(self.device_info())

    def lane_info(self) -> list[dict]:
        return [{"name": r.machine.settings.name, "alive": r._thread.is_alive(),
                 "out_of_service": list(r.out_of_service())} for r in self.runners]


def gate_lanes(lanes: list[LaneConfig]) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, address) -> {lane name: Lane}: which lanes each gate controller serves."""
    from drivers.turnstile import Lane
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for lane in lanes:
        out.setdefault((lane.gate_kind, lane.gate), {})[lane.name] = Lane(lane.relay, lane.sensor)
    return out


def _gate_opener(kind: str, address: str, lanes: dict, options: dict):
    from drivers.turnstile import create_gate_driver
    return lambda: create_gate_driver(kind, address, lanes=lanes, **options)


def build_lanes(cfg: SiteConfig, outbox: Any) -> SiteLanes:
    """Every configured lane, ready to start (devices are opened by their supervisors)."""
    from biometrics.liveness import LivenessPolicy
    f = cfg.faces
    roster = open_roster(cfg)
    store = open_templates(cfg)
    site = SiteLanes(closers=[roster, store])
    faces = face_service(cfg, store)
    rules = rules_from(cfg.roster)
    liveness = None if f.liveness == "off" else LivenessPolicy(min_turn=f.min_turn, challenge=f.challenge)
    options_of = {(ln.gate_kind, ln.gate): ln.gate_options for ln in cfg.lanes}
    gates: dict[tuple[str, str], DeviceSupervisor] = {}
    for key, served in gate_lanes(cfg.lanes).items():
        kind, address = key
        gates[key] = supervise_gate(f"gate:{address}", _gate_opener(kind, address, served, options_of[key]),
                                    path=address, lanes=list(served))
        site.gates.append(gates[key])
    for lane in cfg.lanes:
        reader = grabber = None
        if lane.mode != "face":
            reader = ReaderFeed(lane.idcard, name=f"idcard:{lane.name}", lanes=[lane.name])
            site.feeds.append(reader)
        if lane.mode != "card":
            grabber = FrameGrabber(lane.camera, name=f"camera:{lane.name}", lanes=[lane.name])
            site.feeds.append(grabber)
        settings = LaneSettings(name=lane.name, direction=lane.dir, mode=lane.mode,
                                device=f"{cfg.gateway_id}/{lane.name}", anti_passback=lane.anti_passback,
                                rules=rules)
        options = LaneOptions(capture_frames=f.capture_frames, capture_timeout=f.capture_timeout_s,
                              passage_timeout=lane.passage_timeout_s, detect_width=f.detect_width,
                              liveness=liveness)
        gate = LaneGate(gates[(lane.gate_kind, lane.gate)], lane.name)
        site.runners.append(LaneRunner(settings, LaneDevices(reader, grabber, gate), roster,
                                       faces if lane.mode != "card" else None, outbox, options,
                                       today=date.today))
    return site


def close_all(closers: list[Any]) -> None:
    for c in closers:
        try:
            (c.stop if hasattr(c, "stop") else c.close)()
        except Exception:  # noqa: BLE001 - best effort on shutdown
            pass
