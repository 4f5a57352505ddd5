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
from uplink.outbox import Limits, backlog_bound
from uplink.wire import WireError, check_gateway_id

from gateway.codes import SPECIAL_OPERATIONS


class ConfigError(ValueError):
    pass


LOOPBACK = ("127.0.0.1", "::1", "localhost")


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
    drain_window: int = 32
    ack_timeout: float = 10.0
    linger: float = 0.2
    state_interval: float = 10.0
    simulate_records: int = 0       # total records the simulated clock-in source makes; 0 = none
    simulate_rate: float = 0.0      # records per second
    simulate_workers: int = 200
    faces: "FacesConfig" = None      # type: ignore[assignment]
    roster: "RosterConfig" = None    # type: ignore[assignment]
    lanes: list["LaneConfig"] = field(default_factory=list)
    fences_dir: Path | None = None      # stored fences (sitegate fences add)
    accept_accuracy_m: float = 50.0
    max_accuracy_m: float = 150.0
    phone_listen: str = ""              # "" = phone clock-in page off
    phone_port: int = 8443
    phone_cert: Path | None = None
    phone_key: Path | None = None
    phone_db: Path | None = None
    session_minutes: int = 10
    push: str = "realtime"              # push schedule: realtime | semimonthly
    tz_offset_min: int = 480
    project: str | None = None
    web: "WebConfig" = None          # type: ignore[assignment]
    keys_dir: Path | None = None        # [keys] dir: the SM4 keys apart from the data (None: home/keys)
    keys_sealed: bool = False           # [keys] sealed: new SM4 keys sealed with the passphrase
    central_key_file: Path | None = None   # central's public key (acks, roster updates)


@dataclass(frozen=True)
class WebConfig:
    """The labour manager's web app ([web]); off while ``listen`` is empty."""
    listen: str = ""
    port: int = 8080
    cert: Path | None = None
    key: Path | None = None
    accounts: Path | None = None
    session_idle_min: float = 15.0
    session_max_hours: float = 12.0
    allow_plain_http: bool = False
    signin_link_user: str = ""       # one-time sign-in links for this account (the demo); "" = off

    @property
    def loopback(self) -> bool:
        return self.listen in LOOPBACK

    @property
    def tls(self) -> bool:
        return bool(self.cert and self.key)

    def check_transport(self) -> None:
        """Passwords must not cross the site LAN in clear: off-host listening needs TLS."""
        local = self.loopback
        if self.tls:
            for p in (self.cert, self.key):
                if not Path(p).exists():
                    raise ConfigError(f"[web] {p}: no such file (cert and key must both exist)")
        elif not local and not self.allow_plain_http:
            raise ConfigError(f"[web] listen = {self.listen!r} without cert/key would send passwords in "
                              f"clear over the site network: give [web] cert and key (PEM files), listen "
                              f"on 127.0.0.1, or set allow_plain_http = true on a closed network")


@dataclass(frozen=True)
class FacesConfig:
    store: Path
    model: str = "mobilefacenet-v2"  # mobilefacenet-v2 | mobilefacenet | dlib (biometrics/engines.py)
    models: Path | None = None       # folder of the .tflite files (default: found, see biometrics/modelfiles.py)
    # thresholds: None = the model's measured defaults (biometrics/matching.py DEFAULTS)
    verify: float | None = None
    verify_nearest: bool = True
    verify_z: float | None = None
    min_cohort: int = 10
    identify: float | None = None
    margin: float | None = None
    fuse: int | None = None          # lane frames fused per attempt (None: the model's, 3 / 1)
    learn: bool = True               # certain passes may add a template (templates follow the worker)
    learn_keep: int = 3              # learned templates kept per worker and model
    learn_days: int = 180            # learned templates older than this are dropped
    learn_every_h: float = 24.0      # at most one learned template per worker in this many hours
    liveness: str = "head_turn"      # head_turn | off
    challenge: str = "either"        # left | right | either
    min_turn: float = 0.12
    capture_frames: int = 6
    capture_timeout_s: float = 2.5
    detect_width: int = 320


@dataclass(frozen=True)
class RosterConfig:
    path: Path
    min_age: int = 18
    max_age_male: int = 60
    max_age_female: int = 55
    # special operations (gateway/codes.py) for which the gate requires a valid certificate
    special_operations: frozenset[str] = frozenset(SPECIAL_OPERATIONS)


@dataclass(frozen=True)
class LaneConfig:
    name: str
    dir: str = "in"                  # in | out
    mode: str = "card+face"          # card+face | face | card
    idcard: str | None = None        # serial port of the ID-card reader
    camera: str | None = None        # device index, file or URL
    gate: str | None = None          # the gate controller's address: relay board port, URL, ...
    relay: int = 0                   # the lane's output on it (relay channel, door number)
    sensor: int | None = None        # the passage-completed input (modbus-relay)
    passage_timeout_s: float = 8.0
    anti_passback: bool = False
    gate_kind: str = "modbus-relay"  # which gate driver (drivers.turnstile.gate_kinds())
    gate_options: dict = field(default_factory=dict)   # the driver's own settings


# key -> (type, default); sections mirror the TOML file
SCHEMA: dict[str, dict[str, tuple[type | tuple, Any]]] = {
    "gateway": {"id": (str, None), "key": (str, "keys/gateway.key.pem"), "project": (str, None),
                "central_key": (str, "keys/central.pub.pem")},
    "broker": {"url": (str, "mqtt://127.0.0.1:1883"), "username": (str, None),
               "password": (str, None), "password_file": (str, None), "ca_file": (str, None),
               "cert_file": (str, None), "key_file": (str, None), "keepalive": (int, 30),
               "protocol": (str, "3.1.1")},
    "outbox": {"path": (str, "outbox.db"), "max_unacked": (int, None),
               "workers": (int, 5000), "records_per_worker_day": ((int, float), 8),
               "days_offline": ((int, float), 30),
               "max_block_records": (int, Limits.max_block_records),
               "max_block_bytes": (int, Limits.max_block_bytes),
               "max_db_mb": ((int, float), 0), "min_free_mb": ((int, float), 64),
               "retention_days": ((int, float), 7),
               "retention_max_rows": (int, Limits.retention_max_rows)},
    "uplink": {"window": (int, 8), "drain_window": (int, 32), "ack_timeout_s": ((int, float), 10.0),
               "linger_s": ((int, float), 0.2), "state_interval_s": ((int, float), 10.0)},
    "simulate": {"records": (int, 0), "rate": ((int, float), 0.0), "workers": (int, 200)},
    "fences": {"dir": (str, "fences"), "accept_accuracy_m": ((int, float), 50.0),
               "max_accuracy_m": ((int, float), 150.0)},
    "phone": {"listen": (str, ""), "port": (int, 8443), "cert": (str, "phone/cert.pem"),
              "key": (str, "phone/key.pem"), "db": (str, "phone/phone.db"),
              "session_minutes": (int, 10)},
    "schedule": {"push": (str, "realtime"), "tz_offset_min": (int, 480)},
    "faces": {"store": (str, "faces/templates.db"), "model": (str, "mobilefacenet-v2"), "models": (str, None),
              "verify": ((int, float), None),
              "verify_nearest": (bool, True), "verify_z": ((int, float), None), "min_cohort": (int, 10),
              "identify": ((int, float), None),
              "margin": ((int, float), None), "fuse": (int, None), "learn": (bool, True),
              "learn_keep": (int, 3), "learn_days": (int, 180), "learn_every_h": ((int, float), 24.0),
              "liveness": (str, "head_turn"),
              "challenge": (str, "either"), "min_turn": ((int, float), 0.12),
              "capture_frames": (int, 6), "capture_timeout_s": ((int, float), 2.5),
              "detect_width": (int, 320)},
    "roster": {"path": (str, "roster.db"), "min_age": (int, 18), "max_age_male": (int, 60),
               "max_age_female": (int, 55), "special_operations": (list, None)},
    "web": {"listen": (str, ""), "port": (int, 8080), "cert": (str, None), "key": (str, None),
            "accounts": (str, "web/accounts.db"), "session_idle_min": ((int, float), 15),
            "session_max_hours": ((int, float), 12), "allow_plain_http": (bool, False),
            "signin_link_user": (str, "")},
    "keys": {"dir": (str, ""), "sealed": (bool, False)},
    "lanes": {},     # [lanes.NAME] tables, checked against LANE_SCHEMA
}
LANE_SCHEMA: dict[str, tuple[type | tuple, Any]] = {
    "dir": (str, "in"), "mode": (str, "card+face"), "idcard": (str, None), "camera": (str, None),
    "gate": (str, None), "relay": (int, 0), "sensor": (int, None),
    "passage_timeout_s": ((int, float), 8.0), "anti_passback": (bool, False),
    "gate_kind": (str, "modbus-relay"), "gate_options": (dict, None)}
CHOICES = {("faces", "model"): ("mobilefacenet-v2", "mobilefacenet", "dlib"), ("faces", "liveness"): ("head_turn", "off"), ("faces", "challenge"): ("left", "right", "either"),
           ("lanes", "dir"): ("in", "out"), ("lanes", "mode"): ("card+face", "face", "card")}


def _section(data: dict, name: str, schema: dict | None = None, label: str | None = None,
             choices_of: str | None = None) -> dict[str, Any]:
    schema = SCHEMA[name] if schema is None else schema
    label = label or name
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"[{label}] must be a table")
    out = {}
    for key, value in raw.items():
        if key not in schema:
            allowed = ", ".join(schema)
            raise ConfigError(f"[{label}] {key}: unknown setting (allowed: {allowed})")
        typ = schema[key][0]
        if typ is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"[{label}] {key} = {value!r}: must be true or false")
        elif typ is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[{label}] {key} = {value!r}: must be a list of strings")
        elif not isinstance(value, typ) or isinstance(value, bool):
            want = {str: "a string", int: "an integer", dict: "a table"}.get(typ, "a number")
            raise ConfigError(f"[{label}] {key} = {value!r}: must be {want}")
        allowed_values = CHOICES.get((choices_of or name, key))
        if allowed_values and value not in allowed_values:
            raise ConfigError(f"[{label}] {key} = {value!r}: one of {', '.join(allowed_values)}")
        out[key] = value
    return {k: out.get(k, default) for k, (_, default) in schema.items()}


def _faces_roster_lanes(data: dict, home: Path) -> tuple[FacesConfig, RosterConfig, list[LaneConfig]]:
    f = _section(data, "faces")
    for key in ("verify", "identify"):
        if f[key] is not None and not 0 < f[key] < 2:
            raise ConfigError(f"[faces] {key} must be a distance between 0 and 2")
    if f["capture_frames"] < 1:
        raise ConfigError("[faces] capture_frames must be >= 1")
    if f["fuse"] is not None and not 1 <= f["fuse"] <= 8:
        raise ConfigError("[faces] fuse must be between 1 and 8 frames")
    if f["learn_keep"] < 0 or f["learn_days"] < 1:
        raise ConfigError("[faces] learn_keep must be >= 0 and learn_days >= 1")
    models = f.pop("models")
    faces = FacesConfig(store=_path(home, f.pop("store")), models=_path(home, models) if models else None,
                        **{k: v for k, v in f.items()})
    r = _section(data, "roster")
    if not 0 <= r["min_age"] <= min(r["max_age_male"], r["max_age_female"]):
        raise ConfigError("[roster] need 0 <= min_age <= max_age_male and max_age_female")
    ops = r.pop("special_operations")
    if ops is None:
        ops = list(SPECIAL_OPERATIONS)
    unknown = [o for o in ops if o not in SPECIAL_OPERATIONS]
    if unknown:
        raise ConfigError(f"[roster] special_operations: unknown code(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(SPECIAL_OPERATIONS)})")
    roster = RosterConfig(path=_path(home, r.pop("path")), special_operations=frozenset(ops), **r)
    raw = data.get("lanes", {})
    if not isinstance(raw, dict):
        raise ConfigError("[lanes] must hold [lanes.NAME] tables")
    lanes = []
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"[lanes] {name}: must be a [lanes.{name}] table")
        v = _section(raw, name, LANE_SCHEMA, f"lanes.{name}", "lanes")
        if v["mode"] != "face" and not v["idcard"]:
            raise ConfigError(f"[lanes.{name}] idcard: needed for mode {v['mode']!r}")
        if v["mode"] != "card" and not v["camera"]:
            raise ConfigError(f"[lanes.{name}] camera: needed for mode {v['mode']!r}")
        if not v["gate"]:
            raise ConfigError(f"[lanes.{name}] gate: the gate controller's address is required "
                              "(the relay board's serial port, or the controller's URL)")
        v["gate_options"] = dict(v["gate_options"] or {})
        lanes.append(LaneConfig(name=name, **v))
    _check_gates(lanes)
    return faces, roster, lanes


def _check_gates(lanes: list[LaneConfig]) -> None:
    """Each lane's gate kind exists and its options fit the driver; lanes on one controller
    (same kind and address) agree on its options. Nothing is opened."""
    from drivers.turnstile import Lane, check_gate_options, gate_factory
    shared: dict[tuple[str, str], LaneConfig] = {}
    for lane in lanes:
        try:
            gate_factory(lane.gate_kind)
        except ValueError as exc:
            raise ConfigError(f"[lanes.{lane.name}] gate_kind = {lane.gate_kind!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a vendor plug-in that fails to load
            raise ConfigError(f"[lanes.{lane.name}] gate_kind = {lane.gate_kind!r}: the driver "
                              f"does not load: {type(exc).__name__}: {exc}") from None
        try:
            check_gate_options(lane.gate_kind, lane.gate, {lane.name: Lane(lane.relay, lane.sensor)},
                               lane.gate_options)
        except TypeError as exc:
            raise ConfigError(f"[lanes.{lane.name}] gate_options: {exc} "
                              f"(for gate_kind {lane.gate_kind!r})") from None
        first = shared.setdefault((lane.gate_kind, lane.gate), lane)
        if first.gate_options != lane.gate_options:
            raise ConfigError(f"[lanes.{lane.name}] gate_options: differ from [lanes.{first.name}] "
                              f"on the same gate {lane.gate}")


def parse(data: dict, home: Path | None = None) -> SiteConfig:
    unknown = set(data) - set(SCHEMA)
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))} "
                          f"(allowed: {', '.join(SCHEMA)})")
    home = home or sitegate_home()
    g, b, o, u, s = (_section(data, n) for n in ("gateway", "broker", "outbox", "uplink", "simulate"))
    faces, roster, lanes = _faces_roster_lanes(data, home)
    f, ph, sc, wb, ks = (_section(data, n) for n in ("fences", "phone", "schedule", "web", "keys"))
    keys_dir = _path(home, ks["dir"]) if ks["dir"] else None
    key_file = _path(home, g["key"])
    if keys_dir and "key" not in (data.get("gateway") or {}):
        key_file = keys_dir / "gateway.key.pem"      # the signing key goes with the others
    if not 0 <= wb["port"] <= 65535 or wb["session_idle_min"] <= 0 or wb["session_max_hours"] <= 0:
        raise ConfigError("[web] port must be 0..65535, session_idle_min and session_max_hours > 0")
    if bool(wb["cert"]) != bool(wb["key"]):
        raise ConfigError("[web] give both cert and key (or neither)")
    if wb["signin_link_user"] and wb["listen"] not in LOOPBACK:
        raise ConfigError(f"[web] signin_link_user: one-time sign-in links are served only to this "
                          f"machine; set listen = \"127.0.0.1\" (not {wb['listen']!r}) or remove "
                          f"signin_link_user")
    web = WebConfig(listen=wb["listen"], port=wb["port"],
                    cert=_path(home, wb["cert"]) if wb["cert"] else None,
                    key=_path(home, wb["key"]) if wb["key"] else None,
                    accounts=_path(home, wb["accounts"]), session_idle_min=float(wb["session_idle_min"]),
                    session_max_hours=float(wb["session_max_hours"]),
                    allow_plain_http=wb["allow_plain_http"], signin_link_user=wb["signin_link_user"])
    if sc["push"] not in ("realtime", "semimonthly"):
        raise ConfigError(f"[schedule] push = {sc['push']!r}: must be realtime or semimonthly "
                          f"(semimonthly: batches released on the 15th and at month end)")
    if abs(sc["tz_offset_min"]) > 14 * 60:
        raise ConfigError("[schedule] tz_offset_min must be within +-840")
    if not 0 < f["accept_accuracy_m"] <= f["max_accuracy_m"]:
        raise ConfigError("[fences] need 0 < accept_accuracy_m <= max_accuracy_m")
    if not 1 <= ph["port"] <= 65535 or ph["session_minutes"] < 1:
        raise ConfigError("[phone] port must be 1..65535 and session_minutes >= 1")
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
    if o["workers"] < 1 or o["records_per_worker_day"] <= 0 or o["days_offline"] <= 0:
        raise ConfigError("[outbox] workers, records_per_worker_day and days_offline must be > 0")
    if o["max_unacked"] is None:       # sized from the site (docs/installer.md "Sizing the outbox")
        o["max_unacked"] = backlog_bound(o["workers"], o["records_per_worker_day"],
                                         o["days_offline"])
    for key in ("max_unacked", "max_block_records", "max_block_bytes"):
        if o[key] < 1:
            raise ConfigError(f"[outbox] {key} must be >= 1")
    from uplink.wire import MAX_BLOCK_BYTES, MAX_BLOCK_RECORDS
    for key, most in (("max_block_records", MAX_BLOCK_RECORDS), ("max_block_bytes", MAX_BLOCK_BYTES)):
        if o[key] > most:
            raise ConfigError(f"[outbox] {key} = {o[key]}: central refuses blocks beyond "
                              f"{most} (docs/wire.md §4)")
    limits = Limits(max_unacked=o["max_unacked"], max_block_records=o["max_block_records"],
                    max_block_bytes=o["max_block_bytes"],
                    max_db_bytes=int(o["max_db_mb"] * 1024 * 1024),
                    min_free_bytes=int(o["min_free_mb"] * 1024 * 1024),
                    retention_s=int(o["retention_days"] * 86400),
                    retention_max_rows=o["retention_max_rows"])
    if u["window"] < 1:
        raise ConfigError("[uplink] window must be >= 1")
    if u["drain_window"] < u["window"]:
        raise ConfigError("[uplink] drain_window must be >= window")
    return SiteConfig(gateway_id=g["id"], home=home, key_file=key_file,
                      outbox_path=_path(home, o["path"]), broker=broker, limits=limits,
                      window=u["window"], drain_window=u["drain_window"],
                      ack_timeout=float(u["ack_timeout_s"]),
                      linger=float(u["linger_s"]), state_interval=float(u["state_interval_s"]),
                      simulate_records=s["records"], simulate_rate=float(s["rate"]),
                      simulate_workers=s["workers"], fences_dir=_path(home, f["dir"]),
                      accept_accuracy_m=float(f["accept_accuracy_m"]),
                      max_accuracy_m=float(f["max_accuracy_m"]), phone_listen=ph["listen"],
                      phone_port=ph["port"], phone_cert=_path(home, ph["cert"]),
                      phone_key=_path(home, ph["key"]), phone_db=_path(home, ph["db"]),
                      session_minutes=ph["session_minutes"], push=sc["push"],
                      tz_offset_min=sc["tz_offset_min"], project=g["project"], faces=faces, roster=roster, lanes=lanes,
                      web=web, keys_dir=keys_dir, keys_sealed=ks["sealed"],
                      central_key_file=_path(home, g["central_key"]))


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


def private_file(path: str | Path) -> Path:
    """Make sure ``path`` exists readable by its owner only (created 0600; a file we own that
    others could read is tightened), whatever the process umask -- call before SQLite creates
    a database (its -wal and -shm files take the database file's mode)."""
    path = Path(path)
    if str(path) == ":memory:":                # SQLite's in-memory database: no file
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        try:
            st = path.stat()
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                path.chmod(0o600)
        except OSError:
            pass
    return path


def _path(home: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else home / p


def _opt_path(home: Path, value: str | None) -> str | None:
    return None if value is None else str(_path(home, value))
