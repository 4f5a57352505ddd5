"""Turnstile (闸机) drivers behind one small interface, with a plug-in seam for vendor protocols.

The portable path is a Modbus RTU relay board: a relay pulse on the lane's dry-contact "open"
input, and the turnstile's "passage completed" contact wired to an opto input that is polled
with FC 02. A controller with an HTTP interface is :mod:`drivers.httpgate`. Vendor protocols
register a factory with :func:`register_gate_driver` or through the ``sitegate.gate_drivers``
entry-point group; :func:`create_gate_driver` builds any of them by name.

Every driver is built as ``factory(address, lanes={name: Lane(...)}, **options)`` and serves
all the lanes wired to that controller; it must be safe to call from several lane threads.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Protocol

from .errors import DeviceLost

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sitegate.gate_drivers"


class GateError(RuntimeError):
    """The controller answered with an error."""


class GateSilent(GateError):
    """The controller did not answer at all (powered off, cable cut, wrong address)."""


class GateDriver(Protocol):
    """What a lane needs from a gate controller. ``open`` releases one passage and arms the
    passage detection *before* releasing (a quick walker may pass during the pulse), so a
    following ``wait_passage`` sees every passage after ``open``. ``check`` answers quietly or
    raises :class:`DeviceLost` (used by the supervisor to notice an unplugged controller
    between passages); ``confirms_passage`` says whether ``wait_passage`` can see passages on
    that lane (a lane without a sensor cannot)."""
    lanes: dict[str, Any]

    def open(self, lane: str) -> None: ...
    def wait_passage(self, lane: str, timeout: float) -> bool: ...
    def confirms_passage(self, lane: str) -> bool: ...
    def check(self) -> None: ...
    def open_all(self) -> None: ...
    def release_all(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Lane:
    relay: int                 # output (relay channel / door number) wired to the lane's open input
    sensor: int | None = None  # discrete input wired to the passage-completed contact


@dataclass
class PassageWatch:
    """Pure edge detector: a passage is a rising edge of the sensor after the gate opened (a
    sensor already high at the start must drop first)."""
    last: bool | None = None
    fired: bool = False

    def update(self, value: bool) -> bool:
        if self.last is False and value:
            self.fired = True
        self.last = value
        return self.fired


@dataclass
class ModbusRelayGate:
    """A Modbus RTU relay board serving one or more lanes. Each bus transaction runs under one
    lock, never held while waiting, so a lane that waits for a passage never holds up another
    lane on the same board."""
    port: str
    baudrate: int = 9600
    device_id: int = 1
    lanes: dict[str, Lane] = field(default_factory=lambda: {"entry": Lane(0, 0), "exit": Lane(1, 1)})
    pulse: float = 0.3               # seconds the relay stays closed (200-500 ms typical)
    timeout: float = 0.5
    poll_interval: float = 0.05
    client: Any = None

    def __post_init__(self) -> None:
        self.lanes = {k: v if isinstance(v, Lane) else Lane(**v) for k, v in self.lanes.items()}
        self._lock = threading.RLock()
        self._watch: dict[str, PassageWatch] = {}     # lane -> watch armed by open()
        self._closed = False
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
        with self._lock:
            if self._closed:          # pymodbus would quietly re-open the port (and its lock)
                raise DeviceLost(f"relay board on {self.port}: closed")
            rr = self._transact(fn, *args, **kw)
        if rr.isError():
            raise GateError(f"relay board on {self.port} answered {rr}")
        return rr

    def _transact(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
        try:
            return fn(*args, device_id=self.device_id, **kw)
        except ConnectionException as exc:
            raise DeviceLost(f"relay board on {self.port}: {exc}") from exc
        except ModbusIOException as exc:
            raise GateSilent(f"relay board on {self.port} does not answer: {exc}") from exc
        except (ModbusException, OSError) as exc:
            raise GateError(f"relay board on {self.port}: {exc}") from exc

    def _lane(self, lane: str) -> Lane:
        try:
            return self.lanes[lane]
        except KeyError:
            raise ValueError(f"unknown lane {lane!r}; configured: {sorted(self.lanes)}") from None

    def set_relay(self, channel: int, on: bool) -> None:
        self._call(self.client.write_coil, channel, on)

    def read_inputs(self, count: int = 8) -> list[bool]:
        return list(self._call(self.client.read_discrete_inputs, 0, count=count).bits[:count])

    def _sample(self, lane: str, sensor: int) -> bool:
        watch = self._watch.setdefault(lane, PassageWatch())
        return watch.update(self.read_inputs(sensor + 1)[sensor])

    # ------------------------------------------------------------------ gate interface
    def confirms_passage(self, lane: str) -> bool:
        return self._lane(lane).sensor is not None

    def check(self) -> None:
        """One read of the inputs: DeviceLost when the board is gone or silent."""
        try:
            self.read_inputs(1)
        except GateSilent as exc:
            raise DeviceLost(str(exc)) from exc

    def open(self, lane: str) -> None:
        """Arm the lane's passage watch, then pulse its relay: ON, wait ``pulse`` (sampling the
        sensor), OFF (OFF is retried even after an error)."""
        spec = self._lane(lane)
        if spec.sensor is not None:
            self._watch[lane] = PassageWatch()
            self._sample(lane, spec.sensor)
        self.set_relay(spec.relay, True)
        try:
            end = time.monotonic() + self.pulse
            while time.monotonic() < end:
                if spec.sensor is not None:
                    self._sample(lane, spec.sensor)
                time.sleep(min(self.poll_interval, max(0.0, end - time.monotonic())))
        finally:
            self.set_relay(spec.relay, False)

    def wait_passage(self, lane: str, timeout: float) -> bool:
        """True when the lane's sensor shows a passage (a rising edge) after the last
        :meth:`open`, or within ``timeout``."""
        sensor = self._lane(lane).sensor
        if sensor is None:
            raise ValueError(f"lane {lane!r} has no passage sensor configured")
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._sample(lane, sensor):
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self.poll_interval)
        finally:
            self._watch.pop(lane, None)

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
        """Close the port for good: a call still running in another thread finishes first,
        and any later one raises ``DeviceLost`` instead of letting pymodbus re-open the port
        (it would hold the port's exclusive lock, and the supervisor's fresh driver could
        not open it)."""
        with self._lock:
            self._closed = True
            self.client.close()


# ---------------------------------------------------------------------- plug-in seam
# kinds shipped with sitegate, as "module:attribute" (loaded on first use, like entry points)
BUILTIN_GATE_DRIVERS = {"modbus-relay": "drivers.turnstile:ModbusRelayGate",
                        "http-turnstile": "drivers.httpgate:HttpTurnstileGate"}
_REGISTRY: dict[str, Callable[..., GateDriver]] = {}


def register_gate_driver(name: str, factory: Callable[..., GateDriver]) -> None:
    _REGISTRY[name] = factory


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def gate_kinds() -> list[str]:
    """Every kind that :func:`create_gate_driver` can build (entry points are not loaded)."""
    return sorted(set(BUILTIN_GATE_DRIVERS) | set(_REGISTRY) | set(_entry_points()))


def gate_factory(kind: str) -> Callable[..., GateDriver]:
    """The factory for ``kind``: registered, built in, or from an installed distribution's
    ``sitegate.gate_drivers`` entry point. ValueError names the known kinds."""
    if kind not in _REGISTRY:
        if kind in BUILTIN_GATE_DRIVERS:
            module, _, attr = BUILTIN_GATE_DRIVERS[kind].partition(":")
            _REGISTRY[kind] = getattr(importlib.import_module(module), attr)
        else:
            ep = _entry_points().get(kind)
            if ep is None:
                raise ValueError(f"unknown gate driver {kind!r}; known: {', '.join(gate_kinds())}")
            _REGISTRY[kind] = ep.load()
    return _REGISTRY[kind]


def check_gate_options(kind: str, address: str, lanes: dict[str, Lane], options: dict[str, Any]) -> None:
    """TypeError when ``options`` do not fit the kind's factory (nothing is opened)."""
    try:
        sig = inspect.signature(gate_factory(kind))
    except (TypeError, ValueError):
        return                                   # a factory we cannot inspect: found out at open
    sig.bind(address, lanes=lanes, **options)


def create_gate_driver(kind: str, address: str, *, lanes: dict[str, Lane | dict], **options: Any) -> GateDriver:
    """Build a gate driver by kind for the controller at ``address`` (serial port, URL, ...)
    serving ``lanes``; ``options`` are the kind's own settings."""
    lanes = {k: v if isinstance(v, Lane) else Lane(**v) for k, v in lanes.items()}
    return gate_factory(kind)(address, lanes=lanes, **options)
