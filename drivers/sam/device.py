"""The SAM module as a pure state machine (bytes in → reply frames out).

This is the simulator's brain, free of I/O so the pty simulator, the fake USB device and the
tests all drive the same model. Behaviour follows protocols.md 1.11:

- bad XOR → SW3 0x10, bad Len (outside the limits, or wrong for the command) → 0x11,
  unknown CMD/PARA → 0x21;
- find: card present → 0x9F, else 0x80; select without a successful find → 0x81;
- read without select → 0x41; after a read the card is halted: find answers 0x80 until the card
  is removed and presented again (``after_read="stay"`` keeps answering 0x9F, ``"alternate"``
  flips between 0x80 and 0x9F — quirks seen on cheap readers);
- latest address (30 03) → 0x90 + 70 bytes, or 0x91 when the card carries none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from . import protocol as p
from .cardtext import encode_text, photo_of
from .frame import BadChecksum, BadLength, Frame, ReceiveBuffer

DEFAULT_SAM_ID = "0501-20110511-0123456789"
_C = p.Command
# expected DATA length per (CMD, PARA); anything else is a command error (0x21)
_DATA_LEN = {c.value: 0 for c in (_C.RESET, _C.STATUS, _C.SAM_ID, _C.FIND, _C.SELECT,
                                  _C.READ_BASE, _C.READ_ADDRESS, _C.READ_FINGERPRINT)}
_DATA_LEN[_C.SET_BAUD.value] = 0
_DATA_LEN[_C.SET_MAX_RF.value] = 1


@dataclass
class Card:
    """A card in the field: its plain fields (identity-file spec) and per-card faults."""
    spec: Mapping[str, Any]
    halted: bool = False
    flip: bool = False

    @property
    def read_status(self) -> int:
        """``read_sw3`` in the spec forces a failure reply, e.g. 0x41 or 0x32."""
        return int(str(self.spec.get("read_sw3", 0x90)), 0)

    def blocks(self) -> p.CardBlocks:
        fp = bytes((i * 7) & 0xFF for i in range(int(self.spec.get("fingerprint_bytes", 0))))
        return p.CardBlocks(encode_text(self.spec), photo_of(self.spec), fp)


@dataclass
class SamDevice:
    sam_id: str = DEFAULT_SAM_ID
    after_read: str = "halt"            # halt | stay | alternate
    card: Card | None = None
    state: str = "idle"                 # idle | found | selected
    baud: int = 115200
    max_rf: int = 0x50
    log: list[str] = field(default_factory=list)   # reply codes, for tests and --verbose

    def __post_init__(self) -> None:
        self._rx = ReceiveBuffer()

    # ---------------------------------------------------------------- the field
    def present(self, spec: Mapping[str, Any]) -> None:
        self.card = Card(spec)

    def remove(self) -> None:
        self.card = None
        self.state = "idle"

    def reset_link(self) -> None:
        """Power cycle / unplug: partial input is lost, the SAM starts idle."""
        self._rx.clear()
        self.state = "idle"

    # ---------------------------------------------------------------- bytes in
    def receive(self, data: bytes) -> list[bytes]:
        self._rx.feed(data)
        out = []
        while (ev := self._rx.next_event()) is not None:
            if isinstance(ev, Frame):
                out.append(self.handle(ev.body))
            elif isinstance(ev, BadChecksum):
                out.append(self._reply(0x10))
            elif isinstance(ev, BadLength):
                out.append(self._reply(0x11))
        return out

    def discard_partial(self) -> None:
        """Inter-byte timeout: a half-received command is dropped."""
        self._rx.clear()

    def _reply(self, sw3: int, data: bytes = b"") -> bytes:
        self.log.append(f"{sw3:02X}")
        return p.response_frame(sw3, data)

    def handle(self, body: bytes) -> bytes:
        cmd, para, data = body[0], body[1], body[2:]
        C = p.Command
        key: tuple[int, int | None] = (cmd, para)
        if cmd == C.SET_BAUD.cmd and para in p.BAUD_CODES.values():
            key = C.SET_BAUD.value
        if key not in _DATA_LEN:
            return self._reply(0x21)
        if len(data) != _DATA_LEN[key]:
            return self._reply(0x11)
        if key == C.RESET.value:
            self.state = "idle"
            return self._reply(0x90)
        if key == C.STATUS.value:
            return self._reply(0x90)
        if key == C.SAM_ID.value:
            return self._reply(0x90, p.sam_id_bytes(self.sam_id))
        if key == C.FIND.value:
            return self._find()
        if key == C.SELECT.value:
            if self.state == "found" and self.card is not None:
                self.state = "selected"
                return self._reply(0x90, bytes(8))
            self.state = "idle"
            return self._reply(0x81)
        if key in (C.READ_BASE.value, C.READ_FINGERPRINT.value):
            return self._read(with_fp=key == C.READ_FINGERPRINT.value)
        if key == C.READ_ADDRESS.value:
            if self.state != "selected" or self.card is None:
                return self._reply(0x41)
            extra = self.card.spec.get("latest_address")
            if not extra:
                return self._reply(0x91)
            raw = str(extra).encode("utf-16-le")[:70]
            return self._reply(0x90, raw + " ".encode("utf-16-le") * ((70 - len(raw)) // 2))
        if key == C.SET_BAUD.value:
            self.baud = {v: k for k, v in p.BAUD_CODES.items()}[para]
            return self._reply(0x90)
        self.max_rf = data[0]                                     # SET_MAX_RF
        return self._reply(0x90)

    def _find(self) -> bytes:
        card = self.card
        self.state = "idle"
        if card is None:
            return self._reply(0x80)
        if card.halted:
            if self.after_read == "halt":
                return self._reply(0x80)
            if self.after_read == "alternate":
                card.flip = not card.flip
                if card.flip:
                    return self._reply(0x80)
        self.state = "found"
        return self._reply(0x9F, bytes(4))

    def _read(self, with_fp: bool) -> bytes:
        if self.state != "selected" or self.card is None:
            self.state = "idle"
            return self._reply(0x41)
        card = self.card
        card.halted = True
        if card.read_status != 0x90:
            self.state = "idle"
            return self._reply(card.read_status)
        blocks = card.blocks()
        if with_fp:
            return self._reply(0x90, p.read_fingerprint_data(blocks))
        return self._reply(0x90, p.read_base_data(p.CardBlocks(blocks.text, blocks.photo)))
