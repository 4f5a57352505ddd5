"""Identify which device answers on a serial port (for ``sitegate probe ports``).

Listening comes first (a GPS talks unprompted), then a SAM status command at 115200 and 9600,
then a Modbus read-coils to slave 1. Each step is bounded by a short timeout."""
from __future__ import annotations

import time
from dataclasses import dataclass

from .errors import DeviceLost, DeviceTimeout
from .gps import Gga, NmeaDecoder, Rmc
from .modbus import crc_ok, read_bits
from .sam.protocol import ReplyError
from .sam.reader import SamError, SamReader
from .transport import SerialTransport


@dataclass(frozen=True)
class PortInfo:
    port: str
    device: str | None          # "gps", "idcard", "modbus-relay" or None
    detail: str = ""


def list_ports() -> list[str]:
    from serial.tools import list_ports as lp
    return sorted(p.device for p in lp.comports())


def _listen_gps(port: str, seconds: float) -> str | None:
    t = SerialTransport(port, 9600)
    try:
        t.reset_input()
        dec = NmeaDecoder()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for ev in dec.feed(t.read(0.1)):
                if isinstance(ev, (Gga, Rmc)):
                    return f"NMEA talker {ev.talker}"
        return None
    finally:
        t.close()


def _sam(port: str, baud: int, timeout: float) -> str | None:
    reader = SamReader(SerialTransport(port, baud), timeout=timeout)
    try:
        if reader.status():
            try:
                return f"SAM {reader.sam_id()} at {baud} baud"
            except (SamError, DeviceTimeout, ReplyError):   # e.g. a reply meant for the daemon
                return f"SAM at {baud} baud"
        return None
    except (SamError, DeviceTimeout, ReplyError):
        return None
    finally:
        reader.close()


def _modbus(port: str, timeout: float) -> str | None:
    t = SerialTransport(port, 9600)
    try:
        t.reset_input()
        t.write(read_bits(1, 0x01, 0, 8))
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(buf) < 6:
            buf += t.read(deadline - time.monotonic())
        if len(buf) >= 5 and buf[0] == 1 and buf[1] in (0x01, 0x81) and crc_ok(buf[: 3 + buf[2] + 2 if buf[1] == 1 else 5]):
            return "Modbus RTU slave 1 at 9600 baud"
        return None
    finally:
        t.close()


def identify(port: str, *, listen: float = 1.2, timeout: float = 0.3) -> PortInfo:
    try:
        if (d := _listen_gps(port, listen)):
            return PortInfo(port, "gps", d)
        for baud in (115200, 9600):
            if (d := _sam(port, baud, timeout)):
                return PortInfo(port, "idcard", d)
        if (d := _modbus(port, timeout)):
            return PortInfo(port, "modbus-relay", d)
        return PortInfo(port, None, "no answer")
    except DeviceLost as exc:
        return PortInfo(port, None, f"cannot open: {exc}")
