"""`sitegate run` with [phone] on: a phone clock-in over HTTPS lands in the same outbox as the
turnstiles and reaches central through the uplink (real broker, real central, real face)."""
from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import urllib.request

from gateway import daemon, keys
from gateway.config import parse
from gateway.fences.store import add as add_fence
from gateway.tls import make_cert
from gateway.phone.attempts import stamp_selfie
from gateway.phone.credentials import PhoneStore
from gateway.site import open_roster
from biometrics.store import TemplateStore
from phone_fixtures import CAMERA_A, ENROL_A, ID_A, PIN_A, ROAD_WGS, enrol_face, noisy
from spine import start_central, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_daemon_serves_phone_page_into_the_outbox(home, tmp_path, mosquitto):
    port = free_port()
    cfg = parse({"gateway": {"id": "gw-phone-9"}, "broker": {"url": mosquitto.url},
                 "uplink": {"linger_s": 0.05},
                 "phone": {"listen": "127.0.0.1", "port": port}}, home=home)
    signer = keys.generate(cfg.key_file)
    make_cert(cfg.phone_cert, cfg.phone_key)
    road = tmp_path / "road.geojson"
    road.write_text(json.dumps({"type": "Feature", "properties": {
        "id": "G75", "crs": "wgs84", "half_width_m": 100},
        "geometry": {"type": "LineString", "coordinates": ROAD_WGS}}))
    add_fence(road, home=home)
    enrol_face(TemplateStore(cfg.faces.store, key_file=cfg.home / "keys" / "templates.sm4"),
               "W000001", ENROL_A)
    PhoneStore(cfg.phone_db).enrol("W000001", ID_A, PIN_A)
    store, ingest, _, central = start_central(f"sqlite:///{tmp_path/'c.db'}", mosquitto.url)
    store.add_gateway(cfg.gateway_id, signer.public_hex)
    stop = threading.Event()
    t = threading.Thread(target=daemon.run, args=(cfg, stop), daemon=True)
    t.start()
    try:
        ctx = ssl.create_default_context(cafile=str(cfg.phone_cert))   # pinned: our own cert
        base = f"https://127.0.0.1:{port}"
        wait_for(lambda: _up(base, ctx), 20, "the phone page")

        def post(path, body, cookie=None):
            req = urllib.request.Request(base + path, json.dumps(body).encode(),
                                         {"Content-Type": "application/json",
                                          **({"Cookie": cookie} if cookie else {})})
            with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
                return r.headers.get("Set-Cookie"), json.loads(r.read())

        set_cookie, who = post("/api/login", {"id_number": ID_A, "pin": PIN_A})
        assert who["worker"] == "W000001" and "Secure" in set_cookie and "HttpOnly" in set_cookie
        cookie = set_cookie.split(";")[0]
        def clock_in():
            _, attempt = post("/api/attempt", {}, cookie)
            photo = stamp_selfie(noisy(CAMERA_A.read_bytes()), attempt["nonce"])   # a fresh frame, stamped as the page does
            selfie = "data:image/jpeg;base64," + base64.b64encode(photo).decode()
            return post("/api/clockin", {"nonce": attempt["nonce"], "lon": 108.35, "lat": 22.8203,
                                         "accuracy": 6, "dir": "in", "selfie": selfie}, cookie)[1]

        out = clock_in()                                     # enrolled for the phone, not on the roster
        assert (out["status"], out["code"]) == ("refused", "unknown_worker"), out
        roster = open_roster(cfg)                            # the labour manager adds them
        roster.add("W000001", id_number=ID_A, trade="钢筋工")
        roster.close()
        out = clock_in()
        assert out["status"] == "ok", out
        wait_for(lambda: store.seqs(cfg.gateway_id) == [1, out["seq"]], 30, "central to store both")
    finally:
        stop.set()
        t.join(15)
        central.close()


def _up(base, ctx) -> bool:
    try:
        with urllib.request.urlopen(base + "/?lang=en", context=ctx, timeout=5) as r:
            return b"Site clock-in" in r.read()
    except OSError:
        return False
