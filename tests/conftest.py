"""Shared fixtures: real Mosquitto brokers on free ports, fresh homes, fresh databases."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port}")


class Mosquitto:
    """A real mosquitto process with its own config; stop()/start() keep the same port."""

    def __init__(self, workdir: Path, extra: str = "", port: int | None = None,
                 tls: dict | None = None) -> None:
        if not os.path.exists(MOSQUITTO):
            raise RuntimeError("mosquitto is not installed: apt-get install -y mosquitto "
                               "(make test does this)")
        self.dir = workdir
        self.port = port or free_port()
        self.conf = workdir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false",
                 f"log_dest file {workdir / 'mosquitto.log'}", "log_type error",
                 "log_type warning"]
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        if os.geteuid() == 0:
            lines.append("user root")         # keep access to the test's private tmp files
        if "allow_anonymous" not in extra and "password_file" not in extra:
            lines.append("allow_anonymous true")
        self.conf.write_text("\n".join(lines) + "\n" + extra + "\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(self.port)
        except TimeoutError:
            err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
            raise RuntimeError(f"mosquitto did not start: {err}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this run, dropped afterwards."""
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


def sitegate_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


def central_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "central.cli", *args]
