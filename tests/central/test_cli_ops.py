"""CLI mirrors: import, warnings list|show|clear|extend|grant|evaluate, reconcile, national
exports (masked, or encrypted for the national OpenAPI), tokens."""
from __future__ import annotations

import base64
import json
import os

from click.testing import CliRunner
from Cryptodome.Cipher import AES
from Cryptodome.Util.Padding import unpad

from central.cli import main
from central.crypto import FieldCipher
from central.store import Store
from month import Central, register_project
from sample import make_id

CODE = "SD-CLI-1"     # Shandong: labour cost due by the 10th


def test_cli_mirrors(tmp_path, monkeypatch):
    key = os.urandom(32)
    monkeypatch.setenv("SITEGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SITEGATE_CENTRAL_KEY", key.hex())
    db = f"sqlite:///{tmp_path / 'c.db'}"
    c = Central(Store(db))
    c.cipher = FieldCipher(key)
    c.reg.cipher = c.esc.cipher = c.cipher
    wids = register_project(c, CODE, area="370102", n_workers=2)
    run = CliRunner().invoke

    def ok(*args):
        r = run(main, [*args, "--db", db])
        assert r.exit_code == 0, r.output
        return r.output

    out = json.loads(ok("warnings", "evaluate", "--on", "2026-03-11", "--project", CODE, "--json"))
    assert out["opened"] >= 1
    ws = json.loads(ok("warnings", "list", "--project", CODE, "--json"))
    w07 = next(w for w in ws if w["rule"] == "W07")
    assert w07["details"]["deadline"] == "2026-03-10" and w07["dueOn"] == "2026-03-26"
    # a bad sheet: refused, names the row, stores nothing
    bad = tmp_path / "bad.csv"
    bad.write_text("projectCode,bankSerial,direction,kind,amount,valueDate,forMonth\n"
                   f"{CODE},S-1,in,labour_cost,200000,2026-03-12,2026-03\n"
                   f"{CODE},S-2,in,labour_cost,abc,2026-03-12,2026-03\n")
    r = run(main, ["import", "flows", str(bad), "--db", db])
    assert r.exit_code == 1 and "row 3" in r.output and "amount" in r.output
    good = tmp_path / "good.csv"
    good.write_text(bad.read_text().splitlines()[0] + "\n" + bad.read_text().splitlines()[1])
    out = ok("import", "flows", str(good), "--no-evaluate")
    assert "imported 1 flows rows" in out
    ok("warnings", "evaluate", "--on", "2026-03-12", "--project", CODE)
    w07 = next(w for w in json.loads(ok("warnings", "list", "--json", "--rule", "W07"))
               if w["period"] == "2026-03")
    assert w07["state"] == "cleared_auto"
    # extension, grant, manual clear with evidence
    w04 = next(w for w in json.loads(ok("warnings", "list", "--json", "--rule", "W04")))
    r = run(main, ["warnings", "clear", str(w04["id"]), "--by", "x", "--reason", "y", "--db", db])
    assert r.exit_code == 2                       # --evidence is required
    assert w04["source"].startswith("anchor=contract [national: 人社部发〔2021〕65号")
    r = run(main, ["warnings", "extend", str(w04["id"]), "--days", "10", "--reason", "late",
                   "--by", "总包", "--on", "2026-03-27", "--db", db])
    assert r.exit_code == 2 and "deadline 2026-03-26 has passed" in r.output
    assert "extension requested" in ok("warnings", "extend", str(w04["id"]), "--days", "10",
                                       "--reason", "bank guarantee in progress", "--by", "总包",
                                       "--on", "2026-03-12")
    r = run(main, ["warnings", "grant", str(w04["id"]), "--by", "总包", "--db", db])
    assert r.exit_code == 1 and "another person" in r.output
    assert "due 2026-04-05" in ok("warnings", "grant", str(w04["id"]), "--by", "人社局",
                                  "--on", "2026-03-12")
    assert "cleared" in ok("warnings", "clear", str(w04["id"]), "--by", "inspector-7",
                           "--reason", "exempt after review", "--evidence", "review-2026-03.pdf",
                           "--on", "2026-03-13")
    shown = json.loads(ok("warnings", "show", str(w04["id"])))
    assert [h["toState"] for h in shown["history"]][-3:] == [
        "extension_requested", "extended", "cleared_manual"]
    assert shown["warning"]["evidence"] == ["review-2026-03.pdf"]
    r = run(main, ["warnings", "clear", str(w04["id"]), "--by", "x", "--reason", "y",
                   "--evidence", "z", "--db", db])
    assert r.exit_code == 1 and "already cleared_manual" in r.output
    # reconcile and national exports
    rec = json.loads(ok("reconcile", CODE, "2026-03", "--json"))
    assert rec == []
    exp = json.loads(ok("export-national", "project-workers", "--project", CODE))
    assert exp["workerList"][0]["idCardNumber"].startswith("4501")
    assert "*" in exp["workerList"][0]["idCardNumber"]
    secret = "0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("APPSECRET", secret)
    exp = json.loads(ok("export-national", "project-workers", "--project", CODE,
                        "--appsecret-env", "APPSECRET"))
    enc = base64.b64decode(exp["workerList"][0]["idCardNumber"])
    plain = unpad(AES.new(secret.encode(), AES.MODE_CBC, secret[:16].encode()).decrypt(enc), 16)
    assert plain.decode() in {make_id(1, "450103"), make_id(2, "450103")}
    token = ok("tokens", "add", "ops", "--role", "admin").strip()
    assert token.startswith("sg_") and len(wids) == 2
