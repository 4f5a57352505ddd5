"""Roster downlink, gateway side (docs/wire.md §8): ask, verify, apply.

``apply_delta(state, delta)`` is pure: a dict ``{"project", "version", "workers"}`` in, the next
one out.  ``SqliteRoster`` keeps the same state in SQLite (one transaction per delta), and
``RosterClient`` asks central over MQTT on every (re)connect with the version it has, so a
gateway that was offline catches up; ``more`` answers are followed by a new request.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from .broker import BrokerConfig, connect, new_client
from .sm2 import Verifier
from .wire import SIG_LEN, TOPIC_ROOT, WireError, canonical, check_gateway_id, parse_canonical

_KEYS = {"entries", "from", "full", "gw", "more", "project", "to", "type", "v"}


def request_topic(gw: str) -> str:
    return f"{TOPIC_ROOT}/{check_gateway_id(gw)}/roster-req"


def roster_topic(gw: str) -> str:
    return f"{TOPIC_ROOT}/{check_gateway_id(gw)}/roster"


def request(have: int) -> bytes:
    return canonical({"have": int(have), "v": 1})


def decode_delta(payload: bytes, central_public_key: str, gw: str) -> dict:
    """Verify central's signature and the shape; WireError otherwise."""
    if len(payload) <= SIG_LEN:
        raise WireError("roster: too short")
    body, sig = payload[:-SIG_LEN], payload[-SIG_LEN:]
    if not Verifier(central_public_key).verify(body, sig):
        raise WireError("roster: bad signature (not from central)")
    delta = parse_canonical(body, "roster")
    if not isinstance(delta, dict) or set(delta) != _KEYS or delta["type"] != "roster" or \
            delta["v"] != 1:
        raise WireError("roster: wrong fields")
    if delta["gw"] != gw:
        raise WireError("roster: addressed to another gateway")
    for e in delta["entries"]:
        if not isinstance(e, dict) or not isinstance(e.get("worker"), str) or \
                e.get("status") not in ("active", "exited", "blacklisted"):
            raise WireError("roster: bad entry")
    return delta


def apply_delta(state: dict, delta: dict) -> dict:
    """Next state, or the same state when the delta does not follow on from it."""
    if not delta["full"] and (delta["from"] != state.get("version", 0) or
                              delta["project"] != state.get("project")):
        return state
    workers = {} if delta["full"] else dict(state.get("workers", {}))
    for e in delta["entries"]:
        workers[e["worker"]] = e
    return {"project": delta["project"], "version": delta["to"], "workers": workers}


def may_enter(state: dict, worker: str, day: str) -> tuple[bool, str]:
    """Gate decision from the roster alone (day = yyyy-MM-dd)."""
    e = state.get("workers", {}).get(worker)
    if e is None:
        return False, "not on the roster"
    if e["status"] != "active":
        return False, e["status"]
    for field, why in (("contractEnd", "contract ended"), ("certValidTo", "certificate expired")):
        if e.get(field) and e[field] < day:
            return False, why
    return True, ""


class SqliteRoster:
    def __init__(self, path: str | Path) -> None:
        self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS roster_meta (k TEXT PRIMARY KEY, v TEXT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS roster (worker TEXT PRIMARY KEY, "
                          "status TEXT NOT NULL, entry TEXT NOT NULL)")
        self.lock = threading.Lock()

    def _meta(self, k: str, default: str = "") -> str:
        row = self.conn.execute("SELECT v FROM roster_meta WHERE k = ?", (k,)).fetchone()
        return row[0] if row else default

    @property
    def version(self) -> int:
        return int(self._meta("version", "0"))

    @property
    def project(self) -> str:
        return self._meta("project")

    def apply(self, delta: dict) -> bool:
        with self.lock:
            if not delta["full"] and (delta["from"] != self.version or
                                      delta["project"] != self.project):
                return False
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if delta["full"]:
                    self.conn.execute("DELETE FROM roster")
                self.conn.executemany(
                    "INSERT OR REPLACE INTO roster (worker, status, entry) VALUES (?, ?, ?)",
                    [(e["worker"], e["status"], json.dumps(e, sort_keys=True)) for e in
                     delta["entries"]])
                self.conn.executemany("INSERT OR REPLACE INTO roster_meta VALUES (?, ?)",
                                      [("version", str(delta["to"])),
                                       ("project", delta["project"])])
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            return True

    def state(self) -> dict:
        with self.lock:
            return {"project": self.project, "version": self.version,
                    "workers": {w: json.loads(e) for w, e in
                                self.conn.execute("SELECT worker, entry FROM roster")}}


class RosterClient:
    """Keeps a SqliteRoster in step with central over MQTT."""

    def __init__(self, roster: SqliteRoster, gw: str, broker: BrokerConfig,
                 central_public_key: str, client_id: str | None = None) -> None:
        self.roster, self.gw, self.broker, self.key = roster, gw, broker, central_public_key
        self.client = new_client(broker, client_id or f"{gw}-roster")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.errors: list[str] = []
        self.received: list[tuple[int, int, bool, int]] = []    # (from, to, full, entries)
        self.applied = threading.Event()

    def start(self) -> None:
        connect(self.client, self.broker)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def ask(self) -> None:
        self.client.publish(request_topic(self.gw), request(self.roster.version), qos=1)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        client.subscribe(roster_topic(self.gw), qos=1)
        self.ask()

    def _on_message(self, client, userdata, message) -> None:
        try:
            delta = decode_delta(bytes(message.payload), self.key, self.gw)
        except WireError as exc:
            self.errors.append(str(exc))
            return
        self.received.append((delta["from"], delta["to"], delta["full"], len(delta["entries"])))
        if not self.roster.apply(delta) or delta["more"]:
            self.ask()                     # out of step, or more to come: ask from what we have
        else:
            self.applied.set()
