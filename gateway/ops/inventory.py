"""What is in a gateway's SQLite files, read-only: each database's tables and row counts, for an
installer (and the demo's summary) without a chance of changing anything.

sqlite-utils does the reading (its table listing and counts) over a connection SQLite opened
with ``mode=ro``: a file that is not there is reported missing rather than created, and a
running daemon's files are read under WAL without blocking it.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DatabaseInfo:
    path: Path
    exists: bool
    bytes: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict:
        return {"path": str(self.path), "exists": self.exists, "bytes": self.bytes,
                "tables": self.tables, "error": self.error}


def inspect(path: str | Path) -> DatabaseInfo:
    """Tables and row counts of one SQLite file, opened read-only."""
    import sqlite_utils
    path = Path(path)
    if not path.is_file():
        return DatabaseInfo(path, False)
    info = DatabaseInfo(path, True, path.stat().st_size)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        db = sqlite_utils.Database(conn)
        info.tables = {t.name: t.count for t in db.tables if not t.name.startswith("sqlite_")}
    except sqlite3.DatabaseError as exc:
        info.error = str(exc)
    finally:
        conn.close()
    return info


def site_databases(cfg) -> dict[str, Path]:
    """The gateway's SQLite files by role, as its configuration places them."""
    from gateway.ledger.site_data import ledger_path
    return {"outbox": cfg.outbox_path, "roster": cfg.roster.path, "ledger": ledger_path(cfg),
            "web accounts": cfg.web.accounts, "phone": cfg.phone_db, "face templates": cfg.faces.store}


def inventory(cfg) -> dict[str, DatabaseInfo]:
    return {role: inspect(path) for role, path in site_databases(cfg).items()}
