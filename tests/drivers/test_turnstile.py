"""Modbus RTU frames against the reference, the relay-board model, and the turnstile driver
(pymodbus) against the simulator over a real pty."""
from __future__ import annotations

import os
import time

import pytest
import serial
from hypothesis import given, settings, strategies as st

from drivers.errors import DeviceLost
from drivers.modbus import (RelayBoard, RequestSplitter, crc16, crc_ok, read_bits, with_crc,
                            write_coil, write_coils)
from drivers.sim.turnstile import TurnstileSimulator
from drivers.turnstile import (GateError, GateSilent, Lane, ModbusRelayGate, PassageWatch,
                               check_gate_options, create_gate_driver, gate_kinds, register_gate_driver)

pytestmark = pytest.mark.timeout(30)
H = bytes.fromhex


@pytest.mark.parametrize("frame,expected", [
    (write_coil(1, 0, True), "01 05 00 00 FF 00 8C 3A"),
    (write_coil(1, 0, False), "01 05 00 00 00 00 CD CA"),
    (write_coil(1, 1, True), "01 05 00 01 FF 00 DD FA"),
    (read_bits(1, 0x01, 0, 8), "01 01 00 00 00 08 3D CC"),
    (read_bits(1, 0x02, 0, 8), "01 02 00 00 00 08 79 CC"),
    (write_coils(1, 0, [True] * 8), "01 0F 00 00 00 08 01 FF BE D5"),
])
def test_modbus_frames_match_reference(frame, expected):
    assert frame == H(expected)


def test_relay_board_model():
    board = RelayBoard()
    split = RequestSplitter()
    (req,) = split.feed(write_coil(1, 2, True))
    assert board.handle(req) == write_coil(1, 2, True)           # echo
    assert board.coils[2] is True
    (req,) = split.feed(read_bits(1, 0x01, 0, 8))
    assert board.handle(req) == with_crc(H("01 01 01 04"))
    board.inputs[0] = True
    (req,) = split.feed(read_bits(1, 0x02, 0, 8))
    assert board.handle(req) == with_crc(H("01 02 01 01"))
    (req,) = split.feed(with_crc(H("01 05 00 00 12 34")))        # illegal value
    assert board.handle(req) == with_crc(H("01 85 03"))
    (req,) = split.feed(write_coil(1, 9, True))                   # no channel 9
    assert board.handle(req) == with_crc(H("01 85 02"))
    (req,) = split.feed(with_crc(H("01 2B")))                     # unknown function
    assert board.handle(req) == with_crc(H("01 AB 01"))
    (req,) = split.feed(write_coil(2, 0, True))                   # another slave on the bus
    assert board.handle(req) is None
    (req,) = split.feed(write_coils(1, 0, [True, False, True]))
    assert board.handle(req) == with_crc(H("01 0F 00 00 00 03")) and board.coils[:3] == [True, False, True]


def test_splitter_resyncs_after_noise_and_ignores_bad_crc():
    split = RequestSplitter()
    bad = write_coil(1, 0, True)[:-1] + b"\x00"
    reqs = split.feed(H("FF 13") + bad + write_coil(1, 1, True))
    assert [r.raw for r in reqs] == [write_coil(1, 1, True)]


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.one_of(st.binary(max_size=16), st.builds(write_coil, st.integers(0, 247),
                                                               st.integers(0, 65535), st.booleans())),
                max_size=10).map(b"".join))
def test_splitter_never_crashes_and_only_yields_crc_valid_requests(data):
    for req in RequestSplitter().feed(data):
        assert crc_ok(req.raw) and req.raw in data
        RelayBoard().handle(req)


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(min_size=2, max_size=64))
def test_crc_appended_round_trips(data):
    assert crc_ok(with_crc(data)) and crc16(with_crc(data)) == 0


def test_passage_watch_needs_a_rising_edge():
    w = PassageWatch()
    assert [w.update(v) for v in (True, True, False, True)] == [False, False, False, True]


# ------------------------------------------------------------------ over a pty
@pytest.fixture
def turnstile():
    sims, gates = [], []

    def make(**kw):
        gate_kw = {k: kw.pop(k) for k in ("pulse", "timeout", "device_id") if k in kw}
        sim = TurnstileSimulator(**kw).start()
        sims.append(sim)
        gate = ModbusRelayGate(sim.path, **{"pulse": 0.1, "timeout": 0.3} | gate_kw)
        gates.append(gate)
        return sim, gate

    yield make
    for g in gates:
        g.close()
    for s in sims:
        s.stop()


def test_pymodbus_sends_the_reference_bytes_and_pulses_for_the_configured_time(turnstile):
    sim, gate = turnstile(pulse=0.25)
    gate.open("exit")                   # the lane's sensor is sampled during the pulse (FC 02)
    (t_on, on), (t_off, off) = [(t, r) for t, r in sim.requests if r[1] == 0x05]
    assert on == H("01 05 00 01 FF 00 DD FA") and off == write_coil(1, 1, False)
    assert 0.24 <= t_off - t_on < 0.4
    assert sim.board.coils[1] is False


def test_passage_confirmed(turnstile):
    sim, gate = turnstile()
    assert gate.open_and_confirm("entry", timeout=2.0) is True
    assert sim.passages == [0]


def test_nobody_passes_times_out(turnstile):
    sim, gate = turnstile(walk_away=True)
    t0 = time.monotonic()
    assert gate.open_and_confirm("entry", timeout=0.4) is False
    assert time.monotonic() - t0 < 1.0


def test_injected_input_edge_counts_as_passage(turnstile):
    sim, gate = turnstile(walk_away=True)
    sim.trigger_input(1, duration=0.2)
    assert gate.wait_passage("exit", timeout=1.0) is True


def test_open_all_for_evacuation(turnstile):
    sim, gate = turnstile()
    gate.open_all()
    assert sim.board.coils[:2] == [True, True]
    gate.release_all()
    assert sim.board.coils[:2] == [False, False]


def test_line_noise_before_a_request_is_survived(turnstile):
    sim, gate = turnstile()
    with serial.Serial(sim.path, 9600) as noisy:
        noisy.write(H("00 FF 13 37"))
    time.sleep(0.1)
    gate.open("entry")
    assert sim.pulses == [0]


def test_wrong_slave_address_times_out_as_gate_error(turnstile):
    sim, gate = turnstile(device_id=7, timeout=0.2)
    with pytest.raises(GateError):
        gate.set_relay(0, True)
    assert sim.board.coils[0] is False


def test_exception_reply_is_gate_error(turnstile):
    sim, gate = turnstile()
    with pytest.raises(GateError, match="Exception"):
        gate.set_relay(12, True)            # the board has 8 channels


def test_unknown_lane_is_refused(turnstile):
    sim, gate = turnstile()
    with pytest.raises(ValueError, match="unknown lane"):
        gate.open("vip")


def test_unplug_then_reopen(turnstile):
    sim, gate = turnstile(timeout=0.2)
    sim.unplug()
    assert not os.path.exists(sim.path)
    with pytest.raises(DeviceLost):
        gate.open("entry")
    with pytest.raises(DeviceLost):
        ModbusRelayGate(sim.path, timeout=0.2)
    sim.replug()
    gate2 = ModbusRelayGate(sim.path, pulse=0.05, timeout=0.3)
    try:
        gate2.open("entry")
        assert sim.pulses[-1] == 0
    finally:
        gate2.close()


def test_plugin_seam():
    class VendorGate:
        def __init__(self, address, *, lanes, speed=1):
            self.address, self.lanes, self.speed, self.opened = address, lanes, speed, []

        def open(self, lane):
            self.opened.append(lane)

        def wait_passage(self, lane, timeout):
            return True

        def open_all(self):
            pass

        def release_all(self):
            pass

        def close(self):
            pass

    register_gate_driver("acme-serial", VendorGate)
    assert "acme-serial" in gate_kinds() and {"modbus-relay", "http-turnstile"} <= set(gate_kinds())
    gate = create_gate_driver("acme-serial", "/dev/null", lanes={"entry": {"relay": 3}}, speed=2)
    gate.open("entry")
    assert gate.opened == ["entry"] and gate.lanes == {"entry": Lane(3)} and gate.speed == 2
    check_gate_options("acme-serial", "/dev/null", {"entry": Lane(3)}, {"speed": 2})
    with pytest.raises(TypeError, match="colour"):
        check_gate_options("acme-serial", "/dev/null", {"entry": Lane(3)}, {"colour": "red"})
    with pytest.raises(TypeError, match="baud"):
        check_gate_options("modbus-relay", "/dev/null", {"entry": Lane(3)}, {"baud": 9600})
    with pytest.raises(ValueError, match="unknown gate driver 'nope'; known: .*modbus-relay"):
        create_gate_driver("nope", "x", lanes={})


def test_two_lanes_on_one_board_from_two_threads(turnstile):
    """The board's lock serialises transactions; each lane's passage watch is its own."""
    import threading
    sim, gate = turnstile(lanes={0: 0, 1: 1}, walk_time=0.05, sensor_time=0.2)
    results = {}

    def lane(name):
        gate.open(name)
        results[name] = gate.wait_passage(name, timeout=2.0)

    threads = [threading.Thread(target=lane, args=(n,)) for n in ("entry", "exit")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {"entry": True, "exit": True}
    assert sorted(sim.passages) == [0, 1]


def test_quick_walker_during_the_pulse_is_seen(turnstile):
    """The sensor fires and drops while the relay is still closed: the armed watch saw it."""
    sim, gate = turnstile(pulse=0.4, walk_time=0.05, sensor_time=0.1)
    gate.open("entry")
    assert sim.board.inputs[0] is False                  # already over when the pulse ends
    assert gate.wait_passage("entry", timeout=0.2) is True


def test_silent_board_is_lost_for_the_supervisor(turnstile):
    sim, gate = turnstile(device_id=7, timeout=0.2)      # nobody answers at address 7
    with pytest.raises(GateSilent):
        gate.read_inputs(1)
    with pytest.raises(DeviceLost, match="does not answer"):
        gate.check()


def test_a_closed_gate_stays_closed_and_frees_the_port_for_the_next_driver(turnstile):
    """A supervisor closes a driver a lane reported lost and opens a fresh one on the same port:
    a call still arriving on the closed driver (another thread polling the sensor) must not
    let pymodbus re-open the port -- it would hold the port's exclusive lock and the fresh
    driver could never open it (the gate would stay dead)."""
    sim, gate = turnstile()
    gate.read_inputs()
    gate.close()
    with pytest.raises(DeviceLost, match="closed"):
        gate.read_inputs()
    with pytest.raises(DeviceLost, match="closed"):
        gate.open("entry")
    fresh = ModbusRelayGate(sim.path, lanes={"entry": Lane(0, 0)}, pulse=0.1, timeout=0.3)
    try:
        assert fresh.open_and_confirm("entry", timeout=2.0) is True
    finally:
        fresh.close()
