"""Shared set-up for the phone clock-in tests: a site with a GCJ-02-drawn road, two enrolled
workers, a real outbox, a real TLS server."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

import geofence
from gateway import keys
from gateway.phone.app import PhoneApp
from gateway.phone.server import PhoneServer
from gateway.tls import make_cert
from biometrics.enrol import enrol_images
from biometrics.store import TemplateStore
from gateway.clockin.faces import FaceService
from gateway.phone.credentials import PhoneStore
from gateway.phone.selfie import BiometricsSelfie
from gateway.roster.store import Roster
from uplink.outbox import Outbox

# shared/ beside the checkout (as CI has it), or $SITEGATE_SHARED
SHARED = Path(os.environ.get("SITEGATE_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
FACES = SHARED / "data" / "faces" / "asian_faces"
ENROL_A = FACES / "DCleaning_tool__target_images__104__104_2.jpg"    # worker A, enrolment
CAMERA_A = FACES / "DCleaning_tool__target_images__104__104_3.jpg"   # worker A, on the phone
ENROL_B = FACES / "DCleaning_tool__target_images__101__101_13.jpg"   # a different person
ROAD_WGS = [[108.30, 22.80], [108.35, 22.82], [108.40, 22.81]]
ID_A, PIN_A = "110101199003074477", "2468"


def valid_id(prefix17: str) -> str:
    from stdnum.cn import ric
    for c in "0123456789X":
        if ric.is_valid(prefix17 + c):
            return prefix17 + c
    raise AssertionError("no check digit")


ID_B, PIN_B = valid_id("45010219850612301"), "1357"


def road_fence():
    gcj = [list(geofence.convert(x, y, "wgs84", "gcj02")) for x, y in ROAD_WGS]
    return geofence.corridor("G75-K12", gcj, 100, crs="gcj02")    # drawn on an Amap tile


def make_site(root: Path, **app_kw):
    """Two workers on the roster, enrolled for phone clock-in with their faces."""
    root.mkdir(parents=True, exist_ok=True)
    signer = keys.generate(root / "keys" / "gateway.key.pem")
    outbox = Outbox(root / "outbox.db", "gw-phone-1", signer)
    store = PhoneStore(root / "phone" / "phone.db")
    templates = TemplateStore(root / "faces" / "templates.db",
                              key_file=root / "keys" / "templates.sm4")
    roster = Roster(root / "roster.db", key_file=root / "keys" / "roster.sm4")
    for worker, photo, idn, pin in (("W000001", ENROL_A, ID_A, PIN_A),
                                    ("W000002", ENROL_B, ID_B, PIN_B)):
        roster.add(worker, id_number=idn)
        enrol_face(templates, worker, photo)
        store.enrol(worker, idn, pin)
    app = PhoneApp(outbox, [road_fence()], store, BiometricsSelfie(FaceService(templates)), roster,
                   **app_kw)
    return app, outbox, store


def enrol_face(templates: TemplateStore, worker: str, photo: Path) -> None:
    result = enrol_images([(photo.name, photo.read_bytes())])
    assert result.ok, result.rejected
    templates.add(worker, result.accepted)


def start_server(app, root: Path) -> PhoneServer:
    make_cert(root / "phone" / "cert.pem", root / "phone" / "key.pem")
    return PhoneServer(app, "127.0.0.1", 0, root / "phone" / "cert.pem",
                       root / "phone" / "key.pem").start()


def fake_camera(photo: Path, out: Path, frames: int = 30) -> Path:
    """A raw MJPEG file (JPEG frames back to back, 640x480) for Chromium's fake camera.  Like a
    real sensor, every frame carries its own faint noise, so no two photos are the same bytes
    (the page refuses a photo it has seen before)."""
    img = cv2.imread(str(photo))
    h, w = img.shape[:2]
    scale = min(640 / w, 480 / h)
    small = cv2.resize(img, (int(w * scale), int(h * scale)))
    canvas = np.full((480, 640, 3), 128, np.uint8)
    y0, x0 = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    rng = np.random.default_rng()
    with out.open("wb") as fh:
        for _ in range(frames):
            noisy = np.clip(canvas + rng.normal(0, 2, canvas.shape), 0, 255).astype(np.uint8)
            ok, jpg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 92])
            assert ok
            fh.write(jpg.tobytes())
    return out


def noisy(jpeg: bytes) -> bytes:
    """The same face as a fresh camera frame: the picture with its own faint sensor noise."""
    import cv2
    import numpy as np
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    img = np.clip(img + np.random.default_rng().normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
