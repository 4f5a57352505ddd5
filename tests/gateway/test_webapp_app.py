"""The web app's edges through the whole FastAPI stack in-process (the browser tests cover the
pages end to end): download names, roster cache, ID numbers never echoed, headers, redirects."""
from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

import pytest

from webfixtures import ID_W1, PASSWORDS, TZ, make_site



@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    from gateway.ledger.site_data import SiteData
    from gateway.cli.web import open_accounts
    from gateway.web.app import build_app
    today = dt.datetime.now(TZ).date()
    cfg, _ = make_site(tmp_path, today)
    cfg.project = "京沪高速/三标"
    data = SiteData(cfg)
    c = TestClient(build_app(data, open_accounts(cfg)))
    assert c.post("/login", data={"user": "boss", "password": PASSWORDS["boss"]},
                  follow_redirects=False).status_code == 303
    c.data, c.today = data, today
    yield c
    data.close()


def test_sheet_download_keeps_a_chinese_project_name(client):
    r = client.get(f"/sheet/{client.today:%Y-%m}.csv")
    assert r.status_code == 200
    cd = r.headers["content-disposition"]
    ascii_part, utf8_part = cd.split("; filename*=UTF-8''")
    assert ascii_part.isascii() and "/" not in unquote(utf8_part)
    assert unquote(utf8_part) == f"attendance-京沪高速_三标-{client.today:%Y-%m}.csv"


def test_bad_sheet_names_are_404_not_errors(client):
    for name in ("2026-13.xlsx", "2026-11.pdf", "..%2F..%2Fetc.csv", "x"):
        assert client.get(f"/sheet/{name}").status_code == 404


def test_roster_screen_sees_a_change_made_within_the_same_millisecond(client):
    assert "W000001" in client.get("/roster").text
    client.data.roster.add("W000001", id_number=ID_W1, name="张三", team="新班组")
    client.data.roster.add("W000001", id_number=ID_W1, name="张三", team="钢筋班二")
    assert "钢筋班二" in client.get("/roster?q=W000001").text


def test_id_number_search_is_posted_and_never_echoed(client):
    page = client.get("/roster").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    r = client.post("/roster", data={"csrf": csrf, "q": ID_W1}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/roster?q=W000001"
    r = client.post("/roster", data={"csrf": csrf, "q": "110101199901011111"}, follow_redirects=False)
    assert "110101199901011111" not in unquote(r.headers["location"] + r.headers["set-cookie"])
    assert "1101**********1111" in unquote(r.headers["set-cookie"])      # said once, masked
    page = client.get(r.headers["location"]).text
    assert "1101**********1111" in page.split('id="flash">')[1].split("<")[0]
    assert 'id="flash"' not in client.get("/roster").text                # and only once
    r = client.get(f"/roster?q={ID_W1}")            # typed into the address bar by hand
    assert ID_W1 not in r.text and "W000001" in r.text
    assert client.post("/roster", data={"q": ID_W1}, follow_redirects=False).status_code == 403


def test_headers_and_open_redirect(client):
    r = client.get("/")
    assert r.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert float(r.headers["server-timing"].split("dur=")[1]) > 0
    client.cookies.clear()
    r = client.post("/login", data={"user": "boss", "password": PASSWORDS["boss"],
                                    "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    r = client.post("/login", data={"user": "boss", "password": PASSWORDS["boss"], "next": "/unknown"},
                    follow_redirects=False)
    assert r.headers["location"] == "/unknown"


def test_requeued_card_forgets_its_old_decision(client):
    roster = client.data.roster
    card = roster.note_unknown({"name": "周八", "id_number": "110101199603071237"}, "lane1")
    roster.register_unknown(card["key"], "W000050", "boss")
    roster.remove("W000050")                          # worker left; the card is read again
    again = roster.note_unknown({"name": "周八", "id_number": "110101199603071237"}, "lane1")
    assert again["status"] == "pending" and again["worker"] is None and again["decided_by"] is None


def test_messages_cannot_be_planted_through_a_link(client):
    assert "Call 400-" not in client.get("/roster?msg=Call+400-123+to+verify").text


def test_sign_in_errors_are_in_the_page_language(client):
    client.cookies.clear()
    r = client.post("/login", data={"user": "boss", "password": "wrong-password"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = client.post("/login?lang=en", data={"user": "boss", "password": "wrong-password"})
    assert "Wrong user name or password" in r.text
    for _ in range(5):
        r = client.post("/login", data={"user": "boss", "password": "wrong-password"})
    assert r.status_code == 401 and "Wrong user name or password" in r.text   # English stuck (cookie)
    assert "locked" not in r.text.lower()           # a lock is not told apart from a wrong password


def _csrf(client, path="/roster") -> str:
    return client.get(path).text.split('name="csrf" value="')[1].split('"')[0]


def test_manager_edits_a_worker_and_deletes_the_face_on_exit(client):
    import numpy as np
    data = client.data
    data.templates.add("W000002", [np.random.default_rng(0).normal(0, 0.1, 128)])
    form = {"csrf": _csrf(client, "/workers/W000002"), "status": "active", "team": "电工二班",
            "trade": "130", "special_op": "", "contract_end": "2031-06-30", "cert_valid_to": "2030-01-01"}
    r = client.post("/workers/W000002/edit", data=form, follow_redirects=False)
    assert r.status_code == 303 and "已保存" in unquote(r.headers["set-cookie"])
    w = data.roster.get("W000002")
    assert (w.team, str(w.contract_end), str(w.cert_valid_to)) == ("电工二班", "2031-06-30", "2030-01-01")
    assert data.roster.by_id_number("110101198503071235").worker_id == "W000002"   # card still matches
    # a bad date changes nothing and says why
    r = client.post("/workers/W000002/edit", data=form | {"contract_end": "2031-02-30"}, follow_redirects=False)
    assert "not a date" in unquote(r.headers["set-cookie"])
    assert str(data.roster.get("W000002").contract_end) == "2031-06-30"
    # exit with deletion: status exited, templates gone
    r = client.post("/workers/W000002/edit", data=form | {"status": "exited", "delete_face": "1"},
                    follow_redirects=False)
    assert data.roster.get("W000002").status == "exited" and data.templates.count("W000002") == 0
    assert "1 " in unquote(r.headers["set-cookie"])


def test_viewer_cannot_edit(client, tmp_path):
    from fastapi.testclient import TestClient
    viewer = TestClient(client.app)
    viewer.post("/login", data={"user": "look", "password": PASSWORDS["look"]})
    r = viewer.post("/workers/W000001/edit", data={"csrf": _csrf(viewer), "status": "exited"},
                    follow_redirects=False)
    assert r.status_code == 403 and client.data.roster.get("W000001").status == "active"
    assert 'id="edit"' not in viewer.get("/workers/W000001").text


def test_devices_page_shows_the_roster_version_from_central_and_its_age(client):
    import re
    import time
    page = client.get("/devices?lang=en").text
    assert "no roster from central yet" in page
    client.data.roster.apply_central(version=42, project="P-WEB", full=True, entries=[],
                                     private={}, ts_ms=int(time.time() * 1000) - 3 * 3600 * 1000)
    cell = re.search(r'id="roster-version"[^>]*>(.*?)</td>', client.get("/devices?lang=en").text, re.S)
    assert cell and "version 42" in cell.group(1) and "3.0 h" in cell.group(1), cell

def test_enrolment_refusal_says_why_in_the_page_language(client, tmp_path):
    import cv2

    from faceframes import photo
    dark = cv2.imencode(".jpg", (cv2.imread(str(photo("103", "103_7"))) * 0.25).astype("uint8"))[1].tobytes()
    side = photo("103", "103_18").read_bytes()
    csrf = _csrf(client, "/workers/W000001")
    r = client.post("/workers/W000001/face", data={"csrf": csrf},
                    files=[("photos", ("dark.jpg", dark, "image/jpeg")), ("photos", ("side.jpg", side, "image/jpeg"))],
                    follow_redirects=False)
    flash = unquote(r.headers["set-cookie"])
    assert r.status_code == 303 and "dark.jpg: 照片太暗" in flash and "side.jpg: 照片中的人脸不是正面" in flash
    assert client.data.templates.count("W000001") == 0
    good = [photo("103", n).read_bytes() for n in ("103_7", "103_10")]
    r = client.post("/workers/W000001/face?lang=en", data={"csrf": csrf}, follow_redirects=False,
                    files=[("photos", (f"{i}.jpg", b, "image/jpeg")) for i, b in enumerate(good)])
    assert client.data.templates.count("W000001", "mobilefacenet-v2") == 2


def test_installer_sees_the_face_calibration_picture(client, tmp_path):
    import numpy as np
    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from gateway.cli.main import main
    fixer = TestClient(client.app)
    fixer.post("/login", data={"user": "fixer", "password": PASSWORDS["fixer"]})
    page = fixer.get("/faces").text
    assert 'id="cal-none"' in page and "sitegate faces calibrate" in page
    rng = np.random.default_rng(4)
    for i in range(40):
        c = rng.normal(0, 1, 192)
        client.data.templates.add(f"W9{i:04d}", [(c + rng.normal(0, 0.5, 192)).astype(np.float32) for _ in range(2)])
    res = CliRunner().invoke(main, ["faces", "calibrate", "-c", str(tmp_path / "none.toml")],
                             env={"SITEGATE_HOME": str(tmp_path)})
    assert res.exit_code == 0, res.output
    page = fixer.get("/faces").text
    assert 'id="cal-png" src="data:image/png;base64,' in page and "40 名工人" in page
    assert "当前 1:1 阈值 0.430" in page and "mobilefacenet" in page
    assert "W9000" not in page                                     # counts only, nobody named
    assert "Face calibration" in fixer.get("/faces?lang=en").text
