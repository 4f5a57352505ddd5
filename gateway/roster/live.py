"""The live roster: central's roster updates applied to the site's roster while `sitegate run`
runs (docs/wire.md §8).

It rides the uplink's one MQTT connection (``Uplink.add_channel``): on every (re)connect, and
every ``refresh_s`` while connected, it asks central for what changed after the version it
holds; a question without a verified answer is asked again after ``retry_s`` (doubling up to
``refresh_s``), so a request central missed -- not yet subscribed, restarting -- costs seconds,
not a refresh period.  Each update is verified against central's key, placed against that version
(``uplink.roster.decide``: versions only move forward), its sealed personal fields opened with
the gateway's own key, and applied in one transaction (``Roster.apply_central``).  The lanes
and the phone page read the same roster file, so their next decision uses the change; nothing
restarts.  Offline, the site works from the last roster it holds.

All roster work happens on this object's own thread: the uplink thread only queues payloads.

Alarms (``alarms()``, put on the retained state topic with ``Uplink.add_alarm_source``):
``roster_forged`` (critical: an update not signed by central), ``roster_replayed`` (critical:
a full snapshot older than the roster held -- a replay, or central's database went back in
time), ``roster_refused`` (warning: signed but unusable, e.g. its personal fields do not open
with this gateway's key), ``roster_conflict`` (warning: entries that do not fit this roster,
e.g. an ID number held here under another worker id).  All but ``roster_refused`` (cleared
by the next update that applies) stay up for ``hold_s`` after the last such update.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

from uplink.roster import decide, decode_update, open_private, request
from uplink.sm2 import Verifier
from uplink.wire import BadSignature, WireError

from gateway.roster.store import Roster

log = logging.getLogger("sitegate.roster")
_ASK = object()
_RESYNC = object()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class LiveRoster:
    def __init__(self, roster: Roster, uplink, central_key: "str | Verifier | None",
                 decrypt: Callable[[bytes], bytes], *, refresh_s: float = 600.0,
                 retry_s: float = 10.0, hold_s: float = 3600.0, queue_size: int = 16) -> None:
        """``uplink``: the site's ``Uplink`` (its ``gw``, ``connected``, ``send`` and
        ``add_channel``); ``central_key``: central's public key (None: every update is refused);
        ``decrypt``: SM2 decryption with the gateway's key (``Signer.decrypt``)."""
        self.roster, self.uplink, self.decrypt = roster, uplink, decrypt
        self.gw = uplink.gw
        self.central = central_key if isinstance(central_key, Verifier) or central_key is None \
            else Verifier(central_key)
        self.refresh_s, self.retry_s, self.hold_s = refresh_s, retry_s, hold_s
        self._unanswered: float | None = None      # monotonic time of an unanswered question
        self._retry = retry_s
        self.counters = {"received": 0, "applied": 0, "stale": 0, "forged": 0, "replayed": 0,
                         "refused": 0, "dropped": 0}
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._alarms: dict[str, tuple[dict, float]] = {}
        self._lock = threading.Lock()
        self.applied = threading.Event()        # set after each applied update (tests, demo)
        uplink.add_channel("roster", self._received, on_connect=lambda: self._put(_ASK))
        uplink.add_alarm_source(self.alarms)

    # ------------------------------------------------------------ uplink thread
    def _received(self, payload: bytes) -> None:
        self._put(payload)

    def _put(self, item) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:                       # central repeats; we ask again when drained
            self.counters["dropped"] += 1

    # ------------------------------------------------------------ roster thread
    def run(self, stop: threading.Event) -> None:
        next_refresh = time.monotonic() + self.refresh_s
        while not stop.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                item = None
            try:
                now = time.monotonic()
                if item is _ASK or item is _RESYNC:
                    self._ask(resync=item is _RESYNC)
                    next_refresh = now + self.refresh_s
                elif item is not None:
                    self.handle(item)
                elif self.uplink.connected and now >= next_refresh:
                    self._ask()
                    next_refresh = now + self.refresh_s
                elif self.uplink.connected and self._unanswered is not None and \
                        now - self._unanswered >= self._retry:
                    self._retry = min(self._retry * 2, self.refresh_s)
                    self._ask()
                if self.counters["dropped"] and self._queue.empty():
                    self.counters["dropped"] = 0
                    self._ask()
            except Exception:  # noqa: BLE001 - supervise: the site keeps its last roster
                log.exception("roster update failed; keeping the roster as it is")

    def _ask(self, resync: bool = False) -> None:
        have = 0 if resync else self.roster.central_state()["version"]
        self.uplink.send("roster-req", request(have))
        self._unanswered = time.monotonic()

    def handle(self, payload: bytes) -> str:
        """One update in; returns what was done: applied, confirmed, stale, ahead, resync,
        forged, replayed, refused."""
        self.counters["received"] += 1
        try:
            u = decode_update(payload, self.central, self.gw)
        except BadSignature as exc:
            self.counters["forged"] += 1
            self._raise("roster_forged", "critical",
                        f"{self.counters['forged']} roster update(s) not signed by central refused "
                        f"({exc}); the roster was not changed")
            log.error("refused a roster update not signed by central: %s", exc)
            return "forged"
        except WireError as exc:
            return self._refused(str(exc))
        self._unanswered, self._retry = None, self.retry_s      # central answers
        held = self.roster.central_state()
        verdict = decide(u, held["version"], held["project"])
        if verdict == "rollback":
            self.counters["replayed"] += 1
            self._raise("roster_replayed", "critical",
                        f"central's roster update goes back to version {u['to']} from "
                        f"{held['version']} (a replayed update, or central's database was "
                        "restored): refused, the roster was not changed")
            log.error("refused a roster update back to version %d (holding %d)", u["to"],
                      held["version"])
            return "replayed"
        if verdict == "stale":
            self.counters["stale"] += 1
            return "stale"
        if verdict in ("ahead", "resync"):
            self._put(_RESYNC if verdict == "resync" else _ASK)
            return verdict
        if not u["full"] and u["to"] == held["version"] and not u["entries"]:
            self.roster.mark_synced(now_ms())               # central: nothing new
            self._clear("roster_refused")
            return "confirmed"
        try:
            private = open_private(u, self.decrypt)
        except WireError as exc:
            return self._refused(str(exc))
        problems = self.roster.apply_central(version=u["to"], project=u["project"], full=u["full"],
                                             entries=u["entries"], private=private, ts_ms=now_ms())
        self.counters["applied"] += 1
        self._clear("roster_refused")
        if problems:
            self._raise("roster_conflict", "warning",
                        f"{len(problems)} roster entr{'y' if len(problems) == 1 else 'ies'} from "
                        f"central skipped: {'; '.join(problems[:3])}")
            log.warning("roster entries skipped: %s", "; ".join(problems))
        log.info("roster version %d applied (%d entries%s)", u["to"], len(u["entries"]),
                 ", full" if u["full"] else "")
        if u["more"]:
            self._put(_ASK)
        self.applied.set()
        return "applied"

    def _refused(self, why: str) -> str:
        self.counters["refused"] += 1
        self._raise("roster_refused", "warning", f"a roster update from central was refused: {why}",
                    hold=False)
        log.error("roster update refused: %s", why)
        return "refused"

    # ------------------------------------------------------------ alarms
    def _raise(self, code: str, level: str, message: str, hold: bool = True) -> None:
        until = time.monotonic() + self.hold_s if hold else float("inf")
        with self._lock:
            self._alarms[code] = ({"code": code, "level": level, "message": message}, until)

    def _clear(self, code: str) -> None:
        with self._lock:
            self._alarms.pop(code, None)

    def alarms(self) -> list[dict]:
        now = time.monotonic()
        with self._lock:
            for code in [c for c, (_, until) in self._alarms.items() if until < now]:
                del self._alarms[code]
            return [a for a, _ in self._alarms.values()]
