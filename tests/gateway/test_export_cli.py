"""`sitegate export attendance` through the real console script (SITEGATE_HOME, real outbox,
roster and ledger files), and the running daemon filling attendance.db by itself."""
from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import time

import openpyxl
import pytest

from attendance_records import allow, deny, local_ms, put, void
from drivers.sim.samples import HMT, RESIDENT
from gateway import keys
from gateway.config import load
from gateway.roster.store import Roster
from procs import sitegate_cmd
from uplink.outbox import Outbox

pytestmark = pytest.mark.timeout(120)
GW, PROJECT = "gw-export-1", "430100-P1"
FIXED = 6


def write_site(home, extra: str = "") -> object:
    (home / "site.toml").write_text(f'[gateway]\nid = "{GW}"\nproject = "{PROJECT}"\n{extra}')
    return load(home / "site.toml")


@pytest.fixture
def site(home):
    """A site with a roster and an outbox holding some of November 2026 (left open, as the
    running daemon keeps it)."""
    cfg = write_site(home)
    roster = Roster(cfg.roster.path, key_file=home / "keys" / "roster.sm4")
    roster.add("W1", id_number=RESIDENT["id_number"], name=RESIDENT["name"], team="A-钢筋")
    roster.add("W2", id_number=HMT["id_number"], name=HMT["name"], team="B-木工", status="exited")
    roster.add("W3", team="A-钢筋")                                  # active, never came
    roster.close()
    outbox = Outbox(cfg.outbox_path, GW, keys.generate(cfg.key_file))
    put(outbox, allow("W1", "in"), local_ms(2026, 11, 2, 7, 50))
    put(outbox, allow("W1", "out"), local_ms(2026, 11, 2, 17, 30))
    put(outbox, allow("W1", "in"), local_ms(2026, 11, 3, 7, 45))
    v = put(outbox, allow("W1", "in"), local_ms(2026, 11, 4, 7, 45))
    put(outbox, void("W1", v), local_ms(2026, 11, 4, 7, 45, 9))      # nobody walked through
    put(outbox, allow("W2", "in"), local_ms(2026, 11, 1, 0, 10))     # 16:10 UTC on 31 October
    put(outbox, deny("W2", "exited"), local_ms(2026, 11, 5, 7, 0))
    put(outbox, allow("W9", "in"), local_ms(2026, 11, 30, 23, 50))   # not on the roster
    put(outbox, allow("W1", "in"), local_ms(2026, 10, 31, 8, 0))     # another month
    yield cfg
    outbox.close()


def export(*args, cwd=None):
    return subprocess.run(sitegate_cmd("export", "attendance", *args), capture_output=True, cwd=cwd,
                          timeout=60)


def no_full_ids(data: bytes) -> bool:
    return not any(c["id_number"].encode() in data for c in (RESIDENT, HMT))


def test_xlsx_with_the_default_name(site, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    res = export("--month", "2026-11", "-c", str(site.home / "site.toml"), cwd=out)
    path = out / f"attendance-{PROJECT}-2026-11.xlsx"
    assert res.returncode == 0, res.stderr.decode()[-500:]
    err = " ".join(res.stderr.decode().split())           # rich wraps at the terminal's width
    assert f"{path.name}: 4 worker(s), 4 attendance day(s) in 2026-11 (9 new record(s) indexed)" in err
    assert [p.name for p in out.iterdir()] == [path.name]
    assert no_full_ids(path.read_bytes())                  # (compressed; the cells are checked below)
    grid = [list(r) for r in openpyxl.load_workbook(path)["2026-11"].iter_rows(values_only=True)]
    assert grid[0][0] == f"考勤表 {PROJECT} 2026年11月"
    assert grid[1][:FIXED + 1] == ["序号", "工号", "姓名", "身份证号", "班组", "工种", "1"]
    assert grid[2][FIXED] == "日"                          # 1 November 2026
    body = {r[1]: r for r in grid[3:-1]}
    assert list(body) == ["W1", "W3", "W2", "W9"]           # team A, team B, no team
    w1 = body["W1"]
    same = w1[2] == RESIDENT["name"]
    assert same and w1[3] == "4501**********0030" and w1[4] == "A-钢筋"
    assert [d for d, v in enumerate(w1[FIXED:-1], 1) if v == "√"] == [2, 3] and w1[-1] == 2
    assert body["W3"][-1] == 0 and body["W2"][-1] == 1 and body["W2"][FIXED] == "√"
    assert body["W9"][2] is None and body["W9"][FIXED + 29] == "√"
    assert grid[-1][-1] == 4
    cells = " ".join(str(c) for r in grid for c in r if c is not None)
    assert not any(c["id_number"] in cells for c in (RESIDENT, HMT))

    again = export("--month", "2026-11", "-c", str(site.home / "site.toml"), "-o", str(out / "b.xlsx"))
    assert again.returncode == 0
    assert "4 attendance day(s)" in again.stderr.decode() and "new record" not in again.stderr.decode()
    ledger = sqlite3.connect(site.home / "attendance.db")
    assert ledger.execute("SELECT COUNT(*) FROM passages").fetchone()[0] == 9
    ledger.close()
    october = export("--month", "2026-10", "-c", str(site.home / "site.toml"), "-o", str(out / "o.csv"))
    rows = list(csv.reader(io.StringIO((out / "o.csv").read_bytes().decode("utf-8-sig"))))
    assert october.returncode == 0 and {r[1]: r[-1] for r in rows[2:]} == {"W1": "1", "W3": "0"}


def test_csv_to_a_file_and_to_stdout(site, tmp_path):
    conf = str(site.home / "site.toml")
    res = export("--month", "2026-11", "-c", conf, "--format", "csv", "-o", str(tmp_path / "r.txt"))
    assert res.returncode == 0
    data = (tmp_path / "r.txt").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and no_full_ids(data)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [f"考勤表 {PROJECT} 2026年11月"] and rows[1][-1] == "出勤天数"
    assert {r[1]: r[-1] for r in rows[2:]} == {"W1": "2", "W3": "0", "W2": "1", "W9": "1"}
    assert rows[2][3] == "4501**********0030"

    inferred = export("--month", "2026-11", "-c", conf, "-o", str(tmp_path / "r.CSV"))
    assert inferred.returncode == 0 and (tmp_path / "r.CSV").read_bytes() == data

    stdout = export("--month", "2026-11", "-c", conf, "-o", "-")
    assert stdout.returncode == 0 and stdout.stdout == data
    assert list(tmp_path.glob("*.xlsx")) == []


def test_bad_input_exits_2_with_the_reason(home, tmp_path):
    res = export("--month", "2026-13")
    assert res.returncode == 2
    assert "--month" in res.stderr.decode() and "give it as YYYY-MM, e.g. 2026-11" in res.stderr.decode()
    assert export("--month", "11-2026").returncode == 2
    assert export().returncode == 2 and "--month" in export().stderr.decode()
    res = export("--month", "2026-11", "--format", "xlsx", "-o", "-")
    assert res.returncode == 2 and "stdout takes CSV only" in res.stderr.decode()
    assert export("--month", "2026-11", "--format", "pdf").returncode == 2
    assert list(home.iterdir()) == []                      # refused before touching anything


def test_broken_ledger_file_is_a_clear_error(site, tmp_path):
    (site.home / "attendance.db").write_bytes(b"not a database " * 300)
    res = export("--month", "2026-11", "-c", str(site.home / "site.toml"), "-o", str(tmp_path / "x.csv"))
    err = res.stderr.decode()
    assert res.returncode == 1 and "Traceback" not in err
    assert "cannot open the site's data in" in err and "not a database" in err
    assert not (tmp_path / "x.csv").exists()


def test_fresh_home_without_an_outbox_gives_an_empty_sheet(home, tmp_path):
    res = export("--month", "2026-11", "-o", "-")
    assert res.returncode == 0, res.stderr.decode()[-500:]
    rows = list(csv.reader(io.StringIO(res.stdout.decode("utf-8-sig"))))
    assert rows[0] == ["考勤表 unconfigured 2026年11月"] and rows[2:] == []


def test_gap_is_a_warning(site, tmp_path):
    ob = Outbox(site.outbox_path, GW, keys.load(site.key_file))
    ob.seal()
    assert ob.ack(3, ob.hash_of(3)) and ob.purge(now=local_ms(2027, 1, 1)) == 3
    ob.close()
    res = export("--month", "2026-11", "-c", str(site.home / "site.toml"), "-o", "-")
    assert res.returncode == 0
    err = " ".join(res.stderr.decode().split())
    assert "records 1..3 left the outbox before the ledger indexed them" in err
    rows = list(csv.reader(io.StringIO(res.stdout.decode("utf-8-sig"))))
    assert {r[1]: r[-1] for r in rows[2:]} == {"W1": "0", "W3": "0", "W2": "1", "W9": "1"}


def test_running_daemon_fills_the_ledger(home, mosquitto, tmp_path):
    cfg = write_site(home, f'[broker]\nurl = "{mosquitto.url}"\n'
                           "[simulate]\nrecords = 30\nrate = 200\nworkers = 5\n")
    keys.generate(cfg.key_file)
    log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(home / "site.toml")), stdout=log, stderr=log)

    def indexed() -> int:
        try:
            conn = sqlite3.connect(f"file:{home / 'attendance.db'}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            return 0

    try:
        deadline = time.monotonic() + 15
        while indexed() < 30 and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.2)
        assert indexed() == 30, (tmp_path / "daemon.log").read_text()[-2000:]
    finally:
        daemon.terminate()
        daemon.wait(15)
        log.close()
    assert daemon.returncode == 0
    conn = sqlite3.connect(home / "attendance.db")
    assert conn.execute("SELECT v FROM meta WHERE k = 'last_seq'").fetchone() == ("30",)
    assert conn.execute("SELECT SUM(ins + outs), COUNT(DISTINCT worker) FROM days").fetchone() == (30, 5)
    assert conn.execute("SELECT COUNT(*) FROM gaps").fetchone() == (0,)
    month = conn.execute("SELECT MIN(day) FROM days").fetchone()[0][:7]
    conn.close()
    res = export("--month", month, "-o", "-", "-c", str(home / "site.toml"))
    assert res.returncode == 0 and "new record" not in res.stderr.decode()   # the daemon did it
    rows = list(csv.reader(io.StringIO(res.stdout.decode("utf-8-sig"))))
    assert sorted(r[1] for r in rows[2:]) == [f"W{i:06d}" for i in range(5)]
