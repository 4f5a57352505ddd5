"""A serial device on a pseudo-terminal: the base of every serial simulator.

The simulator holds the master side; the driver opens the slave like any serial port. A stable
symlink (``path``) points at the current ``/dev/pts/N`` so that after :meth:`PtyDevice.unplug` /
:meth:`PtyDevice.replug` the driver re-opens the same name, as with a udev ``by-id`` link.
Unplugging closes the master (the driver's reads fail with EIO) and removes the link.
"""
from __future__ import annotations

import errno
import os
import select
import tempfile
import threading
import time
import tty


class PtyDevice:
    """Subclasses implement :meth:`on_data` (bytes from the host) and optionally :meth:`tick`."""

    name = "device"
    tick_interval = 0.05

    def __init__(self, link: str | None = None, baud: int | None = None) -> None:
        self._own_dir: str | None = None      # a temporary directory for the link, removed on stop
        if not link:
            self._own_dir = tempfile.mkdtemp(prefix="sitegate-sim-")
            link = os.path.join(self._own_dir, self.name)
        self.path = link
        self.baud = baud                  # pace output at this wire speed (None = as fast as pty)
        self.tty: str | None = None       # current /dev/pts/N
        self._master: int | None = None
        self._gen = 0                     # bumped on every plug/unplug (guards fd reuse)
        self._slave: int | None = None
        self._lock = threading.RLock()
        self._running = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "PtyDevice":
        self._plug()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=f"sim-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread:
            self._thread.join(timeout=2)
        self._unplug()
        if self._own_dir:
            try:
                os.rmdir(self._own_dir)
            except OSError:
                pass

    def __enter__(self) -> "PtyDevice":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def unplug(self) -> None:
        """The device disappears: the pty closes and the path vanishes."""
        self._unplug()

    def replug(self) -> None:
        """The device comes back (a new pty) under the same path."""
        if not self.plugged:
            self._plug()

    def _plug(self) -> None:
        with self._lock:
            master, slave = os.openpty()
            tty.setraw(slave)             # no echo, no CR/LF translation: bytes pass unchanged
            os.set_blocking(master, False)
            self._master, self._slave, self.tty = master, slave, os.ttyname(slave)
            self._gen += 1
            tmp = f"{self.path}.tmp{os.getpid()}"
            os.symlink(self.tty, tmp)
            os.replace(tmp, self.path)
        self.on_plug()

    def _unplug(self) -> None:
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            self._gen += 1
            try:
                if os.path.islink(self.path):
                    os.unlink(self.path)
            except OSError:
                pass

    # ------------------------------------------------------------------ hooks
    def on_plug(self) -> None:
        """Called after (re)plugging: reset device state here."""

    def on_data(self, data: bytes) -> None:
        """Bytes written by the host."""

    def tick(self, now: float) -> None:
        """Called every ``tick_interval`` seconds while running."""

    # ------------------------------------------------------------------ output
    def send(self, data: bytes, *, chunk: int | None = None, gap: float = 0.0) -> bool:
        """Write to the host. ``chunk``/``gap`` split the bytes into pieces with pauses; when
        ``baud`` is set the bytes leave at wire speed (10 bits per byte). Returns False when the
        bytes were dropped (unplugged, or nobody reading and the pty buffer full)."""
        step = chunk or (64 if self.baud else len(data) or 1)
        t_next = time.monotonic()
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            if not self._write_all(piece):
                return False
            if self.baud:
                t_next += len(piece) * 10 / self.baud
                time.sleep(max(0.0, t_next - time.monotonic()))
            if gap and i + step < len(data):
                time.sleep(gap)
                t_next = time.monotonic()
        return True

    def wire_time(self, nbytes: int) -> float:
        return nbytes * 10 / self.baud if self.baud else 0.0

    def _write_all(self, data: bytes, timeout: float = 1.0) -> bool:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            with self._lock:
                fd = self._master
                if fd is None:
                    return False
                try:
                    n = os.write(fd, view)
                    view = view[n:]
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([], [fd], [], min(left, 0.05))
        return True

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        next_tick = time.monotonic()
        while self._running:
            fd, gen = self._master, self._gen
            if fd is None:
                time.sleep(0.01)
            else:
                data = b""
                try:
                    ready, _, _ = select.select([fd], [], [], 0.01)
                    with self._lock:   # the fd is ours only if no (un)plug happened meanwhile
                        if ready and gen == self._gen:
                            data = os.read(fd, 4096)
                except BlockingIOError:
                    pass
                except (OSError, ValueError) as exc:
                    if getattr(exc, "errno", None) not in (errno.EIO, errno.EBADF, None):
                        raise
                    time.sleep(0.01)
                if data:
                    self.on_data(data)
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.tick_interval
                self.tick(now)
