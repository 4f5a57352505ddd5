"""Teams on the local roster: old roster files (no team column) are migrated in place, and the
CLI takes and shows teams."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from click.testing import CliRunner

from biometrics.crypto import load_or_create_key, seal
from gateway.cli.main import main
from gateway.roster.store import Roster

OLD_SCHEMA = """
CREATE TABLE workers (
    worker TEXT PRIMARY KEY, id_mac TEXT UNIQUE, sealed BLOB NOT NULL,
    status TEXT NOT NULL, blacklisted INTEGER NOT NULL DEFAULT 0, blacklist_reason TEXT,
    contract_end TEXT, trade TEXT, cert_valid_to TEXT, updated_ms INTEGER NOT NULL);
CREATE TABLE presence (worker TEXT PRIMARY KEY, dir TEXT NOT NULL, ts INTEGER NOT NULL);
"""
NUMBER = "450103198503070030"


def old_roster(tmp_path, key_file=None):
    """A roster file as the release before teams wrote it, holding one sealed worker."""
    key = load_or_create_key(key_file or tmp_path / "keys" / "roster.sm4")
    scratch = Roster(tmp_path / "scratch.db", key=key)           # same key: same id MAC
    mac = scratch.id_mac(NUMBER)
    scratch.close()
    secret = json.dumps({"name": "老王", "id_number": NUMBER, "birth": "1985-03-07", "gender": "male"},
                        ensure_ascii=False).encode()
    path = tmp_path / "roster.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")                 # as every roster file is
    conn.executescript(OLD_SCHEMA)
    conn.execute("INSERT INTO workers (worker, id_mac, sealed, status, trade, cert_valid_to, updated_ms) "
                 "VALUES (?,?,?,?,?,?,?)", ("W000001", mac, seal(key, secret, b"W000001"), "active",
                                            "welder", "2027-01-01", 1))
    conn.execute("INSERT INTO presence VALUES ('W000001', 'in', 5)")
    conn.commit()
    conn.close()
    return path, key


def columns(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[1] for r in conn.execute("PRAGMA table_info(workers)")]
    finally:
        conn.close()


def test_old_roster_file_gets_a_team_column(tmp_path):
    path, key = old_roster(tmp_path)
    assert "team" not in columns(path)
    r = Roster(path, key=key)
    assert columns(path).count("team") == 1
    w = r.get("W000001")                                     # old row still readable
    # the old single "trade" (a special trade) is split: welder -> work type 电焊工, operation AQ-2.1
    assert (w.team, w.trade, w.special_op, w.birth.isoformat(), w.gender) == \
        (None, "270", "AQ-2.1", "1985-03-07", "male")
    assert r.by_id_number(NUMBER).worker_id == "W000001"
    assert r.last_direction("W000001") == "in"
    r.add("W000001", id_number=NUMBER, team="B-木工", trade="电焊工", cert_valid_to="2027-01-01")
    r.add("W000002", team="A-钢筋")
    assert [(w.worker_id, w.team) for w in r.workers()] == [("W000001", "B-木工"), ("W000002", "A-钢筋")]
    r.close()
    again = Roster(path, key=key)                           # reopening migrates nothing twice
    assert again.get("W000001").team == "B-木工" and columns(path).count("team") == 1
    again.close()


OPEN_ALL = """
import sys, time
from pathlib import Path
from gateway.roster.store import Roster
key, go, paths = bytes.fromhex(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
bad = 0
for p in paths:
    try:
        Roster(p, key=key).close()
    except Exception as exc:
        bad += 1
        print(type(exc).__name__, exc, file=sys.stderr)
sys.exit(1 if bad else 0)
"""


def test_old_roster_opened_by_many_processes_at_once(tmp_path):
    """The daemon and a CLI may open an old file at the same moment: each one migrates it or
    sees it migrated (no "duplicate column name")."""
    files = []
    for i in range(25):
        d = tmp_path / f"r{i}"
        d.mkdir()
        path, key = old_roster(d, key_file=tmp_path / "keys" / "roster.sm4")
        files.append(str(path))
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_ALL, key.hex(), str(go), *files], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    assert [p.stdout.readline() for p in procs] == ["ready\n"] * 6    # all imported and waiting
    go.touch()
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert errors == [""] * 6
    assert all(columns(f).count("team") == 1 for f in files)
    assert all(columns(f).count("special_op") == 1 for f in files)


def run(*args):
    res = CliRunner().invoke(main, list(map(str, args)))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res


def test_cli_roster_team(home, tmp_path):
    assert run("roster", "add", "W1", "--team", "A-钢筋", "--id-number", NUMBER).exit_code == 0
    assert run("roster", "add", "W2").exit_code == 0
    f = tmp_path / "r.csv"
    f.write_text("worker_id,name,team\nW3,某人,B-木工\n", encoding="utf-8")
    assert run("roster", "import", f).exit_code == 0
    rows = json.loads(run("roster", "list", "--json").stdout)
    assert {r["worker_id"]: r["team"] for r in rows} == {"W1": "A-钢筋", "W2": None, "W3": "B-木工"}
    lines = run("roster", "list").stdout.splitlines()
    assert lines[0].split() == ["W1", "4501**********0030", "A-钢筋", "active"]
    assert lines[1].split() == ["W2", "-", "-", "active"]
    assert lines[2].split() == ["W3", "-", "B-木工", "active"]
    r = Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4")
    assert r.get("W1").team == "A-钢筋"
    r.close()


def test_cli_update_changes_only_what_is_given(home):
    assert run("roster", "add", "W1", "--team", "A-钢筋", "--id-number", NUMBER, "--name", "张三",
               "--contract-end", "2030-01-01").stdout.strip() == "W1: on the roster"
    assert run("roster", "add", "W1", "--team", "B-木工").stdout.strip() == "W1: updated"
    r = Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4")
    w = r.by_id_number(NUMBER)                 # the card still finds the worker
    assert w is not None and w.worker_id == "W1" and w.team == "B-木工"
    assert str(w.contract_end) == "2030-01-01" and w.status == "active" and w.birth is not None
    assert r.private("W1")["name"] == "张三"
    r.close()
    assert run("roster", "add", "W1", "--status", "suspended").exit_code == 0
    r = Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4")
    assert r.get("W1").status == "suspended" and r.get("W1").team == "B-木工"
    r.close()
