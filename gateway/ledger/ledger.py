"""The gateway's own attendance ledger (``attendance.db``): every attendance record the gateway
committed, indexed for the labour manager's screens and the monthly sheet.

The outbox forgets acknowledged records after its retention period, so screens and the sheet
cannot read it. The ledger follows the outbox instead: :meth:`Ledger.catch_up` copies every
record after the last one it has seen, in one ``BEGIN IMMEDIATE`` transaction, so it is
idempotent, safe to run from the daemon and from ``sitegate export`` at the same time, and
complete after a crash (it resumes from its own high-water mark). A record that left the
outbox before the ledger saw it is reported as a gap, never silently skipped.

Two tables: ``passages`` (one row per record: local day and minute, worker, direction,
decision) and ``days`` (one row per worker and day with at least one allowed passage: first
and last time, counts, last direction) — the sheet and the calendar read only ``days``.
A ``void`` record (nobody walked through after the gate opened) cancels the passage it
refers to, and that worker-day is recomputed.
"""
from __future__ import annotations

import calendar
import functools
import json
import logging
import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from gateway.config import private_file

log = logging.getLogger("sitegate.attendance")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passages (
    seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, day TEXT NOT NULL, minute INTEGER NOT NULL,
    worker TEXT, dir TEXT, decision TEXT NOT NULL, reason TEXT, method TEXT, lane TEXT,
    voided INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS passages_day ON passages(day, decision);
CREATE INDEX IF NOT EXISTS passages_worker ON passages(worker, day);
CREATE TABLE IF NOT EXISTS days (
    worker TEXT NOT NULL, day TEXT NOT NULL, first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL,
    ins INTEGER NOT NULL, outs INTEGER NOT NULL, last_dir TEXT,
    PRIMARY KEY (worker, day)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS days_day ON days(day);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gaps (first INTEGER PRIMARY KEY, last INTEGER NOT NULL, noticed_ms INTEGER NOT NULL);
"""


class LedgerError(ValueError):
    pass


def local_day_minute(ts_ms: int, tz_offset_min: int) -> tuple[str, int]:
    """(YYYY-MM-DD, minute of the day) in the site's time zone."""
    minutes = ts_ms // 60_000 + tz_offset_min
    return _day_text(minutes // 1440), minutes % 1440


@functools.lru_cache(maxsize=1024)
def _day_text(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).isoformat()


_EPOCH = date(1970, 1, 1)


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` -> (year, month); LedgerError with what to type otherwise."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", str(text))
    y, m = (int(found[1]), int(found[2])) if found else (0, 0)
    if not (2000 <= y <= 2100 and 1 <= m <= 12):
        raise LedgerError(f"month {text!r}: give it as YYYY-MM, e.g. 2026-11")
    return y, m


def month_bounds(year: int, month: int) -> tuple[str, str, int]:
    n = calendar.monthrange(year, month)[1]
    return f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{n:02d}", n


@dataclass(frozen=True)
class Passage:
    seq: int
    ts: int
    day: str
    minute: int
    worker: str | None
    dir: str | None
    decision: str
    reason: str | None
    method: str | None
    lane: str | None
    voided: bool


def _field(value: Any) -> Any:
    """A body field as SQLite's ``json_extract`` gives it: text and numbers as they are,
    objects and arrays as their JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return int(value)
    return value


def _row(rec: dict) -> tuple:
    """A wire-form record as the outbox's ``ledger_rows`` gives it."""
    body = rec.get("body")
    body = body if isinstance(body, dict) else {}
    return (rec["seq"], rec["ts"], rec.get("type")) + tuple(
        _field(body.get(k)) for k in ("worker", "dir", "decision", "reason", "method", "lane",
                                      "device", "ref"))


class Ledger:
    def __init__(self, path: str | Path, tz_offset_min: int = 480, readonly: bool = False) -> None:
        self.path = Path(path)
        self.tz = tz_offset_min
        if readonly:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                         check_same_thread=False)
        else:
            private_file(self.path)          # names and days worked: 0600 whatever the umask
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                         timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ filling
    @property
    def last_seq(self) -> int:
        row = self._conn.execute("SELECT v FROM meta WHERE k = 'last_seq'").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _write(self):
        """One writer at a time, across threads (lock) and processes (BEGIN IMMEDIATE)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def catch_up(self, outbox: Any, batch: int = 5000, progress=None) -> int:
        """Copy every outbox record after our high-water mark; returns how many were new.
        ``progress(done, total)`` is told after each batch (records past the mark so far, and
        up to the outbox's head).  Only the fields the ledger keeps are read (the outbox picks
        them out in SQLite, :meth:`uplink.outbox.Outbox.ledger_rows`), and each batch is one
        transaction of a few statements, so a month's backlog is indexed without holding
        the interpreter the uplink needs."""
        total = 0
        start = self.last_seq
        span = max(0, getattr(outbox, "head_seq", 0) - start)
        while True:
            with self._write():
                after = self.last_seq
                if hasattr(outbox, "ledger_rows"):
                    rows = outbox.ledger_rows(after, batch)
                else:
                    rows = []
                    for rec in outbox.iter_records(after):
                        rows.append(_row(rec))
                        if len(rows) >= batch:
                            break
                total += self._ingest_rows(rows, after)
                head = getattr(outbox, "head_seq", 0)
                if len(rows) < batch and head > self.last_seq:
                    self._tail_gap(self.last_seq + 1, head)
            if progress is not None:
                progress(min(self.last_seq - start, span), span)
            if len(rows) < batch:
                return total

    def ingest(self, records: Iterable[dict]) -> int:
        """Add records (wire form: seq, ts, type, body) that follow on from :attr:`last_seq`."""
        with self._write():
            return self._ingest_rows([_row(r) for r in records], self.last_seq)

    def _ingest_rows(self, rows: list[tuple], after: int) -> int:
        """``rows`` as :meth:`uplink.outbox.Outbox.ledger_rows` gives them, in seq order."""
        expected, n = after + 1, 0
        fresh = [r for r in rows if r[0] > after]
        seen: set[int] = set()
        if fresh:              # already indexed (the mark was lost or reset): count them once
            seen = {r[0] for r in self._conn.execute(
                "SELECT seq FROM passages WHERE seq BETWEEN ? AND ?", (fresh[0][0], fresh[-1][0]))}
        run: list[tuple] = []
        for row in fresh:
            seq, ts = row[0], row[1]
            if seq > expected:   # left the outbox before we saw it: say so, loudly
                self._conn.execute("INSERT OR IGNORE INTO gaps VALUES (?,?,?)",
                                   (expected, seq - 1, ts))
                log.critical("attendance ledger: records %d..%d left the outbox before they were "
                             "indexed; the monthly sheet lacks them (central has them)", expected, seq - 1)
            after, expected = seq, seq + 1
            if row[2] != "attendance" or seq in seen:
                continue
            seen.add(seq)
            if str(row[5] if row[5] is not None else "") == "void":
                n += self._add_run(run)
                run = []
                n += self._void(row)
            else:
                run.append(row)
        n += self._add_run(run)
        if fresh:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(after),))
        return n

    def _tail_gap(self, first: int, last: int) -> None:
        """The outbox has numbered up to ``last`` but holds nothing after ``first - 1``: those
        records were purged before we saw them (no newer record has to arrive to tell)."""
        now = int(datetime.now(timezone.utc).timestamp() * 1000)
        self._conn.execute("INSERT OR IGNORE INTO gaps VALUES (?,?,?)", (first, last, now))
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(last),))
        log.critical("attendance ledger: records %d..%d left the outbox before they were indexed; "
                     "the monthly sheet lacks them (central has them)", first, last)

    def _passage(self, row: tuple) -> tuple:
        seq, ts, _, worker, dir_, decision, reason, method, lane, device, _ = row
        day, minute = local_day_minute(ts, self.tz)
        return (seq, ts, day, minute, worker, dir_, "" if decision is None else str(decision),
                reason, method, lane or device)

    def _add_run(self, rows: list[tuple]) -> int:
        """Passages that void nothing, in two statements: the rows, then their worker-days."""
        if not rows:
            return 0
        passages = [self._passage(r) for r in rows]
        self._conn.executemany(
            "INSERT OR IGNORE INTO passages (seq, ts, day, minute, worker, dir, decision, reason, "
            "method, lane) VALUES (?,?,?,?,?,?,?,?,?,?)", passages)
        self._conn.executemany(
            """INSERT INTO days (worker, day, first_ts, last_ts, ins, outs, last_dir)
               VALUES (?,?,?,?,?,?,?) ON CONFLICT(worker, day) DO UPDATE SET
               first_ts = MIN(first_ts, excluded.first_ts),
               last_dir = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_dir ELSE last_dir END,
               last_ts = MAX(last_ts, excluded.last_ts),
               ins = ins + excluded.ins, outs = outs + excluded.outs""",
            [(p[4], p[2], p[1], p[1], int(p[5] == "in"), int(p[5] == "out"), p[5])
             for p in passages if p[6] == "allow" and p[4]])
        return len(passages)

    def _void(self, row: tuple) -> int:
        """A ``void`` record: kept as a passage, and the passage it refers to is cancelled."""
        p = self._passage(row)
        self._conn.execute(
            "INSERT OR IGNORE INTO passages (seq, ts, day, minute, worker, dir, decision, reason, "
            "method, lane) VALUES (?,?,?,?,?,?,?,?,?,?)", p)
        ref = row[10]
        if isinstance(ref, int) and not isinstance(ref, bool):
            found = self._conn.execute("SELECT worker, day FROM passages WHERE seq = ?",
                                       (ref,)).fetchone()
            self._conn.execute("UPDATE passages SET voided = 1 WHERE seq = ?", (ref,))
            if found and found[0]:
                self._recompute(*found)
        return 1

    def _recompute(self, worker: str, day: str) -> None:
        self._conn.execute("DELETE FROM days WHERE worker = ? AND day = ?", (worker, day))
        rows = self._conn.execute("SELECT ts, dir FROM passages WHERE worker = ? AND day = ? AND "
                                  "decision = 'allow' AND voided = 0 ORDER BY ts, seq", (worker, day)).fetchall()
        if rows:
            self._conn.execute("INSERT INTO days VALUES (?,?,?,?,?,?,?)",
                               (worker, day, rows[0][0], rows[-1][0], sum(d == "in" for _, d in rows),
                                sum(d == "out" for _, d in rows), rows[-1][1]))

    def gaps(self) -> list[tuple[int, int]]:
        return [tuple(r) for r in self._conn.execute("SELECT first, last FROM gaps ORDER BY first")]

    # ------------------------------------------------------------------ reading
    def month_days(self, year: int, month: int) -> dict[str, set[int]]:
        """worker -> set of day-of-month numbers attended (at least one allowed passage)."""
        first, last, _ = month_bounds(year, month)
        out: dict[str, set[int]] = {}
        for worker, day in self._conn.execute("SELECT worker, day FROM days WHERE day BETWEEN ? AND ?",
                                              (first, last)):
            out.setdefault(worker, set()).add(int(day[8:]))
        return out

    def worker_month(self, worker: str, year: int, month: int) -> dict[int, dict]:
        """day-of-month -> {first, last (HH:MM), ins, outs} for one worker."""
        first, last, _ = month_bounds(year, month)
        out = {}
        for day, first_ts, last_ts, ins, outs in self._conn.execute(
                "SELECT day, first_ts, last_ts, ins, outs FROM days WHERE worker = ? AND day BETWEEN ? AND ?",
                (worker, first, last)):
            out[int(day[8:])] = {"first": self.hhmm(first_ts), "last": self.hhmm(last_ts),
                                 "ins": ins, "outs": outs}
        return out

    def worker_denials(self, worker: str, year: int, month: int) -> dict[int, list[str]]:
        first, last, _ = month_bounds(year, month)
        out: dict[int, list[str]] = {}
        for day, reason in self._conn.execute(
                "SELECT day, reason FROM passages WHERE worker = ? AND day BETWEEN ? AND ? AND "
                "decision = 'deny'", (worker, first, last)):
            out.setdefault(int(day[8:]), []).append(reason or "deny")
        return out

    def day_passages(self, day: str) -> list[tuple[str, str, int]]:
        """(worker, dir, minute) of every allowed, not voided passage that day."""
        return self._conn.execute("SELECT worker, dir, minute FROM passages WHERE day = ? AND "
                                  "decision = 'allow' AND voided = 0 AND worker IS NOT NULL",
                                  (day,)).fetchall()

    def on_site(self, day: str) -> list[str]:
        """Workers whose last allowed passage that day was an entry."""
        return [r[0] for r in self._conn.execute(
            "SELECT worker FROM days WHERE day = ? AND last_dir = 'in' ORDER BY worker", (day,))]

    def day_denials(self, day: str) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM passages WHERE day = ? AND decision = 'deny'",
                                  (day,)).fetchone()[0]

    def hhmm(self, ts_ms: int) -> str:
        _, minute = local_day_minute(ts_ms, self.tz)
        return f"{minute // 60:02d}:{minute % 60:02d}"

    def when(self, ts_ms: int) -> str:
        """``YYYY-MM-DD HH:MM`` in the site's time zone."""
        return f"{local_day_minute(ts_ms, self.tz)[0]} {self.hhmm(ts_ms)}"


def today_summary(passages: list[tuple[str, str, int]], on_site: list[str],
                  team_of: dict[str, str | None]) -> dict:
    """Pure: counts for the today screen. ``passages`` from :meth:`Ledger.day_passages`."""
    hours = [{"in": 0, "out": 0} for _ in range(24)]
    teams: dict[str, dict[str, int]] = {}
    for worker, d, minute in passages:
        if d not in ("in", "out"):
            continue
        hours[minute // 60][d] += 1
        t = teams.setdefault(team_of.get(worker) or "", {"in": 0, "out": 0, "on_site": 0})
        t[d] += 1
    for w in on_site:
        teams.setdefault(team_of.get(w) or "", {"in": 0, "out": 0, "on_site": 0})["on_site"] += 1
    return {"on_site": len(on_site), "entries": sum(h["in"] for h in hours),
            "exits": sum(h["out"] for h in hours), "hours": hours,
            "teams": dict(sorted(teams.items()))}


def month_calendar(year: int, month: int) -> list[list[int]]:
    """Weeks (Monday first) of day numbers, 0 for padding."""
    return calendar.Calendar(firstweekday=0).monthdayscalendar(year, month)
