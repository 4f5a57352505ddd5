"""Driver benchmarks.

1. Codec parse rate: frames/s through the SAM receive buffer (read replies and find replies fed
   as a byte stream in 4 KiB chunks), full card decode (frame + text + ID checks) per second,
   and NMEA GGA+RMC lines per second.
2. Card-to-identity latency over a pseudo-terminal at 115200 baud: one poll cycle that finds,
   selects and reads a card (find 10+15 B, select 10+19 B, read 10+1295 B = 1359 B on the wire),
   as a ratio to the wire-time floor bytes × 10 / baud. A pty has no baud rate of its own, so the
   simulator paces every byte at 115200 baud; the ratio is therefore ≥ 1 and the excess is our
   software overhead (codec, decode, scheduling).

Usage: python bench/bench_drivers.py [--json] [--reads N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.gps import NmeaDecoder  # noqa: E402
from drivers.sam import protocol as p  # noqa: E402
from drivers.sam.cardtext import encode_text, photo_of  # noqa: E402
from drivers.sam.frame import ReceiveBuffer  # noqa: E402
from drivers.sam.host import SamConnection, identity_from_reply  # noqa: E402
from drivers.sam.reader import CardRead, SamReader  # noqa: E402
from drivers.sim.gps import sentences  # noqa: E402
from drivers.sim.idcard import IdCardSimulator  # noqa: E402
from drivers.sim.samples import RESIDENT  # noqa: E402

BAUD = 115200


def _rate(stream: bytes, nframes: int, min_time: float = 1.0) -> float:
    chunks = [stream[i : i + 4096] for i in range(0, len(stream), 4096)]
    done, t0 = 0, time.perf_counter()
    while True:
        buf = ReceiveBuffer()
        for c in chunks:
            buf.feed(c)
            while buf.next_event() is not None:
                pass
        done += nframes
        el = time.perf_counter() - t0
        if el >= min_time:
            return done / el


def codec_rates() -> dict:
    read_reply = p.response_frame(0x90, p.read_base_data(p.CardBlocks(encode_text(RESIDENT), photo_of(RESIDENT))))
    find_reply = p.response_frame(0x9F, bytes(4))
    out = {
        "read_frames_per_s": _rate(read_reply * 200, 200),
        "find_frames_per_s": _rate(find_reply * 5000, 5000),
    }
    # full decode: bytes -> Identity (checksum, lengths, UCS-2, dates, check digit, region)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        conn = SamConnection()
        conn.send(p.Command.READ_BASE)
        conn.receive_data(read_reply)
        ev = conn.next_event()
        identity_from_reply(ev.command, ev.reply)
        n += 1
    out["identities_per_s"] = n / (time.perf_counter() - t0)
    from datetime import datetime, timezone
    lines = "".join(sentences(datetime(2024, 5, 6, tzinfo=timezone.utc), 22.8, 108.3)).encode() * 500
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        NmeaDecoder().feed(lines)
        n += 1000
    out["nmea_lines_per_s"] = n / (time.perf_counter() - t0)
    return out


def card_latency(reads: int) -> dict:
    wire_bytes = (10 + 15) + (10 + 19) + (10 + 1295)
    floor = wire_bytes * 10 / BAUD
    samples = []
    with IdCardSimulator([RESIDENT], baud=BAUD) as sim:
        reader = SamReader.open(sim.path, BAUD, timeout=1.0, absent_polls=1)
        try:
            sim.tap(RESIDENT)                 # warm-up (loads the region table once)
            reader.poll()
            for _ in range(reads):
                sim.remove()
                reader.poll()
                sim.tap(RESIDENT)
                t0 = time.perf_counter()
                events = reader.poll()
                el = time.perf_counter() - t0
                assert any(isinstance(e, CardRead) for e in events), events
                samples.append(el)
        finally:
            reader.close()
    samples.sort()
    med = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    return {"baud": BAUD, "wire_bytes": wire_bytes, "floor_ms": floor * 1000,
            "median_ms": med * 1000, "p95_ms": p95 * 1000, "ratio_median": med / floor,
            "ratio_p95": p95 / floor, "reads": reads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reads", type=int, default=30)
    args = ap.parse_args()
    res = {"codec": codec_rates(), "latency": card_latency(args.reads)}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    c, lat = res["codec"], res["latency"]
    print(f"{'measure':<48}{'value':>14}")
    print("-" * 62)
    print(f"{'SAM read replies (1295 B) parsed /s':<48}{c['read_frames_per_s']:>14,.0f}")
    print(f"{'SAM find replies (15 B) parsed /s':<48}{c['find_frames_per_s']:>14,.0f}")
    print(f"{'read reply -> validated Identity /s':<48}{c['identities_per_s']:>14,.0f}")
    print(f"{'NMEA lines decoded /s':<48}{c['nmea_lines_per_s']:>14,.0f}")
    print(f"{'card latency floor @115200 (1359 B) ms':<48}{lat['floor_ms']:>14.1f}")
    print(f"{'card latency median / p95 ms':<48}{lat['median_ms']:>7.1f} /{lat['p95_ms']:>5.1f}")
    print(f"{'ratio to wire floor median / p95':<48}{lat['ratio_median']:>7.3f} /{lat['ratio_p95']:>5.3f}")


if __name__ == "__main__":
    main()
