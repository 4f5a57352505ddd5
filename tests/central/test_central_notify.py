"""`sitegate-central run` under systemd (Type=notify): READY=1 only once it is subscribed to the
broker, STOPPING=1 on SIGTERM -- a real process talking to a real unix datagram socket."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

from procs import central_cmd
from uplink.wire import topic


def test_central_says_ready_once_subscribed(tmp_path, mosquitto):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = str(tmp_path / "notify")
    srv.bind(addr)
    srv.settimeout(30)
    env = dict(os.environ, SITEGATE_HOME=str(tmp_path / "home"), NOTIFY_SOCKET=addr)
    proc = subprocess.Popen(central_cmd("run", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--broker",
                                        mosquitto.url), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = srv.recv(4096).decode()
        assert first.startswith("READY=1\n") and f"receiving on mqtt://127.0.0.1:{mosquitto.port}" in first
        # subscribed before it said so: a block published right now reaches it (and, being
        # garbage, is counted as rejected)
        import paho.mqtt.publish as publish
        publish.single(topic("gw-nobody", "blocks"), b"not a block", qos=1, hostname="127.0.0.1",
                       port=mosquitto.port)
        deadline = time.monotonic() + 20
        while "rejected blocks 0" in (status := _status(srv, deadline)):
            pass                     # statuses sent before the block was taken say 0
        assert "rejected blocks 1" in status
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    msgs = []
    srv.settimeout(2)
    try:
        while True:
            msgs.append(srv.recv(4096).decode())
    except socket.timeout:
        pass
    srv.close()
    assert proc.returncode == 0 and "STOPPING=1" in msgs
    assert json.loads(out.strip().splitlines()[-1])["counters"]["rejected"] == 1


def _status(srv, deadline: float) -> str:
    srv.settimeout(max(0.1, deadline - time.monotonic()))
    return srv.recv(4096).decode()


def test_central_ready_even_without_broker_says_so(tmp_path):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = str(tmp_path / "notify")
    srv.bind(addr)
    srv.settimeout(45)
    with socket.socket() as s:                  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SITEGATE_HOME=str(tmp_path / "home"), NOTIFY_SOCKET=addr)
    proc = subprocess.Popen(central_cmd("run", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--broker",
                                        f"mqtt://127.0.0.1:{port}", "--ready-wait-s", "2"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        msg = srv.recv(4096).decode()
        assert msg.startswith("READY=1\n") and "not reachable yet" in msg
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        srv.close()
