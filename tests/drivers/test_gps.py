"""NMEA decoding (pynmea2) and the GPS driver against the simulator over a pty."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from drivers.gps import FixTracker, Gga, GpsReader, NmeaDecoder, NmeaError, Rmc, acceptable
from drivers.sim.gps import GpsSimulator, sentences

pytestmark = pytest.mark.timeout(30)

def nmea(body: str) -> bytes:
    cs = 0
    for ch in body.encode():
        cs ^= ch
    return f"${body}*{cs:02X}\r\n".encode()


GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"
RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"


def test_classic_gga_and_rmc_merge_into_one_fix():
    dec, tr = NmeaDecoder(), FixTracker()
    gga, rmc = dec.feed(GGA + RMC)
    assert isinstance(gga, Gga) and (gga.quality, gga.satellites, gga.hdop, gga.altitude) == (1, 8, 0.9, 545.4)
    assert gga.lat == pytest.approx(48.1173) and gga.lon == pytest.approx(11.516666, abs=1e-5)
    assert isinstance(rmc, Rmc) and rmc.valid and rmc.speed_knots == 22.4
    assert tr.update(gga) is None
    fix = tr.update(rmc)
    assert fix.utc == datetime(1994, 3, 23, 12, 35, 19, tzinfo=timezone.utc)
    assert acceptable(fix) == (True, "ok")


@pytest.mark.parametrize("talker", ["GP", "GN", "BD", "GB", "GL"])
def test_any_talker(talker):
    lines = sentences(datetime(2024, 5, 6, 1, 2, 3, tzinfo=timezone.utc), -33.8688, -151.2093,
                      talker=talker)
    dec, tr = NmeaDecoder(), FixTracker()
    fixes = [f for ev in dec.feed("".join(lines).encode()) if (f := tr.update(ev))]
    (fix,) = fixes
    assert fix.talker == talker
    assert fix.lat == pytest.approx(-33.8688, abs=1e-5) and fix.lon == pytest.approx(-151.2093, abs=1e-5)


def test_fix_loss_is_not_acceptable():
    lines = sentences(datetime(2024, 5, 6, 1, 2, 3, tzinfo=timezone.utc), 22.8, 108.3, fix=False)
    dec, tr = NmeaDecoder(), FixTracker()
    (fix,) = [f for ev in dec.feed("".join(lines).encode()) if (f := tr.update(ev))]
    assert fix.valid is False and fix.quality == 0
    assert acceptable(fix) == (False, "no fix")


def test_acceptance_rule_thresholds():
    dec, tr = NmeaDecoder(), FixTracker()
    lines = sentences(datetime(2024, 5, 6, tzinfo=timezone.utc), 22.8, 108.3, satellites=3, hdop=1.0)
    (fix,) = [f for ev in dec.feed("".join(lines).encode()) if (f := tr.update(ev))]
    assert acceptable(fix) == (False, "only 3 satellites")
    lines = sentences(datetime(2024, 5, 6, tzinfo=timezone.utc), 22.8, 108.3, hdop=7.5)
    (fix,) = [f for ev in dec.feed("".join(lines).encode()) if (f := tr.update(ev))]
    assert acceptable(fix)[0] is False and acceptable(fix, max_hdop=8)[0] is True


@pytest.mark.parametrize("line,reason", [
    (GGA.replace(b"*47", b"*48"), "checksum"),
    (GGA.replace(b"*47\r\n", b"\r\n"), "checksum"),       # a checksum is required
    (b"\x00\xff\x13garbage\r\n", "junk"),
    (b"$GPGGA,12\xff519,*00\r\n", "junk"),
    (nmea("GPGGA,123519,9907.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"), "parse"),  # lat 99°
])
def test_bad_lines_are_error_events(line, reason):
    events = NmeaDecoder().feed(line)
    assert [type(e) for e in events] == [NmeaError] and events[0].reason == reason


def test_split_lines_and_noise_then_recovery():
    dec = NmeaDecoder()
    assert dec.feed(GGA[:10]) == []
    assert dec.feed(GGA[10:30]) == []
    (ev,) = dec.feed(GGA[30:])
    assert isinstance(ev, Gga)
    assert dec.feed(b"x" * 200)[0].reason == "too_long"
    assert isinstance(dec.feed(b"\r\n" + RMC)[-1], Rmc)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([GGA, RMC, b"$", b"\r\n", b"*"])),
                max_size=12).map(b"".join))
def test_arbitrary_bytes_never_crash_the_decoder(data):
    tr = FixTracker()
    for ev in NmeaDecoder().feed(data):
        tr.update(ev)


def test_driver_against_simulator_with_noise_and_fix_loss():
    with GpsSimulator(rate=20, talker="BD", lat=22.817, lon=108.3665) as sim:
        reader = GpsReader.open(sim.path)
        try:
            got = []
            deadline = time.monotonic() + 3
            while len(got) < 3 and time.monotonic() < deadline:
                got += [e for e in reader.poll(0.1) if not isinstance(e, NmeaError)]
            assert len(got) >= 3 and all(f.talker == "BD" and f.valid for f in got)
            assert got[0].lat == pytest.approx(22.817, abs=1e-5)

            sim.junk, sim.corrupt_next, sim.split = b"\x00\xffnoise", 2, 9
            errors, fixes = [], []
            deadline = time.monotonic() + 3
            while (not fixes or len(errors) < 2) and time.monotonic() < deadline:
                for e in reader.poll(0.1):
                    (errors if isinstance(e, NmeaError) else fixes).append(e)
            assert {"checksum"} <= {e.reason for e in errors}
            assert fixes, "the driver keeps going after bad lines"

            sim.junk, sim.split, sim.fix = b"", None, False
            time.sleep(0.15)
            deadline = time.monotonic() + 3
            lost = []
            while not lost and time.monotonic() < deadline:
                lost = [e for e in reader.poll(0.1) if not isinstance(e, NmeaError) and not e.valid]
            assert lost and lost[0].quality == 0
        finally:
            reader.close()


def test_unplug_and_reopen():
    from drivers.errors import DeviceLost
    with GpsSimulator(rate=20) as sim:
        reader = GpsReader.open(sim.path)
        sim.unplug()
        with pytest.raises(DeviceLost):
            for _ in range(20):
                reader.poll(0.05)
        reader.close()
        sim.replug()
        reader = GpsReader.open(sim.path)
        try:
            deadline = time.monotonic() + 3
            fixes = []
            while not fixes and time.monotonic() < deadline:
                fixes = [e for e in reader.poll(0.1) if not isinstance(e, NmeaError)]
            assert fixes
        finally:
            reader.close()
