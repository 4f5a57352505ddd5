"""Faithful device simulators. Each is a library class with ``start()``/``stop()`` and a
``path`` (or ``url``) attribute, so tests and the demo can run them in-process in a thread."""
from .idcard import IdCardSimulator, SamFaults, load_identities

__all__ = ["IdCardSimulator", "SamFaults", "load_identities"]
