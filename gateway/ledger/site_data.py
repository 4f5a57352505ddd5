"""The labour manager's view of one site: roster, face templates, attendance ledger and outbox,
opened from one SiteConfig. Shared by the web app, ``sitegate export`` and the daemon's
ledger follower, so all three read the same files the same way.

Names and ID numbers are sealed in the roster; :meth:`SiteData.people` decrypts them once per
roster change and keeps the result in memory only (masked ID numbers; the full number is
never kept).
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from drivers.sam.idnumber import mask

from gateway.ledger import sheet as S
from gateway.ledger.ledger import Ledger
from gateway.config import SiteConfig
from gateway.clockin.rules import age_on, flags, rules_from
from gateway.codes import work_type_name
from gateway.roster.worker import Worker


@dataclass(frozen=True)
class Entry:
    """One roster line for screens: no unmasked ID number."""
    worker: Worker
    name: str
    id_masked: str
    face: bool

    @property
    def worker_id(self) -> str:
        return self.worker.worker_id


def ledger_path(cfg: SiteConfig) -> Path:
    return cfg.home / "attendance.db"


class SiteData:
    def __init__(self, cfg: SiteConfig) -> None:
        from gateway.site import open_roster, open_templates
        self.cfg = cfg
        self.rules = rules_from(cfg.roster)
        opened: list = []
        try:                                  # a file that fails to open closes the ones before it
            self.roster = open_roster(cfg)
            opened.append(self.roster)
            self.templates = open_templates(cfg)
            opened.append(self.templates)
            self.ledger = Ledger(ledger_path(cfg), cfg.tz_offset_min)
        except BaseException:
            for c in opened:
                c.close()
            raise
        self._people: list[Entry] = []
        self._version: tuple | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        for c in (self.roster, self.templates, self.ledger):
            c.close()

    # ------------------------------------------------------------------ ledger
    def catch_up(self, progress=None) -> int:
        """Index what the outbox holds that the ledger has not seen (no-op without an outbox).
        ``progress(done, total)``: see :meth:`Ledger.catch_up`."""
        from uplink.outbox import Outbox
        if not self.cfg.outbox_path.exists():
            return 0
        outbox = Outbox(self.cfg.outbox_path, self.cfg.gateway_id, readonly=True)
        try:
            return self.ledger.catch_up(outbox, progress=progress)
        finally:
            outbox.close()

    # ------------------------------------------------------------------ roster
    def people(self) -> list[Entry]:
        with self._lock:
            version = (self.roster.version(), self.templates.version())
            if version != self._version:
                faces = set(self.templates.workers())
                out = []
                for w in self.roster.workers():
                    p = self.roster.private(w.worker_id)
                    out.append(Entry(w, p.get("name") or "", mask(p["id_number"]) if p.get("id_number") else "",
                                     w.worker_id in faces))
                self._people, self._version = out, version
            return self._people

    def entry(self, worker_id: str) -> Entry | None:
        return next((e for e in self.people() if e.worker_id == worker_id), None)

    def flags(self, e: Entry, today: date) -> list[str]:
        return flags(e.worker, today, self.rules)

    def age(self, e: Entry, today: date) -> int | None:
        return age_on(e.worker.birth, today) if e.worker.birth else None

    def team_of(self) -> dict[str, str | None]:
        return {e.worker_id: e.worker.team for e in self.people()}

    # ------------------------------------------------------------------ the sheet
    def sheet(self, year: int, month: int) -> S.Sheet:
        people = [S.Person(e.worker_id, e.name, e.id_masked, e.worker.team or "",
                           work_type_name(e.worker.trade),
                           active=e.worker.status == "active") for e in self.people()]
        return S.build(year, month, people, self.ledger.month_days(year, month),
                       self.cfg.project or self.cfg.gateway_id)


class _Stopped(Exception):
    pass


class LedgerFollower:
    """Daemon thread: index new outbox records into the ledger every ``interval`` seconds, over
    its own read-only outbox connection (never the lanes' writing one).

    The ledger is opened on the first step, not in the constructor: a broken or unwritable
    ``attendance.db`` lags the sheet (logged, retried), it never keeps the lanes from starting.

    A long catch-up (a new ``attendance.db`` beside a month's outbox) works in batches of
    ``batch`` records and rests between them as long as the batch took (``duty`` 0.5): it
    shares one interpreter with the uplink, and a drain to central comes first."""

    def __init__(self, cfg: SiteConfig, interval: float = 1.0, batch: int = 2000,
                 duty: float = 0.5) -> None:
        self.cfg, self.interval = cfg, interval
        self.batch, self.duty = batch, duty
        self.ledger: Ledger | None = None
        self.errors = 0
        self._last_error: str | None = None
        self._stop: threading.Event | None = None

    def _rest(self, started: list[float]) -> None:
        if self._stop is not None and self._stop.is_set():
            raise _Stopped          # between batches: what is indexed is committed
        took = time.monotonic() - started[0]
        if self.duty < 1:
            wait = took * (1 - self.duty) / self.duty
            if self._stop is not None:
                self._stop.wait(wait)
            else:
                time.sleep(wait)
        started[0] = time.monotonic()

    def step(self) -> int:
        from uplink.outbox import Outbox
        if self.ledger is None:
            self.ledger = Ledger(ledger_path(self.cfg), self.cfg.tz_offset_min)
        outbox = Outbox(self.cfg.outbox_path, self.cfg.gateway_id, readonly=True)
        started = [time.monotonic()]
        try:
            return self.ledger.catch_up(outbox, batch=self.batch,
                                        progress=lambda done, total: self._rest(started))
        finally:
            outbox.close()

    def run(self, stop: threading.Event) -> None:
        import logging
        self._stop = stop
        log = logging.getLogger("sitegate.attendance")
        while True:
            last = stop.is_set()
            try:
                try:
                    self.step()
                except _Stopped:
                    pass
                if self._last_error is not None:
                    log.warning("attendance ledger: indexing again")
                    self._last_error = None
            except Exception as exc:  # noqa: BLE001 - keep following; the sheet lags, the records are safe
                self.errors += 1
                what = f"{type(exc).__name__}: {exc}"
                if what != self._last_error:          # once per distinct problem, not every second
                    log.error("attendance ledger: %s", what)
                    self._last_error = what
                if self.ledger is not None and isinstance(exc, sqlite3.DatabaseError):
                    self.ledger.close()               # reopen on the next step
                    self.ledger = None
            if last:
                if self.ledger is not None:
                    self.ledger.close()
                return
            stop.wait(self.interval)

