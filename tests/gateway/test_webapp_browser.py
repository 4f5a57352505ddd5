"""The labour manager's web app in a real headless Chromium (Debian chromium + Playwright, no
download), served by the real uvicorn server over real sockets, on real SQLite/SM4 files.

Screenshots of every page are saved to ``test-artifacts/webapp/`` at the repository root.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import time
from pathlib import Path

import pytest

from faceset import DATA
from webfixtures import ID_UNKNOWN, ID_W1, ID_W2, PASSWORDS, TZ, make_site

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "webapp"
FACE = DATA / "ageitgey/examples__biden.jpg"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from playwright import sync_api      # no skip: the web app must be tested in a browser
    assert os.path.exists(CHROMIUM), "Debian chromium is required: apt-get install -y chromium (make system-deps)"
    from gateway.cli.web import start_web, stop_web
    home = tmp_path_factory.mktemp("web-site")
    today = dt.datetime.now(TZ).date()
    cfg, expected = make_site(home, today)
    server = start_web(cfg)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                 args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
    yield {"cfg": cfg, "url": server.url, "browser": browser, "today": today, **expected}
    browser.close()
    pw.stop()
    stop_web(server)


def expect(locator):
    from playwright.sync_api import expect as pw_expect
    return pw_expect(locator)


def new_page(site, lang="zh"):
    ctx = site["browser"].new_context(locale="zh-CN" if lang == "zh" else "en-US", accept_downloads=True,
                                      viewport={"width": 1280, "height": 900})
    return ctx, ctx.new_page()


def sign_in(site, page, user, password=None):
    page.goto(site["url"] + "/")
    assert "/login" in page.url
    page.fill("#user", user)
    page.fill("#password", password or PASSWORDS[user])
    page.click("#signin")


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_full_id(page):
    text = page.content()
    for number in (ID_W1, ID_W2, ID_UNKNOWN):
        assert number not in text, "a full ID number is on the page"


def test_manager_day(site):
    ctx, page = new_page(site)
    page.goto(site["url"] + "/roster")
    assert "/login" in page.url                   # not signed in: sent to sign in
    shot(page, "01-login")

    # wrong password: refused, stays on the sign-in page, no session
    sign_in(site, page, "boss", "not-the-password")
    assert "/login" in page.url
    assert page.locator("#error").inner_text()
    assert not [c for c in ctx.cookies() if c["name"] == "sg_session"]
    shot(page, "02-login-wrong-password")

    sign_in(site, page, "boss")
    assert page.locator("#whoami").inner_text().startswith("boss")
    # today: W000001 still in, W000002 came and went
    assert page.locator("#on-site").inner_text() == "1"
    assert int(page.locator("#entries").inner_text()) == 2
    assert page.locator("#exits").inner_text() == "1"
    assert page.locator("#denials").inner_text() == "1"
    assert page.locator("svg.chart rect.bar-in").count() >= 1
    teams = page.locator("#teams").inner_text()
    assert "钢筋班" in teams and "电工班" in teams
    shot(page, "03-today")

    # roster: find a worker by name
    page.click("text=花名册")
    page.fill("#q", "张三")
    page.click("#search")
    rows = page.locator("#roster tr")
    expect(rows).to_have_count(2)                 # header + one worker
    assert "W000001" in rows.nth(1).inner_text()
    assert "1101**********1233" in rows.nth(1).inner_text()
    no_full_id(page)
    shot(page, "04-roster-search")
    # flags: the electrician's certificate ends within 30 days
    page.goto(site["url"] + "/roster?flag=certificate_ending")
    assert page.locator("#roster tr").count() == 2 and "W000002" in page.locator("#roster").inner_text()
    # search by the full ID number finds the worker, and the number is still not shown
    page.goto(site["url"] + "/roster")
    page.fill("#q", ID_W2)
    page.click("#search")
    expect(page.locator("#roster")).to_contain_text("W000002")
    no_full_id(page)

    # the worker's month
    page.goto(site["url"] + "/roster?q=W000001")
    page.click("text=W000001")
    assert int(page.locator("#days-attended").inner_text()) == len(site["w1_days"])
    present = {int(x) for x in page.locator("#calendar td.present").evaluate_all(
        "els => els.map(e => e.dataset.day)")}
    assert present == site["w1_days"]
    shot(page, "05-worker-month")

    # unknown card: register it, then enrol the face
    page.click("text=未登记卡")
    card = page.locator(".unknown-card").first
    assert "王五" in card.inner_text() and "1101**********1238" in card.inner_text()
    no_full_id(page)
    shot(page, "06-unknown-cards")
    card.locator("input[name=worker_id]").fill("W000003")
    card.locator("input[name=team]").fill("木工班")
    card.locator(".do-register").click()
    page.wait_for_url("**/workers/W000003")
    assert "W000003" in page.locator("#flash").inner_text()
    assert "王五" in page.locator("h1").inner_text()
    assert page.locator("#face").inner_text() == "未采集"
    page.set_input_files("#photos", str(FACE))
    page.click("#upload")
    expect(page.locator("#flash")).to_contain_text("人脸已采集")
    assert page.locator("#face").inner_text().startswith("已采集")
    shot(page, "07-registered-and-enrolled")
    page.fill("#edit input[name=team]", "木工二班")
    page.click("#save")
    expect(page.locator("#flash")).to_contain_text("已保存")
    assert "木工二班" in page.locator("#details").inner_text()
    page.goto(site["url"] + "/unknown")
    assert page.locator(".unknown-card").count() == 0
    page.goto(site["url"] + "/roster?q=" + ID_UNKNOWN)
    assert "W000003" in page.locator("#roster").inner_text()
    assert "木工二班" in page.locator("#roster").inner_text()

    # the month's sheet: XLSX and CSV downloads, contents checked
    page.goto(site["url"] + "/sheet")
    shot(page, "08-sheet")
    with page.expect_download() as dl:
        page.click("#download-xlsx")
    path = ARTIFACTS / dl.value.suggested_filename
    dl.value.save_as(path)
    assert dl.value.suggested_filename == f"attendance-P-WEB-{site['today']:%Y-%m}.xlsx"
    from openpyxl import load_workbook
    ws = load_workbook(path, read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0].startswith("考勤表")
    header = rows[1]
    assert header[:6] == ("序号", "工号", "姓名", "身份证号", "班组", "工种") and header[-1] == "出勤天数"
    by_worker = {r[1]: r for r in rows[3:] if r[1]}
    w1 = by_worker["W000001"]
    assert w1[2] == "张三" and w1[3] == "1101**********1233" and w1[4] == "钢筋班"
    marked = {int(header[i]) for i in range(6, len(header) - 1) if w1[i] == "√"}
    assert marked == site["w1_days"] and w1[-1] == len(site["w1_days"])
    assert by_worker["W000002"][5] == "建筑电工" and by_worker["W000002"][-1] == 1
    assert by_worker["W000003"][-1] == 0          # registered today, not yet through a gate
    with page.expect_download() as dl:
        page.click("#download-csv")
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    crows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r[1] for r in crows[2:]] == [r[1] for r in rows[3:-1]]   # same workers, same order
    for number in (ID_W1, ID_W2, ID_UNKNOWN):
        assert number not in text

    # devices and alarms (no daemon in this test: says so)
    page.goto(site["url"] + "/devices")
    assert page.locator("#daemon-state").get_attribute("class") == "bad"
    shot(page, "09-devices")

    # English
    page.goto(site["url"] + "/?lang=en")
    assert "On site now" in page.locator(".cards").inner_text()
    assert "在场" not in page.locator("main").inner_text()
    page.goto(site["url"] + "/roster")             # the choice sticks (cookie)
    assert page.locator("h1").inner_text() == "Roster"
    shot(page, "10-today-english")

    page.click("#logout")
    page.wait_for_url("**/login?why=signed_out")
    page.goto(site["url"] + "/roster")
    assert "/login" in page.url
    ctx.close()


def test_viewer_may_look_but_not_change(site):
    from gateway.ledger.site_data import SiteData
    data = SiteData(site["cfg"])
    data.roster.note_unknown({"name": "赵六", "id_number": "110101199403071238", "gender": "male"}, "lane2")
    ctx, page = new_page(site)
    sign_in(site, page, "look")
    page.goto(site["url"] + "/unknown")
    card = page.locator(".unknown-card", has_text="赵六")
    assert card.count() == 1 and card.locator(".do-register").count() == 0   # no form for a viewer
    key = card.get_attribute("data-key")
    csrf = page.locator("input[name=csrf]").first.input_value()
    # ...and posting the manager's form by hand is refused
    r = page.request.post(f"{site['url']}/unknown/{key}/register",
                          form={"csrf": csrf, "worker_id": "W000099"}, max_redirects=0)
    assert r.status == 403
    page.goto(f"{site['url']}/unknown/{key}/register")        # GET is not a way in either
    r = page.request.post(f"{site['url']}/workers/W000001/face", multipart={"csrf": csrf}, max_redirects=0)
    assert r.status == 403
    assert data.roster.unknown(key)["status"] == "pending"
    assert data.roster.get("W000099") is None
    page.goto(site["url"] + "/roster")
    assert page.locator("#roster tr").count() >= 3          # reading is allowed
    # a viewer's page refuses a forged action with a clear message
    page.set_content(f'<form method="post" action="{site["url"]}/unknown/{key}/reject">'
                     f'<input name="csrf" value="{csrf}"><button id="go">x</button></form>')
    page.click("#go")
    assert "不能执行此操作" in page.locator("#refused").inner_text()
    shot(page, "11-viewer-refused")
    assert data.roster.unknown(key)["status"] == "pending"
    data.close()
    ctx.close()


def test_installer_sees_no_personal_data(site):
    ctx, page = new_page(site)
    sign_in(site, page, "fixer")
    assert page.locator("#on-site").inner_text() == "1"
    for path in ("/roster", "/workers/W000001", "/unknown", "/sheet", f"/sheet/{site['today']:%Y-%m}.csv"):
        r = page.request.get(site["url"] + path, max_redirects=0)
        assert r.status == 403, path
        assert "张三" not in r.text()
    page.goto(site["url"] + "/devices")
    assert page.locator("#lanes").count() == 1
    ctx.close()


def test_forged_form_without_token_is_refused(site):
    ctx, page = new_page(site)
    sign_in(site, page, "boss")
    from gateway.ledger.site_data import SiteData
    data = SiteData(site["cfg"])
    card = data.roster.note_unknown({"name": "孙七", "id_number": "110101199503071231"}, "lane1")
    r = page.request.post(f"{site['url']}/unknown/{card['key']}/reject", form={"note": "x"}, max_redirects=0)
    assert r.status == 403
    assert data.roster.unknown(card["key"])["status"] == "pending"
    data.close()
    ctx.close()


def test_expired_session_is_refused(site, tmp_path):
    from gateway.cli.web import start_web, stop_web
    cfg, _ = make_site(tmp_path, site["today"], web={"session_idle_min": 0.04})    # 2.4 s idle timeout
    server = start_web(cfg)
    try:
        page = site["browser"].new_page()
        page.goto(server.url + "/")
        page.fill("#user", "boss")
        page.fill("#password", PASSWORDS["boss"])
        page.click("#signin")
        expect(page.locator("#on-site")).to_have_count(1)
        for _ in range(3):                           # activity keeps the session alive
            time.sleep(1.0)
            page.goto(server.url + "/roster")
            assert page.locator("#roster").count() == 1
        time.sleep(3.0)
        page.goto(server.url + "/roster")
        assert "/login" in page.url
        assert "会话已过期" in page.locator("#notice").inner_text()
        page.screenshot(path=str(ARTIFACTS / "12-session-expired.png"))
        page.close()
    finally:
        stop_web(server)
