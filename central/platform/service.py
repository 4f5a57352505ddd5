"""The connector as one object: plan, deliver, watch deadlines; what the CLI and API call.

``run`` is the long-running loop (``sitegate-central platform run``): plan every
``plan_every_s``, deliver whatever is due, and every ``watch_every_s`` evaluate the warning
rules for the projects with unfinished pushes (W19: at risk of missing the deadline, missed,
parked).  ``push`` plans and delivers until nothing more is due soon, reporting progress.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import threading
import time

import sqlalchemy as sa

from ..crypto import FieldCipher
from ..store import Store, now_ms
from ..tables import platform_jobs as J
from ..tables import warnings_t
from ..workdays import Calendar
from .config import Target
from .deliver import Deliverer, Shared
from .planner import Planner
from .queue import OPEN, Queue

log = logging.getLogger("sitegate.central.platform")
_settled = threading.Lock()


def settle_heap() -> None:
    """Once per process, when the connector starts working: what start-up made (modules,
    SQLAlchemy's metadata and caches, configuration) is collected once and then moved out of
    the cyclic collector's reach (:func:`gc.freeze`), so a full collection walks only what was
    made since.  With SQLAlchemy, the crypto libraries and numpy loaded, one full walk of the
    start-up heap costs 20-80 ms on a shared 2-vCPU VM and planning triggers one every few
    thousand records (about 4 us a record in bench_platform).  Frozen objects are never
    collected, hence once per process, not per call."""
    if _settled.acquire(blocking=False):
        gc.collect()
        gc.freeze()
CN = dt.timezone(dt.timedelta(hours=8))
_OPEN = J.c.state.in_(OPEN)
_SCOPE = sa.select(           # open jobs, their records, records done since, next due
    sa.func.sum(sa.case((_OPEN, 1), else_=0)),
    sa.func.sum(sa.case((_OPEN, J.c.records), else_=0)),
    sa.func.sum(sa.case(((J.c.state == "done") & (J.c.doneAt >= sa.bindparam("b_since")),
                         J.c.records), else_=0)),
    sa.func.min(sa.case((_OPEN, J.c.nextAt), else_=None)))


class Platform:
    def __init__(self, store: Store, cipher: FieldCipher, targets: list[Target],
                 clock=now_ms, calendar: Calendar | None = None, claim: int = 16) -> None:
        self.store, self.cipher, self.targets, self.clock = store, cipher, targets, clock
        self.planner = Planner(store, cipher, targets, calendar, clock)
        self.queue = Queue(store, cipher, clock)
        self.pools: dict[str, list[Deliverer]] = {}
        for t in targets:
            shared = Shared()
            self.pools[t.name] = [Deliverer(store, cipher, t, clock, shared=shared)
                                  for _ in range(t.concurrency)]
        self.deliverers = {name: pool[0] for name, pool in self.pools.items()}
        self._rounds = threading.Event()       # a delivery round here processed jobs
        self.calendar = calendar
        self.claim = claim

    # ------------------------------------------------------------------ planning
    def plan(self, projects: list[str] | None = None, kinds=None) -> dict[str, int]:
        return self.planner.plan(projects, tuple(kinds) if kinds else None)

    def release(self, projects: list[str] | None = None, target: str | None = None) -> int:
        """Jobs held for a later batch day (semimonthly projects) go now."""
        t = self.clock()
        q = J.update().where(J.c.state == "queued", J.c.nextAt > t)
        if projects:
            q = q.where(J.c.projectCode.in_(projects))
        if target:
            q = q.where(J.c.target == target)
        with self.store.engine.begin() as conn:
            return conn.execute(q.values(nextAt=t, updatedAt=t)).rowcount

    # ------------------------------------------------------------------ delivery
    def deliver_round(self) -> int:
        """One claim-and-process round per target, in this thread."""
        return sum(d.run_once(self.claim) for d in self.deliverers.values())

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """``concurrency`` delivery threads per target (each its own connection), so the
        next job is prepared while the platform judges the last one."""
        threads = []
        for pool in self.pools.values():
            claim = max(1, self.claim // len(pool))
            for i, d in enumerate(pool):
                th = threading.Thread(target=self._loop, args=(d, stop, claim), daemon=True,
                                      name=f"deliver-{d.target.name}-{i}")
                th.start()
                threads.append(th)
        return threads

    def _loop(self, d: Deliverer, stop: threading.Event, claim: int) -> None:
        while not stop.is_set():
            try:
                n = d.run_once(claim)
            except Exception:       # noqa: BLE001 - the database may be away for a while
                log.exception("platform %s: delivery round failed", d.target.name)
                n = 0
                stop.wait(1.0)
            if n:
                self._rounds.set()
            else:
                stop.wait(0.05)
        d.http.close()

    def _scope(self, projects, target, since: int):
        q = _SCOPE
        if projects:
            q = q.where(J.c.projectCode.in_(projects))
        if target:
            q = q.where(J.c.target == target)
        with self.store.engine.connect() as conn:
            n, recs, done, nxt = conn.execute(q, {"b_since": since}).one()
        return int(n or 0), int(recs or 0), int(done or 0), nxt

    def push(self, projects: list[str] | None = None, target: str | None = None,
             kinds=None, now: bool = False, horizon_s: float = 60.0, progress=None,
             stop: threading.Event | None = None) -> dict:
        """Plan and deliver (delivery starts while planning goes on) until every open job
        is done or waits longer than ``horizon_s`` (a long backoff, a later batch day, a
        parked job it depends on); ``progress(done, total)`` in records."""
        settle_heap()
        since = self.clock()
        halt = threading.Event()
        threads = self.start(halt)
        try:
            planned = self.plan(projects, kinds)
            if now:
                self.release(projects, target)
            seen, moved = None, time.monotonic()
            while stop is None or not stop.is_set():
                self._rounds.clear()
                left, recs, done, nxt = self._scope(projects, target, since)
                if progress:
                    progress(done, done + recs)
                if left == 0:
                    break
                if (left, recs) != seen:
                    seen, moved = (left, recs), time.monotonic()
                elif time.monotonic() - moved > horizon_s:
                    break
                if nxt is not None and nxt - self.clock() > horizon_s * 1000:
                    break
                # counted again when a delivery round here has processed jobs (another
                # process's rounds: within half a second)
                self._rounds.wait(0.5)
        finally:
            halt.set()
            for th in threads:
                th.join(30)
        out = self.status(target)
        out["planned"] = planned
        return out

    def run(self, stop: threading.Event, plan_every_s: float = 10.0,
            watch_every_s: float = 300.0) -> None:
        settle_heap()
        threads = self.start(stop)
        next_plan = next_watch = 0.0
        while not stop.is_set():
            mono = time.monotonic()
            if mono >= next_plan:
                try:
                    planned = self.plan()
                    if any(planned.values()):
                        log.info("planned %s", planned)
                except Exception:       # noqa: BLE001 - keep delivering what is queued
                    log.exception("planning failed")
                next_plan = mono + plan_every_s
            if mono >= next_watch:
                try:
                    self.watch()
                except Exception:       # noqa: BLE001
                    log.exception("deadline watch failed")
                next_watch = mono + watch_every_s
            stop.wait(0.2)
        for th in threads:
            th.join(30)

    # ------------------------------------------------------------------ deadlines (W19)
    def watch(self, day: dt.date | None = None) -> dict:
        """Evaluate the rules for projects with unfinished pushes or open W19 warnings."""
        from ..warnings import OPEN_STATES, Warnings
        day = day or dt.datetime.fromtimestamp(self.clock() / 1000, CN).date()
        with self.store.engine.connect() as conn:
            codes = {r[0] for r in conn.execute(sa.select(J.c.projectCode).where(
                J.c.state.in_(OPEN + ("parked",))).distinct())}
            codes |= {r[0] for r in conn.execute(sa.select(warnings_t.c.projectCode).where(
                warnings_t.c.rule == "W19", warnings_t.c.state.in_(OPEN_STATES)).distinct())}
        if not codes:
            return {}
        kw = {"calendar": self.calendar} if self.calendar else {}
        return Warnings(self.store, **kw).evaluate(day, sorted(codes))

    # ------------------------------------------------------------------ operators
    def retry(self, ids: list[int] | None = None, target: str | None = None) -> int:
        """Parked jobs back to the queue; attendance parked for workers missing from the
        roster is built again first (and stays parked while any is still missing)."""
        rows = self.queue.jobs(target, "parked", limit=100_000)
        if ids is not None:
            rows = [r for r in rows if r["id"] in set(ids)]
        ready = []
        for r in rows:
            if r["kind"] == "attendance":
                with self.store.engine.connect() as conn:
                    full = dict(conn.execute(sa.select(J).where(J.c.id == r["id"])).mappings().one())
                if not self.queue.open(full).get("dataList"):   # parked before it was built
                    built = self.planner.rebuild(full)
                    if built is None:
                        continue
                    data, refs = built
                    with self.store.engine.begin() as conn:
                        conn.execute(J.update().where(J.c.id == r["id"]).values(
                            payloadEnc=self.queue.seal(data),
                            refs=json.dumps(refs, sort_keys=True), reason=None))
            ready.append(r["id"])
        return self.queue.retry(ready, target) if ready else 0

    def status(self, target: str | None = None) -> dict:
        stats = self.queue.stats(target)
        names = [t.name for t in self.targets if target in (None, t.name)]
        out = {"targets": {}, "at": self.clock()}
        for name in sorted(set(names) | set(stats)):
            s = stats.get(name, {"jobs": {}, "records": {}, "kinds": {}, "nextDeadline": None})
            d = self.deliverers.get(name)
            s["configured"] = name in self.deliverers
            if d:
                s["profile"] = d.target.profile_name
                s["counters"] = dict(d.counters)
            out["targets"][name] = s
        return out

    def parked(self, target: str | None = None) -> list[dict]:
        return self.queue.jobs(target, "parked")
