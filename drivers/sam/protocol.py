"""SAM command set, SW3 result codes and reply payload parsing (pure functions)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .frame import build_frame


class Command(Enum):
    """(CMD, PARA) pairs of the GA 467 command set (protocols.md 1.4)."""
    RESET = (0x10, 0xFF)
    STATUS = (0x11, 0xFF)
    SAM_ID = (0x12, 0xFF)
    FIND = (0x20, 0x01)
    SELECT = (0x20, 0x02)
    READ_BASE = (0x30, 0x01)          # text + photo
    READ_ADDRESS = (0x30, 0x03)       # latest appended address
    READ_FINGERPRINT = (0x30, 0x10)   # text + photo + fingerprint
    SET_BAUD = (0x60, None)           # PARA = baud code
    SET_MAX_RF = (0x61, 0xFF)         # DATA = 1 byte

    @property
    def cmd(self) -> int:
        return self.value[0]


BAUD_CODES = {115200: 0x00, 57600: 0x01, 38400: 0x02, 19200: 0x03, 9600: 0x04}

SW3_SUCCESS = 0x90
SW3_FOUND = 0x9F
SW3 = {
    0x90: "success",
    0x9F: "find card succeeded",
    0x91: "no content for this item",
    0x10: "checksum error in host frame",
    0x11: "length error in host frame",
    0x21: "command error",
    0x23: "operation not permitted",
    0x24: "unrecognised error",
    0x31: "card failed to authenticate the SAM",
    0x32: "SAM failed to authenticate the card",
    0x33: "information verification error",
    0x37: "fingerprint information verification error",
    0x3F: "information length error",
    0x40: "unrecognised card type",
    0x41: "read-card operation failed",
    0x47: "get-random-number failed",
    0x60: "SAM self-test failed",
    0x66: "SAM not authorised",
    0x80: "find card failed (no card)",
    0x81: "select card failed",
}


def sw3_message(code: int) -> str:
    return SW3.get(code, f"unknown status 0x{code:02X}")


def command_frame(command: Command, para: int | None = None, data: bytes = b"") -> bytes:
    """Build the request frame. ``para`` overrides the default PARA (needed for SET_BAUD)."""
    cmd, default_para = command.value
    p = default_para if para is None else para
    if p is None:
        raise ValueError(f"{command.name} needs an explicit PARA")
    return build_frame(bytes([cmd, p]) + data)


def set_baud_frame(baud: int) -> bytes:
    try:
        return command_frame(Command.SET_BAUD, BAUD_CODES[baud])
    except KeyError:
        raise ValueError(f"unsupported baud {baud}; choose one of {sorted(BAUD_CODES)}") from None


def set_max_rf_frame(nbytes: int = 0x50) -> bytes:
    return command_frame(Command.SET_MAX_RF, data=bytes([nbytes]))


def response_frame(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return build_frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True)
class Reply:
    """A decoded response body."""
    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @property
    def ok(self) -> bool:
        return self.sw3 in (SW3_SUCCESS, SW3_FOUND)

    @property
    def message(self) -> str:
        return sw3_message(self.sw3)


class ReplyError(ValueError):
    """A reply body that cannot be interpreted (too short, inconsistent lengths)."""


def parse_reply(body: bytes) -> Reply:
    if len(body) < 3:
        raise ReplyError(f"reply body of {len(body)} bytes has no SW1 SW2 SW3")
    return Reply(body[0], body[1], body[2], bytes(body[3:]))


def format_sam_id(data: bytes) -> str:
    """Render the 16-byte SAM ID as ``%02d%02d-%08d-%010d`` (four little-endian ints)."""
    if len(data) < 12:
        raise ReplyError(f"SAM ID needs 16 bytes, got {len(data)}")
    a = int.from_bytes(data[0:2], "little")
    b = int.from_bytes(data[2:4], "little")
    c = int.from_bytes(data[4:8], "little")
    d = int.from_bytes(data[8:12], "little")
    return f"{a:02d}{b:02d}-{c:08d}-{d:010d}"


def sam_id_bytes(sam_id: str) -> bytes:
    """Inverse of :func:`format_sam_id` (for the simulator); the last 4 bytes are zero."""
    ab, c, d = sam_id.split("-")
    return (int(ab[:2]).to_bytes(2, "little") + int(ab[2:]).to_bytes(2, "little")
            + int(c).to_bytes(4, "little") + int(d).to_bytes(4, "little") + bytes(4))


@dataclass(frozen=True)
class CardBlocks:
    """Raw blocks of a read reply: 256-byte text, WLT photo, optional fingerprint templates."""
    text: bytes
    photo: bytes
    fingerprint: bytes = b""


def parse_read_base(data: bytes) -> CardBlocks:
    """Data of a ``30 01`` reply: text length(2) photo length(2) text photo."""
    if len(data) < 4:
        raise ReplyError("read reply too short for its length words")
    tl, pl = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
    if len(data) != 4 + tl + pl:
        raise ReplyError(f"read reply declares {tl}+{pl} bytes but carries {len(data) - 4}")
    return CardBlocks(data[4 : 4 + tl], data[4 + tl :])


def parse_read_fingerprint(data: bytes) -> CardBlocks:
    """Data of a ``30 10`` reply: three length words, then text, photo, fingerprint."""
    if len(data) < 6:
        raise ReplyError("read reply too short for its length words")
    tl, pl, fl = (int.from_bytes(data[i : i + 2], "big") for i in (0, 2, 4))
    if len(data) != 6 + tl + pl + fl:
        raise ReplyError(f"read reply declares {tl}+{pl}+{fl} bytes but carries {len(data) - 6}")
    return CardBlocks(data[6 : 6 + tl], data[6 + tl : 6 + tl + pl], data[6 + tl + pl :])


def read_base_data(blocks: CardBlocks) -> bytes:
    return (len(blocks.text).to_bytes(2, "big") + len(blocks.photo).to_bytes(2, "big")
            + blocks.text + blocks.photo)


def read_fingerprint_data(blocks: CardBlocks) -> bytes:
    return (len(blocks.text).to_bytes(2, "big") + len(blocks.photo).to_bytes(2, "big")
            + len(blocks.fingerprint).to_bytes(2, "big")
            + blocks.text + blocks.photo + blocks.fingerprint)
