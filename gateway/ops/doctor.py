"""`sitegate doctor`: one table of checks, each with a verdict (ok / warn / fail) and what to do.

Every check is a function returning :class:`Check`; ``run_checks`` runs them in order and stops
at nothing (a broken config only skips the checks that need it).  While `sitegate run` is up it
writes ``run/health.json`` each loop; doctor reads it for what only the daemon can see (its open
devices, its uplink) and otherwise probes for itself.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.config import ConfigError, SiteConfig, load
from gateway.words import M

HEALTH_FRESH_S = 10.0


@dataclass
class Check:
    """``detail`` and ``fix`` are English strings; those made with :class:`gateway.words.M`
    can also be shown in Chinese (``sitegate doctor`` under a zh_CN locale), JSON stays English."""
    name: str
    verdict: str          # ok | warn | fail
    detail: str
    fix: str = ""


def health_path(home: Path) -> Path:
    return home / "run" / "health.json"


def read_health(home: Path) -> dict | None:
    """The daemon's last health snapshot, when it is fresh."""
    try:
        data = json.loads(health_path(home).read_text())
    except (OSError, ValueError):
        return None
    return data if time.time() - data.get("ts", 0) <= HEALTH_FRESH_S else None


def outbox_status(cfg: SiteConfig) -> tuple[dict | None, list[dict]]:
    """(stats, alarms) of the outbox, read-only and checked (``PRAGMA quick_check``); a corrupt
    file is (None, [critical ``outbox_corrupt``]) rather than an exception, and so is a file
    the daemon is still creating (None, [warning ``outbox_unreadable``])."""
    import sqlite3

    from uplink.outbox import Outbox, OutboxCorrupt, alarms
    try:
        ob = Outbox(cfg.outbox_path, cfg.gateway_id, None, cfg.limits, readonly=True, check=True)
        try:
            stats = ob.stats()
        finally:
            ob.close()
    except OutboxCorrupt as exc:
        return None, [{"code": "outbox_corrupt", "level": "critical", "message": str(exc)}]
    except sqlite3.OperationalError as exc:       # e.g. "no such table" while being created
        return None, [{"code": "outbox_unreadable", "level": "warning",
                       "message": f"cannot read the outbox yet: {exc}"}]
    return stats, alarms(stats, cfg.limits)


def merge_daemon_alarms(current: list[dict], home: Path) -> list[dict]:
    """Add the running daemon's alarms (its fresh run/health.json: what the retained state
    topic carries -- central's rejections, devices, roster) to ``current``; one per code."""
    health = read_health(home)
    seen = {a["code"] for a in current}
    extra = [a for a in (health or {}).get("alarms", []) if a.get("code") not in seen]
    return current + extra


def check_config(path: Path, home: Path) -> tuple[Check, SiteConfig | None]:
    try:
        cfg = load(path, home)
    except ConfigError as exc:
        return Check("config", "fail", str(exc),
                     M("fix the named line/field, or re-run `sitegate provision`")), None
    return Check("config", "ok", M("{path} valid (gateway {gateway})", path=path,
                                   gateway=cfg.gateway_id)), cfg


def check_key(cfg: SiteConfig) -> Check:
    from gateway import keys
    if not cfg.key_file.exists():
        return Check("key", "fail", M("no key at {path}", path=cfg.key_file),
                     M("run `sitegate provision`"))
    if keys.loose_permissions(cfg.key_file):
        mode = oct(cfg.key_file.stat().st_mode & 0o777)
        return Check("key", "fail", M("{path} is {mode}: others may read it", path=cfg.key_file,
                                      mode=mode), f"chmod 600 {cfg.key_file}")
    try:
        signer = keys.load(cfg.key_file)
    except keys.KeyFileError as exc:
        return Check("key", "fail", str(exc), M("set SITEGATE_KEY_PASSPHRASE or restore the key file"))
    if keys.is_encrypted(cfg.key_file):
        return Check("key", "ok", M("passphrase-sealed, 0600, public {key}…",
                                    key=signer.public_hex[:16]))
    return Check("key", "ok", M("0600, public {key}…", key=signer.public_hex[:16]))


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long),
                ("tolerance", ctypes.c_long), ("time_sec", ctypes.c_long),
                ("time_usec", ctypes.c_long), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("pad", ctypes.c_int * 11)]


def kernel_clock() -> tuple[bool, float] | None:
    """(synchronised, max error in ms) from the kernel's NTP state (adjtimex), or None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != 5 and not (tx.status & 0x40), tx.maxerror / 1000.0   # TIME_ERROR, STA_UNSYNC


def check_clock(max_error_ms: float = 1000.0) -> Check:
    k = kernel_clock()
    if k is None:
        return Check("clock", "warn", M("cannot read the kernel's NTP state"),
                     M("check `timedatectl` / `chronyc tracking` by hand"))
    synced, err = k
    if not synced:
        return Check("clock", "fail", M("clock not synchronised (kernel STA_UNSYNC)"),
                     M("enable NTP: `timedatectl set-ntp true` or configure chrony"))
    if err > max_error_ms:
        return Check("clock", "fail", M("clock error bound {ms:.0f} ms", ms=err),
                     M("check the NTP server reachability"))
    return Check("clock", "ok", M("synchronised, max error {ms:.0f} ms", ms=err))


def check_outbox(cfg: SiteConfig, old_s: float = 600.0) -> list[Check]:
    free = shutil.disk_usage(cfg.home).free
    disk = Check("disk", "ok", M("{gib:.1f} GiB free", gib=free / 2**30))
    if free < cfg.limits.min_free_bytes:
        disk = Check("disk", "fail", M("only {mib:.0f} MiB free (< min_free_mb)", mib=free / 2**20),
                     M("free disk space; capture stops below the limit"))
    if not cfg.outbox_path.exists():
        return [disk, Check("backlog", "warn", M("no outbox yet"),
                            M("start the daemon: `sitegate run`"))]
    st, current = outbox_status(cfg)
    if st is None and current[0]["code"] != "outbox_corrupt":
        return [disk, Check("outbox", "warn", current[0]["message"],
                            M("the daemon is starting: check again in a moment"))]
    if st is None:
        return [disk, Check("outbox", "fail", current[0]["message"],
                            M("stop the service, keep outbox.db for evidence and follow "
                              "docs/security.md (a corrupt outbox)"))]
    crit = [a for a in current if a["level"] == "critical"]
    age = st["oldest_unacked_age_s"]
    detail = M("{n} unsent, oldest {age:.0f} s (seq {acked}/{head} acked)", n=st["backlog"],
               age=age, acked=st["acked_seq"], head=st["head_seq"])
    if crit:
        back = Check("backlog", "fail", M("{detail}; {alarm}", detail=detail, alarm=crit[0]["message"]),
                     M("see `sitegate status`"))
    elif age > old_s:
        back = Check("backlog", "warn", detail,
                     M("records are waiting: check broker and central below"))
    else:
        back = Check("backlog", "ok", detail)
    return [disk, Check("outbox", "ok", M("{path} passes SQLite's quick_check", path=cfg.outbox_path)),
            back]


def _device_check(name: str, dev: dict) -> Check:
    """A device as the running daemon's supervisor sees it."""
    where = f"{dev['path']} -> {dev['target']}" if dev.get("target") else dev["path"]
    if dev["state"] == "connected":
        if dev.get("reopened"):
            return Check(name, "ok", M("{where} open in the running daemon, re-opened {n}x",
                                       where=where, n=dev["reopened"]))
        return Check(name, "ok", M("{where} open in the running daemon", where=where))
    if dev["state"] != "lost":
        return Check(name, "warn", M("{where}: the daemon is still opening it", where=where),
                     M("run doctor again in a few seconds"))
    since = (M("for {s:.0f} s", s=time.time() - dev["since"]) if dev.get("since")
             else M("since the start"))
    return Check(name, "fail", M("{where} lost {since}: {why} (re-opening; {n} attempt(s) so far)",
                                 where=where, since=since, why=dev.get("message") or M("no answer"),
                                 n=dev.get("attempts", 0)),
                 M("check the cable, power and the udev link; the lane resumes by itself when the "
                   "device answers again"))


def _probe_gate(lane) -> tuple[bool, str]:
    """Open the lane's gate controller with its driver, ask it once, close it."""
    from drivers.turnstile import Lane, create_gate_driver
    try:
        gate = create_gate_driver(lane.gate_kind, lane.gate, lanes={lane.name: Lane(lane.relay, lane.sensor)},
                                  **lane.gate_options)
    except Exception as exc:  # noqa: BLE001 - any failure to open is the verdict
        return False, f"{type(exc).__name__}: {exc}"
    try:
        check = getattr(gate, "check", None)
        if check is not None:
            check()
        return True, M("{kind} controller answers", kind=lane.gate_kind)
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        gate.close()


def _probe_camera(name: str, source: str, timeout: float = 3.0) -> Check:
    from drivers.camera import Camera, display_source
    cam = Camera(source, timeout=timeout)
    try:
        frame = cam.wait_frame(timeout)
    finally:
        cam.close()
    if frame is None:
        return Check(name, "fail", M("{source}: no picture within {s:g} s",
                                     source=display_source(source), s=timeout),
                     M("check the camera's power, network and stream URL"))
    return Check(name, "ok", M("{source}: {w}x{h} frames", source=display_source(source),
                               w=frame.shape[1], h=frame.shape[0]))


def check_devices(cfg: SiteConfig, health: dict | None, listen: float = 0.3) -> list[Check]:
    if not cfg.lanes:
        return [Check("devices", "ok", M("no lanes configured (nothing to answer)"))]
    out = []
    lanes_alive = {ln["name"]: ln for ln in (health or {}).get("lanes", [])}
    supervised = {d["name"]: d for d in (health or {}).get("devices") or []}
    for lane in cfg.lanes:
        roles = [("idcard", lane.idcard, f"idcard:{lane.name}")] if lane.mode != "face" else []
        roles += [("camera", lane.camera, f"camera:{lane.name}")] if lane.mode != "card" else []
        roles += [("gate", lane.gate, f"gate:{lane.gate}")]
        for role, port, device in roles:
            name = f"{lane.name} {role}"
            if health is not None:
                if device in supervised:
                    out.append(_device_check(name, supervised[device]))
                    continue
                if role == "camera":
                    continue
                info = lanes_alive.get(lane.name)
                if info and info.get("alive") and Path(port).exists():
                    out.append(Check(name, "ok", M("{where} open in the running daemon", where=port)))
                else:
                    out.append(Check(name, "fail", M("{port}: lane not running in the daemon", port=port),
                                     M("check the cable, then `journalctl -u sitegate`")))
                continue
            if role == "camera":
                out.append(_probe_camera(name, port))
                continue
            if role == "gate" and lane.gate_kind != "modbus-relay":
                ok, detail = _probe_gate(lane)
                out.append(Check(name, "ok" if ok else "fail", M("{port}: {detail}", port=port, detail=detail),
                                 "" if ok else M("check the controller's power, network and address")))
                continue
            from drivers.probe import identify
            info = identify(port, listen=listen)
            kind = "idcard" if role == "idcard" else "modbus-relay"
            if info.device == kind:
                out.append(Check(name, "ok", M("{port}: {detail}", port=port, detail=info.detail)))
            else:
                out.append(Check(name, "fail", M("{port}: {detail}", port=port,
                                                 detail=info.detail or M("wrong device")),
                                 M("check the cable and power; `sitegate probe ports --port {port}`",
                                   port=port)))
    return out


def check_broker(cfg: SiteConfig, health: dict | None = None, timeout: float = 5.0) -> Check:
    """While the daemon runs, its own connection is the answer (the broker binds the client id
    to the user name, so a second connection would push the daemon's off); otherwise connect
    with the gateway's credentials and client id and read CONNACK."""
    from uplink.broker import connect, new_client
    if health is not None:
        refused = [a for a in health.get("alarms", []) if a["code"] in ("broker_refused",
                                                                        "broker_unreachable")]
        if health.get("uplink_connected"):
            return Check("broker", "ok", M("{broker}: the running daemon is connected",
                                           broker=cfg.broker.display()))
        if refused:
            return Check("broker", "fail", M("{broker}: the running daemon is not connected ({why})",
                                             broker=cfg.broker.display(), why=refused[0]["message"]),
                         M("check network, TLS (ca_file) and username / password_file"))
        return Check("broker", "fail", M("{broker}: the running daemon is not connected",
                                         broker=cfg.broker.display()),
                     M("check network, TLS (ca_file) and username / password_file"))
    done, result = threading.Event(), {}

    def on_connect(client, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        done.set()

    client = new_client(cfg.broker, cfg.gateway_id)
    client.on_connect = on_connect
    try:
        connect(client, cfg.broker)
    except Exception as exc:  # noqa: BLE001 - any socket/TLS error is the verdict
        return Check("broker", "fail", M("{broker} unreachable: {why}", broker=cfg.broker.display(),
                                         why=exc),
                     M("check network/firewall and the broker URL in site.toml"))
    client.loop_start()
    try:
        if not done.wait(timeout):
            return Check("broker", "fail", M("{broker}: no CONNACK in {s:g} s",
                                             broker=cfg.broker.display(), s=timeout),
                         M("check TLS settings (ca_file) and the port"))
        rc = result["rc"]
        if rc.is_failure:
            return Check("broker", "fail", M("{broker} refused: {rc}", broker=cfg.broker.display(),
                                             rc=rc),
                         M("check username / password_file; ask central for this gateway's credential"))
        if cfg.broker.username:
            return Check("broker", "ok", M("{broker} accepted credentials ({user})",
                                           broker=cfg.broker.display(), user=cfg.broker.username))
        return Check("broker", "ok", M("{broker} accepted credentials", broker=cfg.broker.display()))
    finally:
        client.disconnect()
        client.loop_stop()


def check_central_key(cfg: SiteConfig) -> Check:
    from gateway.site import SiteError, central_key
    try:
        key = central_key(cfg)
    except SiteError as exc:
        return Check("central key", "fail", str(exc),
                     M("copy central's key again: `sitegate-central key`"))
    if key is None:
        return Check("central key", "fail",
                     M("no central public key at {path}: acks and roster updates cannot be "
                       "verified, nothing is released", path=cfg.central_key_file),
                     M("on central: `sitegate-central key -o central.pub.pem`; copy it to {path}",
                       path=cfg.central_key_file))
    return Check("central key", "ok", f"{cfg.central_key_file} (SM2 {key[:16]}...)")


def check_roster(cfg: SiteConfig, health: dict | None, old_s: float = 86400.0) -> Check:
    """The roster version from central the site holds and when central last confirmed it."""
    from gateway.roster.store import read_central_state
    bad = [a for a in (health or {}).get("alarms", []) if a["code"] in ("roster_forged", "roster_replayed")]
    state = read_central_state(cfg.roster.path)
    if bad:
        return Check("roster", "fail", bad[0]["message"],
                     M("someone publishes on this gateway's roster topic: check the broker's accounts"))
    if state is None or state["synced_ms"] is None:
        return Check("roster", "warn", M("no roster from central yet (version 0)"),
                     M("is this gateway registered with a project at central? the daemon asks on connect"))
    age = time.time() - state["synced_ms"] / 1000
    if age > old_s:
        return Check("roster", "warn",
                     M("version {v} of project {project}, confirmed {age} ago (gates decide on an "
                       "old roster)", v=state["version"], project=state["project"], age=age_text(age)),
                     M("check the broker connection; the daemon asks central every 10 min"))
    return Check("roster", "ok", M("version {v} of project {project}, confirmed {age} ago",
                                   v=state["version"], project=state["project"], age=age_text(age)))


def age_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def check_central(cfg: SiteConfig, health: dict | None) -> Check:
    import sqlite3

    from uplink.outbox import Outbox, OutboxCorrupt
    bad = [a for a in (health or {}).get("alarms", [])
           if a["code"] in ("central_rejected", "ack_mismatch", "ack_forged")]
    if bad:
        return Check("central", "fail", bad[0]["message"],
                     M("is this gateway registered? `sitegate-central gateways add BUNDLE`"))
    if not cfg.outbox_path.exists():
        return Check("central", "warn", M("nothing sent yet"), M("start `sitegate run`"))
    try:
        ob = Outbox(cfg.outbox_path, cfg.gateway_id, None, cfg.limits, readonly=True)
        try:
            st = ob.stats()
        finally:
            ob.close()
    except OutboxCorrupt:
        return Check("central", "fail", M("cannot tell: the outbox is corrupt (see above)"),
                     M("see the outbox check"))
    except sqlite3.OperationalError as exc:
        return Check("central", "warn", M("cannot read the outbox yet: {error}", error=exc),
                     M("the daemon is starting: check again in a moment"))
    limit = max(3 * cfg.ack_timeout, 60.0)
    if st["head_seq"] == 0:
        return Check("central", "warn", M("no records yet, so no acks to judge"),
                     M("clock in once (or wait for the first record)"))
    if st["acked_seq"] == st["head_seq"] or st["oldest_unacked_age_s"] <= limit:
        return Check("central", "ok", M("acknowledged up to seq {acked} of {head}",
                                        acked=st["acked_seq"], head=st["head_seq"]))
    return Check("central", "fail", M("no ack for {s:.0f} s (acked {acked} of {head})",
                                      s=st["oldest_unacked_age_s"], acked=st["acked_seq"],
                                      head=st["head_seq"]),
                 M("check central is running and this gateway is registered there"))


def run_checks(config: Path, home: Path, *, network: bool = True) -> list[Check]:
    first, cfg = check_config(config, home)
    checks = [first]
    if cfg is None:
        return checks
    health = read_health(cfg.home)
    checks += [check_key(cfg), check_central_key(cfg), check_clock(), *check_outbox(cfg),
               *check_devices(cfg, health)]
    if network:
        checks.append(check_broker(cfg, health))
    checks += [check_central(cfg, health), check_roster(cfg, health)]
    return checks


def as_json(checks: list[Check]) -> dict:
    return {"ok": not any(c.verdict == "fail" for c in checks), "checks": [asdict(c) for c in checks]}
