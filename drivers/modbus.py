"""Modbus RTU, sans-I/O: CRC-16/MODBUS, request frames, a slave-side request splitter and the
model of a cheap RS-485 relay board (coils = relays, discrete inputs = opto inputs).

The gateway's master side uses pymodbus; this module is what the simulator answers with, and an
independent check of pymodbus's bytes in the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(frame: bytes) -> bytes:
    return frame + crc16(frame).to_bytes(2, "little")      # low byte first


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")


def write_coil(slave: int, address: int, on: bool) -> bytes:
    return with_crc(bytes([slave, 0x05]) + address.to_bytes(2, "big") + (b"\xFF\x00" if on else b"\x00\x00"))


def read_bits(slave: int, function: int, address: int, count: int) -> bytes:
    return with_crc(bytes([slave, function]) + address.to_bytes(2, "big") + count.to_bytes(2, "big"))


def write_coils(slave: int, address: int, values: list[bool]) -> bytes:
    packed = pack_bits(values)
    return with_crc(bytes([slave, 0x0F]) + address.to_bytes(2, "big")
                    + len(values).to_bytes(2, "big") + bytes([len(packed)]) + packed)


def pack_bits(values: list[bool]) -> bytes:
    out = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


@dataclass(frozen=True)
class Request:
    slave: int
    function: int
    data: bytes            # PDU after the function code, without CRC
    raw: bytes


def _request_length(buf: bytes) -> int | None:
    """Length of the request starting at buf[0], from its function code (None: need more)."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06):
        return 8
    if fc in (0x0F, 0x10):
        return 9 + buf[6] if len(buf) >= 7 else None
    return 4                # unknown function: address + fc + CRC (answered with exception 01)


class RequestSplitter:
    """Slave side: bytes in, whole CRC-valid requests out; resynchronises byte by byte."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[Request]:
        self._buf += data
        out = []
        while True:
            n = _request_length(bytes(self._buf))
            if n is None or len(self._buf) < n:
                break
            frame = bytes(self._buf[:n])
            if crc_ok(frame):
                del self._buf[:n]
                out.append(Request(frame[0], frame[1], frame[2:-2], frame))
            else:
                del self._buf[0]
                self.dropped += 1
        return out

    def reset(self) -> None:
        """Inter-frame silence (t3.5): a partial request is dropped."""
        self.dropped += len(self._buf)
        self._buf.clear()


def exception_reply(slave: int, function: int, code: int) -> bytes:
    return with_crc(bytes([slave, function | 0x80, code]))


@dataclass
class RelayBoard:
    """An N-channel relay board: FC 01/02/05/0F. Other slave addresses are ignored (RS-485 bus);
    bad CRCs are ignored (as real slaves do); bad values answer exception 03, bad addresses 02,
    unknown functions 01."""
    slave: int = 1
    channels: int = 8
    coils: list[bool] = field(default_factory=list)
    inputs: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.coils = self.coils or [False] * self.channels
        self.inputs = self.inputs or [False] * self.channels

    def handle(self, req: Request) -> bytes | None:
        if req.slave not in (self.slave, 0):
            return None
        reply = self._handle(req)
        return None if req.slave == 0 else reply      # broadcast: act, never answer

    def _handle(self, req: Request) -> bytes:
        fc, d = req.function, req.data
        if fc in (0x01, 0x02):
            addr, count = int.from_bytes(d[0:2], "big"), int.from_bytes(d[2:4], "big")
            if not 1 <= count <= 2000:
                return exception_reply(self.slave, fc, 0x03)
            bits = self.coils if fc == 0x01 else self.inputs
            if addr + count > len(bits):
                return exception_reply(self.slave, fc, 0x02)
            packed = pack_bits(bits[addr : addr + count])
            return with_crc(bytes([self.slave, fc, len(packed)]) + packed)
        if fc == 0x05:
            addr, value = int.from_bytes(d[0:2], "big"), d[2:4]
            if value not in (b"\xFF\x00", b"\x00\x00"):
                return exception_reply(self.slave, fc, 0x03)
            if addr >= len(self.coils):
                return exception_reply(self.slave, fc, 0x02)
            self.coils[addr] = value == b"\xFF\x00"
            return req.raw                                   # echo
        if fc == 0x0F:
            addr, count, nbytes = int.from_bytes(d[0:2], "big"), int.from_bytes(d[2:4], "big"), d[4]
            if not 1 <= count <= 1968 or nbytes != (count + 7) // 8 or len(d) != 5 + nbytes:
                return exception_reply(self.slave, fc, 0x03)
            if addr + count > len(self.coils):
                return exception_reply(self.slave, fc, 0x02)
            for i in range(count):
                self.coils[addr + i] = bool(d[5 + i // 8] >> (i % 8) & 1)
            return with_crc(bytes([self.slave, fc]) + d[0:4])
        return exception_reply(self.slave, fc, 0x01)
