"""[faces], [roster] and [lanes.NAME] in site.toml: defaults, and bad lines named."""
from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse

LANE = {"idcard": "/dev/ttyUSB0", "camera": "0", "gate": "/dev/ttyUSB1", "sensor": 0}


def test_lanes_and_faces_parse(tmp_path):
    cfg = parse({"gateway": {"id": "gw-1"}, "faces": {"verify": 0.4, "liveness": "off"},
                 "roster": {"max_age_male": 58},
                 "lanes": {"entry": LANE, "exit": LANE | {"dir": "out", "relay": 1, "anti_passback": True}}},
                home=tmp_path)
    assert cfg.faces.verify == 0.4 and cfg.faces.liveness == "off"
    assert cfg.faces.store == tmp_path / "faces" / "templates.db"
    assert cfg.roster.path == tmp_path / "roster.db" and cfg.roster.max_age_male == 58
    assert [(lane.name, lane.dir, lane.relay, lane.anti_passback) for lane in cfg.lanes] == \
           [("entry", "in", 0, False), ("exit", "out", 1, True)]
    assert parse({"gateway": {"id": "gw-1"}}, home=tmp_path).lanes == []


@pytest.mark.parametrize("extra, message", [
    ({"faces": {"tolerance": 0.6}}, r"\[faces\] tolerance: unknown setting"),
    ({"faces": {"verify": 0.0}}, "between 0 and 2"),
    ({"faces": {"verify_nearest": "yes"}}, "true or false"),
    ({"faces": {"liveness": "blink"}}, "one of head_turn, off"),
    ({"roster": {"min_age": "18"}}, "must be an integer"),
    ({"lanes": {"entry": LANE | {"speed": 1}}}, r"\[lanes.entry\] speed: unknown setting"),
    ({"lanes": {"entry": LANE | {"mode": "fingerprint"}}}, "one of card\\+face, face, card"),
    ({"lanes": {"entry": {"camera": "0", "gate": "/dev/x"}}}, "idcard: needed"),
    ({"lanes": {"entry": {"idcard": "/dev/x", "gate": "/dev/y"}}}, "camera: needed"),
    ({"lanes": {"entry": {"idcard": "/dev/x", "camera": "0"}}}, "gate"),
    ({"lanes": {"entry": 3}}, "must be a"),
])
def test_bad_lines_are_named(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        parse({"gateway": {"id": "gw-1"}, **extra}, home=tmp_path)


def test_face_only_and_card_only_lanes_need_only_their_devices(tmp_path):
    cfg = parse({"gateway": {"id": "gw-1"}, "lanes": {
        "f": {"mode": "face", "camera": "rtsp://cam/1", "gate": "/dev/x"},
        "c": {"mode": "card", "idcard": "/dev/y", "gate": "/dev/x"}}}, home=tmp_path)
    assert [lane.mode for lane in cfg.lanes] == ["face", "card"]
