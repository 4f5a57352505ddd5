"""Trade is not special trade: a worker's work type (工种, the national code table) is kept apart
from the special operation (特种作业) that needs a certificate.  An ordinary work type passes
without a certificate; a special operation without or with an expired certificate is refused;
the configured list decides; old roster files are migrated; the web roster screen flags right."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import tomllib
from pathlib import Path

import pytest

from biometrics.crypto import load_or_create_key, seal
from central.codes import WORK_TYPE as CENTRAL_WORK_TYPE
from gateway.clockin.rules import Rules, eligibility, rules_from
from gateway.codes import SPECIAL_OPERATIONS, WORK_TYPES, classify_legacy
from gateway.config import ConfigError, load, parse
from gateway.roster.store import Roster, RosterError
from procs import sitegate_cmd
from webfixtures import PASSWORDS, TZ, make_site

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 21)
LAST_YEAR = dt.date(2025, 11, 21)


def test_gateway_work_types_are_the_national_table_central_uses():
    assert WORK_TYPES == CENTRAL_WORK_TYPE
    assert all(op.work_type is None or op.work_type in WORK_TYPES for op in SPECIAL_OPERATIONS.values())


@pytest.mark.parametrize("old, new", [
    ("钢筋工", ("020", None)), ("木工", ("240", None)), ("020", ("020", None)),
    ("electrician", ("130", "JZ-01")), ("welder", ("270", "AQ-2.1")), ("电焊工", ("270", None)),
    ("塔吊司机", (None, "JZ-05")), ("高处作业", (None, "AQ-3.2")), ("JZ-11", (None, "JZ-11")),
    ("高空绳索工", ("高空绳索工", "JZ-99")),      # unknown: kept, and a certificate still required
])
def test_legacy_trade_values_split(old, new):
    assert classify_legacy(old) == new


@pytest.mark.parametrize("fields, reason", [
    (dict(trade="020"), "ok"),                                         # 钢筋工: no certificate
    (dict(trade="240", cert_valid_to=LAST_YEAR), "ok"),                # 木工 with an old paper: no rule
    (dict(special_op="JZ-01"), "certificate_missing"),
    (dict(special_op="JZ-01", cert_valid_to=LAST_YEAR), "certificate_expired"),
    (dict(special_op="JZ-01", cert_valid_to=TODAY), "ok"),             # valid through its last day
    (dict(trade="130"), "certificate_missing"),                        # 建筑电工 is JZ-01 by itself
    (dict(trade="020", special_op="AQ-2.1", cert_valid_to=LAST_YEAR), "certificate_expired"),
])
def test_gate_decides_on_the_special_operation_not_the_work_type(tmp_path, fields, reason):
    r = Roster(tmp_path / "r.db", key_file=tmp_path / "k")
    w = r.add("W1", **fields)
    assert eligibility(w, TODAY)[1] == reason
    r.close()


def test_the_configured_list_decides():
    cfg = parse({"gateway": {"id": "gw-1"}, "roster": {"special_operations": ["AQ-2.1"]}})
    rules = rules_from(cfg.roster)
    from gateway.roster.worker import Worker
    assert eligibility(Worker("W1", special_op="AQ-2.1"), TODAY, rules) == (False, "certificate_missing")
    assert eligibility(Worker("W1", special_op="JZ-01"), TODAY, rules) == (True, "ok")
    assert rules_from(parse({"gateway": {"id": "gw-1"}}).roster) == Rules()   # default: all
    with pytest.raises(ConfigError, match="unknown code.*XX-1"):
        parse({"gateway": {"id": "gw-1"}, "roster": {"special_operations": ["JZ-01", "XX-1"]}})
    with pytest.raises(ConfigError, match="list of strings"):
        parse({"gateway": {"id": "gw-1"}, "roster": {"special_operations": "JZ-01"}})


def test_shipped_site_toml_documents_every_roster_key(tmp_path):
    text = (ROOT / "config" / "site.toml").read_text(encoding="utf-8")
    section = text.split("[roster]", 1)[1].split("\n[", 1)[0]
    from gateway.config import SCHEMA
    for key in SCHEMA["roster"]:
        assert f"\n{key} =" in section or f"\n# {key} =" in section, f"[roster] {key} undocumented"
    example = next(line[2:] for line in section.splitlines() if line.startswith("# special_operations"))
    ops = tomllib.loads(example)["special_operations"]
    cfg = parse({"gateway": {"id": "gw-1"}, "roster": {"special_operations": ops}})
    assert cfg.roster.special_operations == frozenset(ops)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "broker.password").write_text("x\n")
    assert load(ROOT / "config" / "site.toml", home=tmp_path).roster.special_operations == \
        frozenset(SPECIAL_OPERATIONS)


def test_old_roster_file_is_split_on_open(tmp_path):
    key = load_or_create_key(tmp_path / "k")
    path = tmp_path / "roster.db"
    conn = sqlite3.connect(path)
    conn.executescript("""CREATE TABLE workers (worker TEXT PRIMARY KEY, id_mac TEXT UNIQUE,
        sealed BLOB NOT NULL, status TEXT NOT NULL, blacklisted INTEGER NOT NULL DEFAULT 0,
        blacklist_reason TEXT, contract_end TEXT, trade TEXT, cert_valid_to TEXT,
        updated_ms INTEGER NOT NULL, team TEXT);""")
    for wid, trade in (("W1", "钢筋工"), ("W2", "木工"), ("W3", "electrician"), ("W4", "高空绳索工"),
                       ("W5", None)):
        conn.execute("INSERT INTO workers (worker, sealed, status, trade, updated_ms) VALUES (?,?,?,?,1)",
                     (wid, seal(key, b"{}", wid.encode()), "active", trade))
    conn.commit()
    conn.close()
    r = Roster(path, key=key)
    got = {w.worker_id: (w.trade, w.special_op, eligibility(w, TODAY)[1]) for w in r.workers()}
    assert got == {"W1": ("020", None, "ok"), "W2": ("240", None, "ok"),
                   "W3": ("130", "JZ-01", "certificate_missing"),
                   "W4": ("高空绳索工", "JZ-99", "certificate_missing"), "W5": (None, None, "ok")}
    # the legacy text stays through an unrelated edit; a new value must be a code or a name
    assert r.update("W4", team="A").trade == "高空绳索工"
    with pytest.raises(RosterError, match="not in the national work-type table"):
        r.update("W4", trade="高空绳索工")
    assert r.update("W4", trade="", special_op="AQ-3.2").special_op == "AQ-3.2"
    r.close()


def test_cli_keeps_work_type_and_special_operation_apart(home, tmp_path):
    (home / "site.toml").write_text('[gateway]\nid = "gw-1"\n')

    def run(*args):
        return subprocess.run(sitegate_cmd(*args[:2], "-c", str(home / "site.toml"), *args[2:]),
                              capture_output=True, text=True, timeout=120)
    assert run("roster", "add", "W1", "--trade", "钢筋工").returncode == 0
    assert run("roster", "add", "W2", "--trade", "电焊工", "--special-op", "AQ-2.1",
               "--cert-valid-to", "2030-01-01").returncode == 0
    p = run("roster", "add", "W3", "--trade", "astronaut")
    assert p.returncode != 0 and "work-type table" in p.stderr
    f = tmp_path / "r.csv"
    f.write_text("worker_id,trade,special_op,cert_valid_to\nW4,木工,,\nW5,,建筑电工,\n", encoding="utf-8")
    assert run("roster", "import", str(f)).returncode == 0
    rows = {r["worker_id"]: (r["trade"], r["special_op"])
            for r in json.loads(run("roster", "list", "--json").stdout)}
    assert rows == {"W1": ("020", None), "W2": ("270", "AQ-2.1"), "W4": ("240", None),
                    "W5": (None, "JZ-01")}
    codes = json.loads(subprocess.run(sitegate_cmd("roster", "codes", "--json"), capture_output=True,
                                      text=True, timeout=120, check=True).stdout)
    assert codes["work_types"]["020"] == "钢筋工" and codes["special_operations"]["AQ-2.1"]["work_type"] == "270"


def test_web_roster_screen_flags(tmp_path):
    from fastapi.testclient import TestClient

    from gateway.cli.web import open_accounts
    from gateway.ledger.site_data import SiteData
    from gateway.web.app import build_app
    today = dt.datetime.now(TZ).date()
    cfg, _ = make_site(tmp_path, today)
    data = SiteData(cfg)
    old = (today - dt.timedelta(days=1)).isoformat()
    data.roster.add("W000010", name="钢筋工甲", trade="钢筋工")
    data.roster.add("W000011", name="木工乙", trade="木工", cert_valid_to=old)
    data.roster.add("W000012", name="电工丙", trade="钢筋工", special_op="JZ-01")
    data.roster.add("W000013", name="焊工丁", special_op="AQ-2.1", cert_valid_to=old)
    c = TestClient(build_app(data, open_accounts(cfg)))
    c.post("/login", data={"user": "boss", "password": PASSWORDS["boss"]})
    page = c.get("/roster").text
    rows = {r.split("</a>")[0].rsplit(">", 1)[-1]: r for r in page.split('<tr>')[2:]}
    assert "flag" not in rows["W000010"] and "钢筋工" in rows["W000010"]
    assert "flag" not in rows["W000011"] and "木工" in rows["W000011"]
    assert "缺特种作业证" in rows["W000012"] and "建筑电工" in rows["W000012"]
    assert "证书已过期" in rows["W000013"] and "熔化焊接与热切割作业" in rows["W000013"]
    missing = c.get("/roster?flag=certificate_missing").text
    assert "W000012" in missing and "W000010" not in missing and "W000011" not in missing
    en = c.get("/roster?lang=en").text
    assert "certificate missing" in en and "building electrician" in en
    # the worker page edits both; an unknown code changes nothing
    csrf = c.get("/workers/W000010").text.split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": csrf, "status": "active", "team": "", "trade": "020", "special_op": "AQ-3.2",
            "contract_end": "", "cert_valid_to": ""}
    c.post("/workers/W000010/edit", data=form)
    assert data.roster.get("W000010").special_op == "AQ-3.2"
    c.post("/workers/W000010/edit", data=form | {"special_op": "ZZ-9"})
    assert data.roster.get("W000010").special_op == "AQ-3.2"
    assert "缺特种作业证" in c.get("/workers/W000010?lang=zh").text
    data.close()
