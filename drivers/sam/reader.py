"""The ID-card reader driver: the sans-I/O connection over a transport, plus a poll loop that
reports each card once. All I/O happens here; decisions live in :mod:`drivers.sam.host`."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..errors import DeviceLost, DeviceTimeout
from ..transport import SerialTransport, Transport
from . import protocol as p
from .cardtext import CardDecodeError, Identity
from .host import CardPresence, LinkError, ReplyEvent, SamConnection, identity_from_reply

Command = p.Command


class SamError(Exception):
    """A command failed: ``reason`` is a short key, ``sw3`` the status when there was one."""

    def __init__(self, reason: str, message: str, sw3: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.sw3 = reason, sw3


# ------------------------------------------------------------------ events of the poll loop
@dataclass(frozen=True)
class CardRead:
    identity: Identity


@dataclass(frozen=True)
class CardError:
    """A card was in the field but could not be trusted or read (reason: bad_id_number,
    bad_date, unknown_card_type, garbled_text, read_failed, ...)."""
    reason: str
    message: str


@dataclass(frozen=True)
class CardLeft:
    pass


@dataclass(frozen=True)
class ReaderProblem:
    """The link misbehaved (timeout, bad checksum, junk); the reader keeps going."""
    reason: str
    message: str


ReaderEvent = CardRead | CardError | CardLeft | ReaderProblem


class SamReader:
    def __init__(self, transport: Transport, *, timeout: float = 1.0, absent_polls: int = 2,
                 fingerprint: bool = False, on_problem: Callable[[ReaderProblem], None] | None = None) -> None:
        self.transport = transport
        self.timeout = timeout
        self.fingerprint = fingerprint
        self.presence = CardPresence(absent_polls)
        self._conn = SamConnection()
        self._on_problem = on_problem
        self.problems: list[ReaderProblem] = []   # link diagnostics since the last poll

    @classmethod
    def open(cls, port: str, baudrate: int = 115200, **kw) -> "SamReader":
        return cls(SerialTransport(port, baudrate), **kw)

    def close(self) -> None:
        self.transport.close()

    # ------------------------------------------------------------------ one command
    def _problem(self, reason: str, message: str) -> None:
        pr = ReaderProblem(reason, message)
        self.problems.append(pr)
        if self._on_problem:
            self._on_problem(pr)

    def transact(self, command: Command, para: int | None = None, data: bytes = b"",
                 timeout: float | None = None) -> p.Reply:
        """Send one command and wait for its reply. Junk before the reply is skipped (and
        noted); a corrupted reply raises :class:`SamError`; silence raises DeviceTimeout."""
        self.transport.reset_input()
        self._conn.timed_out()
        self.transport.write(self._conn.send(command, para, data))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            while (ev := self._conn.next_event()) is not None:
                if isinstance(ev, ReplyEvent):
                    return ev.reply
                assert isinstance(ev, LinkError)
                if ev.reason == "junk":
                    self._problem(ev.reason, ev.message)
                    continue
                self._conn.timed_out()
                raise SamError(ev.reason, ev.message)
            left = deadline - time.monotonic()
            if left <= 0:
                dropped = self._conn.timed_out()
                raise DeviceTimeout(f"no reply to {command.name} within the timeout"
                                    + (f" ({len(dropped)} bytes of a partial frame dropped)" if dropped else ""))
            self._conn.receive_data(self.transport.read(left))

    def _ok(self, command: Command, para: int | None = None, data: bytes = b"") -> p.Reply:
        reply = self.transact(command, para, data)
        if not reply.ok:
            raise SamError(command.name.lower(), f"{command.name}: {reply.message}", reply.sw3)
        return reply

    # ------------------------------------------------------------------ command set
    def status(self) -> bool:
        return self.transact(Command.STATUS).sw3 == p.SW3_SUCCESS

    def reset(self) -> None:
        self._ok(Command.RESET)

    def sam_id(self) -> str:
        return p.format_sam_id(self._ok(Command.SAM_ID).data)

    def find(self) -> bool:
        reply = self.transact(Command.FIND)
        if reply.sw3 not in (p.SW3_FOUND, 0x80):
            raise SamError("find", f"FIND: {reply.message}", reply.sw3)
        return reply.sw3 == p.SW3_FOUND

    def select(self) -> None:
        self._ok(Command.SELECT)

    def read(self, fingerprint: bool | None = None) -> Identity:
        """Read the selected card; raises CardDecodeError for untrustworthy card data."""
        fp = self.fingerprint if fingerprint is None else fingerprint
        command = Command.READ_FINGERPRINT if fp else Command.READ_BASE
        reply = self._ok(command)
        return identity_from_reply(command, reply)

    def latest_address(self) -> str | None:
        reply = self.transact(Command.READ_ADDRESS)
        if reply.sw3 == 0x91:
            return None
        if not reply.ok:
            raise SamError("read_address", f"READ_ADDRESS: {reply.message}", reply.sw3)
        return reply.data.decode("utf-16-le", "replace").rstrip(" \x00")

    def set_max_rf(self, nbytes: int = 0x50) -> None:
        self._ok(Command.SET_MAX_RF, data=bytes([nbytes]))

    def set_baud(self, baud: int) -> None:
        """Ask the module to switch speed; the caller re-opens the port at the new speed."""
        self._ok(Command.SET_BAUD, p.BAUD_CODES[baud])

    # ------------------------------------------------------------------ polling
    def poll(self) -> list[ReaderEvent]:
        """One find cycle. Returns the events it produced; never raises for bad cards or a
        misbehaving link (only DeviceLost escapes, for the supervisor)."""
        self.problems = []
        events: list[ReaderEvent] = []
        try:
            action = self.presence.on_find(self.find())
            if action == "left":
                events.append(CardLeft())
            elif action == "read":
                events.append(self._read_new())
        except DeviceLost:
            raise
        except DeviceTimeout as exc:
            self._problem("timeout", str(exc))
        except SamError as exc:
            self._problem(exc.reason, str(exc))
        return [*self.problems, *events]

    def _read_new(self) -> ReaderEvent:
        try:
            self.select()
            identity = self.read()
        except CardDecodeError as exc:
            self.presence.on_read(ok=True)          # bad card: report once, not on every poll
            return CardError(exc.reason, str(exc))
        except SamError as exc:
            self.presence.on_read(ok=False)         # RF failure: the next find retries
            return CardError("read_failed", str(exc))
        except DeviceTimeout as exc:
            self.presence.on_read(ok=False)
            return CardError("read_failed", str(exc))
        self.presence.on_read(ok=True)
        return CardRead(identity)

    def wait_card(self, timeout: float, interval: float = 0.1) -> CardRead | CardError | None:
        """Poll until a card is read or fails (for ``probe idcard``); None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.poll():
                if isinstance(ev, (CardRead, CardError)):
                    return ev
            time.sleep(interval)
        return None
