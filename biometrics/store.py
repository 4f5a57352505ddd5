"""Template store: SQLite, each template SM4-GCM sealed and bound to its worker, its model and
its source.

Nothing but the worker id, the model name (``mobilefacenet`` | ``dlib``), the source
(``enrol``: from enrolment photos; ``pass``: learned from a certain pass at the lane) and the
time are in clear. Rows written before models existed are dlib enrolment templates (sealed
with the v1 binding) and keep opening. ``remove`` deletes the rows and VACUUMs so the
ciphertext does not linger in free pages (secure_delete is on as well).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from .crypto import open_private_db, open_sealed, seal
from .matching import METRICS, Gallery

DIMS = {"mobilefacenet-v2": 192, "mobilefacenet": 192, "dlib": 128}   # first of a dimension: the default
SOURCES = ("enrol", "pass")


def model_of_dim(dim: int) -> str:
    for name, d in DIMS.items():
        if d == dim:
            return name
    raise ValueError(f"no face model makes {dim}-d templates")


class TemplateStore:
    def __init__(self, path: str | Path, key: bytes | None = None, key_file: str | Path | None = None) -> None:
        self.path = Path(path)
        self._conn, self._key = open_private_db(self.path, key, key_file, "TemplateStore")
        self._lock = threading.Lock()
        self._conn.execute("""CREATE TABLE IF NOT EXISTS templates (
            id INTEGER PRIMARY KEY, worker TEXT NOT NULL, created_ms INTEGER NOT NULL,
            sealed BLOB NOT NULL)""")
        cols = {r[1] for r in self._conn.execute("PRAGMA table_info(templates)")}
        with self._lock:
            for name, decl in (("model", "TEXT NOT NULL DEFAULT 'dlib'"),
                               ("source", "TEXT NOT NULL DEFAULT 'enrol'"),
                               ("binding", "INTEGER NOT NULL DEFAULT 1")):
                if name not in cols:
                    self._conn.execute(f"ALTER TABLE templates ADD COLUMN {name} {decl}")
        self._conn.execute("CREATE INDEX IF NOT EXISTS templates_worker ON templates(worker)")

    def close(self) -> None:
        self._conn.close()

    @staticmethod
    def _aad(worker_id: str, model: str = "dlib", source: str = "enrol", binding: int = 2) -> bytes:
        if binding == 1:                      # rows from before models: dlib enrolment templates
            return b"sitegate-template-v1:" + worker_id.encode()
        return f"sitegate-template-v2:{model}:{source}:".encode() + worker_id.encode()

    def _blob(self, worker_id: str, e: np.ndarray, model: str, source: str) -> bytes:
        x = np.asarray(e, "<f4").ravel()
        if x.shape[0] != DIMS[model]:
            raise ValueError(f"a {model} template has {DIMS[model]} values, not {x.shape[0]}")
        return seal(self._key, x.tobytes(), self._aad(worker_id, model, source))

    def add(self, worker_id: str, encodings: list[np.ndarray], replace: bool = True,
            model: str | None = None) -> int:
        """Enrolment templates. ``replace`` drops every earlier template of the worker (all
        models, learned ones too). ``model`` defaults to the one whose dimension matches."""
        if not encodings:
            return 0
        model = model or model_of_dim(np.asarray(encodings[0]).size)
        blobs = [self._blob(worker_id, e, model, "enrol") for e in encodings]
        now = time.time_ns() // 1_000_000
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if replace:
                    self._conn.execute("DELETE FROM templates WHERE worker = ?", (worker_id,))
                self._conn.executemany(
                    "INSERT INTO templates (worker, created_ms, sealed, model, source, binding) "
                    "VALUES (?, ?, ?, ?, 'enrol', 2)", [(worker_id, now, b, model) for b in blobs])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(blobs)

    def learn(self, worker_id: str, encoding: np.ndarray, model: str, keep: int,
              now_ms: int | None = None) -> list[int]:
        """Add one template learned from a pass; keep at most ``keep`` learned templates of this
        worker and model (the oldest go). Returns the ids of the rows it replaced."""
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        blob = self._blob(worker_id, encoding, model, "pass")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("INSERT INTO templates (worker, created_ms, sealed, model, source, binding) "
                                   "VALUES (?, ?, ?, ?, 'pass', 2)", (worker_id, now, blob, model))
                rows = [r[0] for r in self._conn.execute(
                    "SELECT id FROM templates WHERE worker = ? AND model = ? AND source = 'pass' "
                    "ORDER BY created_ms DESC, id DESC", (worker_id, model))]
                old = rows[max(keep, 0):]
                self._conn.executemany("DELETE FROM templates WHERE id = ?", [(i,) for i in old])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return old

    def age_out(self, older_than_ms: int) -> list[tuple[str, str]]:
        """Delete learned templates created before ``older_than_ms`` (enrolment templates stay).
        Returns (worker, model) of each deleted row."""
        with self._lock:
            rows = self._conn.execute("SELECT id, worker, model FROM templates WHERE source = 'pass' "
                                      "AND created_ms < ?", (older_than_ms,)).fetchall()
            self._conn.executemany("DELETE FROM templates WHERE id = ?", [(r[0],) for r in rows])
        return [(w, m) for _, w, m in rows]

    def drop_model(self, worker_id: str, model: str) -> int:
        """Delete one model's templates of a worker (a site that moved on from ``model``)."""
        with self._lock:
            return self._conn.execute("DELETE FROM templates WHERE worker = ? AND model = ?",
                                      (worker_id, model)).rowcount

    def remove(self, worker_id: str) -> int:
        with self._lock:
            n = self._conn.execute("DELETE FROM templates WHERE worker = ?", (worker_id,)).rowcount
            if n:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.execute("VACUUM")
        return n

    def version(self) -> tuple:
        """Changes whenever templates are added or removed (for galleries and screens)."""
        return self._conn.execute("SELECT COUNT(*), MAX(id), SUM(id) FROM templates").fetchone()

    def workers(self, model: str | None = None) -> list[str]:
        args: tuple[str, ...]
        q, args = "SELECT DISTINCT worker FROM templates", ()
        if model:
            q, args = q + " WHERE model = ?", (model,)
        return [r[0] for r in self._conn.execute(q + " ORDER BY worker", args)]

    def count(self, worker_id: str, model: str | None = None) -> int:
        args: tuple[str, ...]
        q, args = "SELECT COUNT(*) FROM templates WHERE worker = ?", (worker_id,)
        if model:
            q, args = q + " AND model = ?", args + (model,)
        return self._conn.execute(q, args).fetchone()[0]

    def models(self) -> dict[str, int]:
        """Model → number of workers with templates of it."""
        return dict(self._conn.execute("SELECT model, COUNT(DISTINCT worker) FROM templates GROUP BY model"))

    def summary(self) -> list[dict]:
        """Template and worker counts by model and source (nothing decrypted)."""
        return [{"model": m, "source": s, "templates": n, "workers": w} for m, s, n, w in self._conn.execute(
            "SELECT model, source, COUNT(*), COUNT(DISTINCT worker) FROM templates GROUP BY model, source "
            "ORDER BY model, source")]

    def rows(self, worker_id: str) -> list[dict]:
        """What is stored for a worker, without decrypting: id, model, source, created_ms."""
        return [{"id": i, "model": m, "source": s, "created_ms": c} for i, m, s, c in self._conn.execute(
            "SELECT id, model, source, created_ms FROM templates WHERE worker = ? ORDER BY id", (worker_id,))]

    def templates(self, worker_id: str | None = None, model: str | None = None,
                  source: str | None = None) -> dict[str, list[np.ndarray]]:
        """Decrypted templates by worker; raises SealError on any tampered row (a row whose
        model or source column was changed fails too: both are bound into the seal)."""
        q = "SELECT worker, sealed, model, source, binding FROM templates WHERE 1=1"
        args: tuple = ()
        for col, val in (("worker", worker_id), ("model", model), ("source", source)):
            if val is not None:
                q, args = q + f" AND {col} = ?", args + (val,)
        out: dict[str, list[np.ndarray]] = {}
        for wid, blob, m, src, binding in self._conn.execute(q + " ORDER BY id", args):
            raw = open_sealed(self._key, blob, self._aad(wid, m, src, binding))
            out.setdefault(wid, []).append(np.frombuffer(raw, "<f4").astype(np.float32))
        return out

    def gallery(self, model: str) -> Gallery:
        if model not in METRICS:
            raise ValueError(f"unknown face model {model!r}")
        return Gallery(self.templates(model=model), model=model)
