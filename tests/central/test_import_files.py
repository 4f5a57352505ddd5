"""`sitegate-central import` against hostile files, as a real process: XLSX zip bombs (honest
and lying about their size) are refused before they inflate, with the process staying small;
empty and non-zip workbooks and Latin-1 CSV end in one line naming the file, exit code 2, and
nothing changes in the database. A real workbook still imports."""
from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest

from central.crypto import FieldCipher
from central.store import Store
from hostile_files import latin1_csv, lie_about_size, not_a_zip, run_measured, workbook, xlsx_bomb
from month import Central, register_project
from procs import central_cmd
from sample import SUBCONTRACTOR, make_id

pytestmark = pytest.mark.timeout(300)
CODE = "GX-IMP-1"
HEADER = ["projectCode", "idCardNumber", "workerName", "corpCode", "workType", "entryDate"]
MiB = 1024 * 1024


@pytest.fixture
def central(tmp_path):
    key = os.urandom(32)
    db = tmp_path / "c.db"
    c = Central(Store(f"sqlite:///{db}"))
    c.cipher = FieldCipher(key)
    c.reg.cipher = c.esc.cipher = c.cipher
    register_project(c, CODE, n_workers=1)
    c.store.engine.dispose()
    env = dict(os.environ, SITEGATE_CENTRAL_KEY=key.hex(), SITEGATE_HOME=str(tmp_path / "home"))
    return db, env


def counts(db) -> dict:
    con = sqlite3.connect(db)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def import_(central, path, measured=False):
    db, env = central
    cmd = central_cmd("import", "workers", str(path), "--db", f"sqlite:///{db}", "--no-evaluate")
    if measured:
        return run_measured(cmd, env=env, timeout=240)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240), 0


ROW = [CODE, make_id(301), "覃一", SUBCONTRACTOR, "010", "2026-03-05"]


def refused(res, path, *words):
    err = res.stderr.strip()
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and len(err.splitlines()) == 1, err
    assert path.name in err, err
    for w in words:
        assert w in err, err


def test_real_workbook_imports(central, tmp_path):
    db, _ = central
    before = counts(db)["workers"]
    path = tmp_path / "workers.xlsx"
    path.write_bytes(workbook([HEADER, ROW]))
    res, _ = import_(central, path)
    assert res.returncode == 0, res.stderr
    assert "imported 1 workers rows" in res.stdout and counts(db)["workers"] == before + 1


def test_zip_bombs_refused_before_they_inflate(central, tmp_path):
    db, _ = central
    before = counts(db)
    honest = xlsx_bomb(tmp_path / "bomb.xlsx", [HEADER, ROW])
    assert honest.stat().st_size < 1536 * 1024                   # about 1 MB on disk, 400 MiB inflated
    res, peak = import_(central, honest, measured=True)
    refused(res, honest, "zip bomb")
    assert peak < 200 * MiB, f"peak {peak / MiB:.0f} MiB"
    liar = lie_about_size(xlsx_bomb(tmp_path / "liar.xlsx", [HEADER, ROW]), "xl/sharedStrings.xml", 4096)
    res, peak = import_(central, liar, measured=True)
    refused(res, liar, "not a readable XLSX workbook")           # the member fails its size/CRC
    assert peak < 200 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert counts(db) == before


@pytest.mark.parametrize("kind", ["empty.xlsx", "csv-renamed.xlsx", "truncated.xlsx", "latin1.csv"])
def test_malformed_files_one_line_exit_2_nothing_changed(central, tmp_path, kind):
    db, _ = central
    before = counts(db)
    path = tmp_path / kind
    if kind == "empty.xlsx":
        path.write_bytes(b"")
        words = ["not an XLSX workbook"]
    elif kind == "csv-renamed.xlsx":
        not_a_zip(path, ",".join(HEADER) + "\n" + ",".join(ROW) + "\n")
        words = ["not an XLSX workbook"]
    elif kind == "truncated.xlsx":
        path.write_bytes(workbook([HEADER, ROW])[:3000])
        words = ["not an XLSX workbook"]
    else:
        latin1_csv(path, ",".join(HEADER), ",".join(ROW[:2] + ["José"] + ROW[3:]))
        words = ["not UTF-8", "0xe9"]
    res, _ = import_(central, path)
    refused(res, path, *words)
    assert counts(db) == before
