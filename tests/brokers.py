"""Real Mosquitto brokers on free ports, for tests and benchmarks."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

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


