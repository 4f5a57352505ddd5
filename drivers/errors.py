"""Errors shared by every transport and driver."""
from __future__ import annotations


class DeviceLost(OSError):
    """The device disappeared (unplugged, port closed, path gone). Re-open to continue."""


class DeviceTimeout(TimeoutError):
    """The device did not answer in time."""
