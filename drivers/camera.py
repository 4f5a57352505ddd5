"""Camera capture through OpenCV from a device index (``0``), a video file or a stream URL
(``rtsp://``, ``http://…mjpg``), with reconnect: when reads fail the capture is released and
re-opened every ``reconnect_interval`` seconds, without blocking the caller in between.

Two ways to use it: :meth:`Camera.read` never raises (``None`` while the camera is away and
re-opens by itself); :meth:`Camera.connect` / :meth:`Camera.grab` raise
:class:`~drivers.errors.DeviceLost` instead, for a supervisor that owns the re-open schedule."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from .errors import DeviceLost

log = logging.getLogger(__name__)


def parse_source(source: str | int) -> str | int:
    """``"0"`` → device index 0; anything else is a path or URL."""
    if isinstance(source, int):
        return source
    return int(source) if source.strip().isdigit() else source


def display_source(source: str | int) -> str:
    """The source for logs and screens: a URL's password (``rtsp://user:pw@cam``) is masked."""
    text = str(source)
    if "://" not in text:
        return text
    url = urlsplit(text)
    if url.password is None:
        return text
    netloc = f"{url.username}:***@{url.hostname}" + (f":{url.port}" if url.port else "")
    return urlunsplit(url._replace(netloc=netloc))


@dataclass(frozen=True)
class CameraStatus:
    source: str
    state: str            # "connected" | "lost"
    message: str = ""


def _open_capture(source: str | int, timeout_ms: int, read_timeout_ms: int | None = None) -> Any:
    import cv2
    if isinstance(source, int):
        return cv2.VideoCapture(source)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, read_timeout_ms or timeout_ms]
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)


class Camera:
    def __init__(self, source: str | int, *, reconnect_interval: float = 1.0, timeout: float = 3.0,
                 loop_file: bool = False, on_status: Callable[[CameraStatus], None] | None = None,
                 opener: Callable[..., Any] = _open_capture, read_timeout: float | None = None) -> None:
        """``timeout`` bounds opening a stream, ``read_timeout`` (default: ``timeout``) each read
        of a stream: a camera whose cable is pulled is noticed after that long."""
        self.source = parse_source(source)
        self.read_timeout = read_timeout
        self.reconnect_interval, self.timeout, self.loop_file = reconnect_interval, timeout, loop_file
        self._opener, self._on_status = opener, on_status
        self._cap: Any = None
        self._next_try = 0.0
        self.state = "closed"
        self.frames_read = 0

    def _status(self, state: str, message: str = "") -> None:
        if state != self.state:
            self.state = state
            log.log(logging.WARNING if state == "lost" else logging.INFO, "camera %s %s %s",
                    display_source(self.source), state, message)
            if self._on_status:
                self._on_status(CameraStatus(display_source(self.source), state, message))

    def _drop(self, message: str) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._next_try = time.monotonic() + self.reconnect_interval
        self._status("lost", message)

    def _ensure_open(self) -> bool:
        if self._cap is not None:
            return True
        if time.monotonic() < self._next_try:
            return False
        cap = (self._opener(self.source, int(self.timeout * 1000), int(self.read_timeout * 1000))
               if self.read_timeout else self._opener(self.source, int(self.timeout * 1000)))
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            self._drop("cannot open")
            return False
        self._cap = cap
        self._status("connected")
        return True

    def read(self) -> Any | None:
        """The next frame (a BGR numpy array), or None when the camera is unavailable right now."""
        if not self._ensure_open():
            return None
        return self._read_open()

    def _read_open(self) -> Any | None:
        ok, frame = self._cap.read()
        if ok and frame is not None:
            self.frames_read += 1
            return frame
        if self.loop_file and isinstance(self.source, str) and "://" not in self.source:
            import cv2
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
            if ok:
                self.frames_read += 1
                return frame
        self._drop("read failed (stream ended or device gone)")
        return None

    # ------------------------------------------------------------------ for a supervisor
    def connect(self) -> "Camera":
        """Open the capture now (no waiting for ``reconnect_interval``); DeviceLost if it
        cannot be opened."""
        self._next_try = 0.0
        if not self._ensure_open():
            raise DeviceLost(f"camera {display_source(self.source)}: cannot open")
        return self

    def grab(self) -> Any:
        """The next frame; DeviceLost (capture released) when the read fails."""
        if self._cap is None:
            raise DeviceLost(f"camera {display_source(self.source)}: not open")
        frame = self._read_open()
        if frame is None:
            raise DeviceLost(f"camera {display_source(self.source)}: read failed "
                             "(stream ended or device gone)")
        return frame

    def wait_frame(self, timeout: float) -> Any | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.read()
            if frame is not None:
                return frame
            time.sleep(0.02)
        return None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self.state = "closed"
