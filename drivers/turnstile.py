"""Turnstile (闸机) drivers behind one small interface, with a plug-in seam for vendor protocols.

The portable path is a Modbus RTU relay board: a relay pulse on the lane's dry-contact "open"
input, and the turnstile's "passage completed" contact wired to an opto input that is polled
with FC 02. Vendor protocols register a factory with :func:`register_gate_driver` or through
the ``sitegate.gate_drivers`` entry-point group.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Protocol

from .errors import DeviceLost

log = logging.getLogger(__name__)


class GateError(RuntimeError):
    """The controller answered with an error or not at all."""


class GateDriver(Protocol):
    lanes: dict[str, Any]

    def open(self, lane: str) -> None: ...
    def wait_passage(self, lane: str, timeout: float) -> bool: ...
    def open_all(self) -> None: ...
    def release_all(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Lane:
    relay: int                 # coil (0-based channel) wired to the lane's open input
    sensor: int | None = None  # discrete input wired to the passage-completed contact


@dataclass
class PassageWatch:
    """Pure edge detector: a passage is a rising edge of the sensor after the gate opened (a
    sensor already high at the start must drop first)."""
    last: bool | None = None

    def update(self, value: bool) -> bool:
        fired = self.last is False and value
        self.last = value
        return fired


@dataclass
class ModbusRelayGate:
    port: str
    baudrate: int = 9600
    device_id: int = 1
    lanes: dict[str, Lane] = field(default_factory=lambda: {"entry": Lane(0, 0), "exit": Lane(1, 1)})
    pulse: float = 0.3               # seconds the relay stays closed (200-500 ms typical)
    timeout: float = 0.5
    poll_interval: float = 0.05
    client: Any = None

    def __post_init__(self) -> None:
        if self.client is None:
            from pymodbus import FramerType
            from pymodbus.client import ModbusSerialClient
            self.client = ModbusSerialClient(self.port, framer=FramerType.RTU,
                                             baudrate=self.baudrate, timeout=self.timeout,
                                             retries=1, reconnect_delay=0)
        if not self.client.connect():
            raise DeviceLost(f"cannot open relay board on {self.port}")

    # ------------------------------------------------------------------ modbus calls
    def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        from pymodbus.exceptions import ConnectionException, ModbusException
        try:
            rr = fn(*args, device_id=self.device_id, **kw)
        except ConnectionException as exc:
            raise DeviceLost(f"relay board on {self.port}: {exc}") from exc
        except (ModbusException, OSError) as exc:
            raise GateError(f"relay board on {self.port}: {exc}") from exc
        if rr.isError():
            raise GateError(f"relay board on {self.port} answered {rr}")
        return rr

    def _lane(self, lane: str) -> Lane:
        try:
            return self.lanes[lane]
        except KeyError:
            raise ValueError(f"unknown lane {lane!r}; configured: {sorted(self.lanes)}") from None

    def set_relay(self, channel: int, on: bool) -> None:
        self._call(self.client.write_coil, channel, on)

    def read_inputs(self, count: int = 8) -> list[bool]:
        return list(self._call(self.client.read_discrete_inputs, 0, count=count).bits[:count])

    # ------------------------------------------------------------------ gate interface
    def open(self, lane: str) -> None:
        """Pulse the lane's relay: ON, wait ``pulse``, OFF (OFF is retried even after an error)."""
        ch = self._lane(lane).relay
        self.set_relay(ch, True)
        try:
            time.sleep(self.pulse)
        finally:
            self.set_relay(ch, False)

    def wait_passage(self, lane: str, timeout: float) -> bool:
        """True when the lane's sensor shows a passage within ``timeout`` (a rising edge)."""
        sensor = self._lane(lane).sensor
        if sensor is None:
            raise ValueError(f"lane {lane!r} has no passage sensor configured")
        watch = PassageWatch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if watch.update(self.read_inputs(sensor + 1)[sensor]):
                return True
            time.sleep(self.poll_interval)
        return False

    def open_and_confirm(self, lane: str, timeout: float = 8.0) -> bool:
        self.open(lane)
        return self.wait_passage(lane, timeout)

    def open_all(self) -> None:
        """Fire evacuation: every lane's relay held closed until :meth:`release_all`."""
        for lane in self.lanes.values():
            self.set_relay(lane.relay, True)
        log.warning("turnstile %s: all lanes held open (evacuation)", self.port)

    def release_all(self) -> None:
        for lane in self.lanes.values():
            self.set_relay(lane.relay, False)

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------- plug-in seam
_REGISTRY: dict[str, Callable[..., GateDriver]] = {"modbus-relay": ModbusRelayGate}


def register_gate_driver(name: str, factory: Callable[..., GateDriver]) -> None:
    _REGISTRY[name] = factory


def create_gate_driver(kind: str, **config: Any) -> GateDriver:
    """Build a gate driver by name; also finds factories in the ``sitegate.gate_drivers``
    entry-point group (for vendor protocols shipped as separate packages)."""
    if kind not in _REGISTRY:
        for ep in entry_points(group="sitegate.gate_drivers"):
            if ep.name == kind:
                _REGISTRY[kind] = ep.load()
    try:
        factory = _REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown gate driver {kind!r}; known: {sorted(_REGISTRY)}") from None
    if kind == "modbus-relay" and "lanes" in config:
        config["lanes"] = {k: v if isinstance(v, Lane) else Lane(**v) for k, v in config["lanes"].items()}
    return factory(**config)
