"""Wiegand 26 / 34 decoding (sans-I/O).

W26 (H10301): even parity over bits 2-13 | 8-bit facility | 16-bit card number | odd parity over
bits 14-25. W34: even parity over bits 2-17 | 32 data bits | odd parity over bits 18-33.
:class:`WiegandAssembler` turns D0/D1 pulses with timestamps into frames (a frame ends after a
gap of 25 ms or more), for converters that report raw pulses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class WiegandError(ValueError):
    pass


@dataclass(frozen=True)
class WiegandCard:
    bits: int              # 26 or 34
    facility: int          # W26: 8-bit facility code; W34: high 16 bits
    number: int            # W26: 16-bit card number; W34: low 16 bits
    value: int             # the data bits as one integer (W34: often the 4-byte card UID)


def _parity(bits: str) -> int:
    return bits.count("1") % 2


def decode(bits: str) -> WiegandCard:
    """Decode a frame given as a string of '0'/'1' (first transmitted bit first)."""
    if set(bits) - {"0", "1"}:
        raise WiegandError("a Wiegand frame is a string of 0 and 1")
    n = len(bits)
    if n not in (26, 34):
        raise WiegandError(f"unsupported Wiegand length {n} (26 or 34 bits)")
    half = (n - 2) // 2
    first, second = bits[: 1 + half], bits[1 + half :]
    if _parity(first) != 0:
        raise WiegandError("leading even-parity bit is wrong")
    if _parity(second) != 1:
        raise WiegandError("trailing odd-parity bit is wrong")
    data = bits[1:-1]
    value = int(data, 2)
    if n == 26:
        return WiegandCard(26, int(data[:8], 2), int(data[8:], 2), value)
    return WiegandCard(34, int(data[:16], 2), int(data[16:], 2), value)


def encode(value: int, nbits: int = 26) -> str:
    """Build a frame from the data bits (W26: facility << 16 | number)."""
    if nbits not in (26, 34):
        raise WiegandError("nbits must be 26 or 34")
    width = nbits - 2
    if not 0 <= value < 1 << width:
        raise WiegandError(f"value does not fit in {width} bits")
    data = format(value, f"0{width}b")
    half = width // 2
    lead = str(_parity(data[:half]))
    trail = str(1 - _parity(data[half:]))
    return lead + data + trail


def encode26(facility: int, number: int) -> str:
    if not (0 <= facility < 256 and 0 <= number < 65536):
        raise WiegandError("W26 facility is 8 bits and card number 16 bits")
    return encode(facility << 16 | number, 26)


def uid_to_w34(uid: bytes, byteorder: Literal["big", "little"] = "big") -> str:
    """W34 from a 4-byte card UID; the byte order differs between readers (configurable)."""
    return encode(int.from_bytes(uid[:4], byteorder), 34)


class WiegandAssembler:
    """Feed ``pulse(line, t)`` for each D0 (line 0) / D1 (line 1) pulse; ``poll(t)`` returns a
    decoded card or an error once the line has been quiet for ``gap`` seconds."""

    def __init__(self, gap: float = 0.025) -> None:
        self.gap = gap
        self._bits: list[str] = []
        self._last = 0.0

    def pulse(self, line: int, t: float) -> WiegandCard | WiegandError | None:
        done = self.poll(t)
        self._bits.append("1" if line else "0")
        self._last = t
        return done

    def poll(self, t: float) -> WiegandCard | WiegandError | None:
        if not self._bits or t - self._last < self.gap:
            return None
        bits, self._bits = "".join(self._bits), []
        try:
            return decode(bits)
        except WiegandError as exc:
            return exc
