"""`sitegate run`: the site daemon -- outbox, uplink, and (for now) simulated clock-ins."""
from __future__ import annotations

import logging
import signal
import threading

from uplink.outbox import Outbox
from uplink.publisher import Uplink
from uplink.schedule import Schedule

from . import keys
from .config import SiteConfig
from .simulate import run_source

log = logging.getLogger("sitegate")


def open_outbox(cfg: SiteConfig, readonly: bool = False) -> Outbox:
    signer = None if readonly else keys.load(cfg.key_file)
    return Outbox(cfg.outbox_path, cfg.gateway_id, signer, cfg.limits, readonly=readonly)


def make_uplink(cfg: SiteConfig, outbox: Outbox) -> Uplink:
    gate = None
    if cfg.push != "realtime":
        gate = Schedule(cfg.push, cfg.tz_offset_min).cutoff_ms
    return Uplink(outbox, cfg.broker, window=cfg.window, ack_timeout=cfg.ack_timeout,
                  linger=cfg.linger, state_interval=cfg.state_interval, release_cutoff=gate)


def run(cfg: SiteConfig, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    outbox = open_outbox(cfg)
    uplink = make_uplink(cfg, outbox)
    threads = [threading.Thread(target=uplink.run, args=(stop,), name="uplink", daemon=True)]
    if cfg.simulate_rate > 0:
        threads.append(threading.Thread(
            target=run_source, name="simulate", daemon=True,
            args=(outbox, stop, cfg.simulate_rate, cfg.simulate_records, cfg.simulate_workers)))
    phone = None
    if cfg.phone_listen:
        from .phone import PhoneServer
        from .phone_cli import build_app
        phone = PhoneServer(build_app(cfg, outbox), cfg.phone_listen, cfg.phone_port,
                            cfg.phone_cert, cfg.phone_key).start()
        log.info("phone clock-in page on %s/", phone.url)
    lanes, closers = [], []
    if cfg.lanes:
        from .site_lanes import build_lanes
        lanes, closers = build_lanes(cfg, outbox)
    log.info("gateway %s up: outbox %s (seq %d, acked %d), broker %s, %d lane(s)", cfg.gateway_id,
             cfg.outbox_path, outbox.head_seq, outbox.acked_seq, cfg.broker.display(), len(lanes))
    for t in threads:
        t.start()
    for lane in lanes:
        lane.start()
    while not stop.is_set():
        stop.wait(0.5)
        if not threads[0].is_alive():
            log.critical("uplink thread died; exiting so the supervisor restarts us")
            stop.set()
            return 1
    for lane in lanes:
        lane.stop()
    if closers:
        from .site_lanes import close_all
        close_all(closers)
    for t in threads:
        t.join(10)
    if phone is not None:
        phone.close()
    outbox.close()
    return 0
