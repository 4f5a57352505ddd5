"""ID-card driver ↔ simulator over real pseudo-terminals: one read per card, every card type,
junk, split frames, delays, timeouts, corrupted replies and the simulator's error replies."""
from __future__ import annotations

import time

import pytest
import serial

from drivers.errors import DeviceTimeout
from drivers.sam import protocol as p
from drivers.sam.frame import ReceiveBuffer
from drivers.sam.reader import CardError, CardLeft, CardRead, ReaderProblem, SamReader
from drivers.sim.idcard import SamFaults, load_identities
from drivers.sim.samples import ALL_CARDS, HMT, RESIDENT, RESIDENT_LONG_TERM

pytestmark = pytest.mark.timeout(30)


def polls(reader, n):
    out = []
    for _ in range(n):
        out += reader.poll()
    return out


def reads(events):
    return [e for e in events if isinstance(e, CardRead)]


@pytest.fixture
def reader_for():
    readers = []

    def make(sim, **kw):
        r = SamReader.open(sim.path, timeout=kw.pop("timeout", 0.5), **kw)
        readers.append(r)
        return r

    yield make
    for r in readers:
        r.close()


def test_command_set_over_pty(idcard_sim, reader_for):
    sim = idcard_sim([RESIDENT | {"latest_address": "广西南宁市良庆区五象大道1号"}])
    r = reader_for(sim)
    assert r.status() is True
    r.reset()
    r.set_max_rf(0x50)
    assert sim.device.max_rf == 0x50
    assert r.sam_id() == "0501-20110511-0123456789"
    assert r.find() is False
    sim.tap()
    assert r.find() is True
    r.select()
    ident = r.read()
    assert ident.id_number == RESIDENT["id_number"] and len(ident.photo) == 1024
    assert r.latest_address() == "广西南宁市良庆区五象大道1号"


def test_latest_address_absent_is_none(idcard_sim, reader_for):
    sim = idcard_sim([RESIDENT])
    r = reader_for(sim)
    sim.tap()
    assert r.find()
    r.select()
    r.read()
    assert r.latest_address() is None


@pytest.mark.parametrize("fp_len", [0, 512, 1024])
def test_read_with_fingerprint(idcard_sim, reader_for, fp_len):
    sim = idcard_sim([RESIDENT | {"fingerprint_bytes": fp_len}])
    r = reader_for(sim, fingerprint=True)
    sim.tap()
    (ev,) = reads(polls(r, 1))
    assert len(ev.identity.fingerprint) == fp_len


def test_every_card_type_reads(idcard_sim, reader_for):
    sim = idcard_sim(ALL_CARDS)
    r = reader_for(sim)
    seen = []
    for _ in ALL_CARDS:
        sim.tap()
        seen += [e.identity.card_type for e in reads(polls(r, 2))]
        sim.remove()
        polls(r, 2)
    assert seen == ["resident", "resident", "hmt_residence", "foreign_permanent",
                    "foreign_permanent_2023"]


@pytest.mark.parametrize("after_read", ["halt", "stay", "alternate"])
def test_card_left_on_reader_is_read_once(idcard_sim, reader_for, after_read):
    sim = idcard_sim([RESIDENT], after_read=after_read)
    r = reader_for(sim)
    sim.tap(RESIDENT)
    events = polls(r, 12)
    assert len(reads(events)) == 1
    # and it counts as new once it has left the field and come back
    sim.remove()
    events += polls(r, 3)
    kinds = [type(e).__name__ for e in events if isinstance(e, (CardRead, CardLeft))]
    assert kinds == ["CardRead", "CardLeft"]
    sim.tap(RESIDENT)
    assert len(reads(polls(r, 6))) == 1


def test_junk_before_every_reply_is_skipped(idcard_sim, reader_for):
    sim = idcard_sim([RESIDENT], faults=SamFaults(junk=bytes.fromhex("AA 00 AA AA 96 00 13 37")))
    r = reader_for(sim)
    sim.tap()
    events = polls(r, 1)
    assert len(reads(events)) == 1
    assert any(isinstance(e, ReaderProblem) and e.reason == "junk" for e in events)


def test_split_frames_with_gaps(idcard_sim, reader_for):
    sim = idcard_sim([RESIDENT], faults=SamFaults(split=7, split_gap=0.002))
    r = reader_for(sim, timeout=2.0)
    sim.tap()
    assert len(reads(polls(r, 1))) == 1


def test_slow_reply_times_out_then_reader_recovers(idcard_sim, reader_for):
    sim = idcard_sim([RESIDENT], faults=SamFaults(delay=0.4))
    r = reader_for(sim, timeout=0.15)
    with pytest.raises(DeviceTimeout):
        r.status()
    events = polls(r, 1)
    assert [e.reason for e in events if isinstance(e, ReaderProblem)] == ["timeout"]
    sim.faults.delay = 0
    time.sleep(0.5)                        # let the late replies drain
    sim.tap()
    assert len(reads(polls(r, 2))) == 1    # stale late replies do not confuse it


def test_mute_reader_times_out(idcard_sim, reader_for):
    sim = idcard_sim(faults=SamFaults(mute=True))
    r = reader_for(sim, timeout=0.1)
    t0 = time.monotonic()
    events = r.poll()
    assert time.monotonic() - t0 < 0.5
    assert [e.reason for e in events] == ["timeout"]


def test_corrupted_reply_is_reported_and_reader_keeps_going(idcard_sim, reader_for):
    sim = idcard_sim([RESIDENT], faults=SamFaults(corrupt_next=1))
    r = reader_for(sim)
    events = r.poll()
    assert [e.reason for e in events if isinstance(e, ReaderProblem)] == ["bad_checksum"]
    sim.tap()
    assert len(reads(polls(r, 2))) == 1


def test_bad_card_gives_one_error_event_then_next_card_reads(idcard_sim, reader_for):
    bad = RESIDENT | {"id_number": "450103198503070031"}
    sim = idcard_sim([bad, RESIDENT_LONG_TERM])
    r = reader_for(sim)
    sim.tap()
    events = polls(r, 5)
    errors = [e for e in events if isinstance(e, CardError)]
    assert [e.reason for e in errors] == ["bad_id_number"]
    assert "450103198503070031" not in errors[0].message
    sim.remove()
    polls(r, 2)
    sim.tap()
    (ok,) = reads(polls(r, 2))
    assert ok.identity.valid_to is None


def test_failed_rf_read_is_retried_on_the_next_poll(idcard_sim, reader_for):
    sim = idcard_sim([RESIDENT | {"read_sw3": "0x41"}])
    r = reader_for(sim, absent_polls=1)
    sim.tap()
    (err,) = [e for e in r.poll() if isinstance(e, CardError)]
    assert err.reason == "read_failed" and "read-card operation failed" in str(err.message)
    sim.tap(RESIDENT)                       # re-presented, good contact this time
    assert len(reads(polls(r, 2))) == 1


# ------------------------------------------------------- simulator error replies, raw bytes
def raw_exchange(port: serial.Serial, data: bytes) -> p.Reply:
    port.reset_input_buffer()
    port.write(data)
    buf = ReceiveBuffer()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        buf.feed(port.read(port.in_waiting or 1))
        for ev in buf.events():
            if hasattr(ev, "body"):
                return p.parse_reply(ev.body)
    raise AssertionError("no reply")


@pytest.mark.parametrize("request_hex,sw3", [
    ("AA AA AA 96 69 00 03 11 FF EE", 0x10),            # bad checksum
    ("AA AA AA 96 69 00 02 11 ED", 0x11),               # Len below the minimum
    ("AA AA AA 96 69 00 04 20 01 00 25", 0x11),         # find with a stray data byte
    ("AA AA AA 96 69 00 03 77 01 75", 0x21),            # unknown command
    ("AA AA AA 96 69 00 03 60 09 6A", 0x21),            # unknown baud code
    ("AA AA AA 96 69 00 03 20 02 21", 0x81),            # select without find
    ("AA AA AA 96 69 00 03 30 01 32", 0x41),            # read without select
    ("AA AA AA 96 69 00 03 20 01 22", 0x80),            # find, empty field
])
def test_simulator_error_replies(idcard_sim, request_hex, sw3):
    sim = idcard_sim()
    with serial.Serial(sim.path, 115200, timeout=0.2) as port:
        assert raw_exchange(port, bytes.fromhex(request_hex)).sw3 == sw3


def test_simulator_drops_half_a_command_after_an_interbyte_timeout(idcard_sim):
    sim = idcard_sim()
    with serial.Serial(sim.path, 115200, timeout=0.2) as port:
        port.write(bytes.fromhex("AA AA AA 96 69 00 03 11"))     # half a status command
        time.sleep(0.4)
        assert port.read(64) == b""                                # nothing yet, and ...
        assert raw_exchange(port, p.command_frame(p.Command.STATUS)).sw3 == 0x90


def test_set_baud_then_reopen_at_9600(idcard_sim, reader_for):
    sim = idcard_sim([HMT])
    r = reader_for(sim)
    r.set_baud(9600)
    assert sim.device.baud == 9600
    r.close()
    r2 = reader_for(sim, baudrate=9600)
    sim.tap()
    assert reads(polls(r2, 1))[0].identity.card_type == "hmt_residence"


def test_identity_file_formats(tmp_path):
    import json
    (tmp_path / "a.json").write_text(json.dumps([RESIDENT, HMT]), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(c, ensure_ascii=False)
                                                for c in (RESIDENT, HMT)) + "\n", encoding="utf-8")
    assert load_identities(tmp_path / "a.json") == load_identities(tmp_path / "b.jsonl") == [RESIDENT, HMT]
    (tmp_path / "c.json").write_text("[1, 2]")
    with pytest.raises(ValueError):
        load_identities(tmp_path / "c.json")
