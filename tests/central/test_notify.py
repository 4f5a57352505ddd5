"""Warnings reach the parties configured for the region through Apprise: a real HTTP server
(JSON webhook) and a real SMTP server (aiosmtpd) on 127.0.0.1, started by the test.  Seed 000
art. 21: pushed to the client, contractor, subcontractor or project lead; escalations go to the
authority.  A target that fails keeps the notification pending until it goes out."""
from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from central.cli import main
from central.notify import Notifier, add_target, list_targets, outbox
from central.tables import notify_targets
from central.store import Store
from month import Central, register_project

D = dt.date


class Hook:
    """A JSON webhook on 127.0.0.1 that records what it receives (and can refuse)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []
        self.status = 200
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.got.append((self.path, json.loads(body)))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.server = HTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def smtp():
    mails = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            mails.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
            return "250 OK"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, mails
    ctl.stop()


@pytest.fixture
def c(tmp_path):
    return Central(Store(f"sqlite:///{tmp_path / 'n.db'}"))


def test_seed000_art21_warnings_go_to_the_region_parties_over_http_and_smtp(c, hook, smtp):
    port, mails = smtp
    contractor = f"json://127.0.0.1:{hook.port}/contractor-key-123"
    add_target(c.store, c.cipher, "45", "contractor", contractor)
    add_target(c.store, c.cipher, "45", "client", f"json://127.0.0.1:{hook.port}/client")
    add_target(c.store, c.cipher, "*", "authority",
               f"mailto://127.0.0.1:{port}?from=central@example.com&to=rsj@example.com"
               "&mode=insecure")
    add_target(c.store, c.cipher, "43", "contractor", f"json://127.0.0.1:{hook.port}/hunan")
    with c.store.engine.connect() as conn:          # webhook keys are not stored in clear
        stored = " ".join(r.urlEnc + r.urlMasked for r in conn.execute(sa.select(notify_targets)))
    assert "contractor-key-123" not in stored and "json://1***" in stored
    register_project(c, "GX-N", n_workers=1)
    c.warn.notifier = Notifier(c.store, c.cipher)
    stats = c.warn.evaluate(D(2026, 3, 7), ["GX-N"])                   # W04 opens
    assert stats["notified"] == 1
    # Guangxi pushes to every party of art. 21 that has a target; Hunan's target hears nothing
    assert sorted(p for p, _ in hook.got) == ["/client", "/contractor-key-123"]
    msg = hook.got[0][1]
    assert "W04" in msg["title"] and "GX-N" in msg["title"]
    assert "处置期限 2026-03-22" in msg["message"] and "施工总承包单位" in msg["message"]
    assert "人社部发〔2021〕65号" in msg["message"]                         # its source
    c.warn.evaluate(D(2026, 3, 21), ["GX-N"])                          # W07: the client's
    w07 = [(p, m) for p, m in hook.got if "W07" in m["title"]]
    assert sorted(p for p, _ in w07) == ["/client", "/contractor-key-123"]
    assert "责任方 建设单位" in w07[0][1]["message"]                    # art. 17: the client
    assert mails == []
    c.warn.evaluate(D(2026, 3, 23), ["GX-N"])                          # W04 overdue
    c.warn.evaluate(D(2026, 3, 30), ["GX-N"])                          # W04 escalated
    assert len(mails) == 1 and mails[0][0] == ["rsj@example.com"]
    assert "W04" in mails[0][1]
    assert {n["status"] for n in outbox(c.store)} == {"sent"}


def test_a_failing_target_keeps_the_notification_pending_until_it_goes_out(c, hook):
    add_target(c.store, c.cipher, "45", "contractor", f"json://127.0.0.1:{hook.port}/c")
    register_project(c, "GX-F", n_workers=1)
    hook.status = 500
    notifier = Notifier(c.store, c.cipher)
    c.warn.notifier = notifier
    stats = c.warn.evaluate(D(2026, 3, 7), ["GX-F"])
    assert stats["notified"] == 0
    (note,) = outbox(c.store)
    assert note["status"] == "pending" and note["attempts"] == 1 and note["lastError"]
    hook.status = 200
    assert notifier.send_pending() == 1
    assert outbox(c.store)[0]["status"] == "sent"
    assert notifier.send_pending() == 0                              # sent once


def test_no_target_in_the_region_queues_nothing(c, hook):
    add_target(c.store, c.cipher, "43", "contractor", f"json://127.0.0.1:{hook.port}/hn")
    register_project(c, "GX-Q", n_workers=1)
    c.warn.evaluate(D(2026, 3, 7), ["GX-Q"])
    assert outbox(c.store) == [] and hook.got == []


def test_notify_cli_reads_the_url_from_stdin_and_never_prints_it(tmp_path, monkeypatch, hook):
    key = "11" * 32
    monkeypatch.setenv("SITEGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SITEGATE_CENTRAL_KEY", key)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    url = f"json://127.0.0.1:{hook.port}/secret-token-9"
    run = CliRunner().invoke
    r = run(main, ["notify", "add", "--region", "45", "--party", "contractor", "--db", db],
            input=url + "\n")
    assert r.exit_code == 0, r.output
    r = run(main, ["notify", "list", "--json", "--db", db])
    assert "secret-token-9" not in r.output and json.loads(r.output)[0]["party"] == "contractor"
    r = run(main, ["notify", "add", "--region", "xx", "--party", "client", "--db", db],
            input=url + "\n")
    assert r.exit_code == 1 and "region" in r.output
    assert len(list_targets(Store(db))) == 1
