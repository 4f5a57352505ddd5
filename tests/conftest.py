"""Shared fixtures: real Mosquitto brokers on free ports, fresh homes, fresh databases."""
from __future__ import annotations

import uuid

import pytest

from brokers import Mosquitto


@pytest.fixture
def mosquitto(tmp_path):
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker")
    yield broker
    broker.stop()


@pytest.fixture
def make_mosquitto(tmp_path):
    made = []

    def make(extra: str = "", **kw) -> Mosquitto:
        d = tmp_path / f"broker{len(made)}"
        d.mkdir()
        broker = Mosquitto(d, extra, **kw)
        made.append(broker)
        return broker

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh SITEGATE_HOME for the test (and its subprocesses)."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("SITEGATE_HOME", str(h))
    return h


def _postgres_available() -> bool:
    try:
        import psycopg
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001
        return False


def _fresh_postgres():
    if not _postgres_available():
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432 on this machine")
    import psycopg
    name = f"sitegate_test_{uuid.uuid4().hex[:10]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this run, dropped afterwards (tests that share it use
    names of their own)."""
    yield from _fresh_postgres()


@pytest.fixture
def postgres_db():
    """A fresh PostgreSQL database for this one test, dropped afterwards: for tests that count
    rows or assume an empty registry."""
    yield from _fresh_postgres()


def pytest_collection_modifyitems(items):
    """schemathesis gives every API operation's item the same node id (the test's); pytest-xdist
    schedules by node id, so all but one operation would silently not run. Each item gets its
    operation in its id, as its name already has."""
    for item in items:
        if type(item).__name__ == "SchemathesisFunction" and "[" not in item.nodeid:
            unique = f"{item.nodeid}[{item.name.partition('[')[2]}"
            try:                                   # pytest >= 9 keeps a structured id
                from _pytest.nodeid import NodeId
                item._id = NodeId.parse(unique)
            except ImportError:
                item._nodeid = unique
