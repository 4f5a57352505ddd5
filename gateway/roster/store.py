"""The local roster (SQLite, in SITEGATE_HOME): who may pass, shared by the CLI and the lanes.

Only the registry worker id and the rule fields are in clear. Name, ID number, birth date and
gender are one SM4-GCM blob bound to the worker id; lookups by ID number use a keyed SM3-HMAC
of the number, so the database alone does not reveal who is on site.

Central's roster downlink (``gateway.roster.live``) writes here too: ``apply_central`` applies
one verified update in one transaction together with the roster version it brings, and
``central_state`` tells status, doctor and the web app which version the site holds and when
central last confirmed it.  Workers central wrote are marked (``source = 'central'``); workers
entered on site stay as the site left them unless central sends them.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Mapping

from cryptography.hazmat.primitives import hashes, hmac

from biometrics.crypto import open_private_db, open_sealed, seal
from drivers.sam.idnumber import IdNumberError, check_document_number

from gateway.codes import CodeError, classify_legacy, special_operation, work_type
from gateway.roster.worker import Worker

log = logging.getLogger("sitegate.roster")

WORKER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
STATUSES = ("active", "exited", "suspended")
CENTRAL_BLACKLIST = "blacklisted at central"      # blacklist_reason of a block central set
_CARD_FIELDS = ("name", "id_number", "gender", "birth", "card_type", "valid_to", "nation")


class RosterError(ValueError):
    pass


def check_id(number: Any) -> str:
    """The roster's ID-number check: the one in drivers/sam/idnumber (residence permits and
    foreign permanent-resident numbers included); the error never repeats the number."""
    try:
        return check_document_number(str(number))
    except IdNumberError as exc:
        raise RosterError(f"ID number: {exc}") from None


def check_codes(trade: Any, special_op: Any) -> tuple[str | None, str | None]:
    """(work-type code, special-operation code) from codes or names; RosterError otherwise."""
    try:
        return work_type(trade), special_operation(special_op)
    except CodeError as exc:
        raise RosterError(str(exc)) from None


def check_worker_id(wid: str) -> str:
    if not isinstance(wid, str) or not WORKER_ID_RE.match(wid):
        raise RosterError(f"bad worker id {wid!r}: letters, digits, _.- (e.g. W000123)")
    return wid


def _date(value: Any, what: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RosterError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


def birth_from_id(number: str) -> tuple[date | None, str | None]:
    """Birth date and gender from an 18-digit resident ID number (digits 7-14, digit 17)."""
    if len(number) == 18 and number[:17].isdigit():
        try:
            return date(int(number[6:10]), int(number[10:12]), int(number[12:14])), \
                ("male" if int(number[16]) % 2 else "female")
        except ValueError:
            return None, None
    return None, None


class Roster:
    def __init__(self, path: str | Path, key: bytes | None = None, key_file: str | Path | None = None) -> None:
        self.path = Path(path)
        self._conn, self._key = open_private_db(self.path, key, key_file, "Roster")
        self._lock = threading.RLock()
        self._depth = 0
        self._conn.executescript("""
            CREATE TABLE IF NOT EXISTS workers (
                worker TEXT PRIMARY KEY, id_mac TEXT UNIQUE, sealed BLOB NOT NULL,
                status TEXT NOT NULL, blacklisted INTEGER NOT NULL DEFAULT 0, blacklist_reason TEXT,
                contract_end TEXT, trade TEXT, cert_valid_to TEXT, updated_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS central_sync (k TEXT PRIMARY KEY, v TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS presence (
                worker TEXT PRIMARY KEY, dir TEXT NOT NULL, ts INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS unknown_cards (
                id_mac TEXT PRIMARY KEY, sealed BLOB NOT NULL, first_ms INTEGER NOT NULL,
                last_ms INTEGER NOT NULL, reads INTEGER NOT NULL, lane TEXT,
                status TEXT NOT NULL DEFAULT 'pending', worker TEXT, decided_by TEXT,
                decided_ms INTEGER, note TEXT);
            CREATE TABLE IF NOT EXISTS registrations (
                id INTEGER PRIMARY KEY AUTOINCREMENT, worker TEXT NOT NULL, sealed BLOB NOT NULL,
                by TEXT, created_ms INTEGER NOT NULL, reported_seq INTEGER);
        """)
        self._migrate()

    def _migrate(self) -> None:
        """Roster files from before teams (or central's downlink) were kept locally get the
        columns ``team`` and ``source``; files from before
        work type and special operation were kept apart get ``special_op``, their old ``trade``
        (which meant "special trade needing a certificate") split by
        :func:`gateway.codes.classify_legacy`.  Under a write lock and re-checked inside it:
        the daemon and a CLI may open an old file at the same moment."""
        def columns() -> set[str]:
            return {r[1] for r in self._conn.execute("PRAGMA table_info(workers)")}
        if {"team", "special_op", "source"} <= columns():
            return
        with self._tx():
            have = columns()
            for column in ("team", "source"):
                if column not in have:
                    self._conn.execute(f"ALTER TABLE workers ADD COLUMN {column} TEXT")
            if "special_op" not in have:
                self._conn.execute("ALTER TABLE workers ADD COLUMN special_op TEXT")
                rows = self._conn.execute("SELECT worker, trade FROM workers WHERE trade IS NOT NULL "
                                          "AND trade != ''").fetchall()
                for wid, old in rows:
                    trade, op = classify_legacy(old)
                    self._conn.execute("UPDATE workers SET trade = ?, special_op = ? WHERE worker = ?",
                                       (trade, op, wid))
                    if op == "JZ-99":
                        log.warning("roster: worker %s: old trade %r is neither a known work type nor "
                                    "a known special trade; kept, and a certificate is still required "
                                    "(special operation JZ-99) until it is corrected", wid, old)
                if rows:
                    log.info("roster: %d worker(s) moved to separate work type / special operation", len(rows))

    @contextlib.contextmanager
    def _tx(self):
        """One write transaction (BEGIN IMMEDIATE); nested uses join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0

    def close(self) -> None:
        self._conn.close()

    def id_mac(self, id_number: str) -> str:
        h = hmac.HMAC(self._key, hashes.SM3())
        h.update(b"sitegate-id:" + id_number.strip().upper().encode())
        return h.finalize().hex()

    # ------------------------------------------------------------------ writes
    def add(self, worker_id: str, *, id_number: str | None = None, name: str | None = None,
            status: str = "active", contract_end: Any = None, trade: str | None = None,
            cert_valid_to: Any = None, birth: Any = None, gender: str | None = None,
            team: str | None = None, special_op: str | None = None) -> Worker:
        """Add a worker (or replace every field of an existing one).  ``trade`` is the work type
        (工种: code or name, e.g. ``020`` / ``钢筋工``), ``special_op`` the special operation
        needing a certificate (``JZ-01`` / ``建筑电工``), kept apart."""
        trade, special_op = check_codes(trade, special_op)
        if id_number:
            id_number = check_id(id_number)
        self._write(worker_id, id_number=id_number, name=name, status=status, contract_end=contract_end,
                    trade=trade, cert_valid_to=cert_valid_to, birth=birth, gender=gender, team=team,
                    special_op=special_op)
        return self.get(worker_id)

    def _write(self, worker_id: str, *, id_number: str | None, name: str | None, status: str,
               contract_end: Any, trade: str | None, cert_valid_to: Any, birth: Any,
               gender: str | None, team: str | None, special_op: str | None) -> None:
        """Store checked values (``add`` checks; ``update`` checks only what changes)."""
        check_worker_id(worker_id)
        if status not in STATUSES:
            raise RosterError(f"status {status!r}: one of {', '.join(STATUSES)}")
        row = self._row(worker_id, id_number, name, status, contract_end, trade, cert_valid_to, birth,
                         gender, team, special_op)
        with self._tx():
            self._upsert(row)

    def _row(self, worker_id, id_number, name, status, contract_end, trade, cert_valid_to, birth, gender,
             team, special_op: str | None = None, source: str | None = None) -> tuple:
        b, g = birth_from_id(id_number) if id_number else (None, None)
        birth_d = _date(birth, "birth") or b
        secret = {"name": name, "id_number": id_number, "birth": birth_d.isoformat() if birth_d else None,
                  "gender": gender or g}
        return (worker_id, self.id_mac(id_number) if id_number else None,
                seal(self._key, json.dumps(secret, ensure_ascii=False).encode(), worker_id.encode()),
                status, _iso(_date(contract_end, "contract_end")), trade or None,
                _iso(_date(cert_valid_to, "cert_valid_to")), time.time_ns() // 1_000_000,
                (team or "").strip() or None, special_op or None, source)

    def _upsert(self, row: tuple) -> None:
        try:
            self._conn.execute("""INSERT INTO workers (worker, id_mac, sealed, status, contract_end, trade,
                cert_valid_to, updated_ms, team, special_op, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT(worker) DO UPDATE SET id_mac=excluded.id_mac, sealed=excluded.sealed,
                status=excluded.status, contract_end=excluded.contract_end, trade=excluded.trade,
                cert_valid_to=excluded.cert_valid_to, updated_ms=excluded.updated_ms,
                team=excluded.team, special_op=excluded.special_op,
                source=COALESCE(excluded.source, workers.source)""", row)
        except sqlite3.IntegrityError:
            raise RosterError("that ID number is already on the roster under another worker id") from None

    def update(self, worker_id: str, **fields: Any) -> Worker:
        """Change only the fields given (None = keep what is there); a new ID number without a
        birth date or gender re-derives them from the number."""
        worker = self.get(worker_id)
        if worker is None:
            raise RosterError(f"worker {worker_id} is not on the roster")
        given = {k: v for k, v in fields.items() if v is not None}
        if "trade" in given or "special_op" in given:
            trade, op = check_codes(given.get("trade"), given.get("special_op"))
            given.update({k: v for k, v in (("trade", trade), ("special_op", op)) if k in given})
        if given.get("id_number"):
            given["id_number"] = check_id(given["id_number"])
        p = self.private(worker_id)
        current = {"id_number": p.get("id_number"), "name": p.get("name"), "birth": p.get("birth"),
                   "gender": p.get("gender"), "status": worker.status, "contract_end": worker.contract_end,
                   "trade": worker.trade, "cert_valid_to": worker.cert_valid_to, "team": worker.team,
                   "special_op": worker.special_op}
        if "id_number" in given:
            current["birth"] = current["gender"] = None
        unknown = set(given) - set(current)
        if unknown:
            raise RosterError(f"unknown field(s) {', '.join(sorted(unknown))}")
        self._write(worker_id, **(current | given))
        return self.get(worker_id)

    IMPORT_FIELDS = ("id_number", "name", "status", "contract_end", "trade", "special_op",
                     "cert_valid_to", "birth", "gender", "blacklisted", "blacklist_reason", "team")

    def import_records(self, records: Iterable[Mapping[str, Any]], progress=None) -> int:
        """All records or none: a bad line is an error naming it, and nothing is imported.
        ``progress(done, total)`` is told after each record (total: None for an iterator)."""
        n = 0
        total = len(records) if hasattr(records, "__len__") else None
        with self._tx():
            for i, rec in enumerate(records, 1):
                rec = dict(rec)
                try:
                    wid = rec.pop("worker_id")
                except KeyError:
                    raise RosterError(f"record {i}: worker_id missing") from None
                unknown = set(rec) - set(self.IMPORT_FIELDS)
                if unknown:
                    raise RosterError(f"record {i}: unknown field(s) {', '.join(sorted(unknown))}")
                black, why = rec.pop("blacklisted", False), rec.pop("blacklist_reason", None)
                try:
                    self.add(wid, **rec)
                    if black:
                        self.blacklist(wid, why or "listed")
                except RosterError as exc:
                    raise RosterError(f"record {i} ({wid}): {exc}") from None
                n += 1
                if progress is not None:
                    progress(n, total)
        return n

    def set_status(self, worker_id: str, status: str) -> None:
        if status not in STATUSES:
            raise RosterError(f"status {status!r}: one of {', '.join(STATUSES)}")
        self._update(worker_id, "status = ?", (status,))

    def blacklist(self, worker_id: str, reason: str, on: bool = True) -> None:
        self._update(worker_id, "blacklisted = ?, blacklist_reason = ?", (int(on), reason if on else None))

    def _update(self, worker_id: str, sql: str, args: tuple) -> None:
        with self._lock:
            n = self._conn.execute(f"UPDATE workers SET {sql}, updated_ms = ? WHERE worker = ?",
                                   (*args, time.time_ns() // 1_000_000, worker_id)).rowcount
        if not n:
            raise RosterError(f"worker {worker_id} is not on the roster")

    def remove(self, worker_id: str) -> bool:
        with self._lock:
            n = self._conn.execute("DELETE FROM workers WHERE worker = ?", (worker_id,)).rowcount
            self._conn.execute("DELETE FROM presence WHERE worker = ?", (worker_id,))
            self._conn.execute("DELETE FROM registrations WHERE worker = ? AND reported_seq IS NULL",
                               (worker_id,))
        return bool(n)

    # ------------------------------------------------------------------ unknown cards
    def note_unknown(self, identity: Mapping[str, Any], lane: str, ts_ms: int | None = None) -> dict:
        """A card was read that is not on the roster: keep it (sealed) for the labour manager's
        queue. One row per card; repeated reads count up. A rejected card stays rejected."""
        number = str(identity.get("id_number") or "").strip().upper()
        if not number:
            raise RosterError("unknown card without an ID number")
        mac, ts = self.id_mac(number), ts_ms or time.time_ns() // 1_000_000
        secret = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in identity.items()
                  if k in _CARD_FIELDS}
        secret["id_number"] = number
        sealed = seal(self._key, json.dumps(secret, ensure_ascii=False, sort_keys=True).encode(),
                      b"unknown:" + mac.encode())
        with self._lock:
            self._conn.execute("""INSERT INTO unknown_cards (id_mac, sealed, first_ms, last_ms, reads, lane)
                VALUES (?,?,?,?,1,?) ON CONFLICT(id_mac) DO UPDATE SET sealed=excluded.sealed,
                last_ms=excluded.last_ms, reads=reads+1, lane=excluded.lane,
                worker=CASE WHEN status='registered' THEN NULL ELSE worker END,
                decided_by=CASE WHEN status='registered' THEN NULL ELSE decided_by END,
                decided_ms=CASE WHEN status='registered' THEN NULL ELSE decided_ms END,
                status=CASE WHEN status='registered' THEN 'pending' ELSE status END""",
                               (mac, sealed, ts, ts, lane))
        return self.unknown(mac)

    def _unknown_row(self, row) -> dict:
        mac, sealed, first, last, reads, lane, status, worker, by, decided, note = row
        card = json.loads(open_sealed(self._key, sealed, b"unknown:" + mac.encode()))
        return {"key": mac, "card": card, "first_ms": first, "last_ms": last, "reads": reads,
                "lane": lane, "status": status, "worker": worker, "decided_by": by,
                "decided_ms": decided, "note": note}

    _UCOLS = "id_mac, sealed, first_ms, last_ms, reads, lane, status, worker, decided_by, decided_ms, note"

    def unknown(self, key: str) -> dict | None:
        row = self._conn.execute(f"SELECT {self._UCOLS} FROM unknown_cards WHERE id_mac = ?",
                                 (key,)).fetchone()
        return self._unknown_row(row) if row else None

    def unknown_cards(self, status: str | None = "pending", limit: int = 500) -> list[dict]:
        sql = f"SELECT {self._UCOLS} FROM unknown_cards"
        args: tuple = ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        rows = self._conn.execute(sql + " ORDER BY last_ms DESC LIMIT ?", (*args, limit))
        return [self._unknown_row(r) for r in rows]

    def register_unknown(self, key: str, worker_id: str, by: str, **fields: Any) -> Worker:
        """Put the card's holder on the roster (name, ID number, birth, gender from the card)
        and queue a registration for central (:meth:`registrations_to_report`), in one
        transaction: either all three happen or none."""
        with self._tx():
            u = self.unknown(key)
            if u is None:
                raise RosterError("no such unknown card (already handled?)")
            if u["status"] != "pending":
                raise RosterError(f"this card was already {u['status']}")
            check_worker_id(worker_id)
            if self.get(worker_id) is not None:
                raise RosterError(f"worker id {worker_id} is already on the roster")
            card = u["card"]
            worker = self.add(worker_id, id_number=card["id_number"], name=card.get("name"),
                              birth=card.get("birth"), gender=card.get("gender"), **fields)
            self._decide(key, "registered", by, worker=worker_id)
            self._conn.execute(
                "INSERT INTO registrations (worker, sealed, by, created_ms) VALUES (?,?,?,?)",
                (worker_id, seal(self._key, json.dumps(card, ensure_ascii=False, sort_keys=True).encode(),
                                 b"registration:" + worker_id.encode()), by, time.time_ns() // 1_000_000))
        return worker

    def registrations_to_report(self, limit: int = 100) -> list[dict]:
        """Registrations on site that central has not been sent yet, oldest first: id, worker,
        the card as read (decrypted: for the sealed registration record only), created_ms."""
        rows = self._conn.execute("SELECT id, worker, sealed, created_ms FROM registrations WHERE "
                                  "reported_seq IS NULL ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [{"id": rid, "worker": wid, "created_ms": ms,
                 "card": json.loads(open_sealed(self._key, sealed, b"registration:" + wid.encode()))}
                for rid, wid, sealed, ms in rows]

    def mark_reported(self, registration_id: int, seq: int) -> None:
        """The registration went into the outbox as record ``seq``; its sealed copy of the card
        is no longer needed here and is wiped."""
        with self._lock:
            self._conn.execute("UPDATE registrations SET reported_seq = ?, sealed = X'' WHERE id = ?",
                               (seq, registration_id))

    def registration_status(self, worker_id: str) -> int | None | bool:
        """The outbox seq the worker's latest registration went out as; None while queued;
        False when there is none."""
        row = self._conn.execute("SELECT reported_seq FROM registrations WHERE worker = ? ORDER BY id DESC "
                                 "LIMIT 1", (worker_id,)).fetchone()
        return False if row is None else row[0]

    def reject_unknown(self, key: str, by: str, note: str | None = None) -> None:
        u = self.unknown(key)
        if u is None:
            raise RosterError("no such unknown card (already handled?)")
        if u["status"] != "pending":
            raise RosterError(f"this card was already {u['status']}")
        self._decide(key, "rejected", by, note=note)

    def _decide(self, key: str, status: str, by: str, worker: str | None = None,
                note: str | None = None) -> None:
        with self._tx():
            self._conn.execute("UPDATE unknown_cards SET status=?, decided_by=?, decided_ms=?, worker=?, "
                               "note=? WHERE id_mac=?",
                               (status, by, time.time_ns() // 1_000_000, worker, note, key))

    # ------------------------------------------------------------------ central's downlink
    def central_state(self) -> dict:
        """{"version", "project", "changed_ms", "synced_ms"}: the roster version from central
        the site holds (0 = none yet), when an update last changed it and when central last
        confirmed it (an answer or push that verified)."""
        return _sync_state(dict(self._conn.execute("SELECT k, v FROM central_sync")))

    def mark_synced(self, ts_ms: int) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO central_sync VALUES ('synced_ms', ?)", (str(ts_ms),))

    def apply_central(self, *, version: int, project: str, full: bool, entries: list[dict],
                      private: Mapping[str, Mapping[str, Any]], ts_ms: int) -> list[str]:
        """Apply one verified update from central (docs/wire.md §8) in one transaction with its
        version.  An entry whose worker id or ID number does not fit this roster is skipped and
        named in the returned list; the rest apply.  A full snapshot of another project first
        marks every worker central gave us as exited (the gateway moved)."""
        problems: list[str] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                held = dict(self._conn.execute("SELECT k, v FROM central_sync"))
                if full and held.get("project") not in (None, project):
                    self._conn.execute("UPDATE workers SET status = 'exited', updated_ms = ? "
                                       "WHERE source = 'central'", (ts_ms,))
                for e in entries:
                    try:
                        self._apply_entry(e, private.get(e["worker"]))
                    except RosterError as exc:
                        problems.append(f"{e['worker']}: {exc}")
                self._conn.executemany("INSERT OR REPLACE INTO central_sync VALUES (?, ?)",
                                       [("version", str(version)), ("project", project),
                                        ("changed_ms", str(ts_ms)), ("synced_ms", str(ts_ms))])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return problems

    def _apply_entry(self, e: Mapping[str, Any], private: Mapping[str, Any] | None) -> None:
        wid = check_worker_id(e["worker"])
        row = self._conn.execute(f"SELECT {self._COLS} FROM workers WHERE worker = ?", (wid,)).fetchone()
        held = self._worker(row) if row else None
        if private is not None:
            ident = {"id_number": private.get("idCardNumber"), "name": private.get("workerName"),
                     "birth": private.get("birthDate"),
                     "gender": {"M": "male", "F": "female"}.get(private.get("gender") or "")}
        elif held is not None:
            p = json.loads(open_sealed(self._key, row[1], wid.encode()))
            ident = {"id_number": p.get("id_number"), "name": p.get("name"), "birth": p.get("birth"),
                     "gender": p.get("gender")}
        else:
            ident = {"id_number": None, "name": None, "birth": None, "gender": None}
        if e.get("exit"):
            status = "exited"
        else:
            status = "suspended" if held is not None and held.status == "suspended" else "active"
        trade = held.trade if held else None
        if e.get("workType"):                 # central's 工种 code (the same national table)
            try:
                trade = check_codes(e["workType"], None)[0]
            except RosterError:
                log.warning("roster: central's work type %r for %s is not in the table; kept %r",
                            e["workType"], wid, trade)
        self._upsert(self._row(wid, ident["id_number"], ident["name"], status, e.get("contractEnd"),
                               trade, e.get("certValidTo"), ident["birth"], ident["gender"],
                               e.get("teamName"), held.special_op if held else None,
                               source="central"))
        black = e["status"] == "blacklisted"
        if black or (held is not None and held.blacklisted and held.blacklist_reason == CENTRAL_BLACKLIST):
            self._conn.execute("UPDATE workers SET blacklisted = ?, blacklist_reason = ? WHERE worker = ?",
                               (int(black), CENTRAL_BLACKLIST if black else None, wid))

    def version(self) -> tuple:
        """Changes whenever a worker is added, changed or removed (for caches)."""
        # data_version moves on commits by other connections (another process), total_changes
        # on ours; together they catch two changes within one millisecond as well
        data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        return (data_version, self._conn.total_changes,
                *self._conn.execute("SELECT COUNT(*), MAX(updated_ms) FROM workers").fetchone())

    # ------------------------------------------------------------------ reads
    _COLS = ("worker, sealed, status, blacklisted, blacklist_reason, contract_end, trade, cert_valid_to, "
             "team, special_op")

    def _worker(self, row) -> Worker:
        wid, sealed, status, black, why, contract, trade, cert, team, op = row
        secret = json.loads(open_sealed(self._key, sealed, wid.encode()))
        return Worker(worker_id=wid, status=status, blacklisted=bool(black), blacklist_reason=why,
                      contract_end=_date(contract, "contract_end"), trade=trade,
                      cert_valid_to=_date(cert, "cert_valid_to"), birth=_date(secret.get("birth"), "birth"),
                      gender=secret.get("gender"), team=team, special_op=op)

    def get(self, worker_id: str) -> Worker | None:
        row = self._conn.execute(f"SELECT {self._COLS} FROM workers WHERE worker = ?", (worker_id,)).fetchone()
        return self._worker(row) if row else None

    def by_id_number(self, id_number: str) -> Worker | None:
        row = self._conn.execute(f"SELECT {self._COLS} FROM workers WHERE id_mac = ?",
                                 (self.id_mac(id_number),)).fetchone()
        return self._worker(row) if row else None

    def private(self, worker_id: str) -> dict[str, Any]:
        """Decrypted name / ID number (for screens: mask before showing)."""
        row = self._conn.execute("SELECT sealed FROM workers WHERE worker = ?", (worker_id,)).fetchone()
        if not row:
            raise RosterError(f"worker {worker_id} is not on the roster")
        return json.loads(open_sealed(self._key, row[0], worker_id.encode()))

    def workers(self) -> list[Worker]:
        return [self._worker(r) for r in self._conn.execute(f"SELECT {self._COLS} FROM workers ORDER BY worker")]

    # ------------------------------------------------------------------ anti-passback state
    def last_direction(self, worker_id: str) -> str | None:
        row = self._conn.execute("SELECT dir FROM presence WHERE worker = ?", (worker_id,)).fetchone()
        return row[0] if row else None

    def record_passage(self, worker_id: str, direction: str, ts_ms: int) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO presence (worker, dir, ts) VALUES (?,?,?) ON CONFLICT(worker) "
                               "DO UPDATE SET dir = excluded.dir, ts = excluded.ts", (worker_id, direction, ts_ms))


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def read_central_state(path: str | Path) -> dict | None:
    """``Roster.central_state`` read-only and without the roster's key (for status, doctor and
    screens); None when there is no roster file yet."""
    path = Path(path)
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        try:
            meta = dict(conn.execute("SELECT k, v FROM central_sync"))
        except sqlite3.OperationalError:          # a roster from before the downlink
            meta = {}
    finally:
        conn.close()
    return _sync_state(meta)


def _sync_state(meta: Mapping[str, str]) -> dict:
    return {"version": int(meta.get("version", 0)), "project": meta.get("project"),
            "changed_ms": int(meta["changed_ms"]) if "changed_ms" in meta else None,
            "synced_ms": int(meta["synced_ms"]) if "synced_ms" in meta else None}
