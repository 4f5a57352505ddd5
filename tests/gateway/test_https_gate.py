"""The pages' shared server (gateway/https.py) on a real TLS socket on 127.0.0.1, with short
deadlines: slow-loris on the handshake, the headers and the body; the connection cap; a
failing handler.  Plus the gate's decisions as plain data."""
from __future__ import annotations

import json
import socket
import ssl
import time

import pytest
from fastapi import FastAPI, Request

from gateway.https import Gate, HTTPSServer, Limits, connection_cap
from gateway.tls import make_cert

SHORT = Limits(max_connections=16, idle_s=1.0, body_s=1.5, busy_s=5.0, max_body=64 * 1024)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("https-gate")
    make_cert(root / "cert.pem", root / "key.pem")
    api = FastAPI()

    @api.post("/echo")
    async def echo(request: Request):
        return {"size": len(await request.body())}

    async def app(scope, receive, send):           # an application that fails outright
        if scope["type"] == "http" and scope["path"] == "/boom":
            raise RuntimeError("secret detail")
        await api(scope, receive, send)

    srv = HTTPSServer(app, "127.0.0.1", 0, root / "cert.pem", root / "key.pem", SHORT).start()
    srv.ctx = ssl.create_default_context(cafile=str(root / "cert.pem"))
    yield srv
    srv.close()


def tls(srv) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    return srv.ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def read_answer(s) -> bytes:
    data = b""
    try:
        while True:
            part = s.recv(65536)
            if not part:
                return data
            data += part
    except (OSError, ssl.SSLError):
        return data


def closed_within(s: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Does the server close ``s`` within ``seconds`` while we send ``trickle`` each 0.3 s?"""
    end = time.monotonic() + seconds
    s.settimeout(0.3)
    while time.monotonic() < end:
        try:
            if trickle:
                s.send(trickle)
            if s.recv(1024) == b"":
                return True
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (OSError, ssl.SSLError):
            return True
    return False


def test_a_stalled_tls_handshake_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.send(b"\x16\x03\x01\x02\x00")                  # a ClientHello that never finishes
        assert closed_within(s, 10, trickle=b"\x00")


def test_headers_one_byte_at_a_time_are_closed(server):
    s = tls(server)
    try:
        s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        assert closed_within(s, 10, trickle=b"X")         # a header line that never ends
    finally:
        s.close()


def test_a_body_that_trickles_gets_408(server):
    s = tls(server)
    try:
        s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        s.settimeout(0.3)
        end, answer = time.monotonic() + 10, b""
        while time.monotonic() < end and b"\r\n\r\n" not in answer:
            try:
                s.send(b"a")
                answer += s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                break
        s.settimeout(5)
        answer += read_answer(s)
    finally:
        s.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(body)["code"] == "too_slow"


@pytest.mark.parametrize("length", [b"-1", b"99999999999999999999", b"65537"])
def test_content_length_of_any_value_is_answered(server, length):
    s = tls(server)
    try:
        s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n")
        s.settimeout(10)
        answer = read_answer(s)
    finally:
        s.close()
    status = int(answer.split()[1])
    assert status == (400 if length == b"-1" else 413), answer[:200]


def test_bodies_in_flight_share_one_budget(tmp_path):
    make_cert(tmp_path / "cert.pem", tmp_path / "key.pem")
    api = FastAPI()

    @api.post("/echo")
    async def echo(request: Request):
        return {"size": len(await request.body())}
    limits = Limits(max_connections=16, idle_s=10, body_s=10, max_body=64 * 1024,
                    body_budget=130 * 1024)
    srv = HTTPSServer(api, "127.0.0.1", 0, tmp_path / "cert.pem", tmp_path / "key.pem",
                      limits).start()
    srv.ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    held = []
    try:
        for _ in range(2):                     # two bodies of 60 KiB, sent but not finished
            s = tls(srv)
            s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 64000\r\n\r\n" +
                   b"a" * 60_000)
            held.append(s)
        time.sleep(0.5)
        s = tls(srv)
        s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + b"b" * 60_000)
        s.settimeout(10)
        answer = read_answer_once(s)
        s.close()
        assert answer.startswith(b"HTTP/1.1 503") and b'"code": "busy"' in answer, answer[:300]
        for h in held:                          # the first ones finish normally
            h.send(b"a" * 4_000)
            h.settimeout(10)
            assert b'{"size":64000}' in read_answer_once(h)
    finally:
        for h in held:
            h.close()
        srv.close()


def test_a_failing_handler_is_answered_with_json(server):
    s = tls(server)
    try:
        s.send(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        answer = read_answer(s)
    finally:
        s.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500")
    out = json.loads(body)
    assert out["code"] == "internal" and "secret detail" not in body.decode()


def test_the_cap_sheds_the_idle_and_lets_a_new_client_in(server):
    idle = []
    try:
        for _ in range(3 * SHORT.max_connections):
            c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            c.send(b"\x16")
            idle.append(c)
            time.sleep(0.002)
        s = tls(server)                                    # an honest client gets in
        s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        s.settimeout(10)
        answer = read_answer_once(s)
        s.close()
        assert b'{"size":3}' in answer
        assert server.gate.open_count() <= server.gate.hard_cap
        assert server.gate.evicted >= 2 * SHORT.max_connections - server.gate.hard_cap
    finally:
        for c in idle:
            c.close()


def read_answer_once(s) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        part = s.recv(65536)
        if not part:
            break
        data += part
    return data


# ---------------------------------------------------------------- the gate as data
def test_gate_evicts_the_longest_idle_and_refuses_only_when_all_are_busy():
    g = Gate(cap=2, limits=Limits(idle_s=10, busy_s=60))
    assert g.admit("a", "A", 0.0) == (True, [])
    assert g.admit("b", "B", 1.0) == (True, [])
    g.begin("a", 2.0)                                      # a is busy, b idle since 1.0
    ok, victims = g.admit("c", "C", 3.0)
    assert ok and victims == ["B"]
    g.forget("b", "B")
    g.begin("c", 3.5)
    ok, victims = g.admit("d", "D", 4.0)                   # both busy: refused
    assert (ok, victims) == (False, []) and g.refused == 1
    g.end("a", 5.0)
    assert g.overdue(14.0) == [] and g.overdue(15.1) == ["A"]
    assert g.overdue(64.0) == ["C"]                        # busy too long


def test_gate_waits_while_shut_sockets_close():
    g = Gate(cap=8, limits=Limits())
    for i in range(8):
        g.admit(i, f"s{i}", float(i))
    for i in range(8, 8 + (g.hard_cap - 8)):
        assert g.admit(i, f"s{i}", 10.0)[0]                # each evicts one still closing
    assert len(g.conns) == g.hard_cap and g.should_wait(10.5)
    assert not g.should_wait(20.0)                         # never longer than 5 s


def test_connection_cap_leaves_the_reserve():
    assert connection_cap(256, 1024) == 192
    assert connection_cap(256, 8192) == 256
    assert connection_cap(256, 260) == 8


def test_accepted_connections_send_without_nagle(server):
    """Header and body go out as separate TLS records; without TCP_NODELAY the second waits
    for the client's delayed ACK (40 ms a request on keep-alive connections)."""
    s = tls(server)
    try:
        s.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na")
        s.settimeout(10)
        assert b'{"size":1}' in read_answer_once(s)
        held = [e.sock for e in list(server.gate.conns.values())]
        assert held and all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in held)
    finally:
        s.close()
