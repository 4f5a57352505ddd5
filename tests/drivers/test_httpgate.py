"""The HTTP turnstile controller driver: its codec byte for byte, and the driver against the
simulator over real HTTP on 127.0.0.1 (open, passage, nobody passes, token, unplug/replug)."""
from __future__ import annotations

import json
import threading

import pytest

from drivers.errors import DeviceLost
from drivers.httpgate import HttpTurnstileGate, Request, build_request, parse_reply, passages_of
from drivers.sim.httpgate import HttpTurnstileSimulator
from drivers.turnstile import GateError, Lane, create_gate_driver

pytestmark = pytest.mark.timeout(30)
LANES = {"entry": Lane(1), "exit": Lane(2)}


def test_requests():
    assert build_request("status") == Request("GET", "/v1/status")
    assert build_request("open", 2) == Request("POST", "/v1/doors/2/open", b"{}")
    assert build_request("door", 1) == Request("GET", "/v1/doors/1")
    assert json.loads(build_request("hold", 1, False).body) == {"on": False}
    with pytest.raises(ValueError):
        build_request("open")


def test_replies():
    assert parse_reply(200, b'{"door": 1, "passages": 4}') == {"door": 1, "passages": 4}
    with pytest.raises(GateError, match="404: no door 9"):
        parse_reply(404, b'{"error": "no door 9"}')
    with pytest.raises(GateError, match="token_file"):
        parse_reply(401, b'{"error": "bad token"}')
    with pytest.raises(GateError, match="not JSON"):
        parse_reply(200, b"<html>")
    for bad in ({}, {"passages": -1}, {"passages": True}, {"passages": "3"}):
        with pytest.raises(GateError, match="passage count"):
            passages_of(bad)


@pytest.fixture
def controller():
    sim = HttpTurnstileSimulator(doors=(1, 2), walk_time=0.05).start()
    yield sim
    sim.stop()


def test_open_and_passage_through_the_seam(controller):
    gate = create_gate_driver("http-turnstile", controller.url, lanes={"entry": {"relay": 1}, "exit": {"relay": 2}})
    assert isinstance(gate, HttpTurnstileGate) and gate.confirms_passage("entry")
    gate.open("exit")
    assert gate.wait_passage("exit", timeout=2.0) is True
    assert controller.opens == [2] and controller.passages(2) == 1 and controller.passages(1) == 0


def test_passage_between_open_and_first_poll_is_not_missed(controller):
    controller.walk_time = 0.0
    gate = HttpTurnstileGate(controller.url, lanes=LANES)
    gate.open("entry")
    threading.Event().wait(0.2)                          # the walker is through before we look
    assert gate.wait_passage("entry", timeout=0.1) is True


def test_nobody_passes(controller):
    controller.walk_away = True
    gate = HttpTurnstileGate(controller.url, lanes=LANES, poll_interval=0.02)
    gate.open("entry")
    assert gate.wait_passage("entry", timeout=0.3) is False


def test_evacuation_holds_every_door(controller):
    gate = HttpTurnstileGate(controller.url, lanes=LANES)
    gate.open_all()
    assert controller.held == {1: True, 2: True}
    gate.release_all()
    assert controller.held == {1: False, 2: False}


def test_token(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with HttpTurnstileSimulator(doors=(1,), token="s3cret") as sim:
        with pytest.raises(GateError, match="refused"):
            HttpTurnstileGate(sim.url, lanes={"entry": Lane(1)})
        gate = HttpTurnstileGate(sim.url, lanes={"entry": Lane(1)}, token_file=str(token))
        gate.open("entry")
        assert sim.opens == [1]


def test_unknown_door_is_a_gate_error(controller):
    gate = HttpTurnstileGate(controller.url, lanes={"vip": Lane(7)})
    with pytest.raises(GateError, match="404"):
        gate.open("vip")
    with pytest.raises(ValueError, match="unknown lane"):
        gate.open("entry")


def test_address_must_be_a_url():
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpTurnstileGate("/dev/ttyUSB0", lanes=LANES)


def test_unplug_is_device_lost_and_replug_answers_again(controller):
    gate = HttpTurnstileGate(controller.url, lanes=LANES, timeout=0.5)
    controller.unplug()
    with pytest.raises(DeviceLost):
        gate.check()
    with pytest.raises(DeviceLost):
        gate.open("entry")
    with pytest.raises(DeviceLost):
        HttpTurnstileGate(controller.url, lanes=LANES, timeout=0.5)
    controller.replug()
    gate.check()
    gate.open("entry")
    assert controller.opens == [1]
