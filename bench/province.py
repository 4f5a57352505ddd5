"""A province of simulated gateways: N MQTT connections in one asyncio process, pre-signed
blocks, the gateway's send/ack rules of docs/wire.md §5 (reusable by benches and tests).

Each simulated gateway is its own MQTT 3.1.1 connection (client id = gateway id, clean
session), subscribes to its ack topic and, from a random phase on, makes one block of
``records`` records every ``period_s`` (``period_s`` 0: every block is due at once -- a
saturating load).  Like ``uplink.publisher.Uplink`` it keeps at most ``window`` blocks in
flight, releases on acks (cumulative: everything <= ``seq``), re-sends from its first
unreleased record on a ``gap`` for a block sent since the last re-send and when no ack came for
``ack_timeout`` seconds, and on ``busy`` sends nothing for ``retry_after_ms`` x U[1, 1.5] then
re-sends from its first unreleased record.  Blocks are signed before the clock starts
(signing is the gateway's cost, not central's); acks are parsed, not verified (central's
signature cost is on central's side; the gateway's verify is measured in bench_acks.py).

The MQTT client is a few dozen lines of raw packets on asyncio streams: 2,000 paho clients
with a thread each would measure the load generator, not central.

Measured per block: the time from when it was due to the ack that released it (ack
latency), plus counts of re-sends, busy answers, gaps and ack timeouts.
"""
from __future__ import annotations

import asyncio
import json
import random
import struct
import time
from dataclasses import dataclass, field

from uplink.wire import ZERO_HASH, canonical, make_record, record_hash, seal_block

DAY0 = 1_767_225_600_000


def make_blocks(signer, gw: str, n_blocks: int, records: int = 5) -> list[tuple[int, bytes]]:
    """``n_blocks`` chained, signed blocks of ``records`` attendance records: [(last, payload)]."""
    out, prev, seq = [], ZERO_HASH, 0
    for b in range(n_blocks):
        recs = []
        for _ in range(records):
            seq += 1
            r = make_record(gw, seq, prev, DAY0 + seq * 60_000, "attendance",
                            {"decision": "allow", "device": "lane-1", "dir": "in",
                             "method": "card+face", "score_milli": 700,
                             "worker": f"W{seq % 400:05d}"})
            prev = record_hash(canonical(r))
            recs.append(r)
        out.append((seq, seal_block(signer, gw, recs, DAY0 + b)))
    return out


# ---------------------------------------------------------------- MQTT 3.1.1, the bits we use
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _varint(len(body)) + body


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    mult, length = 1, 0
    while True:
        b = (await reader.readexactly(1))[0]
        length += (b & 0x7F) * mult
        if not b & 0x80:
            break
        mult *= 128
    return first, await reader.readexactly(length)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)   # s, due -> released, per block
    acked_at: list[tuple[float, int]] = field(default_factory=list)  # (time, records released)
    sends: int = 0
    resends: int = 0
    busy: int = 0
    gaps: int = 0
    timeouts: int = 0
    rejected: int = 0
    connect_failures: int = 0


class SimGateway:
    def __init__(self, gw: str, blocks: list[tuple[int, bytes]], *, period_s: float,
                 window: int = 8, ack_timeout: float = 10.0, records: int = 5,
                 stats: Stats, t0: float, rng: random.Random) -> None:
        self.gw, self.blocks, self.window = gw, blocks, window
        self.ack_timeout, self.records, self.stats = ack_timeout, records, stats
        phase = rng.uniform(0, period_s) if period_s else 0.0
        self.due = [t0 + phase + i * period_s for i in range(len(blocks))]
        self.rng = rng
        self.released = 0          # blocks released (acked), index of the first unreleased
        self.next = 0              # next block index to send
        self.sent_since_resend: set[int] = set()
        self.hold_until = 0.0
        self.last_progress = 0.0
        self.pid = 0
        self.wake = asyncio.Event()
        self.done = asyncio.Event()

    def _pid(self) -> int:
        self.pid = self.pid % 65535 + 1
        return self.pid

    async def run(self, host: str, port: int, stop: asyncio.Event) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            self.stats.connect_failures += 1
            return
        writer.write(_packet(0x10, _str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) +
                             _str(self.gw)))
        kind, body = await _read_packet(reader)
        if kind >> 4 != 2 or body[1] != 0:
            self.stats.connect_failures += 1
            writer.close()
            return
        writer.write(_packet(0x82, struct.pack("!H", self._pid()) +
                             _str(f"sitegate/v1/{self.gw}/ack") + b"\x01"))
        ack_topic = f"sitegate/v1/{self.gw}/blocks"
        reading = asyncio.ensure_future(self._read(reader, writer))
        try:
            while not stop.is_set() and self.released < len(self.blocks):
                now = time.monotonic()
                if now >= self.hold_until:
                    if self.next > self.released and now - self.last_progress > self.ack_timeout:
                        self.stats.timeouts += 1
                        self._resend()
                    while self.next < len(self.blocks) and self.next - self.released < \
                            self.window and self.due[self.next] <= now:
                        writer.write(_packet(0x32, _str(ack_topic) +
                                             struct.pack("!H", self._pid()) +
                                             self.blocks[self.next][1]))
                        if self.next == self.released or self.last_progress == 0.0:
                            self.last_progress = now
                        self.sent_since_resend.add(self.next)
                        self.stats.sends += 1
                        self.next += 1
                    await writer.drain()
                wait = 1.0
                if self.hold_until > now:
                    wait = self.hold_until - now
                elif self.next < len(self.blocks) and self.next - self.released < self.window:
                    wait = max(0.0, self.due[self.next] - now)
                if self.next > self.released:
                    wait = min(wait, max(0.0, self.last_progress + self.ack_timeout - now) + 0.01)
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=max(wait, 0.001))
                except asyncio.TimeoutError:
                    pass
        finally:
            reading.cancel()
            writer.close()
            self.done.set()

    def _resend(self) -> None:
        if self.next > self.released:
            self.stats.resends += self.next - self.released
        self.next = self.released
        self.sent_since_resend = set()
        self.last_progress = time.monotonic()

    async def _read(self, reader, writer) -> None:
        try:
            while True:
                kind, body = await _read_packet(reader)
                if kind >> 4 == 3:                                  # PUBLISH (an ack)
                    tlen = struct.unpack("!H", body[:2])[0]
                    pos = 2 + tlen
                    if (kind >> 1) & 3:
                        pid = body[pos:pos + 2]
                        pos += 2
                        writer.write(b"\x40\x02" + pid)
                    self._on_ack(json.loads(body[pos:-64]))
                    self.wake.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return

    def _on_ack(self, ack: dict) -> None:
        now = time.monotonic()
        seq = ack["seq"]
        n = self.released
        while n < len(self.blocks) and self.blocks[n][0] <= seq:
            n += 1
        if n > self.released:
            for i in range(self.released, n):
                self.stats.latencies.append(now - self.due[i])
            self.stats.acked_at.append((now, (n - self.released) * self.records))
            self.released = n
            self.next = max(self.next, n)
            self.last_progress = now
        status = ack["status"]
        ref_index = next((i for i, (last, _) in enumerate(self.blocks)
                          if last - self.records + 1 == ack.get("ref")), None)
        if status == "gap":
            self.stats.gaps += 1
            if ref_index in self.sent_since_resend:
                self._resend()
        elif status == "busy":
            self.stats.busy += 1
            # like uplink.publisher: a later busy never shortens the wait (two workers may
            # both answer busy to one window)
            self.hold_until = max(self.hold_until, now + ack["retry_after_ms"] / 1000 *
                                  self.rng.uniform(1.0, 1.5))
            self.next = self.released           # then re-send from the first unreleased
            self.sent_since_resend = set()
            self.last_progress = self.hold_until
        elif status == "rejected":
            self.stats.rejected += 1


async def run_province(gateways: list[tuple[str, list[tuple[int, bytes]]]], host: str,
                       port: int, *, period_s: float, send_s: float, drain_s: float,
                       window: int = 8, ack_timeout: float = 10.0, records: int = 5,
                       seed: int = 1) -> tuple[Stats, float, float]:
    """Run every gateway until all its blocks are released or ``send_s + drain_s`` passed.
    Returns (stats, t0, t_end) on the monotonic clock."""
    stats = Stats()
    rng = random.Random(seed)
    t0 = time.monotonic() + 2.0                   # connect everyone first
    sims = [SimGateway(gw, blocks, period_s=period_s, window=window, ack_timeout=ack_timeout,
                       records=records, stats=stats, t0=t0, rng=random.Random(rng.random()))
            for gw, blocks in gateways]
    stop = asyncio.Event()
    tasks = []
    for i, s in enumerate(sims):
        tasks.append(asyncio.ensure_future(s.run(host, port, stop)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)             # the broker's accept queue
    deadline = t0 + send_s + drain_s
    while time.monotonic() < deadline and not all(s.done.is_set() for s in sims):
        await asyncio.sleep(0.2)
    stop.set()
    for s in sims:
        s.wake.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return stats, t0, time.monotonic()
