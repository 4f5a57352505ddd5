"""`sitegate roster import` against hostile files, as a real process: XLSX zip bombs (honest and
lying about their size) are refused before they inflate, with the process staying small; empty
and non-zip workbooks, Latin-1 CSV and broken JSON end in one line naming the file, exit code 2,
and the roster is unchanged. A real workbook imports (dates and numbers as the roster wants)."""
from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from hostile_files import latin1_csv, lie_about_size, not_a_zip, run_measured, workbook, xlsx_bomb
from procs import sitegate_cmd

pytestmark = pytest.mark.timeout(300)
MiB = 1024 * 1024
HEADER = ["worker_id", "name", "team", "contract_end", "blacklisted"]


@pytest.fixture
def site(home):
    conf = home / "site.toml"
    conf.write_text('[gateway]\nid = "gw-import-1"\n')
    r = subprocess.run(sitegate_cmd("roster", "add", "W0", "--name", "原有", "-c", str(conf)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return conf


def roster(conf) -> list[dict]:
    r = subprocess.run(sitegate_cmd("roster", "list", "--json", "-c", str(conf)), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def import_(conf, path, measured=False):
    cmd = sitegate_cmd("roster", "import", str(path), "-c", str(conf))
    if measured:
        return run_measured(cmd, timeout=240)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240), 0


def refused(res, path, *words):
    err = res.stderr.strip()
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and len(err.splitlines()) == 1, err
    assert path.name in err, err
    for w in words:
        assert w in err, err


def test_real_workbook_imports(site, tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(workbook([HEADER, ["W1", "张三", "钢筋班", dt.date(2030, 6, 30), "yes"],
                               [1002, "李四", None, None, None]]))
    res, _ = import_(site, path)
    assert res.returncode == 0 and "2 worker(s) imported" in res.stdout, res.stderr
    rows = {r["worker_id"]: r for r in roster(site)}
    assert set(rows) == {"W0", "W1", "1002"}
    assert rows["W1"]["contract_end"] == "2030-06-30" and rows["W1"]["blacklisted"]
    assert rows["W1"]["team"] == "钢筋班"


def test_zip_bombs_refused_before_they_inflate(site, tmp_path):
    before = roster(site)
    honest = xlsx_bomb(tmp_path / "bomb.xlsx", [HEADER, ["W1", "x", "y", None, None]])
    res, peak = import_(site, honest, measured=True)
    refused(res, honest, "zip bomb")
    assert peak < 200 * MiB, f"peak {peak / MiB:.0f} MiB"
    liar = lie_about_size(xlsx_bomb(tmp_path / "liar.xlsx", [HEADER, ["W1", "x", "y", None, None]]),
                          "xl/sharedStrings.xml", 4096)
    res, peak = import_(site, liar, measured=True)
    refused(res, liar, "not a readable XLSX workbook")
    assert peak < 200 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert roster(site) == before


@pytest.mark.parametrize("kind", ["empty.xlsx", "csv-renamed.xlsx", "truncated.xlsx", "latin1.csv",
                                  "broken.json"])
def test_malformed_files_one_line_exit_2_nothing_changed(site, tmp_path, kind):
    before = roster(site)
    path = tmp_path / kind
    if kind == "empty.xlsx":
        path.write_bytes(b"")
        words = ["not an XLSX workbook"]
    elif kind == "csv-renamed.xlsx":
        not_a_zip(path)
        words = ["not an XLSX workbook"]
    elif kind == "truncated.xlsx":
        path.write_bytes(workbook([HEADER, ["W1", "x", "y", None, None]])[:3000])
        words = ["not an XLSX workbook"]
    elif kind == "latin1.csv":
        latin1_csv(path, "worker_id,name", "W1,José")
        words = ["not UTF-8", "0xe9"]
    else:
        path.write_text('[{"worker_id": "W1", "name": ')
        words = ["not JSON"]
    res, _ = import_(site, path)
    refused(res, path, *words)
    assert roster(site) == before
