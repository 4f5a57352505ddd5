"""`sitegate run`: the site daemon -- outbox and uplink, the lanes, the phone page, the web app,
the ledger follower and (when configured) simulated clock-ins, with health and watchdog."""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

from gateway.config import SiteConfig
from gateway.site import make_uplink, open_outbox, open_roster, registration_reporter
from uplink.outbox import OutboxCorrupt
from uplink.sdnotify import Notifier, watchdog_interval
from gateway.clockin.simulate import run_source

log = logging.getLogger("sitegate")

# The outbox file is structurally corrupt: a restart cannot help, so the unit does not restart
# on this code (systemd/sitegate.service RestartPreventExitStatus) -- a person must look.
EXIT_CORRUPT = 65          # EX_DATAERR


def corrupt_exit(notifier: Notifier, why: str) -> int:
    log.critical("%s -- stopping; a restart cannot repair it. Keep the file for evidence and "
                 "see `sitegate doctor` (docs/security.md: a corrupt outbox)", why)
    notifier.notify(f"STATUS=outbox corrupt: {why[:200]}", "STOPPING=1")
    return EXIT_CORRUPT


def healthy(uplink_alive: bool, alarms: list[dict], lanes: list[dict]) -> bool:
    """Pure: may we pet the watchdog?  Not when the uplink thread is dead, storage is failing,
    or a lane thread has died (systemd then restarts us)."""
    storage = {"storage_error", "outbox_full", "disk_low"}
    return uplink_alive and all(ln["alive"] for ln in lanes) and \
        not any(a["code"] in storage and a["level"] == "critical" for a in alarms)


def write_health(cfg: SiteConfig, snapshot: dict) -> None:
    """run/health.json for `sitegate doctor` (no personal data: counts, codes, lane names)."""
    path = cfg.home / "run" / "health.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, sort_keys=True))
    os.replace(tmp, path)


def run(cfg: SiteConfig, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    if cfg.web.listen:
        cfg.web.check_transport()          # before anything is opened: refuse loudly, change nothing
    notifier = Notifier()
    try:
        outbox = open_outbox(cfg)          # PRAGMA quick_check: a corrupt file stops us here
    except OutboxCorrupt as exc:
        return corrupt_exit(notifier, str(exc))
    uplink = make_uplink(cfg, outbox)
    registrations = _registrations(cfg, outbox)     # registrations made on site go to central
    if registrations is not None:
        uplink.add_alarm_source(registrations.alarms)
    threads = [threading.Thread(target=uplink.run, args=(stop,), name="uplink", daemon=True)]
    # live roster: central's roster updates, verified, applied to the roster the lanes and the
    # phone page read (over the uplink's connection; docs/wire.md §8)
    from gateway.roster.live import LiveRoster
    from gateway.site import central_key, open_roster
    live_roster = LiveRoster(open_roster(cfg), uplink, central_key(cfg), outbox.signer.decrypt)
    threads.append(threading.Thread(target=live_roster.run, args=(stop,), name="roster",
                                    daemon=True))
    if cfg.simulate_rate > 0:
        threads.append(threading.Thread(
            target=run_source, name="simulate", daemon=True,
            args=(outbox, stop, cfg.simulate_rate, cfg.simulate_records, cfg.simulate_workers)))
    from gateway.ledger.site_data import LedgerFollower
    threads.append(threading.Thread(target=LedgerFollower(cfg).run, args=(stop,), name="ledger",
                                    daemon=True))
    phone = None
    if cfg.phone_listen:
        from gateway.phone.server import PhoneServer
        from gateway.phone.build import build_phone_app
        phone = PhoneServer(build_phone_app(cfg, outbox), cfg.phone_listen, cfg.phone_port,
                            cfg.phone_cert, cfg.phone_key).start()
        log.info("phone clock-in page on %s/", phone.url)
    web = None
    if cfg.web.listen:
        from gateway.web.serve import start_web
        from gateway.web.app import WebStartError
        try:
            web = start_web(cfg, registrations=registrations)
            log.info("labour manager web app on %s/", web.url)
        except WebStartError as exc:   # attendance goes on without the screens; say so loudly
            log.critical("%s; the gateway runs on without the web app", exc)
    # lanes: every device under a supervisor; a lost one is an alarm on the state topic
    site_lanes = None
    if cfg.lanes:
        from gateway.clockin.build import build_lanes
        site_lanes = build_lanes(cfg, outbox)
        uplink.add_alarm_source(site_lanes.alarms)
    lanes = site_lanes.runners if site_lanes else []
    log.info("gateway %s up: outbox %s (seq %d, acked %d), broker %s, %d lane(s)", cfg.gateway_id,
             cfg.outbox_path, outbox.head_seq, outbox.acked_seq, cfg.broker.display(), len(lanes))
    for t in threads:
        t.start()
    if site_lanes:
        site_lanes.start()
    dog = watchdog_interval()
    notifier.notify("READY=1", f"STATUS=gateway {cfg.gateway_id}: {len(lanes)} lane(s)")
    last_pet = last_health = 0.0
    last_devices: list = []
    last_codes: tuple = ()
    code = 0
    while not stop.is_set():
        stop.wait(0.5)
        if not threads[0].is_alive():
            log.critical("uplink thread died; exiting so the supervisor restarts us")
            stop.set()
            notifier.notify("STATUS=uplink thread died")
            return 1
        if outbox.corrupt:                 # met by the uplink, a lane or the health check
            code = corrupt_exit(notifier, outbox.corrupt)
            break
        now = time.monotonic()
        devices = site_lanes.device_info() if site_lanes else []
        # written at once when a device moves or the state topic's alarms change (what
        # `sitegate status` shows must not lag what central sees), else every 2 s
        changed = ([(d["name"], d["state"]) for d in devices] != last_devices
                   or uplink.alarm_codes != last_codes)
        if changed or now - last_health >= 2.0 or (dog and now - last_pet >= dog):
            last_health, last_devices = now, [(d["name"], d["state"]) for d in devices]
            last_codes = uplink.alarm_codes
            if registrations is not None:
                registrations.report()
            try:
                current = uplink.all_alarms()
            except OutboxCorrupt as exc:
                code = corrupt_exit(notifier, str(exc))
                break
            lane_info = site_lanes.lane_info() if site_lanes else []
            ok = healthy(threads[0].is_alive(), current, lane_info)
            try:
                write_health(cfg, {"ts": time.time(), "pid": os.getpid(), "gw": cfg.gateway_id,
                                   "healthy": ok, "uplink_connected": uplink.connected,
                                   "drain": uplink.drain_state(),
                                   "alarms": current, "lanes": lane_info, "devices": devices})
            except OSError as exc:
                log.warning("cannot write health file: %s", exc)
            if ok and dog:
                notifier.notify("WATCHDOG=1")
                last_pet = now
            elif not ok:
                notifier.notify("STATUS=unhealthy: " + ", ".join(a["code"] for a in current))
    stop.set()
    notifier.notify("STOPPING=1")
    if site_lanes:
        site_lanes.stop()
    for t in threads:
        t.join(10)
    if phone is not None:
        phone.close()
    if web is not None:
        from gateway.web.serve import stop_web
        stop_web(web)
    live_roster.roster.close()
    if registrations is not None:
        registrations.roster.close()
    outbox.close()
    return code


def _registrations(cfg: SiteConfig, outbox):
    """The reporter of on-site registrations, or None (logged) when the roster cannot be opened:
    attendance goes on, and the registrations wait in the roster."""
    from gateway.site import SiteError
    try:
        return registration_reporter(cfg, open_roster(cfg), outbox)
    except SiteError as exc:
        log.critical("roster: %s; registrations made on site are not sent to central", exc)
        return None
