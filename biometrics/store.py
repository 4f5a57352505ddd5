"""Template store: SQLite, each 128-d template SM4-GCM sealed and bound to its worker id.

Nothing but the worker id is in clear. ``remove`` deletes the rows and VACUUMs so the
ciphertext does not linger in free pages (secure_delete is on as well).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from .crypto import open_private_db, open_sealed, seal
from .matching import DIM, Gallery


class TemplateStore:
    def __init__(self, path: str | Path, key: bytes | None = None, key_file: str | Path | None = None) -> None:
        self.path = Path(path)
        self._conn, self._key = open_private_db(self.path, key, key_file, "TemplateStore")
        self._lock = threading.Lock()
        self._conn.execute("""CREATE TABLE IF NOT EXISTS templates (
            id INTEGER PRIMARY KEY, worker TEXT NOT NULL, created_ms INTEGER NOT NULL,
            sealed BLOB NOT NULL)""")
        self._conn.execute("CREATE INDEX IF NOT EXISTS templates_worker ON templates(worker)")

    def close(self) -> None:
        self._conn.close()

    @staticmethod
    def _aad(worker_id: str) -> bytes:
        return b"sitegate-template-v1:" + worker_id.encode()

    def add(self, worker_id: str, encodings: list[np.ndarray], replace: bool = True) -> int:
        blobs = [seal(self._key, np.asarray(e, "<f4").reshape(DIM).tobytes(), self._aad(worker_id))
                 for e in encodings]
        now = time.time_ns() // 1_000_000
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if replace:
                    self._conn.execute("DELETE FROM templates WHERE worker = ?", (worker_id,))
                self._conn.executemany("INSERT INTO templates (worker, created_ms, sealed) VALUES (?, ?, ?)",
                                       [(worker_id, now, b) for b in blobs])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(blobs)

    def remove(self, worker_id: str) -> int:
        with self._lock:
            n = self._conn.execute("DELETE FROM templates WHERE worker = ?", (worker_id,)).rowcount
            if n:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.execute("VACUUM")
        return n

    def version(self) -> tuple:
        """Changes whenever templates are added or removed (for galleries and screens)."""
        return self._conn.execute("SELECT COUNT(*), MAX(id) FROM templates").fetchone()

    def workers(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT worker FROM templates ORDER BY worker")]

    def count(self, worker_id: str) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM templates WHERE worker = ?", (worker_id,)).fetchone()[0]

    def templates(self, worker_id: str | None = None) -> dict[str, list[np.ndarray]]:
        """Decrypted templates by worker; raises SealError on any tampered row."""
        q = "SELECT worker, sealed FROM templates"
        args: tuple = ()
        if worker_id is not None:
            q, args = q + " WHERE worker = ?", (worker_id,)
        out: dict[str, list[np.ndarray]] = {}
        for wid, blob in self._conn.execute(q + " ORDER BY id", args):
            raw = open_sealed(self._key, blob, self._aad(wid))
            out.setdefault(wid, []).append(np.frombuffer(raw, "<f4").astype(np.float32))
        return out

    def gallery(self) -> Gallery:
        return Gallery(self.templates())
