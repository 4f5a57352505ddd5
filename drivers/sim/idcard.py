"""ID-card reader simulator: the SAM state machine (:mod:`drivers.sam.device`) on a pty, with a
queue of identities and fault injection (junk, split frames, delays, silence, corrupt replies,
unplugging).

Identity file: a JSON array of objects, or JSON Lines (one object per line). Each object uses the
keys of ``Identity.to_dict`` with the ID number in clear::

    {"card_type": "resident", "name": "张三", "gender": "male", "nation": "汉",
     "birth": "1985-03-07", "address": "广西南宁市青秀区民族大道100号",
     "id_number": "450103198503070038", "issuer": "南宁市公安局青秀分局",
     "valid_from": "2015-06-01", "valid_to": "2035-06-01"}

Optional keys: ``name_en``, ``nationality``, ``travel_permit``, ``issue_count``,
``renewal_count``, ``card_version``, ``previous_number``, ``latest_address`` (answered to 30 03),
``fingerprint_bytes`` (0/512/1024), ``photo_b64`` (1024 WLT bytes), ``read_sw3`` (force a failed
read, e.g. ``"0x41"``), ``type_marker`` (override the card-type character). Values are encoded as
given, so a file can hold deliberately bad cards.
"""
from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..ptydev import PtyDevice
from ..sam.device import SamDevice


def load_identities(path: str | Path) -> list[dict[str, Any]]:
    text = Path(path).read_text(encoding="utf-8").strip()
    if not text:
        return []
    if text.startswith("["):
        items = json.loads(text)
    else:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{path}: every identity must be a JSON object")
    return items


@dataclass
class SamFaults:
    junk: bytes = b""            # written before every reply
    split: int | None = None     # write replies in chunks of this many bytes
    split_gap: float = 0.0       # pause between chunks (seconds)
    delay: float = 0.0           # pause before each reply (seconds)
    mute: bool = False           # swallow commands: the host times out
    corrupt_next: int = 0        # flip the checksum of the next N replies


class IdCardSimulator(PtyDevice):
    name = "idcard"

    def __init__(self, identities: Iterable[Mapping[str, Any]] = (), *, link: str | None = None,
                 baud: int | None = None, after_read: str = "halt", dwell: float | None = None,
                 gap: float = 1.0, loop: bool = False, faults: SamFaults | None = None) -> None:
        super().__init__(link=link, baud=baud)
        self.device = SamDevice(after_read=after_read)
        self.queue: deque[Mapping[str, Any]] = deque(identities)
        self.faults = faults or SamFaults()
        self.dwell, self.gap, self.loop = dwell, gap, loop   # auto-tap schedule (CLI)
        self._next_change = time.monotonic() + 0.2
        self._last_rx = 0.0
        self.commands = 0

    # --------------------------------------------------------------- the card field
    def tap(self, spec: Mapping[str, Any] | None = None) -> Mapping[str, Any] | None:
        """Put a card on the reader: ``spec`` or the next one from the queue."""
        if spec is None:
            if not self.queue:
                return None
            spec = self.queue.popleft()
            if self.loop:
                self.queue.append(spec)
        self.device.present(spec)
        return spec

    def remove(self) -> None:
        self.device.remove()

    # --------------------------------------------------------------- pty hooks
    def on_plug(self) -> None:
        self.device.reset_link()

    def on_data(self, data: bytes) -> None:
        self._last_rx = time.monotonic()
        replies = self.device.receive(data)
        self.commands += len(replies)
        f = self.faults
        for reply in replies:
            if f.mute:
                continue
            if self.baud:   # the command needed wire time to arrive
                time.sleep(self.wire_time(10))
            if f.delay:
                time.sleep(f.delay)
            if f.corrupt_next > 0:
                f.corrupt_next -= 1
                reply = reply[:-1] + bytes([reply[-1] ^ 0xFF])
            self.send(f.junk + reply, chunk=f.split, gap=f.split_gap)

    def tick(self, now: float) -> None:
        if self._last_rx and now - self._last_rx > 0.2:   # inter-byte timeout
            self.device.discard_partial()
            self._last_rx = 0.0
        if self.dwell is None or now < self._next_change:
            return
        if self.device.card is None:
            if self.tap() is not None:
                self._next_change = now + self.dwell
        else:
            self.remove()
            self._next_change = now + self.gap
