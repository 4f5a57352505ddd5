"""`sitegate provision`: one pass that leaves a gateway ready to register and run.

Pure parts (``site_toml``, ``lanes_from_probe``, ``tz_offset``) are separate from the I/O
(``provision``) so they can be tested on their own.  Re-running is safe: the key is kept
(never replaced without ``force``), site.toml is rewritten with the old one kept as
site.toml.bak, the bundle is re-made from the kept key.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from uplink import bundle as bundle_mod
from uplink.broker import BrokerConfig
from uplink.wire import WireError, check_gateway_id

from gateway import keys
from gateway.config import ConfigError, load


class ProvisionError(ValueError):
    pass


@dataclass
class Answers:
    project: str
    gateway_id: str
    broker_url: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timezone: str = "Asia/Shanghai"
    passphrase: str | None = None
    ports: list[str] = field(default_factory=list)
    probe: bool = True
    force: bool = False
    central_key: str | None = None        # central's public key, 128 hex (`sitegate-central key`)


@dataclass
class Result:
    config: Path
    key_file: Path
    key_made: bool
    bundle_json: Path
    bundle_png: Path
    bundle: dict
    central_key: Path | None = None        # written, or already there; None: still missing
    devices: list = field(default_factory=list)
    lanes: list = field(default_factory=list)


def tz_offset(name: str, when: datetime | None = None) -> int:
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ProvisionError(f"time zone {name!r} unknown: use an IANA name such as Asia/Shanghai") from exc
    off = (when or datetime.now()).astimezone(zone).utcoffset()
    return int(off.total_seconds() // 60)


def validate(a: Answers) -> None:
    if not a.project or not a.project.strip():
        raise ProvisionError("project code is required (--project)")
    try:
        check_gateway_id(a.gateway_id)
    except WireError as exc:
        raise ProvisionError(f"gateway id: {exc}") from exc
    try:
        BrokerConfig(url=a.broker_url)
    except ValueError as exc:
        raise ProvisionError(f"{exc} (example: mqtts://mqtt.example.gov.cn:8883)") from exc
    if a.central_key is not None:
        from uplink.sm2 import SM2Error, validate_public_key
        try:
            validate_public_key(a.central_key)
        except SM2Error as exc:
            raise ProvisionError(f"central key: {exc} (use the file `sitegate-central key` writes)") from exc
    if a.ca_file and not Path(a.ca_file).exists():
        raise ProvisionError(f"CA file {a.ca_file} not found: copy the broker's CA certificate here first")


def lanes_from_probe(devices: list) -> list[dict]:
    """Pair each recognised ID-card reader with a relay board: one card-mode lane each.
    (Faces need a camera, which serial probing cannot find; add ``camera`` by hand.)"""
    readers = [d.port for d in devices if d.device == "idcard"]
    boards = [d.port for d in devices if d.device == "modbus-relay"]
    if not readers or not boards:
        return []
    return [{"name": f"lane{i + 1}", "dir": "in" if i % 2 == 0 else "out", "mode": "card",
             "idcard": port, "gate": boards[0], "relay": i} for i, port in enumerate(readers)]


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def site_toml(a: Answers, tz_min: int, lanes: list[dict], password_file: str | None,
              devices: list) -> str:
    out = ["# written by `sitegate provision`; edit freely, `sitegate doctor` checks it.",
           "[gateway]", f"id = {_q(a.gateway_id)}", f"project = {_q(a.project)}",
           'key = "keys/gateway.key.pem"', "", "[broker]", f"url = {_q(a.broker_url)}"]
    if a.username:
        out.append(f"username = {_q(a.username)}")
    if password_file:
        out.append(f"password_file = {_q(password_file)}")
    if a.ca_file:
        out.append(f"ca_file = {_q(str(Path(a.ca_file).resolve()))}")
    out += ["", "[schedule]", f"tz_offset_min = {tz_min}    # {a.timezone}"]
    for d in devices:
        if d.device and not any(d.port in (ln["idcard"], ln["gate"]) for ln in lanes):
            out.append(f"# found {d.device} on {d.port} ({d.detail}), not assigned to a lane")
    for ln in lanes:
        out += ["", f"[lanes.{ln['name']}]", f"dir = {_q(ln['dir'])}", f"mode = {_q(ln['mode'])}",
                f"idcard = {_q(ln['idcard'])}", f"gate = {_q(ln['gate'])}", f"relay = {ln['relay']}"]
    return "\n".join(out) + "\n"


def terminal_qr(payload: str, border: int = 2) -> str:
    """The QR code of ``payload`` as text for a terminal: Unicode half blocks, two modules a
    character cell, light modules drawn (so it scans on a dark terminal).  Error level L (the
    smallest code: a registration bundle fits 73 columns) -- the PNG keeps level M."""
    import io

    import segno
    buf = io.StringIO()
    segno.make(payload, error="l", micro=False).terminal(out=buf, compact=True, border=border)
    return buf.getvalue()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (also when it existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


def provision(a: Answers, home: Path, config: Path | None = None,
              probe: Callable[[list[str]], list] | None = None) -> Result:
    """Do it: key, site.toml, bundle. ``probe(ports) -> [PortInfo]`` finds devices."""
    validate(a)
    tz_min = tz_offset(a.timezone)
    home.mkdir(parents=True, exist_ok=True)
    config = config or home / "site.toml"
    key_file = home / "keys" / "gateway.key.pem"
    key_made = False
    if key_file.exists() and not a.force:
        signer = keys.load(key_file, a.passphrase)     # kept: central already knows it
    else:
        signer = keys.generate(key_file, overwrite=a.force, passphrase=a.passphrase)
        key_made = True
    password_file = None
    if a.password:
        _write_private(home / "keys" / "broker.password", a.password + "\n")
        password_file = "keys/broker.password"
    central_file = home / "keys" / "central.pub.pem"
    if a.central_key is not None:
        from uplink.sm2 import public_key_pem
        central_file.parent.mkdir(parents=True, exist_ok=True)
        central_file.write_text(public_key_pem(a.central_key))
    devices = probe(a.ports) if (probe and a.probe) else []
    lanes = lanes_from_probe(devices)
    text = site_toml(a, tz_min, lanes, password_file, devices)
    if config.exists() and config.read_text() != text:
        _write_private(config.with_name(config.name + ".bak"), config.read_text())
    _write_private(config, text)                 # names the broker password file, the project
    try:
        load(config, home)
    except ConfigError as exc:       # our own output must load; a bug if not
        raise ProvisionError(f"wrote an invalid {config}: {exc}") from exc
    b = bundle_mod.make(signer, a.gateway_id, a.project.strip(), BrokerConfig(a.broker_url).display(),
                        int(time.time() * 1000))
    bundle_json = home / f"{a.gateway_id}.bundle.json"
    bundle_json.write_text(bundle_mod.dumps(b))
    bundle_png = home / f"{a.gateway_id}.bundle.png"
    import segno
    segno.make(bundle_mod.dumps(b).encode(), error="m", micro=False).save(str(bundle_png), scale=4)
    return Result(config, key_file, key_made, bundle_json, bundle_png, b,
                  central_file if central_file.exists() else None, devices, lanes)
