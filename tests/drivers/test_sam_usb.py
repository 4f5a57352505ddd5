"""USB bulk transport. There is no USB bus on this machine, so the pyusb device is a fake that
runs the same SAM state machine as the pty simulator and answers in 64-byte bulk packets."""
from __future__ import annotations

import pytest
import usb.core

from drivers.errors import DeviceLost
from drivers.sam.device import SamDevice
from drivers.sam.reader import CardRead, SamReader
from drivers.sim.samples import FOREIGN_2023
from drivers.transport import UsbBulkTransport


class FakeBulkDevice:
    def __init__(self):
        self.sam = SamDevice()
        self.pending = bytearray()
        self.writes = []
        self.gone = False

    def write(self, ep, data, timeout=None):
        if self.gone:
            raise usb.core.USBError("No such device", errno=19)
        assert ep == 0x02
        self.writes.append(bytes(data))
        for reply in self.sam.receive(bytes(data)):
            self.pending += reply
        return len(data)

    def read(self, ep, size, timeout=None):
        if self.gone:
            raise usb.core.USBError("No such device", errno=19)
        assert ep == 0x81 and size == 64
        if not self.pending:
            raise usb.core.USBTimeoutError("timeout", errno=110)
        out = bytes(self.pending[:size])
        del self.pending[:size]
        return out


def test_read_card_over_bulk_endpoints():
    dev = FakeBulkDevice()
    reader = SamReader(UsbBulkTransport(device=dev), timeout=0.5)
    dev.sam.present(FOREIGN_2023)
    (ev,) = [e for e in reader.poll() if isinstance(e, CardRead)]
    assert ev.identity.id_number == "932682198501010017"
    assert dev.writes[:3] == [bytes.fromhex("AA AA AA 96 69 00 03 20 01 22"),
                              bytes.fromhex("AA AA AA 96 69 00 03 20 02 21"),
                              bytes.fromhex("AA AA AA 96 69 00 03 30 01 32")]


def test_unplugged_usb_device_raises_device_lost():
    dev = FakeBulkDevice()
    reader = SamReader(UsbBulkTransport(device=dev), timeout=0.2)
    dev.gone = True
    with pytest.raises(DeviceLost):
        reader.poll()


def test_no_usb_reader_is_device_lost():
    # the real lookup: no reader (or no libusb backend) on this machine
    with pytest.raises(DeviceLost):
        UsbBulkTransport()


def test_closing_an_unplugged_reader_is_quiet_and_other_errors_are_not():
    class Context:                  # pyusb's per-device context; dispose() frees the handle
        def __init__(self, error):
            self.error = error

        def dispose(self, device):
            raise self.error

    dev = FakeBulkDevice()
    dev._ctx = Context(usb.core.USBError("No such device", errno=19))
    UsbBulkTransport(device=dev).close()                      # unplugged: nothing to release
    dev._ctx = Context(RuntimeError("a bug, not a lost device"))
    with pytest.raises(RuntimeError):
        UsbBulkTransport(device=dev).close()
