"""Delivery: claimed jobs go to their platform, and the answer decides the next state.

For each claimed job (queue.py has the states):

* ``queued``: its dependencies (the project, team and workers it names) must be held by the
  platform first, else it waits.  The intent is committed (``sending``, attempt + 1) *before*
  a byte leaves, then the adapter's request is sent;
* ``sending`` found again (the process died, or the answer never came): in doubt.  A profile
  that can query asks the platform whether it holds the data: yes -> done, without sending it
  again; not yet and the write is younger than ``settle_s`` -> ask again later; still no after
  that -> it never arrived: send.  A profile without a query sends again and counts the
  platform's duplicate answer as delivered;
* ``submitted``: poll the serial (``AsyncHandleResult.Query``) until success or failure.

Transient failures (5xx, busy, refused connection) retry with jittered exponential backoff
(``retry_base_s`` doubling to ``retry_max_s``, each wait drawn from its upper half); after
``max_attempts`` the job is parked.  Permanent failures park at once with the platform's
reason.  A refused timestamp corrects the clock offset from the platform's ``Date`` header and
retries.  Nothing here logs a payload, a secret or a personal number.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid

from ..crypto import FieldCipher
from ..store import Store, now_ms
from .config import Target
from .http import Http, InDoubt, NotSent
from .profile import ACCEPTED, CLOCK, DONE, DUPLICATE, PARK, PENDING, RETRY, Verdict
from .queue import Queue

log = logging.getLogger("sitegate.central.platform")
CLOCK_SLACK_MS = 60_000


def backoff_s(attempts: int, base: float, most: float, rng=random) -> float:
    """Jittered exponential backoff: a wait drawn from the upper half of base * 2^(n-1)."""
    ceiling = min(most, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + rng.random() * ceiling / 2


class Shared:
    """What the deliverers of one target share in a process: counters, the clock offset."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.offset_ms = 0                      # the platform's clock minus ours
        self.held: dict[str, str | None] = {}   # objects the platform holds -> its ids


class Deliverer:
    def __init__(self, store: Store, cipher: FieldCipher, target: Target, clock=now_ms,
                 http: Http | None = None, rng=None, shared: Shared | None = None) -> None:
        self.store, self.target, self.clock = store, target, clock
        self.queue = Queue(store, cipher, clock)
        self.profile = target.profile()
        self.http = http or Http(target.timeout_s)
        self.rng = rng or random.Random()
        self.shared = shared or Shared()

    @property
    def counters(self) -> dict[str, int]:
        return self.shared.counters

    @property
    def offset_ms(self) -> int:
        return self.shared.offset_ms

    @offset_ms.setter
    def offset_ms(self, value: int) -> None:
        self.shared.offset_ms = value

    def _count(self, key: str, n: int = 1) -> None:
        with self.shared.lock:
            self.shared.counters[key] = self.shared.counters.get(key, 0) + n

    def now(self) -> int:
        return self.clock() + self.offset_ms

    def run_once(self, limit: int = 16) -> int:
        """Claim and process up to ``limit`` due jobs; the number processed.  Writes the
        platform accepted are polled together at the end of the round (their serials held
        in memory meanwhile: a crash before that leaves them in doubt, which the query
        settles), and the ones it has judged are committed in one transaction."""
        jobs = self.queue.claim(self.target.name, limit, int(self.target.lease_s() * 1000))
        self._accepted: list[dict] = []
        for job in jobs:
            self._guarded(job, self.process)
        if self._accepted:
            self._poll_accepted()
        return len(jobs)

    def _guarded(self, job: dict, fn) -> None:
        try:
            fn(job)
        except Exception as exc:     # noqa: BLE001 - one bad job never stops the loop
            log.exception("platform %s: job %s failed unexpectedly", self.target.name,
                          job["id"])
            self.queue.release(job, nextAt=self.clock() + 30_000,
                               lastError=f"internal error: {type(exc).__name__}")

    def process(self, job: dict) -> None:
        if job["state"] == "queued":
            self.send(job)
        elif job["state"] == "sending":
            self.resolve(job)
        elif job["state"] == "submitted":
            self.poll(job)

    def _poll_accepted(self) -> None:
        first = min(j["acceptedAt"] for j in self._accepted)
        wait = first + int(self.target.poll_s * 1000) - self.clock()
        if wait > 0:
            time.sleep(wait / 1000)
        done, waiting = [], []
        for job in self._accepted:
            v = self._poll_verdict(job)
            if v is not None and v.kind in (DONE, DUPLICATE):
                done.append((job, "answer" if v.kind == DONE else "duplicate", v.remote,
                             v.reason if v.kind == DUPLICATE else None))
            elif v is None or v.kind in (PENDING, RETRY, CLOCK):
                waiting.append(job)
            else:
                self._guarded(job, lambda j, v=v: self.apply(j, v))
        if done:
            self.queue.finish_many(done)
            self._count("done", sum(1 for j, *_ in done if j["state"] == "done"))
        if waiting:
            self.queue.release_many(waiting, state="submitted", lastError=None,
                                    nextAt=self.clock() + int(self.target.poll_s * 1000))

    # ------------------------------------------------------------------ sending
    def _prepare(self, job: dict) -> dict | None:
        """The data to send, with the platform's ids for what it names; None = must wait."""
        data = self.queue.open(job)
        refs = json.loads(job["refs"]) if job.get("refs") else {}
        kinds = set(self.target.kinds())
        deps = [d for d in refs.get("deps", []) if d.split("/", 1)[0] in kinds]
        cache = self.shared.held            # once held, an object stays held (and its id)
        ask = [d for d in deps if d not in cache]
        if ask:
            got = self.queue.delivered(self.target.name, ask)
            with self.shared.lock:
                cache.update(got)
        held = {d: cache[d] for d in deps if d in cache}
        missing = [d for d in deps if d not in held]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            wait = min(30.0, max(1.0, self.target.poll_s * 4))
            undo = {}
            if job.pop("intent", False):             # nothing was sent: not an attempt
                undo = dict(state="queued", attempts=job["attempts"] - 1, sentAt=None)
            self.queue.release(job, nextAt=self.clock() + int(wait * 1000), **undo,
                               lastError=f"waiting for {missing[0]}{more} to be held by the "
                                         "platform")
            self._count("waiting")
            return None
        team = next((d for d in deps if d.startswith("team/")), None)
        if "teamSysNo" in data:       # central's number -> the platform's (if it gave one)
            if team and held.get(team):
                no = held[team]
                data["teamSysNo"] = int(no) if no.isdigit() else no
            else:
                data.pop("teamSysNo")
        if job["kind"] == "team":
            delivered, remote = self.queue.ever_delivered(job)
            if delivered and remote:
                data["teamSysNo"] = int(remote) if remote.isdigit() else remote
        return data

    def send(self, job: dict) -> None:
        data = self._prepare(job)
        if data is None:
            return
        kind = job["kind"]
        update = self.profile.method(kind, True) != self.profile.method(kind, False) and \
            self.queue.ever_delivered(job)[0]
        method = self.profile.method(kind, update)
        if job.pop("intent", False):                 # committed with the claim
            job["method"] = method
        elif not self.queue.update(job, state="sending", attempts=job["attempts"] + 1,
                                   sentAt=self.clock(), method=method, serial=None):
            return                                   # lost the lease: someone else has it
        req = self.profile.write(job["kind"], data, update, self.target.credentials, self.now(),
                                 uuid.uuid4().hex)
        self._count("sent")
        try:
            status, headers, body = self.http.post(req)
        except NotSent as exc:
            self._retry(job, str(exc), state="queued")
            return
        except InDoubt as exc:
            # settle_s counts from here: the request may still be on its way to the platform
            self._count("in_doubt")
            t = self.clock()
            self.queue.release(job, nextAt=t + self._settle_ms(), sentAt=t,
                               lastError=f"in doubt: {exc}")
            return
        self.apply(job, self.profile.read_write(status, headers, body), sent=True)

    def _settle_ms(self) -> int:
        return int(self.target.settle_s * 1000) if self.profile.can_query else 0

    # ------------------------------------------------------------------ answers
    def apply(self, job: dict, v: Verdict, sent: bool = False) -> None:
        if v.kind == ACCEPTED:
            if hasattr(self, "_accepted"):          # polled at the end of this round
                job.update(serial=v.serial, acceptedAt=self.clock())
                self._accepted.append(job)
                return
            self.queue.release(job, state="submitted", serial=v.serial, lastError=None,
                               nextAt=self.clock() + int(self.target.poll_s * 1000))
        elif v.kind == DONE:
            self.queue.finish(job, "answer", v.remote)
            self._count("done")
        elif v.kind == DUPLICATE:
            self.queue.finish(job, "duplicate", None, v.reason)
            self._count("done")
        elif v.kind == PENDING:
            self.queue.release(job, lastError=None,
                               nextAt=self.clock() + int(self.target.poll_s * 1000))
        elif v.kind == CLOCK or (v.kind == PARK and self._skewed(v)):
            if v.server_ms is not None:
                self.offset_ms = v.server_ms - self.clock()
                log.warning("platform %s: clock corrected by %+d ms from its Date header",
                            self.target.name, self.offset_ms)
            self._count("clock")
            self._retry(job, f"clock: {v.reason}", state="queued" if sent else job["state"],
                        wait_s=0.0 if v.server_ms is not None else None)
        elif v.kind == RETRY:
            self._retry(job, v.reason, state="queued" if sent else job["state"])
        else:
            self.queue.release(job, state="parked", reason=v.reason[:500], lastError=None)
            self._count("parked")
            log.warning("platform %s: job %s (%s %s) parked: %s", self.target.name, job["id"],
                        job["kind"], job["objectKey"], v.reason[:200])

    def _skewed(self, v: Verdict) -> bool:
        return v.server_ms is not None and abs(v.server_ms - self.now()) > 5 * 60_000

    def _retry(self, job: dict, why: str, state: str, wait_s: float | None = None) -> None:
        if job["attempts"] >= self.target.max_attempts:
            self.queue.release(job, state="parked", lastError=None,
                               reason=f"gave up after {job['attempts']} attempts: {why}"[:500])
            self._count("parked")
            return
        if wait_s is None:
            wait_s = backoff_s(job["attempts"], self.target.retry_base_s,
                               self.target.retry_max_s, self.rng)
        self.queue.release(job, state=state, nextAt=self.clock() + int(wait_s * 1000),
                           lastError=why[:500])
        self._count("retried")

    # ------------------------------------------------------------------ async results
    def _poll_verdict(self, job: dict) -> Verdict | None:
        """The platform's verdict on an accepted write; None when it could not be asked."""
        req = self.profile.poll(job["serial"], self.target.credentials, self.now(),
                                uuid.uuid4().hex)
        try:
            status, headers, body = self.http.post(req)
        except (NotSent, InDoubt):                  # a poll is harmless to repeat
            return None
        v = self.profile.read_poll(status, headers, body)
        if v.kind == CLOCK and v.server_ms is not None:
            self.offset_ms = v.server_ms - self.clock()
        return v

    def poll(self, job: dict) -> None:
        v = self._poll_verdict(job)
        if v is None:
            self.queue.release(job, nextAt=self.clock() + int(
                backoff_s(2, self.target.retry_base_s, self.target.retry_max_s, self.rng) * 1000),
                lastError="poll: the platform could not be asked")
            return
        if v.kind == PARK and not self._skewed(v):
            # the platform judged the data: not an attempt of ours to repeat
            self.apply(job, v)
        elif v.kind in (RETRY, CLOCK):
            self.queue.release(job, nextAt=self.clock() + int(self.target.poll_s * 1000),
                               lastError=f"poll: {v.reason}"[:500])
        else:
            self.apply(job, v)

    # ------------------------------------------------------------------ in doubt
    def resolve(self, job: dict) -> None:
        """A write that may or may not have reached the platform."""
        if not self.profile.can_query:
            self._count("resent")
            self.queue.update(job, state="queued")
            self.send(job)
            return
        data = self._prepare(job)
        if data is None:
            return
        rows, page = [], 0
        while True:
            req = self.profile.query(job["kind"], data, page, self.target.credentials, self.now(),
                                     uuid.uuid4().hex)
            try:
                status, headers, body = self.http.post(req)
            except (NotSent, InDoubt) as exc:
                self.queue.release(job, nextAt=self.clock() + int(backoff_s(
                    2, self.target.retry_base_s, self.target.retry_max_s, self.rng) * 1000),
                    lastError=f"in doubt, query failed: {exc}")
                return
            got, more, bad = self.profile.read_query(status, headers, body)
            if bad is not None:
                if bad.kind == CLOCK and bad.server_ms is not None:
                    self.offset_ms = bad.server_ms - self.clock()
                self.queue.release(job, nextAt=self.clock() + int(self.target.poll_s * 1000),
                                   lastError=f"in doubt, query: {bad.reason}"[:500])
                return
            rows.extend(got)
            if not more or page > 1000:
                break
            page += 1
        if self.profile.present(job["kind"], data, rows, self.target.credentials):
            self.queue.finish(job, "query", None, "the platform's query shows it held")
            self._count("resolved_by_query")
            return
        age = self.clock() - (job.get("sentAt") or 0)
        if age < self._settle_ms():
            self.queue.release(job, nextAt=(job.get("sentAt") or 0) + self._settle_ms(),
                               lastError="in doubt: not yet visible at the platform")
            return
        self._count("resent")
        if self.queue.update(job, state="queued"):
            self.send(job)
