"""Site configuration (``site.toml``) and where data lives (``SITEGATE_HOME``).

A bad line is an error that names the key and what is allowed; nothing starts half-configured.
Relative paths are relative to the home directory.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uplink.broker import BrokerConfig
from uplink.outbox import Limits
from uplink.wire import WireError, check_gateway_id


class ConfigError(ValueError):
    pass


def sitegate_home() -> Path:
    """``$SITEGATE_HOME`` when set, else ``~/.sitegate``."""
    env = os.environ.get("SITEGATE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".sitegate"


@dataclass
class SiteConfig:
    gateway_id: str
    home: Path
    key_file: Path
    outbox_path: Path
    broker: BrokerConfig
    limits: Limits = field(default_factory=Limits)
    window: int = 8
    ack_timeout: float = 10.0
    linger: float = 0.2
    state_interval: float = 10.0
    simulate_records: int = 0       # total records the simulated clock-in source makes; 0 = none
    simulate_rate: float = 0.0      # records per second
    simulate_workers: int = 200


# key -> (type, default); sections mirror the TOML file
SCHEMA: dict[str, dict[str, tuple[type | tuple, Any]]] = {
    "gateway": {"id": (str, None), "key": (str, "keys/gateway.key.pem")},
    "broker": {"url": (str, "mqtt://127.0.0.1:1883"), "username": (str, None),
               "password": (str, None), "password_file": (str, None), "ca_file": (str, None),
               "cert_file": (str, None), "key_file": (str, None), "keepalive": (int, 30),
               "protocol": (str, "3.1.1")},
    "outbox": {"path": (str, "outbox.db"), "max_unacked": (int, Limits.max_unacked),
               "max_block_records": (int, Limits.max_block_records),
               "max_block_bytes": (int, Limits.max_block_bytes),
               "max_db_mb": ((int, float), 0), "min_free_mb": ((int, float), 64),
               "retention_days": ((int, float), 7),
               "retention_max_rows": (int, Limits.retention_max_rows)},
    "uplink": {"window": (int, 8), "ack_timeout_s": ((int, float), 10.0),
               "linger_s": ((int, float), 0.2), "state_interval_s": ((int, float), 10.0)},
    "simulate": {"records": (int, 0), "rate": ((int, float), 0.0), "workers": (int, 200)},
}


def _section(data: dict, name: str) -> dict[str, Any]:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table")
    out = {}
    for key, value in raw.items():
        if key not in SCHEMA[name]:
            allowed = ", ".join(SCHEMA[name])
            raise ConfigError(f"[{name}] {key}: unknown setting (allowed: {allowed})")
        typ = SCHEMA[name][key][0]
        if not isinstance(value, typ) or isinstance(value, bool):
            want = {str: "a string", int: "an integer"}.get(typ, "a number")
            raise ConfigError(f"[{name}] {key} = {value!r}: must be {want}")
        out[key] = value
    return {k: out.get(k, default) for k, (_, default) in SCHEMA[name].items()}


def parse(data: dict, home: Path | None = None) -> SiteConfig:
    unknown = set(data) - set(SCHEMA)
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))} "
                          f"(allowed: {', '.join(SCHEMA)})")
    home = home or sitegate_home()
    g, b, o, u, s = (_section(data, n) for n in SCHEMA)
    if g["id"] is None:
        raise ConfigError("[gateway] id is required")
    try:
        check_gateway_id(g["id"])
    except WireError as exc:
        raise ConfigError(f"[gateway] id: {exc}") from exc
    password = b["password"]
    if b["password_file"]:
        password = _path(home, b["password_file"]).read_text().strip()
    try:
        broker = BrokerConfig(url=b["url"], username=b["username"], password=password,
                              ca_file=_opt_path(home, b["ca_file"]),
                              cert_file=_opt_path(home, b["cert_file"]),
                              key_file=_opt_path(home, b["key_file"]), keepalive=b["keepalive"],
                              protocol=b["protocol"])
    except ValueError as exc:
        raise ConfigError(f"[broker] {exc}") from exc
    for key in ("max_unacked", "max_block_records", "max_block_bytes"):
        if o[key] < 1:
            raise ConfigError(f"[outbox] {key} must be >= 1")
    limits = Limits(max_unacked=o["max_unacked"], max_block_records=o["max_block_records"],
                    max_block_bytes=o["max_block_bytes"],
                    max_db_bytes=int(o["max_db_mb"] * 1024 * 1024),
                    min_free_bytes=int(o["min_free_mb"] * 1024 * 1024),
                    retention_s=int(o["retention_days"] * 86400),
                    retention_max_rows=o["retention_max_rows"])
    if u["window"] < 1:
        raise ConfigError("[uplink] window must be >= 1")
    return SiteConfig(gateway_id=g["id"], home=home, key_file=_path(home, g["key"]),
                      outbox_path=_path(home, o["path"]), broker=broker, limits=limits,
                      window=u["window"], ack_timeout=float(u["ack_timeout_s"]),
                      linger=float(u["linger_s"]), state_interval=float(u["state_interval_s"]),
                      simulate_records=s["records"], simulate_rate=float(s["rate"]),
                      simulate_workers=s["workers"])


def load(path: str | Path, home: Path | None = None) -> SiteConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        return parse(data, home)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _path(home: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else home / p


def _opt_path(home: Path, value: str | None) -> str | None:
    return None if value is None else str(_path(home, value))
