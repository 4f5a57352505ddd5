"""Wiegand 26/34: the reference example, parity errors, pulse assembly, properties."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from drivers.wiegand import (WiegandAssembler, WiegandCard, WiegandError, decode, encode,
                             encode26, uid_to_w34)


def test_reference_example_fc90_cn324():
    assert encode26(90, 324) == "00101101000000001010001000"
    card = decode("00101101000000001010001000")
    assert (card.bits, card.facility, card.number) == (26, 90, 324)


@pytest.mark.parametrize("flip,message", [(0, "even"), (25, "odd"), (5, "even"), (20, "odd")])
def test_single_bit_errors_are_caught(flip, message):
    bits = list(encode26(90, 324))
    bits[flip] = "1" if bits[flip] == "0" else "0"
    with pytest.raises(WiegandError, match=message):
        decode("".join(bits))


def test_w34_from_uid_with_configurable_byte_order():
    uid = bytes.fromhex("04A1B2C3")
    big, little = decode(uid_to_w34(uid)), decode(uid_to_w34(uid, "little"))
    assert big.value == 0x04A1B2C3 and little.value == 0xC3B2A104
    assert (big.facility, big.number) == (0x04A1, 0xB2C3)


@pytest.mark.parametrize("bits", ["", "0101", "1" * 37, "0010110100000000101000100x"])
def test_bad_frames(bits):
    with pytest.raises(WiegandError):
        decode(bits)


def test_assembler_splits_frames_on_the_gap():
    asm = WiegandAssembler(gap=0.025)
    t, out = 0.0, []
    for frame in (encode26(1, 2), encode(0xDEADBEEF, 34)):
        for bit in frame:
            if (r := asm.pulse(int(bit), t)) is not None:
                out.append(r)
            t += 0.002
        t += 0.05
    out.append(asm.poll(t))
    assert out == [WiegandCard(26, 1, 2, 1 << 16 | 2), WiegandCard(34, 0xDEAD, 0xBEEF, 0xDEADBEEF)]
    asm.pulse(1, t)                                   # a truncated frame becomes an error event
    assert isinstance(asm.poll(t + 1), WiegandError)


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from([26, 34]), st.data())
def test_encode_decode_round_trip(nbits, data):
    value = data.draw(st.integers(0, (1 << (nbits - 2)) - 1))
    assert decode(encode(value, nbits)).value == value


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet="01", max_size=40))
def test_arbitrary_bits_decode_or_raise_wiegand_error(bits):
    try:
        card = decode(bits)
    except WiegandError:
        return
    assert encode(card.value, card.bits) == bits      # anything accepted has correct parity
