"""Phone clock-in in a real headless Chromium (Debian chromium + Playwright, no download):
emulated geolocation, a fake camera showing a real face, the real HTTPS server, a real outbox.

Screenshots of every page land in the test's temporary directory (path printed with -s).
"""
from __future__ import annotations

import json
import shutil

import pytest

from phone_fixtures import CAMERA_A, ID_A, ID_B, PIN_A, PIN_B, fake_camera, make_site, start_server
from geosites import GEOD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def north_of_centre(metres: float) -> tuple[float, float]:
    """(lat, lon) ``metres`` north of the road's middle vertex (the road runs roughly E-W)."""
    lon, lat, _ = GEOD.fwd(108.35, 22.82, 0.0 if metres >= 0 else 180.0, abs(metres))
    return lat, lon


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from playwright import sync_api      # no skip: the phone page must be tested in a browser
    assert shutil.which(CHROMIUM) or __import__("os").path.exists(CHROMIUM), \
        "Debian chromium is required: apt-get install -y chromium (make system-deps)"
    root = tmp_path_factory.mktemp("phone-site")
    app, outbox, store = make_site(root)
    server = start_server(app, root)
    pw = sync_api.sync_playwright().start()
    yield {"app": app, "outbox": outbox, "store": store, "url": server.url, "pw": pw,
           "shots": root}
    pw.stop()
    server.close()
    outbox.close()
    print(f"\nphone page screenshots in {root}")


@pytest.fixture(autouse=True)
def browser(site, tmp_path):
    """A browser per test, its fake camera showing worker A with its own sensor noise (the page
    never accepts the same photo twice)."""
    cam = fake_camera(CAMERA_A, tmp_path / "camera.mjpeg")
    site["browser"] = site["pw"].chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=FLAGS + [f"--use-file-for-fake-video-capture={cam}"])
    yield site["browser"]
    site["browser"].close()


def open_page(site, lat, lon, acc, lang="zh", query=""):
    ctx = site["browser"].new_context(
        geolocation={"latitude": lat, "longitude": lon, "accuracy": acc},
        permissions=["geolocation", "camera"], ignore_https_errors=True,
        locale="zh-CN" if lang == "zh" else "en-US", viewport={"width": 400, "height": 860})
    page = ctx.new_page()
    page.goto(f"{site['url']}/?lang={lang}{query}")
    return ctx, page


def sign_in(page, idn, pin):
    page.fill("#idn", idn)
    page.fill("#pin", pin)
    page.click("#signin-btn")


def clock_in(page, name, site):
    page.wait_for_selector("#clock:not(.hidden)", timeout=15000)
    page.wait_for_function("() => document.getElementById('cam').videoWidth > 0", timeout=15000)
    page.click("#clock-btn")
    page.wait_for_function(
        "() => !['idle','ready','working'].includes("
        "document.getElementById('status').dataset.status)",
        timeout=60000)
    status = page.get_attribute("#status", "data-status")
    text = page.inner_text("#status")
    if status in ("ok", "outside", "retry"):
        page.wait_for_function("() => document.getElementById('map').naturalWidth > 0", timeout=30000)
    page.screenshot(path=str(site["shots"] / f"{name}.png"), full_page=True)
    return status, text


def test_inside_commits_a_record(site):
    outbox = site["outbox"]
    before = outbox.head_seq
    ctx, page = open_page(site, *north_of_centre(30), acc=8)
    try:
        assert "工地手机打卡" in page.content()              # Chinese first
        sign_in(page, ID_A, PIN_A)
        status, text = clock_in(page, "inside", site)
        assert status == "ok", text
        assert "打卡成功" in text
        assert outbox.head_seq == before + 1
        assert f"记录 {outbox.head_seq}" in text
        # the page shows the fence picture with this fix, drawn in the page's language
        assert page.evaluate("document.getElementById('map').naturalWidth") > 300
        assert page.get_attribute("#map", "src").endswith("&lang=zh")
    finally:
        ctx.close()
    rec = list(outbox.iter_records(before))[0]
    body = rec["body"]
    assert body["worker"] == "W000001" and body["method"] == "phone"
    assert body["decision"] == "allow" and body["fence"] == "G75-K12"
    assert body["crs_in"] == "wgs84" and body["acc_m"] == 8
    assert 650 <= body["dist_dm"] <= 750                   # ~70 m inside the edge
    assert 0 <= body["face_milli"] <= 420
    lat, lon = north_of_centre(30)
    assert abs(body["lat_e6"] - round(lat * 1e6)) <= 1 and abs(body["lon_e6"] - round(lon * 1e6)) <= 1
    raw = json.dumps(rec)
    assert ID_A not in raw and ID_A[-6:] not in raw and PIN_A not in raw.replace(str(rec["ts"]), "")
    assert all(not isinstance(v, float) for v in body.values())


def test_outside_is_refused_with_the_distance(site):
    outbox = site["outbox"]
    before = outbox.head_seq
    ctx, page = open_page(site, *north_of_centre(600), acc=10)
    try:
        sign_in(page, ID_A, PIN_A)
        status, text = clock_in(page, "outside", site)
    finally:
        ctx.close()
    assert status == "outside", text
    assert "不在电子围栏内" in text and "距围栏 500 米" in text
    assert outbox.head_seq == before


def test_low_accuracy_asks_to_retry(site):
    outbox = site["outbox"]
    before = outbox.head_seq
    ctx, page = open_page(site, *north_of_centre(80), acc=80)   # 20 m inside, ±80 m
    try:
        sign_in(page, ID_A, PIN_A)
        status, text = clock_in(page, "low-accuracy", site)
    finally:
        ctx.close()
    assert status == "retry", text
    assert "重试" in text and "±80" in text
    assert outbox.head_seq == before


def test_one_time_qr_sign_in_in_english(site):
    outbox = site["outbox"]
    before = outbox.head_seq
    token = site["store"].issue_token("W000001")
    ctx, page = open_page(site, *north_of_centre(-40), acc=5, lang="en", query=f"&t={token}")
    try:
        assert "Site clock-in" in page.content()
        status, text = clock_in(page, "qr-english", site)
        assert status == "ok", text
        assert "Clocked in" in text
        assert "?t=" not in page.url                        # the token leaves the address bar
    finally:
        ctx.close()
    assert outbox.head_seq == before + 1
    # single use: the same QR does not sign in again
    ctx, page = open_page(site, *north_of_centre(0), acc=5, lang="en", query=f"&t={token}")
    try:
        page.wait_for_function("() => document.getElementById('status').dataset.status === 'error'")
        assert "not valid any more" in page.inner_text("#status")
    finally:
        ctx.close()


def test_someone_else_s_face_is_refused(site):
    outbox = site["outbox"]
    before = outbox.head_seq
    ctx, page = open_page(site, *north_of_centre(0), acc=5)
    try:
        sign_in(page, ID_B, PIN_B)                           # worker B; camera shows A
        status, text = clock_in(page, "face-mismatch", site)
    finally:
        ctx.close()
    assert status == "face_mismatch", text
    assert outbox.head_seq == before


def test_wrong_pin_and_bad_input_give_clear_errors_and_no_record(site):
    outbox = site["outbox"]
    before = outbox.head_seq
    ctx, page = open_page(site, *north_of_centre(0), acc=5)
    try:
        sign_in(page, ID_A, "0000")
        page.wait_for_function("() => document.getElementById('status').dataset.status === 'error'")
        assert "身份证号或密码错误" in page.inner_text("#status")
        r = page.request.post(f"{site['url']}/api/clockin", data={"lon": 108.35, "lat": 22.82})
        assert r.status == 401
        sign_in(page, ID_A, PIN_A)
        page.wait_for_selector("#clock:not(.hidden)")
        def nonce():
            r = page.request.post(f"{site['url']}/api/attempt", data={})
            assert r.status == 200, r.text()
            return r.json()["nonce"]

        for bad, match in [({"lon": 22.82, "lat": 108.35, "accuracy": 5}, "swapped"),
                           ({"lon": 108.35, "lat": 95.0, "accuracy": 5}, "outside [-90, 90]"),
                           ({"lon": "x", "lat": 22.82, "accuracy": 5}, "lon must be a number"),
                           ({"lon": 123.5, "lat": 35.0, "accuracy": 5}, "open sea"),
                           ({"lon": 108.35, "lat": 22.82, "accuracy": 5, "crs": "gcj03"},
                            "unknown datum")]:
            r = page.request.post(f"{site['url']}/api/clockin", data=dict(bad, nonce=nonce()))
            assert r.status == 400, bad
            assert match in r.json()["message"], (bad, r.json())
        raw = page.request.post(f"{site['url']}/api/clockin",
                                data=b'{"lon": NaN, "lat": 22.82, "accuracy": 5, "nonce": "%s"}'
                                % nonce().encode(),
                                headers={"Content-Type": "application/json"})
        assert raw.status == 400 and "finite" in raw.json()["message"]
    finally:
        ctx.close()
    assert outbox.head_seq == before
