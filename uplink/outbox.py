"""The gateway's SQLite outbox: append-only, hash-chained, sealed into signed blocks.

Guarantees (ARCHITECTURE.md): a record is committed (WAL, ``synchronous=FULL``) before
``append`` returns, so the caller may tell the worker "OK" only after it returned; nothing is
deleted until central acknowledged it; every bound raises a loud, typed error instead of
dropping anything.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from .wire import ZERO_HASH, block_body_from_stored, canonical, make_record, record_hash


class OutboxFull(RuntimeError):
    """The outbox refuses a new record: a bound is hit (count, size or disk)."""


class AckMismatch(ValueError):
    """Central acknowledged a record whose hash differs from ours."""


@dataclass(frozen=True)
class Limits:
    max_unacked: int = 1_000_000          # refuse new records beyond this backlog
    max_block_records: int = 256
    max_block_bytes: int = 128 * 1024
    max_db_bytes: int = 0                 # 0 = only the disk limits us
    min_free_bytes: int = 64 * 1024 * 1024
    retention_s: int = 7 * 86400          # keep acknowledged rows this long after capture
    retention_max_rows: int = 500_000     # and never more acknowledged rows than this
    stale_ack_s: int = 3600               # warn when the oldest unacked record is older


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str
    ts: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _is_full_error(exc: sqlite3.Error) -> bool:
    return "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", 0) == 13


class Outbox:
    def __init__(self, path: str | Path, gateway_id: str, signer: Any = None,
                 limits: Limits = Limits(), readonly: bool = False) -> None:
        self.path = Path(path)
        self.gw = gateway_id
        self.signer = signer
        self.limits = limits
        self._lock = threading.RLock()
        self.readonly = readonly
        if readonly:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                         isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._create()
            if limits.max_db_bytes:
                page = self._conn.execute("PRAGMA page_size").fetchone()[0]
                self._conn.execute(f"PRAGMA max_page_count={max(limits.max_db_bytes // page, 16)}")
        self.db = sqlite_utils.Database(self._conn)
        self.last_write_error: str | None = None
        self._load_meta()

    # ------------------------------------------------------------ schema and meta
    def _create(self) -> None:
        db = sqlite_utils.Database(self._conn)
        db["records"].create({"seq": int, "hash": str, "ts": int, "data": bytes}, pk="seq",
                             not_null={"hash", "ts", "data"}, if_not_exists=True)
        db["blocks"].create({"first": int, "last": int, "sealed_at": int, "payload": bytes},
                            pk="first", not_null={"last", "payload"}, if_not_exists=True)
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        owner = self._conn.execute("SELECT value FROM meta WHERE key='gw'").fetchone()
        if owner is None:
            self._conn.execute("INSERT INTO meta VALUES ('gw', ?)", (self.gw,))
        elif owner[0] != self.gw:
            raise ValueError(f"outbox {self.path} belongs to gateway {owner[0]!r}, not {self.gw!r}")

    def _meta(self, key: str, default: str) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, **values: Any) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [(k, str(v)) for k, v in values.items()])

    def _load_meta(self) -> None:
        self.head_seq = int(self._meta("head_seq", "0"))
        self.head_hash = self._meta("head_hash", ZERO_HASH)
        self.sealed_seq = int(self._meta("sealed_seq", "0"))
        self.acked_seq = int(self._meta("acked_seq", "0"))

    # ------------------------------------------------------------ append
    def append(self, body: dict, type_: str = "attendance", ts_ms: int | None = None) -> Appended:
        return self.append_many([body], type_, ts_ms)[0]

    def append_many(self, bodies: list[dict], type_: str = "attendance",
                    ts_ms: int | None = None) -> list[Appended]:
        """Commit records durably; returns only after the commit (raise = nothing stored)."""
        with self._lock:
            backlog = self.head_seq - self.acked_seq
            if backlog + len(bodies) > self.limits.max_unacked:
                raise OutboxFull(f"outbox full: {backlog} unacknowledged records, "
                                 f"limit {self.limits.max_unacked}; capture refused")
            free = self.disk_free()
            if free is not None and free < self.limits.min_free_bytes:
                self.last_write_error = f"disk almost full: {free} bytes free"
                raise OutboxFull(self.last_write_error + "; capture refused")
            ts = now_ms() if ts_ms is None else ts_ms
            seq, prev, rows, out = self.head_seq, self.head_hash, [], []
            for body in bodies:
                seq += 1
                data = canonical(make_record(self.gw, seq, prev, ts, type_, body))
                prev = record_hash(data)
                rows.append((seq, prev, ts, data))
                out.append(Appended(seq, prev, ts))
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
                self._set_meta(head_seq=seq, head_hash=prev)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                if _is_full_error(exc):
                    self.last_write_error = f"storage full: {exc}"
                    raise OutboxFull(self.last_write_error + "; capture refused") from exc
                raise
            self.head_seq, self.head_hash = seq, prev
            self.last_write_error = None
            return out

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    # ------------------------------------------------------------ sealing
    def pending(self) -> int:
        return self.head_seq - self.sealed_seq

    def seal(self, sealed_ms: int | None = None) -> int:
        """Seal every committed-but-unsealed record into signed blocks; returns blocks made."""
        made = 0
        with self._lock:
            while self.sealed_seq < self.head_seq:
                rows = self._conn.execute(
                    "SELECT seq, hash, data FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                    (self.sealed_seq, self.limits.max_block_records)).fetchall()
                take, size = [], 512
                for row in rows:
                    if take and size + len(row[2]) + 1 > self.limits.max_block_bytes:
                        break
                    take.append(row)
                    size += len(row[2]) + 1
                first, last = take[0][0], take[-1][0]
                prev = json.loads(take[0][2])["prev"]
                body = block_body_from_stored(self.gw, first, last, prev, take[-1][1],
                                              [r[2] for r in take],
                                              now_ms() if sealed_ms is None else sealed_ms)
                payload = body + self.signer.sign(body)
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.execute("INSERT INTO blocks VALUES (?, ?, ?, ?)",
                                       (first, last, now_ms(), payload))
                    self._set_meta(sealed_seq=last)
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    if _is_full_error(exc):
                        self.last_write_error = f"storage full while sealing: {exc}"
                        self.purge()
                        return made
                    raise
                self.sealed_seq = last
                made += 1
        return made

    def blocks_after(self, seq: int, limit: int) -> list[tuple[int, int, bytes]]:
        """Sealed blocks holding records after ``seq``, oldest first."""
        with self._lock:
            return self._conn.execute(
                "SELECT first, last, payload FROM blocks WHERE last > ? ORDER BY first LIMIT ?",
                (seq, limit)).fetchall()

    # ------------------------------------------------------------ acknowledgement
    def hash_of(self, seq: int) -> str | None:
        if seq == 0:
            return ZERO_HASH
        row = self._conn.execute("SELECT hash FROM records WHERE seq=?", (seq,)).fetchone()
        return row[0] if row else None

    def ts_of(self, seq: int) -> int | None:
        """Capture time (ms) of record ``seq``, or None when there is no such row."""
        with self._lock:
            row = self._conn.execute("SELECT ts FROM records WHERE seq=?", (seq,)).fetchone()
        return row[0] if row else None

    def ack(self, seq: int, head: str) -> bool:
        """Central committed records up to ``seq``; returns True when that released rows."""
        with self._lock:
            if seq <= self.acked_seq:
                return False
            if seq > self.sealed_seq:
                raise AckMismatch(f"ack for seq {seq} beyond the last sealed {self.sealed_seq}")
            ours = self.hash_of(seq)
            if ours != head:
                raise AckMismatch(f"ack for seq {seq} names hash {head[:12]}..., ours is "
                                  f"{(ours or 'missing')[:12]}...")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._set_meta(acked_seq=seq, acked_hash=head, acked_at=now_ms())
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
            self.acked_seq = seq
            return True

    def purge(self, now: int | None = None) -> int:
        """Retention: drop acknowledged rows older than the window or beyond the row cap."""
        with self._lock:
            cutoff = (now_ms() if now is None else now) - self.limits.retention_s * 1000
            keep_from = self.acked_seq - self.limits.retention_max_rows
            row = self._conn.execute(
                "SELECT max(seq) FROM records WHERE seq <= ? AND (ts < ? OR seq <= ?)",
                (self.acked_seq, cutoff, keep_from)).fetchone()
            upto = row[0] or 0
            if not upto:
                return 0
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                n = self._conn.execute("DELETE FROM records WHERE seq <= ?", (upto,)).rowcount
                self._conn.execute("DELETE FROM blocks WHERE last <= ?", (upto,))
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
            return n

    # ------------------------------------------------------------ health
    def disk_free(self) -> int | None:
        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return None

    def stats(self) -> dict:
        with self._lock:
            if self.readonly:
                self._load_meta()
            oldest = self._conn.execute("SELECT ts FROM records WHERE seq = ?",
                                        (self.acked_seq + 1,)).fetchone()
            page_size, pages = (self._conn.execute("PRAGMA page_size").fetchone()[0],
                                self._conn.execute("PRAGMA page_count").fetchone()[0])
            rows = self._conn.execute("SELECT count(*) FROM records").fetchone()[0]
        return {
            "gateway": self.gw,
            "head_seq": self.head_seq, "sealed_seq": self.sealed_seq,
            "acked_seq": self.acked_seq, "backlog": self.head_seq - self.acked_seq,
            "oldest_unacked_age_s": (round((now_ms() - oldest[0]) / 1000, 1)
                                     if oldest and self.head_seq > self.acked_seq else 0.0),
            "rows": rows, "db_bytes": page_size * pages, "disk_free_bytes": self.disk_free(),
            "last_write_error": self.last_write_error,
        }

    def iter_records(self, after: int = 0) -> Iterator[dict]:
        for (data,) in self._conn.execute("SELECT data FROM records WHERE seq > ? ORDER BY seq",
                                          (after,)):
            yield json.loads(data)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def alarms(stats: dict, limits: Limits) -> list[dict]:
    """Pure: the alarms a set of outbox stats raises (shared by the daemon and `status`)."""
    out = []
    ratio = stats["backlog"] / max(limits.max_unacked, 1)
    if ratio >= 1:
        out.append({"code": "outbox_full", "level": "critical",
                    "message": f"outbox full ({stats['backlog']} unacknowledged): capture refused"})
    elif ratio >= 0.8:
        out.append({"code": "outbox_high", "level": "critical",
                    "message": f"outbox {ratio:.0%} full ({stats['backlog']} unacknowledged)"})
    elif ratio >= 0.5:
        out.append({"code": "outbox_half", "level": "warning",
                    "message": f"outbox {ratio:.0%} full ({stats['backlog']} unacknowledged)"})
    if limits.max_db_bytes and stats["db_bytes"] >= 0.9 * limits.max_db_bytes:
        out.append({"code": "db_size", "level": "critical",
                    "message": f"outbox database {stats['db_bytes']} bytes of "
                               f"{limits.max_db_bytes} allowed"})
    free = stats.get("disk_free_bytes")
    if free is not None and free < limits.min_free_bytes:
        out.append({"code": "disk_low", "level": "critical",
                    "message": f"disk almost full: {free} bytes free"})
    if stats.get("last_write_error"):
        out.append({"code": "storage_error", "level": "critical",
                    "message": stats["last_write_error"]})
    if stats["oldest_unacked_age_s"] > limits.stale_ack_s:
        out.append({"code": "ack_stale", "level": "warning",
                    "message": f"oldest unacknowledged record is "
                               f"{stats['oldest_unacked_age_s']:.0f} s old"})
    return out
