"""The phone page under attack from the site network: a real `sitegate run` (its own process,
the 1,024-descriptor soft limit a unit without LimitNOFILE gets, a real broker) serving the page
over TLS on 127.0.0.1.  Bodies that lie about their size, a thousand slow connections, replayed
clock-ins and photos, jumps without a timestamp, absurd numbers.  Traffic is bounded in count
and time; every socket opened here is closed at the end of its test."""
from __future__ import annotations

import base64
import http.client
import json
import os
import resource
import socket
import ssl
import subprocess
import threading
import time

import psutil
import pytest

from brokers import Mosquitto, free_port
from gateway import keys
from gateway.config import load
from gateway.fences.store import add as add_fence
from gateway.phone.attempts import stamp_selfie
from gateway.phone.credentials import PhoneStore
from gateway.site import open_roster
from gateway.tls import make_cert
from biometrics.store import TemplateStore
from phone_fixtures import CAMERA_A, ENROL_A, ID_A, PIN_A, ROAD_WGS, enrol_face, noisy
from procs import sitegate_cmd
from spine import wait_for

SOFT_NOFILE = 1024                 # what a unit without LimitNOFILE gets
RESERVED = 256                     # descriptors the rest of the gateway must always have
MB = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    root = tmp_path_factory.mktemp("phone-attacks")
    (root / "broker").mkdir()
    broker = Mosquitto(root / "broker")
    home = root / "home"
    home.mkdir()
    port = free_port()
    (home / "site.toml").write_text(
        f'[gateway]\nid = "gw-phone-attack"\n[broker]\nurl = "{broker.url}"\n'
        f'[uplink]\nlinger_s = 0.05\n[phone]\nlisten = "127.0.0.1"\nport = {port}\n')
    cfg = load(home / "site.toml", home=home)
    keys.generate(cfg.key_file)
    make_cert(cfg.phone_cert, cfg.phone_key)
    road = root / "road.geojson"
    road.write_text(json.dumps({"type": "Feature", "properties": {
        "id": "G75", "crs": "wgs84", "half_width_m": 100},
        "geometry": {"type": "LineString", "coordinates": ROAD_WGS}}))
    add_fence(road, home=home)
    enrol_face(TemplateStore(cfg.faces.store, key_file=home / "keys" / "templates.sm4"),
               "W000001", ENROL_A)
    PhoneStore(cfg.phone_db).enrol("W000001", ID_A, PIN_A)
    roster = open_roster(cfg)                      # on the roster: only the attacks decide
    roster.add("W000001", id_number=ID_A)
    roster.close()

    def limit():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_NOFILE, hard))

    env = dict(os.environ, SITEGATE_HOME=str(home))
    log = (root / "gateway.log").open("wb")
    proc = subprocess.Popen(sitegate_cmd("run", "-c", str(home / "site.toml")), env=env,
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit)
    ctx = ssl.create_default_context(cafile=str(cfg.phone_cert))      # pinned: our own cert
    g = Client("127.0.0.1", port, ctx)
    try:
        wait_for(lambda: proc.poll() is None and g.up(), 60, "the phone page")
        g.proc, g.home, g.cfg = psutil.Process(proc.pid), home, cfg
        yield g
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        broker.stop()
        print(f"\ngateway log: {root / 'gateway.log'}")


class Client:
    """A phone: one HTTPS connection per request, the session cookie kept."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext) -> None:
        self.host, self.port, self.ctx, self.cookie = host, port, ctx, None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 60) -> tuple[int, dict | bytes]:
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        try:
            h = dict(headers or {})
            if self.cookie:
                h["Cookie"] = self.cookie
            c.request(method, path, body, h)
            r = c.getresponse()
            data = r.read()
            if r.getheader("Set-Cookie"):
                self.cookie = r.getheader("Set-Cookie").split(";")[0]
            if r.getheader("Content-Type", "").startswith("application/json"):
                return r.status, json.loads(data)
            return r.status, data
        finally:
            c.close()

    def post(self, path: str, obj, raw: bytes | None = None) -> tuple[int, dict]:
        body = raw if raw is not None else json.dumps(obj).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def up(self) -> bool:
        try:
            return self.request("GET", "/?lang=en", timeout=5)[0] == 200
        except OSError:
            return False

    def sign_in(self) -> None:
        code, out = self.post("/api/login", {"id_number": ID_A, "pin": PIN_A})
        assert code == 200 and out["worker"] == "W000001", out

    def nonce(self) -> str:
        code, out = self.post("/api/attempt", {})
        assert code == 200, out
        return out["nonce"]

    def clock_in(self, lon: float, lat: float, nonce: str | None = None,
                 photo: bytes | None = None, **extra) -> tuple[int, dict]:
        nonce = nonce or self.nonce()
        photo = photo or stamp_selfie(noisy(CAMERA_A.read_bytes()), nonce)
        body = {"nonce": nonce, "lon": lon, "lat": lat, "accuracy": 6, "dir": "in",
                "selfie": "data:image/jpeg;base64," + base64.b64encode(photo).decode(), **extra}
        return self.post("/api/clockin", body)


def rss_peak_during(proc: psutil.Process, action) -> tuple[int, object]:
    """(peak RSS growth of ``proc`` in bytes while ``action()`` runs, its result)."""
    base = proc.memory_info().rss
    peak, stop = [base], threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.01)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = action()
    finally:
        stop.set()
        t.join()
    return peak[0] - base, result


def _answer_so_far(s: ssl.SSLSocket) -> bytes:
    """Application data the server already sent (b"" when none yet; TLS tickets do not count)."""
    s.setblocking(False)
    try:
        return s.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return b""
    except (OSError, ssl.SSLError):
        return b""
    finally:
        s.setblocking(True)


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def stream(g: Client, head: bytes, chunks, total: int) -> bytes:
    """Send ``head`` then body ``chunks`` over TLS until ``total`` bytes or until the server
    answers; return what it answered (b"" when it said nothing within 30 s)."""
    raw = socket.create_connection((g.host, g.port), timeout=30)
    s = g.ctx.wrap_socket(raw, server_hostname=g.host)
    try:
        s.sendall(head)
        sent, answer = 0, b""
        for chunk in chunks:
            answer = _answer_so_far(s)
            if answer or sent >= total:
                break
            try:
                s.sendall(chunk)
            except (OSError, ssl.SSLError):
                break
            sent += len(chunk)
        s.settimeout(30)
        try:
            while not _complete(answer):
                part = s.recv(65536)
                if not part:
                    break
                answer += part
        except (OSError, ssl.SSLError):
            pass
        return answer
    finally:
        s.close()


def status_and_json(answer: bytes) -> tuple[int, dict | None]:
    assert answer, "the server dropped the connection without an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    code = int(head.split()[1])
    try:
        return code, json.loads(body)
    except ValueError:
        return code, None


# ---------------------------------------------------------------- bodies
def test_negative_and_huge_content_length_refused_without_memory_growth(gateway):
    g = gateway
    assert g.up()
    block = b"x" * 65536
    for length, total in (("-1", 96 * MB), ("1000000000000000", 96 * MB)):
        head = (f"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                f"\r\nContent-Length: {length}\r\n\r\n").encode()
        grew, answer = rss_peak_during(g.proc, lambda: stream(
            g, head, iter(lambda: block, None), total))
        code, _ = status_and_json(answer)
        assert code in (400, 413), answer[:200]
        assert grew < 32 * MB, f"Content-Length {length}: the gateway grew {grew / MB:.0f} MB"
    assert g.up()


def test_chunked_oversize_refused_without_memory_growth(gateway):
    g = gateway
    head = (b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    block = b"%x\r\n%s\r\n" % (MB, b"x" * MB)
    grew, answer = rss_peak_during(g.proc, lambda: stream(g, head, iter(lambda: block, None),
                                                          64 * MB))
    code, body = status_and_json(answer)
    assert code == 413 and body["code"] == "too_large", answer[:300]
    assert grew < 32 * MB, f"the gateway grew {grew / MB:.0f} MB"
    assert g.up()


# ---------------------------------------------------------------- numbers
ABSURD = [(b'"time_ms": 1e300', "time_ms"), (b'"time_ms": 1' + b"0" * 400, "time_ms"),
          (b'"lon": 1' + b"0" * 400, "lon"), (b'"lon": 1e400', "lon"), (b'"lat": NaN', "lat"),
          (b'"accuracy": -Infinity', "accuracy"), (b'"accuracy": 1e300', "accuracy")]


def test_absurd_numbers_answered_400(gateway):
    g = gateway
    g.sign_in()
    before = g.clock_in(108.35, 22.8203)[1]            # a good one: the seq to compare with
    assert before["status"] == "ok", before
    for raw, field in ABSURD:
        fields = {"lon": b"108.35", "lat": b"22.8203", "accuracy": b"6"}
        fields[field] = raw.split(b":", 1)[1].strip()
        nonce = g.nonce()
        photo = base64.b64encode(stamp_selfie(noisy(CAMERA_A.read_bytes()), nonce))
        body = b"{" + b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in fields.items()) + \
            b', "nonce": "%s", "selfie": "data:image/jpeg;base64,%s"}' % (nonce.encode(), photo)
        code, out = g.post("/api/clockin", None, raw=body)
        assert code == 400, (raw[:30], out)
        assert out["status"] == "error" and field in out["message"], out
    assert g.clock_in(108.35, 22.8203)[1]["seq"] == before["seq"] + 1     # nothing in between


# ---------------------------------------------------------------- replay and freshness
def test_identical_repost_is_refused(gateway):
    g = gateway
    g.sign_in()
    nonce = g.nonce()
    photo = stamp_selfie(noisy(CAMERA_A.read_bytes()), nonce)
    code, first = g.clock_in(108.35, 22.8203, nonce, photo)
    assert code == 200 and first["status"] == "ok", first
    code, again = g.clock_in(108.35, 22.8203, nonce, photo)          # the same request again
    assert code == 409 and again["code"] == "replayed_attempt", again
    assert "重复提交" in again["message_zh"]
    code, none = g.post("/api/clockin", {"lon": 108.35, "lat": 22.8203, "accuracy": 6})
    assert code == 400 and none["code"] == "no_attempt", none
    other = Client(g.host, g.port, g.ctx)                            # another session
    other.sign_in()
    code, theirs = other.clock_in(108.35, 22.8203, g.nonce())
    assert code == 409 and theirs["code"] == "unknown_attempt", theirs
    assert g.clock_in(108.35, 22.8203)[1]["seq"] == first["seq"] + 1  # one record in between: none


def test_stale_or_reused_selfie_is_refused(gateway):
    g = gateway
    g.sign_in()
    old_nonce = g.nonce()
    old_photo = stamp_selfie(noisy(CAMERA_A.read_bytes()), old_nonce)
    code, first = g.clock_in(108.35, 22.8203, old_nonce, old_photo)
    assert first["status"] == "ok", first
    # the photo of an earlier attempt, sent with a fresh nonce
    code, out = g.clock_in(108.35, 22.8203, g.nonce(), old_photo)
    assert code == 409 and out["code"] == "stale_selfie", out
    # the same picture re-stamped for the new attempt
    nonce = g.nonce()
    bare = old_photo[:2] + old_photo[4 + int.from_bytes(old_photo[4:6], "big"):]
    code, out = g.clock_in(108.35, 22.8203, nonce, stamp_selfie(bare, nonce))
    assert code == 409 and out["code"] == "reused_selfie", out
    # a photo that carries no attempt at all
    nonce = g.nonce()
    code, out = g.clock_in(108.35, 22.8203, nonce, noisy(CAMERA_A.read_bytes()))
    assert code == 409 and out["code"] == "unbound_selfie", out
    assert g.clock_in(108.35, 22.8203)[1]["seq"] == first["seq"] + 1


def test_ten_km_jump_without_time_ms_is_flagged(gateway):
    g = gateway
    g.sign_in()
    # 200 m in from either end of the road: 9.9 km apart; no time_ms (the phone's clock is
    # not needed to see the jump)
    code, west = g.clock_in(108.302, 22.8008)
    assert west["status"] == "ok", west
    code, east = g.clock_in(108.398, 22.8104)
    assert code == 200 and east["status"] == "ok", east
    assert "implied_speed" in east["flags"] and east["review"] is True, east
    assert "待复核" in east["message_zh"]


# ---------------------------------------------------------------- connections
def test_a_thousand_slow_connections_do_not_stop_a_clock_in(gateway):
    g = gateway
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= 1200, "this test needs 1,200 descriptors of its own"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    health = g.home / "run" / "health.json"
    g.sign_in()
    base = g.proc.num_fds()
    slow: list[socket.socket] = []
    stop, peak = threading.Event(), [base]

    def trickle():                         # one more byte of the ClientHello every 10 s
        while not stop.wait(10):
            for s in slow:
                try:
                    s.send(b"\x00")
                except OSError:
                    pass

    def watch():                           # the gateway's descriptors while they are held
        while not stop.wait(0.1):
            try:
                peak[0] = max(peak[0], g.proc.num_fds())
            except psutil.Error:
                return
    threads = [threading.Thread(target=f, daemon=True) for f in (trickle, watch)]
    try:
        for _ in range(1000):              # a TLS record header announcing 512 bytes, then 1 byte
            s = socket.create_connection((g.host, g.port), timeout=5)
            s.setblocking(False)
            s.send(b"\x16\x03\x01\x02\x00\x01")
            slow.append(s)
            time.sleep(0.002)              # paced so the server accepts each (not a SYN flood)
        t0 = time.monotonic()
        for t in threads:
            t.start()
        # an honest phone, while they are held
        code, out = g.clock_in(108.35, 22.8203)
        assert code == 200 and out["status"] == "ok", out
        # the rest of the gateway still opens files: the health file is rewritten every 2 s
        mark = time.time()
        wait_for(lambda: json.loads(health.read_text())["ts"] > mark, 15, "a fresh health file")
        assert json.loads(health.read_text())["uplink_connected"] is True
        limit = g.proc.rlimit(psutil.RLIMIT_NOFILE)[0]
        assert limit == SOFT_NOFILE
        assert peak[0] <= limit - RESERVED, f"the gateway held {peak[0]} of {limit} descriptors"
        # 12 s on: most were shut at once to make room, and none outlives its deadline
        time.sleep(max(0.0, 12 - (time.monotonic() - t0)))
        shut = sum(1 for s in slow if _closed_by_peer(s))
        print(f"\nslow connections: gateway fds base {base}, peak {peak[0]} (limit {limit}); "
              f"{shut} of 1,000 shut by the gateway within 12 s")
        assert shut >= 700, f"only {shut} of 1,000 slow connections were shut"
        assert g.clock_in(108.35, 22.8203)[1]["status"] == "ok"
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join()
        for s in slow:
            s.close()
    wait_for(lambda: g.proc.num_fds() <= base + 8, 40, "the gateway to let go of the connections")


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
