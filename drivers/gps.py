"""GPS over NMEA 0183 (pynmea2 parses the sentences): a sans-I/O line decoder, GGA/RMC events
from any talker (GP, GN, BD, GB, GL...), a tracker that merges them into one fix per epoch, and
the acceptance rule from protocols.md 4."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time as dtime, timezone

import pynmea2

MAX_LINE = 120          # NMEA says 82; leave room for proprietary sentences


@dataclass(frozen=True)
class Gga:
    talker: str
    time: dtime | None
    lat: float | None
    lon: float | None
    quality: int                # 0 invalid, 1 GPS, 2 DGPS, 4 RTK fixed, 5 float, 6 estimated ...
    satellites: int | None
    hdop: float | None
    altitude: float | None


@dataclass(frozen=True)
class Rmc:
    talker: str
    valid: bool                 # status A
    utc: datetime | None
    lat: float | None
    lon: float | None
    speed_knots: float | None
    course: float | None
    mode: str | None


@dataclass(frozen=True)
class NmeaError:
    reason: str                 # junk | too_long | checksum | parse
    message: str


@dataclass(frozen=True)
class GpsFix:
    utc: datetime
    lat: float | None
    lon: float | None
    valid: bool
    quality: int
    satellites: int | None
    hdop: float | None
    altitude: float | None
    talker: str


NmeaEvent = Gga | Rmc | NmeaError


def _num(value, kind=float):
    try:
        return kind(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class NmeaDecoder:
    """``feed(bytes) -> list[event]``; partial lines wait for the rest; other sentence types
    (GSV, GSA, VTG, ...) are ignored."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[NmeaEvent]:
        self._buf += data
        out: list[NmeaEvent] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > MAX_LINE:
                    out.append(NmeaError("too_long", f"{len(self._buf)} bytes without a line end"))
                    self._buf.clear()
                break
            raw = bytes(self._buf[:nl]).rstrip(b"\r")
            del self._buf[: nl + 1]
            if (ev := self.parse_line(raw)) is not None:
                out.append(ev)
        return out

    @staticmethod
    def parse_line(raw: bytes) -> NmeaEvent | None:
        start = raw.find(b"$")
        if start < 0:
            return NmeaError("junk", f"{len(raw)} bytes without a '$'") if raw.strip() else None
        line = raw[start:]
        if len(line) > MAX_LINE:
            return NmeaError("too_long", f"sentence of {len(line)} bytes")
        try:
            text = line.decode("ascii")
            msg = pynmea2.parse(text, check=True)
        except UnicodeDecodeError:
            return NmeaError("junk", "non-ASCII bytes in sentence")
        except pynmea2.ChecksumError:
            return NmeaError("checksum", "NMEA checksum mismatch")
        except (pynmea2.ParseError, ValueError, TypeError, AttributeError) as exc:
            return NmeaError("parse", f"unparsable sentence: {str(exc)[:60]}")
        try:
            if isinstance(msg, pynmea2.GGA):
                return Gga(msg.talker, msg.timestamp, _coord(msg, "latitude"), _coord(msg, "longitude"),
                           _num(msg.gps_qual, int) or 0, _num(msg.num_sats, int),
                           _num(msg.horizontal_dil), _num(msg.altitude))
            if isinstance(msg, pynmea2.RMC):
                utc = None
                if msg.datestamp and msg.timestamp:
                    utc = datetime.combine(msg.datestamp, msg.timestamp.replace(tzinfo=None),
                                           tzinfo=timezone.utc)
                return Rmc(msg.talker, msg.status == "A", utc, _coord(msg, "latitude"),
                           _coord(msg, "longitude"), _num(msg.spd_over_grnd), _num(msg.true_course),
                           getattr(msg, "mode_indicator", None) or None)
        except (ValueError, TypeError, AttributeError) as exc:
            return NmeaError("parse", f"bad field: {str(exc)[:60]}")
        return None


def _coord(msg, attr: str) -> float | None:
    raw = msg.lat if attr == "latitude" else msg.lon
    if not raw:
        return None
    value = getattr(msg, attr)
    limit = 90 if attr == "latitude" else 180
    if not -limit <= value <= limit:
        raise ValueError(f"{attr} {value} out of range")
    return value


class FixTracker:
    """Merges the GGA and RMC of the same epoch (same UTC time) into one :class:`GpsFix`."""

    def __init__(self) -> None:
        self._gga: Gga | None = None
        self._rmc: Rmc | None = None

    def update(self, ev: NmeaEvent) -> GpsFix | None:
        if isinstance(ev, Gga):
            self._gga = ev
        elif isinstance(ev, Rmc):
            self._rmc = ev
        else:
            return None
        g, r = self._gga, self._rmc
        if g is None or r is None or r.utc is None or g.time is None:
            return None
        if g.time.replace(tzinfo=None) != r.utc.time():       # not the same epoch yet
            return None
        self._gga = self._rmc = None
        return GpsFix(r.utc, g.lat if g.lat is not None else r.lat, g.lon if g.lon is not None else r.lon,
                      r.valid and g.quality >= 1, g.quality, g.satellites, g.hdop, g.altitude, g.talker)


def acceptable(fix: GpsFix, *, min_satellites: int = 4, max_hdop: float = 5.0) -> tuple[bool, str]:
    """The gateway's suggested acceptance rule; returns (ok, reason)."""
    if not fix.valid or fix.lat is None or fix.lon is None:
        return False, "no fix"
    if fix.quality == 6:
        return False, "estimated (dead reckoning) fix"
    if (fix.satellites or 0) < min_satellites:
        return False, f"only {fix.satellites or 0} satellites"
    if fix.hdop is None or fix.hdop > max_hdop:
        return False, f"HDOP {fix.hdop} above {max_hdop}"
    return True, "ok"


class GpsReader:
    """Reads fixes from a transport (``drivers.transport.SerialTransport(port, 9600)``)."""

    def __init__(self, transport) -> None:
        self.transport = transport
        self.decoder = NmeaDecoder()
        self.tracker = FixTracker()

    @classmethod
    def open(cls, port: str, baudrate: int = 9600) -> "GpsReader":
        from .transport import SerialTransport
        return cls(SerialTransport(port, baudrate))

    def poll(self, timeout: float = 0.2) -> list[GpsFix | NmeaError]:
        out: list[GpsFix | NmeaError] = []
        for ev in self.decoder.feed(self.transport.read(timeout)):
            if isinstance(ev, NmeaError):
                out.append(ev)
            elif (fix := self.tracker.update(ev)) is not None:
                out.append(fix)
        return out

    def close(self) -> None:
        self.transport.close()
