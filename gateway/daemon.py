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
from gateway.site import make_uplink, open_outbox
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
    threads = [threading.Thread(target=uplink.run, args=(stop,), name="uplink", daemon=True)]
    if cfg.simulate_rate > 0:
        threads.append(threading.Thread(
            target=run_source, name="simulate", daemon=True,
            args=(outbox, stop, cfg.simulate_rate, cfg.simulate_records, cfg.simulate_workers)))
    from gateway.ledger.site_data import LedgerFollower
    threads.append(threading.Thread(target=LedgerFollower(cfg).run, args=(stop,), name="ledger",
                                    daemon=True))
    phone = None
    if cfg.phone_listen:
        from gateway.phone.app import PhoneServer
        from gateway.phone.build import build_phone_app
        phone = PhoneServer(build_phone_app(cfg, outbox), cfg.phone_listen, cfg.phone_port,
                            cfg.phone_cert, cfg.phone_key).start()
        log.info("phone clock-in page on %s/", phone.url)
    web = None
    if cfg.web.listen:
        from gateway.web.serve import start_web
        from gateway.web.app import WebStartError
        try:
            web = start_web(cfg)
            log.info("labour manager web app on %s/", web.url)
        except WebStartError as exc:   # attendance goes on without the screens; say so loudly
            log.critical("%s; the gateway runs on without the web app", exc)
    lanes, closers = [], []
    if cfg.lanes:
        from gateway.clockin.build import build_lanes
        lanes, closers = build_lanes(cfg, outbox)
    log.info("gateway %s up: outbox %s (seq %d, acked %d), broker %s, %d lane(s)", cfg.gateway_id,
             cfg.outbox_path, outbox.head_seq, outbox.acked_seq, cfg.broker.display(), len(lanes))
    for t in threads:
        t.start()
    for lane in lanes:
        lane.start()
    dog = watchdog_interval()
    notifier.notify("READY=1", f"STATUS=gateway {cfg.gateway_id}: {len(lanes)} lane(s)")
    last_pet = last_health = 0.0
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
        if now - last_health >= 2.0 or (dog and now - last_pet >= dog):
            last_health = now
            try:
                current = uplink.all_alarms()
            except OutboxCorrupt as exc:
                code = corrupt_exit(notifier, str(exc))
                break
            lane_info = [{"name": ln.machine.settings.name, "alive": ln._thread.is_alive()} for ln in lanes]
            ok = healthy(threads[0].is_alive(), current, lane_info)
            try:
                write_health(cfg, {"ts": time.time(), "pid": os.getpid(), "gw": cfg.gateway_id,
                                   "healthy": ok, "uplink_connected": uplink.connected,
                                   "alarms": current, "lanes": lane_info})
            except OSError as exc:
                log.warning("cannot write health file: %s", exc)
            if ok and dog:
                notifier.notify("WATCHDOG=1")
                last_pet = now
            elif not ok:
                notifier.notify("STATUS=unhealthy: " + ", ".join(a["code"] for a in current))
    stop.set()
    notifier.notify("STOPPING=1")
    for lane in lanes:
        lane.stop()
    if closers:
        from gateway.clockin.build import close_all
        close_all(closers)
    for t in threads:
        t.join(10)
    if phone is not None:
        phone.close()
    if web is not None:
        from gateway.web.serve import stop_web
        stop_web(web)
    outbox.close()
    return code
