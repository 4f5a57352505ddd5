"""SAM (GA 467) frame layer, sans-I/O.

A frame is ``AA AA AA 96 69 | Len(2, big-endian) | body | CHK`` where ``Len`` counts the body plus
the checksum byte and ``CHK`` is the XOR of every byte from Len1 to the end of the body. Commands
and responses share the layout; only the body differs (``CMD PARA DATA`` vs ``SW1 SW2 SW3 DATA``).

:class:`ReceiveBuffer` follows h11's ``_receivebuffer``: feed it bytes, then call
:meth:`ReceiveBuffer.next_event` until it returns ``None`` (need more data). It resynchronises on
the preamble after junk and never returns a frame whose checksum is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

PREAMBLE = b"\xAA\xAA\xAA\x96\x69"
HEADER_LEN = len(PREAMBLE) + 2
MIN_LEN = 3          # CMD PARA CHK (shortest command); a response needs at least 4
MAX_LEN = 2400       # largest real frame: read with 2 fingerprints, Len = 2314
_KEEP = len(PREAMBLE) - 1  # bytes kept when no preamble is found (may be a partial preamble)


def xor(data: bytes | bytearray) -> int:
    """XOR of all bytes. Folds one big integer in halves (C speed) instead of a Python loop."""
    width = len(data)
    x = int.from_bytes(data, "little")
    while width > 1:
        half = width // 2
        x = (x & ((1 << (8 * half)) - 1)) ^ (x >> (8 * half))
        width -= half
    return x


def xor_slow(data: bytes) -> int:
    """Reference implementation (byte by byte), used by the tests."""
    return reduce(lambda a, b: a ^ b, data, 0)


def build_frame(body: bytes) -> bytes:
    """Wrap ``body`` (CMD PARA DATA or SW1 SW2 SW3 DATA) into a complete frame."""
    length = len(body) + 1
    if not MIN_LEN <= length <= MAX_LEN:
        raise ValueError(f"frame body of {len(body)} bytes is outside the protocol limits")
    head = length.to_bytes(2, "big")
    return PREAMBLE + head + body + bytes([xor(head + body)])


@dataclass(frozen=True)
class Frame:
    """A complete frame with a correct checksum; ``body`` excludes Len and CHK."""
    body: bytes


@dataclass(frozen=True)
class Junk:
    """Bytes that were skipped while looking for a preamble."""
    data: bytes


@dataclass(frozen=True)
class BadChecksum:
    """A frame whose XOR did not match. ``raw`` is the whole frame as received."""
    raw: bytes
    expected: int
    got: int


@dataclass(frozen=True)
class BadLength:
    """A preamble followed by a Len outside MIN_LEN..MAX_LEN (the frame cannot be delimited)."""
    length: int


FrameEvent = Frame | Junk | BadChecksum | BadLength


class ReceiveBuffer:
    """Accumulates bytes; ``next_event()`` returns a :data:`FrameEvent` or ``None`` (need data)."""

    def __init__(self, max_len: int = MAX_LEN) -> None:
        self._buf = bytearray()
        self._max_len = max_len

    def feed(self, data: bytes) -> None:
        self._buf += data

    def __len__(self) -> int:
        return len(self._buf)

    def clear(self) -> bytes:
        """Drop a partial frame (e.g. after a read timeout); returns what was dropped."""
        dropped = bytes(self._buf)
        self._buf.clear()
        return dropped

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def next_event(self) -> FrameEvent | None:
        buf = self._buf
        start = buf.find(PREAMBLE)
        if start < 0:
            # keep a possible partial preamble at the tail
            keep = 0
            for k in range(min(_KEEP, len(buf)), 0, -1):
                if buf.endswith(PREAMBLE[:k]):
                    keep = k
                    break
            if len(buf) > keep:
                return Junk(self._take(len(buf) - keep))
            return None
        if start > 0:
            return Junk(self._take(start))
        if len(buf) < HEADER_LEN:
            return None
        length = int.from_bytes(buf[5:7], "big")
        if not MIN_LEN <= length <= self._max_len:
            del buf[: len(PREAMBLE)]  # skip this preamble; the rest is rescanned
            return BadLength(length)
        total = HEADER_LEN + length
        if len(buf) < total:
            # a new preamble inside the pending frame means this one was truncated
            inner = buf.find(PREAMBLE, len(PREAMBLE))
            if inner > 0 and self._looks_complete_at(inner):
                return Junk(self._take(inner))
            return None
        expected = xor(buf[5 : total - 1])
        got = buf[total - 1]
        if expected != got:
            inner = buf.find(PREAMBLE, len(PREAMBLE), total)
            if inner > 0:  # a frame starts inside: treat the prefix as junk and resync there
                return Junk(self._take(inner))
            return BadChecksum(self._take(total), expected, got)
        raw = self._take(total)
        return Frame(raw[HEADER_LEN:-1])

    def _looks_complete_at(self, pos: int) -> bool:
        """True when a complete, checksum-valid frame starts at ``pos``."""
        buf = self._buf
        if len(buf) < pos + HEADER_LEN:
            return False
        length = int.from_bytes(buf[pos + 5 : pos + 7], "big")
        end = pos + HEADER_LEN + length
        if not MIN_LEN <= length <= self._max_len or len(buf) < end:
            return False
        return xor(buf[pos + 5 : end - 1]) == buf[end - 1]

    def events(self) -> list[FrameEvent]:
        """Drain every event currently available."""
        out = []
        while (ev := self.next_event()) is not None:
            out.append(ev)
        return out
