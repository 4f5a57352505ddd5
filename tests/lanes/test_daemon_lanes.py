"""`sitegate run` with [lanes.entry] configured: the daemon builds the lane from site.toml
(real drivers on the simulators' ptys and the camera URL) and a card + face clock-in ends up
in the outbox."""
from __future__ import annotations

import threading
import time

import pytest

from biometrics.enrol import enrol_images
from biometrics.store import TemplateStore
from drivers.sim.camera import CameraSimulator
from drivers.sim.idcard import IdCardSimulator
from drivers.sim.samples import RESIDENT
from drivers.sim.turnstile import TurnstileSimulator
from faceframes import camera_frames, photo
from gateway import keys
from gateway.config import load
from gateway.daemon import run
from gateway.roster.store import Roster
from uplink.outbox import Outbox

pytestmark = pytest.mark.timeout(90)


def test_daemon_runs_configured_lane(home, tmp_path, mosquitto):
    Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4").add("W000103", id_number=RESIDENT["id_number"])
    TemplateStore(home / "faces" / "templates.db", key_file=home / "keys" / "templates.sm4").add(
        "W000103", enrol_images([(n, photo("103", n)) for n in ("103_7", "103_10")]).accepted)
    frames = [p for i, n in enumerate(("103_6", "103_18"))
              for p in camera_frames(photo("103", n), tmp_path / "f", 2, seed=i)]
    idsim = IdCardSimulator([]).start()
    tsim = TurnstileSimulator(lanes={0: 0}, walk_time=0.1, sensor_time=0.2).start()
    cam = CameraSimulator(frames, fps=15).start()
    site = home / "site.toml"
    site.write_text(f"""
[gateway]
id = "gw-lanes-1"
[broker]
url = "{mosquitto.url}"
[faces]
capture_frames = 6
[lanes.entry]
idcard = "{idsim.path}"
camera = "{cam.url}"
gate = "{tsim.path}"
relay = 0
sensor = 0
passage_timeout_s = 2
""")
    cfg = load(site)
    keys.generate(cfg.key_file)
    stop = threading.Event()
    t = threading.Thread(target=run, args=(cfg, stop), daemon=True)
    t.start()
    try:
        time.sleep(2.0)                     # lane threads up, camera connected
        idsim.tap(RESIDENT)
        deadline = time.monotonic() + 20
        while not tsim.passages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tsim.passages == [0]
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(30)
        cam.stop()
        tsim.stop()
        idsim.stop()
    assert not t.is_alive()
    ob = Outbox(cfg.outbox_path, cfg.gateway_id, readonly=True)
    bodies = [r["body"] for r in ob.iter_records()]
    ob.close()
    assert len(bodies) == 1 and bodies[0]["decision"] == "allow" and bodies[0]["device"] == "gw-lanes-1/entry"
