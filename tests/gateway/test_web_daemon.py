"""`sitegate run` with [web] on, as a real process: the web app over TLS shows what the daemon
commits (the ledger follower), the daemon's health and the month's sheet; an unsafe [web]
setting stops the daemon before it opens anything."""
from __future__ import annotations

import csv
import io
import os
import signal
import ssl
import subprocess
import time

import httpx

from gateway import keys
from gateway.config import load
from gateway.tls import make_cert
from gateway.web.accounts import Accounts
from procs import sitegate_cmd
from spine import wait_for
from test_phone_daemon import free_port


def write_site(tmp_path, home, body: str):
    site = tmp_path / "site.toml"
    site.write_text(body)
    return site, load(site, home)


def test_daemon_serves_the_web_app(home, tmp_path, mosquitto):
    port = free_port()
    site, cfg = write_site(tmp_path, home, f"""
[gateway]
id = "gw-web-daemon"
project = "P-D"
[broker]
url = "{mosquitto.url}"
[simulate]
records = 40
rate = 400
workers = 10
[web]
listen = "0.0.0.0"
port = {port}
cert = "web/cert.pem"
key = "web/key.pem"
""")
    keys.generate(cfg.key_file)
    make_cert(cfg.web.cert, cfg.web.key)
    acc = Accounts(cfg.web.accounts)
    acc.add("boss", "manager", "manager-pass-1")
    acc.close()
    env = dict(os.environ, SITEGATE_HOME=str(home))
    proc = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stderr=subprocess.PIPE, text=True)
    try:
        client = httpx.Client(base_url=f"https://127.0.0.1:{port}", timeout=10,
                              verify=ssl.create_default_context(cafile=str(cfg.web.cert)))

        def up():
            try:
                return client.get("/login").status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(up, 30, "the web app")
        r = client.post("/login", data={"user": "boss", "password": "manager-pass-1"})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()

        def indexed():          # the daemon's ledger follower has all 40 records
            return int(_text(client.get("/"), 'id="entries">')) + \
                int(_text(client.get("/"), 'id="exits">')) == 40
        wait_for(indexed, 30, "the ledger follower")
        month = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))
        rows = list(csv.reader(io.StringIO(client.get(f"/sheet/{month}.csv").text.lstrip("\ufeff"))))
        assert len(rows[2:]) == 10 and sum(int(r[-1]) for r in rows[2:]) == 10   # 10 workers, 1 day each
        wait_for(lambda: 'class="ok" id="daemon-state"' in client.get("/devices").text, 20,
                 "the daemon's health on the devices page")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "manager-pass-1" not in err


def _text(resp, marker: str) -> str:
    assert resp.status_code == 200
    return resp.text.split(marker, 1)[1].split("<", 1)[0]


def test_daemon_refuses_web_in_clear_on_the_network(home, tmp_path, mosquitto):
    site, cfg = write_site(tmp_path, home, f"""
[gateway]
id = "gw-web-daemon"
[broker]
url = "{mosquitto.url}"
[web]
listen = "0.0.0.0"
""")
    keys.generate(cfg.key_file)
    env = dict(os.environ, SITEGATE_HOME=str(home))
    r = subprocess.run(sitegate_cmd("run", "-c", str(site)), env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "cert and key" in r.stderr and "allow_plain_http" in r.stderr
    assert not cfg.outbox_path.exists()              # nothing was opened


def test_busy_web_port_does_not_stop_attendance(home, tmp_path, mosquitto):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        site, cfg = write_site(tmp_path, home, f"""
[gateway]
id = "gw-web-busy"
[broker]
url = "{mosquitto.url}"
[simulate]
records = 20
rate = 200
[web]
listen = "127.0.0.1"
port = {port}
""")
        keys.generate(cfg.key_file)
        env = dict(os.environ, SITEGATE_HOME=str(home))
        proc = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stderr=subprocess.PIPE,
                                text=True)
        try:
            def made_all():
                out = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"), env=env,
                                     capture_output=True, text=True)
                return out.returncode in (0, 1) and '"head_seq": 20' in out.stdout
            wait_for(made_all, 30, "the daemon to record all 20 clock-ins")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in err and "runs on without the web app" in err
