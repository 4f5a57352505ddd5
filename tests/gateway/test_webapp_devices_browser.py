"""The web app's devices page in a real headless Chromium, fed by the daemon's health file: each
supervised lane device with its state, a lost one in red with its reason and since when, the lane
it takes out of service, the alarm -- and back to green when the device returns. A camera URL's
password never reaches the page."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from gateway.clockin.devices import device_alarms
from gateway.config import LaneConfig
from webfixtures import PASSWORDS, TZ, make_site

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "webapp"
CAMERA = "rtsp://admin:cam-pass-9@10.0.0.5/stream1"


def health(home: Path, gate_state: str) -> None:
    now = time.time()
    devices = [
        {"name": "idcard:entry", "role": "idcard", "path": "/dev/serial/by-id/usb-idcard-if00",
         "target": "/dev/ttyUSB0", "lanes": ["entry"], "state": "connected", "since": now - 600,
         "message": "", "attempts": 0, "reopened": 1},
        {"name": "camera:entry", "role": "camera", "path": "rtsp://admin:***@10.0.0.5/stream1",
         "target": None, "lanes": ["entry"], "state": "connected", "since": now - 600,
         "message": "", "attempts": 0, "reopened": 0},
        {"name": "gate:/dev/ttyUSB1", "role": "gate", "path": "/dev/ttyUSB1", "target": None,
         "lanes": ["entry"], "state": gate_state, "since": now - 42,
         "message": "relay board on /dev/ttyUSB1: could not open port" if gate_state == "lost" else "",
         "attempts": 5, "reopened": 0}]
    lost = ["gate"] if gate_state == "lost" else []
    (home / "run").mkdir(exist_ok=True)
    (home / "run" / "health.json").write_text(json.dumps({
        "ts": now, "pid": 1, "gw": "gw-web-1", "healthy": True, "uplink_connected": True,
        "alarms": device_alarms(devices), "devices": devices,
        "lanes": [{"name": "entry", "alive": True, "out_of_service": lost}]}))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from playwright import sync_api      # no skip: the web app must be tested in a browser
    assert os.path.exists(CHROMIUM), "Debian chromium is required: apt-get install -y chromium (make system-deps)"
    from gateway.web.serve import start_web, stop_web
    home = tmp_path_factory.mktemp("web-devices")
    cfg, _ = make_site(home, dt.datetime.now(TZ).date())
    cfg = dataclasses.replace(cfg, lanes=[LaneConfig(name="entry", idcard="/dev/serial/by-id/usb-idcard-if00",
                                                     camera=CAMERA, gate="/dev/ttyUSB1", sensor=0)])
    server = start_web(cfg)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                 args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
    yield {"home": home, "url": server.url, "browser": browser}
    browser.close()
    pw.stop()
    stop_web(server)


def test_lost_device_is_red_with_its_lane_and_green_when_back(site):
    ctx = site["browser"].new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(site["url"] + "/")
    page.fill("#user", "look")                       # a viewer may see the devices
    page.fill("#password", PASSWORDS["look"])
    page.click("#signin")
    page.wait_for_selector("#on-site")

    health(site["home"], "lost")
    page.goto(site["url"] + "/devices")
    gate = page.locator('#devices tr[data-device="gate:/dev/ttyUSB1"] td').nth(3)
    assert gate.get_attribute("class") == "bad" and "已断开，正在重连" in gate.inner_text()
    assert "could not open port" in page.locator('#devices tr[data-device="gate:/dev/ttyUSB1"]').inner_text()
    reader = page.locator('#devices tr[data-device="idcard:entry"]')
    assert reader.locator("td").nth(3).get_attribute("class") == "ok"
    assert "/dev/serial/by-id/usb-idcard-if00 → /dev/ttyUSB0" in reader.inner_text()
    lane = page.locator('#lanes td[data-lane="entry"]')
    assert lane.get_attribute("class") == "bad" and lane.inner_text() == "暂停服务（闸机控制器）"
    assert "device_lost" in page.locator("#alarms").inner_text()
    assert "cam-pass-9" not in page.content()        # the camera's password is masked everywhere
    assert "rtsp://admin:***@10.0.0.5/stream1" in page.locator("#lanes").inner_text()
    page.screenshot(path=str(ARTIFACTS / "11-devices-lost.png"), full_page=True)

    page.goto(site["url"] + "/devices?lang=en")
    assert "lost, re-opening" in page.locator("#devices").inner_text()
    assert page.locator('#lanes td[data-lane="entry"]').inner_text() == "out of service (Gate controller)"

    health(site["home"], "connected")                # the relay board is back
    page.goto(site["url"] + "/devices")
    assert page.locator('#devices tr[data-device="gate:/dev/ttyUSB1"] td').nth(3).get_attribute("class") == "ok"
    assert page.locator('#lanes td[data-lane="entry"]').get_attribute("class") == "ok"
    assert "device_lost" not in page.locator("#alarms").inner_text()
    ctx.close()
