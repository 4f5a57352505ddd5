"""Schema migrations (Alembic), run by ``Store(url)`` itself.

* a fresh database is upgraded to ``HEAD``;
* a database made before migrations existed (the spine's four tables, no ``alembic_version``)
  is stamped ``0001`` and upgraded;
* a database already at ``HEAD`` costs one SELECT.
On PostgreSQL an advisory lock makes several workers starting at once take turns.
New revision: ``python -m central.migrate revision "message"`` (autogenerates against a
scratch SQLite database at HEAD).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent / "migrations"
HEAD = "0007"


def _config(conn, metadata=None):
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    if metadata is not None:
        cfg.attributes["metadata"] = metadata
    return cfg


def upgrade(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(60607)"))
        tables = set(sa.inspect(conn).get_table_names())
        if "alembic_version" in tables:
            if conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD:
                return
        from alembic import command
        cfg = _config(conn)
        if "alembic_version" not in tables and "gateways" in tables:
            command.stamp(cfg, "0001")
        command.upgrade(cfg, "head")


def main(argv: list[str]) -> None:  # pragma: no cover - developer tool
    from alembic import command
    if len(argv) != 2 or argv[0] != "revision":
        raise SystemExit('usage: python -m central.migrate revision "message"')
    from central.tables import metadata
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{tmp}/scratch.db")
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
            command.revision(_config(conn, metadata), message=argv[1], autogenerate=True)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
