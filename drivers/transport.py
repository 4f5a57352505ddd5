"""Thin byte transports: serial ports and pyserial URLs (``loop://``, ``socket://``), and the
vendor USB bulk reader. Every transport has the same four methods and raises
:class:`~drivers.errors.DeviceLost` when the device goes away."""
from __future__ import annotations

from typing import Any, Protocol

from .errors import DeviceLost


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self, timeout: float) -> bytes: ...       # what is available; b"" on timeout
    def reset_input(self) -> None: ...
    def close(self) -> None: ...


class SerialTransport:
    def __init__(self, port: str, baudrate: int = 115200) -> None:
        import serial
        import termios
        self._errors = (serial.SerialException, OSError, termios.error, TypeError)
        try:
            self._ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.1,
                                              write_timeout=2.0) \
                if "://" in port else serial.Serial(port, baudrate=baudrate, timeout=0.1,
                                                    write_timeout=2.0)
        except (serial.SerialException, OSError) as exc:
            raise DeviceLost(f"cannot open {port}: {exc}") from exc
        self.port = port

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
        except self._errors as exc:
            raise DeviceLost(f"{self.port}: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        try:
            self._ser.timeout = max(timeout, 0.0)
            first = self._ser.read(1)
            if not first:
                return b""
            waiting = self._ser.in_waiting
            return first + (self._ser.read(waiting) if waiting else b"")
        except self._errors as exc:
            raise DeviceLost(f"{self.port}: {exc}") from exc

    def reset_input(self) -> None:
        try:
            self._ser.reset_input_buffer()
        except self._errors as exc:
            raise DeviceLost(f"{self.port}: {exc}") from exc

    def close(self) -> None:
        try:
            self._ser.close()
        except self._errors:
            pass            # already gone: nothing left to release


class UsbBulkTransport:
    """The vendor bulk reader (VID 0x0400 / PID 0xC35A): the same frames on EP 0x02 / 0x81,
    read in 64-byte packets. ``device`` may be injected (tests; there is no USB bus here)."""

    VID, PID, EP_OUT, EP_IN, PACKET = 0x0400, 0xC35A, 0x02, 0x81, 64

    def __init__(self, device: Any = None) -> None:
        import usb.core
        import usb.util
        self._usb = usb.core
        self._util = usb.util
        if device is None:
            try:
                device = usb.core.find(idVendor=self.VID, idProduct=self.PID)
            except usb.core.NoBackendError as exc:
                raise DeviceLost(f"no libusb backend: {exc}") from exc
            if device is None:
                raise DeviceLost("no USB ID-card reader 0400:c35a found")
            try:
                device.set_configuration()
            except usb.core.USBError as exc:
                raise DeviceLost(f"cannot configure USB reader: {exc}") from exc
        self._dev = device
        self.port = "usb:0400:c35a"

    def write(self, data: bytes) -> None:
        try:
            self._dev.write(self.EP_OUT, data, timeout=1000)
        except self._usb.USBError as exc:
            raise DeviceLost(f"USB write failed: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        try:
            return bytes(self._dev.read(self.EP_IN, self.PACKET, timeout=max(1, int(timeout * 1000))))
        except self._usb.USBTimeoutError:
            return b""
        except self._usb.USBError as exc:
            raise DeviceLost(f"USB read failed: {exc}") from exc

    def reset_input(self) -> None:
        while self.read(0.001):
            pass

    def close(self) -> None:
        try:
            self._util.dispose_resources(self._dev)
        except self._usb.USBError:
            pass            # unplugged: nothing left to release
