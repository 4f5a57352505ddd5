"""Host side of the SAM protocol, sans-I/O: a connection that turns commands into bytes and bytes
into events, and the card-presence rule (one read per card in the field)."""
from __future__ import annotations

from dataclasses import dataclass

from . import protocol as p
from .cardtext import CardDecodeError, Identity, decode_text
from .frame import BadChecksum, BadLength, Frame, Junk, ReceiveBuffer


@dataclass(frozen=True)
class ReplyEvent:
    command: p.Command | None
    reply: p.Reply


@dataclass(frozen=True)
class LinkError:
    """A frame-level problem: ``junk`` (bytes skipped before a preamble), ``bad_checksum``,
    ``bad_length``, ``unexpected_reply`` (nothing was pending)."""
    reason: str
    message: str


SamEvent = ReplyEvent | LinkError


class SamConnection:
    """``send()`` returns the bytes to write; ``receive_data()`` + ``next_event()`` yield events."""

    def __init__(self) -> None:
        self._rx = ReceiveBuffer()
        self.pending: p.Command | None = None

    def send(self, command: p.Command, para: int | None = None, data: bytes = b"") -> bytes:
        self.pending = command
        return p.command_frame(command, para, data)

    def receive_data(self, data: bytes) -> None:
        self._rx.feed(data)

    def timed_out(self) -> bytes:
        """The reply did not arrive: forget the pending command and any partial frame."""
        self.pending = None
        return self._rx.clear()

    def next_event(self) -> SamEvent | None:
        ev = self._rx.next_event()
        if ev is None:
            return None
        if isinstance(ev, Junk):
            return LinkError("junk", f"skipped {len(ev.data)} bytes before a preamble")
        if isinstance(ev, BadChecksum):
            return LinkError("bad_checksum", f"reply checksum 0x{ev.got:02X}, expected 0x{ev.expected:02X}")
        if isinstance(ev, BadLength):
            return LinkError("bad_length", f"reply length {ev.length} outside protocol limits")
        assert isinstance(ev, Frame)
        try:
            reply = p.parse_reply(ev.body)
        except p.ReplyError as exc:
            return LinkError("bad_length", str(exc))
        command, self.pending = self.pending, None
        if command is None:
            return LinkError("unexpected_reply", f"reply SW3 0x{reply.sw3:02X} with no command pending")
        return ReplyEvent(command, reply)


def identity_from_reply(command: p.Command, reply: p.Reply) -> Identity:
    """Decode a successful read reply (30 01 / 30 10); raise CardDecodeError otherwise."""
    try:
        if command is p.Command.READ_FINGERPRINT:
            blocks = p.parse_read_fingerprint(reply.data)
        else:
            blocks = p.parse_read_base(reply.data)
    except p.ReplyError as exc:
        raise CardDecodeError("bad_reply", str(exc)) from None
    return decode_text(blocks.text, photo=blocks.photo, fingerprint=blocks.fingerprint)


class CardPresence:
    """Decides when a found card is *new*.

    After a read the card is "held": further finds do not trigger a read. The card counts as gone
    only after ``absent_polls`` consecutive failed finds (readers differ: some answer 0x80 while a
    read card still lies on them, some keep answering 0x9F, some alternate).
    """

    def __init__(self, absent_polls: int = 2) -> None:
        self.absent_polls = absent_polls
        self.held = False
        self._misses = 0

    def on_find(self, found: bool) -> str:
        """Returns ``"read"`` (a new card: select and read it), ``"left"`` (the held card has
        left the field) or ``"wait"``."""
        if found:
            self._misses = 0
            return "wait" if self.held else "read"
        if self.held:
            self._misses += 1
            if self._misses >= self.absent_polls:
                self.held, self._misses = False, 0
                return "left"
        return "wait"

    def on_read(self, ok: bool) -> None:
        """A read finished. A failed RF read (card pulled away) lets the next find retry; a
        successful read, or a card whose data is bad, is held so it is reported once."""
        self.held = ok
        self._misses = 0
