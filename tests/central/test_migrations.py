"""Alembic migrations: Store(url) creates or upgrades the schema by itself, on SQLite and
PostgreSQL; the migrations produce exactly the tables the code declares."""
from __future__ import annotations

import threading
import uuid

import psycopg
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from central import migrate
from central.store import Store
from central.tables import blocks, gateways, metadata, records, rejections


def _diff(store: Store) -> list:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                metadata)


def test_head_constant_matches_the_scripts():
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.HERE))
    assert ScriptDirectory.from_config(cfg).get_current_head() == migrate.HEAD


def test_fresh_sqlite_matches_the_code(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert _diff(store) == []
    Store(f"sqlite:///{tmp_path / 'fresh.db'}")                # already at head: no-op


def test_pre_migration_database_is_upgraded_keeping_its_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.MetaData()
    for t in (records, blocks, rejections):
        t.to_metadata(old)
    later = {"replays", "last_replay_at", "parked_expired", "last_parked_expired_at"}  # 0007
    spine_gateways = sa.Table("gateways", old,
                              *[c.copy() for c in gateways.columns if c.name not in later])
    engine = sa.create_engine(url)
    old.create_all(engine)                                     # how the spine made databases
    with engine.begin() as conn:
        conn.execute(spine_gateways.insert().values(gw_id="gw-old", public_key="k" * 128, enabled=True,
                                              created_at=1, head_seq=0, head_hash="0" * 64))
    engine.dispose()
    store = Store(url)
    assert store.gateway("gw-old")["public_key"] == "k" * 128
    assert _diff(store) == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == \
            migrate.HEAD


def test_postgres_fresh_database_and_concurrent_starts():
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(admin, connect_timeout=2).close()
    except Exception:  # noqa: BLE001
        import pytest
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432 on this machine")
    name = f"sitegate_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        errors, stores = [], []

        def start():
            try:
                stores.append(Store(url))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        threads = [threading.Thread(target=start) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(stores) == 3
        assert _diff(stores[0]) == []
        for s in stores:
            s.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
