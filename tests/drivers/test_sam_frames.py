"""SAM codec byte-for-byte against the reference frames of protocols.md 1.3-1.5."""
from __future__ import annotations

import pytest

from drivers.sam import protocol as p
from drivers.sam.frame import (PREAMBLE, BadChecksum, BadLength, Frame, Junk, ReceiveBuffer,
                               build_frame, xor)

H = bytes.fromhex

REQUESTS = [
    (p.Command.RESET, None, b"", "AA AA AA 96 69 00 03 10 FF EC"),
    (p.Command.STATUS, None, b"", "AA AA AA 96 69 00 03 11 FF ED"),
    (p.Command.SAM_ID, None, b"", "AA AA AA 96 69 00 03 12 FF EE"),
    (p.Command.FIND, None, b"", "AA AA AA 96 69 00 03 20 01 22"),
    (p.Command.SELECT, None, b"", "AA AA AA 96 69 00 03 20 02 21"),
    (p.Command.READ_BASE, None, b"", "AA AA AA 96 69 00 03 30 01 32"),
    (p.Command.READ_ADDRESS, None, b"", "AA AA AA 96 69 00 03 30 03 30"),
    (p.Command.READ_FINGERPRINT, None, b"", "AA AA AA 96 69 00 03 30 10 23"),
    (p.Command.SET_BAUD, 0x00, b"", "AA AA AA 96 69 00 03 60 00 63"),
    (p.Command.SET_BAUD, 0x04, b"", "AA AA AA 96 69 00 03 60 04 67"),
    (p.Command.SET_MAX_RF, None, b"\x50", "AA AA AA 96 69 00 04 61 FF 50 CA"),
]


@pytest.mark.parametrize("command,para,data,expected", REQUESTS, ids=[r[3][15:23] for r in REQUESTS])
def test_request_frames_match_reference(command, para, data, expected):
    assert p.command_frame(command, para, data) == H(expected)


def test_helpers_build_baud_and_max_rf():
    assert p.set_baud_frame(9600) == H("AA AA AA 96 69 00 03 60 04 67")
    assert p.set_max_rf_frame() == H("AA AA AA 96 69 00 04 61 FF 50 CA")
    with pytest.raises(ValueError):
        p.set_baud_frame(1234)


@pytest.mark.parametrize("sw3,data,expected", [
    (0x90, b"", "AA AA AA 96 69 00 04 00 00 90 94"),
    (0x9F, bytes(4), "AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97"),
    (0x90, bytes(8), "AA AA AA 96 69 00 0C 00 00 90" + " 00" * 8 + " 9C"),
    (0x80, b"", "AA AA AA 96 69 00 04 00 00 80 84"),
    (0x81, b"", "AA AA AA 96 69 00 04 00 00 81 85"),
    (0x41, b"", "AA AA AA 96 69 00 04 00 00 41 45"),
    (0x31, b"", "AA AA AA 96 69 00 04 00 00 31 35"),
])
def test_reply_frames_match_reference_traces(sw3, data, expected):
    frame = p.response_frame(sw3, data)
    assert frame == H(expected)
    buf = ReceiveBuffer()
    buf.feed(frame)
    ev = buf.next_event()
    assert isinstance(ev, Frame)
    reply = p.parse_reply(ev.body)
    assert (reply.sw3, reply.data) == (sw3, data)


def test_read_base_reply_layout():
    blocks = p.CardBlocks(bytes(range(256)), bytes(1024))
    frame = p.response_frame(0x90, p.read_base_data(blocks))
    assert len(frame) == 1295
    assert frame[:14] == H("AA AA AA 96 69 05 08 00 00 90 01 00 04 00")
    assert frame[14:270] == blocks.text
    assert frame[-1] == xor(frame[5:-1])
    assert p.parse_read_base(frame[10:-1]) == blocks


@pytest.mark.parametrize("fp_len,total,len_hex", [(0, 1297, "05 0A"), (512, 1809, "07 0A"),
                                                   (1024, 2321, "09 0A")])
def test_read_fingerprint_reply_sizes(fp_len, total, len_hex):
    blocks = p.CardBlocks(bytes(256), bytes(1024), bytes([7]) * fp_len)
    frame = p.response_frame(0x90, p.read_fingerprint_data(blocks))
    assert len(frame) == total
    assert frame[5:7] == H(len_hex)
    assert frame[14:16] == fp_len.to_bytes(2, "big")
    assert p.parse_read_fingerprint(frame[10:-1]) == blocks


def test_sam_id_reply_and_rendering():
    data = p.sam_id_bytes("0501-20110511-0123456789")
    frame = p.response_frame(0x90, data)
    assert len(frame) == 27 and frame[5:7] == H("00 14")
    assert p.format_sam_id(data) == "0501-20110511-0123456789"
    # four little-endian integers: 0x0005, 0x0001, ...
    assert data[:4] == H("05 00 01 00")


def test_buffer_returns_nothing_until_whole_frame():
    frame = H("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
    buf = ReceiveBuffer()
    for i in range(len(frame) - 1):
        buf.feed(frame[i : i + 1])
        assert buf.next_event() is None, f"event after {i + 1} bytes"
    buf.feed(frame[-1:])
    assert buf.next_event() == Frame(H("00 00 9F 00 00 00 00"))
    assert buf.next_event() is None


def test_resync_after_junk_like_public_qt_trace():
    # "AA 00 AA AA 96 69 ..." seen in public Qt code: junk that starts like a preamble
    status = H("AA AA AA 96 69 00 04 00 00 90 94")
    buf = ReceiveBuffer()
    buf.feed(H("AA 00") + status)
    assert buf.events() == [Junk(H("AA 00")), Frame(H("00 00 90"))]


def test_bad_checksum_is_an_event_and_next_frame_survives():
    good = H("AA AA AA 96 69 00 04 00 00 90 94")
    bad = good[:-1] + b"\x95"
    buf = ReceiveBuffer()
    buf.feed(bad + good)
    events = buf.events()
    assert events[0] == BadChecksum(bad, expected=0x94, got=0x95)
    assert events[1:] == [Frame(H("00 00 90"))]


def test_truncated_frame_followed_by_complete_one_resyncs():
    good = H("AA AA AA 96 69 00 04 00 00 90 94")
    truncated = H("AA AA AA 96 69 05 08 00 00 90 01")   # a read reply cut short
    buf = ReceiveBuffer()
    buf.feed(truncated + good)
    events = buf.events()
    assert events == [Junk(truncated), Frame(H("00 00 90"))]


@pytest.mark.parametrize("length", [0, 1, 2, 2401, 0xFFFF])
def test_length_limits(length):
    buf = ReceiveBuffer()
    buf.feed(PREAMBLE + length.to_bytes(2, "big") + bytes(8))
    assert buf.next_event() == BadLength(length)


def test_build_frame_rejects_oversize_bodies():
    with pytest.raises(ValueError):
        build_frame(b"\x00")          # Len 2 is below the minimum
    with pytest.raises(ValueError):
        build_frame(bytes(2400))


def test_clear_drops_partial_frame():
    buf = ReceiveBuffer()
    buf.feed(H("AA AA AA 96 69 05 08 00"))
    assert buf.next_event() is None
    assert buf.clear() == H("AA AA AA 96 69 05 08 00")
    buf.feed(H("AA AA AA 96 69 00 04 00 00 90 94"))
    assert buf.next_event() == Frame(H("00 00 90"))
