"""GPS receiver simulator: GGA + RMC with correct checksums (rendered by pynmea2) at ``rate`` Hz
on a pty, from any talker. ``fix=False`` simulates fix loss (quality 0, status V); ``junk`` and
``corrupt_next`` inject line noise and bad checksums."""
from __future__ import annotations

from datetime import datetime, timezone

import pynmea2

from ..ptydev import PtyDevice


def _ddmm(value: float, lat: bool) -> tuple[str, str]:
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    v = abs(value)
    deg = int(v)
    minutes = (v - deg) * 60
    return (f"{deg:02d}{minutes:07.4f}" if lat else f"{deg:03d}{minutes:07.4f}"), hemi


def sentences(now: datetime, lat: float, lon: float, *, talker: str = "GN", fix: bool = True,
              satellites: int = 9, hdop: float = 0.9, altitude: float = 85.0) -> list[str]:
    """The GGA and RMC lines (with ``*HH`` and CRLF) for one epoch."""
    t = now.strftime("%H%M%S.") + f"{now.microsecond // 10000:02d}"
    la, ns = _ddmm(lat, True)
    lo, ew = _ddmm(lon, False)
    if not fix:
        la = ns = lo = ew = ""
    gga = pynmea2.GGA(talker, "GGA", (t, la, ns, lo, ew, "1" if fix else "0",
                                      f"{satellites if fix else 0:02d}", f"{hdop:.1f}" if fix else "",
                                      f"{altitude:.1f}" if fix else "", "M", "-3.2", "M", "", ""))
    rmc = pynmea2.RMC(talker, "RMC", (t, "A" if fix else "V", la, ns, lo, ew, "0.0", "0.0",
                                      now.strftime("%d%m%y"), "", "", "A" if fix else "N"))
    return [gga.render() + "\r\n", rmc.render() + "\r\n"]


class GpsSimulator(PtyDevice):
    name = "gps"

    def __init__(self, *, link: str | None = None, rate: float = 1.0, talker: str = "GN",
                 lat: float = 22.8170, lon: float = 108.3665, fix: bool = True,
                 satellites: int = 9, hdop: float = 0.9, baud: int | None = None) -> None:
        super().__init__(link=link, baud=baud)
        self.tick_interval = min(0.05, 1.0 / rate)
        self.period = 1.0 / rate
        self.talker, self.lat, self.lon, self.fix = talker, lat, lon, fix
        self.satellites, self.hdop = satellites, hdop
        self.junk = b""
        self.corrupt_next = 0
        self.split: int | None = None
        self._next = 0.0
        self.sent = 0

    def tick(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.period
        lines = sentences(datetime.now(timezone.utc), self.lat, self.lon, talker=self.talker,
                          fix=self.fix, satellites=self.satellites, hdop=self.hdop)
        data = "".join(lines).encode("ascii")
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            data = data.replace(b",M,", b",X,", 1)       # the GGA checksum no longer matches
        if self.send(self.junk + data, chunk=self.split, gap=0.005 if self.split else 0.0):
            self.sent += 1
