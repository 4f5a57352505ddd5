"""One ID-number check (drivers/sam/idnumber) on every path that takes an ID number: a genuine
Hong Kong/Macau/Taiwan residence permit (810000…, refused by python-stdnum) is accepted by the
roster (add, import), phone enrolment and sign-in; a wrong check digit is refused everywhere,
with a message that does not repeat the number, and changes nothing.  (The web app's
unknown-card registration of a residence permit: tests/e2e/test_registration_e2e.py.)"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from stdnum.cn import ric

from drivers.sam.idnumber import check_document_number
from drivers.sim.samples import FOREIGN, HMT
from gateway.phone.credentials import CredentialError, PhoneStore
from gateway.roster.store import Roster, RosterError
from procs import sitegate_cmd

PERMIT = HMT["id_number"]                          # 810000199001010019
BAD = PERMIT[:-1] + "8"                            # wrong check digit
ROOT = Path(__file__).resolve().parents[2]


def test_the_permit_is_genuine_but_stdnum_refuses_it():
    assert check_document_number(PERMIT) == PERMIT and not ric.is_valid(PERMIT)


def test_no_other_id_number_check_in_the_gateway():
    for path in (ROOT / "gateway").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) stdnum", text, re.M), f"{path} checks ID numbers itself"


def cli(home, *args, input=None):
    return subprocess.run(sitegate_cmd(*args[:2], "-c", str(home / "site.toml"), *args[2:]),
                          capture_output=True, text=True, timeout=120, input=input)


def test_roster_add_and_import_take_a_residence_permit(home, tmp_path):
    (home / "site.toml").write_text('[gateway]\nid = "gw-1"\n')
    p = cli(home, "roster", "add", "W1", "--id-number", PERMIT, "--name", "陈大文")
    assert p.returncode == 0, p.stderr
    p = cli(home, "roster", "add", "W2", "--id-number", BAD)
    assert p.returncode != 0 and "check digit" in p.stderr and BAD not in p.stderr + p.stdout
    f = tmp_path / "r.csv"
    f.write_text(f"worker_id,id_number,name\nW3,{FOREIGN['id_number']},史密斯\nW4,{BAD},某人\n",
                 encoding="utf-8")
    p = cli(home, "roster", "import", str(f))
    assert p.returncode != 0 and "record 2 (W4)" in p.stderr and BAD not in p.stderr
    f.write_text(f"worker_id,id_number,name\nW3,{FOREIGN['id_number']},史密斯\n", encoding="utf-8")
    assert cli(home, "roster", "import", str(f)).returncode == 0
    rows = {r["worker_id"]: r for r in json.loads(cli(home, "roster", "list", "--json").stdout)}
    assert set(rows) == {"W1", "W3"}                       # W2 never, W4's file changed nothing
    assert rows["W1"]["id_number"] == "8100**********0019"
    r = Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4")
    w = r.by_id_number(PERMIT)
    assert w.worker_id == "W1" and w.birth.isoformat() == "1990-01-01" and w.gender == "male"
    assert r.by_id_number(FOREIGN["id_number"].lower()).worker_id == "W3"
    with pytest.raises(RosterError, match="check digit"):
        r.update("W1", id_number=BAD)
    assert r.private("W1")["id_number"] == PERMIT
    r.close()


def test_phone_enrolment_and_sign_in_take_a_residence_permit(home, tmp_path):
    (home / "site.toml").write_text('[gateway]\nid = "gw-1"\n')
    p = cli(home, "phone", "enrol", "--worker", "W1", input=f"{PERMIT}\n2468\n2468\n")
    assert p.returncode == 0 and "8100**********0019" in p.stdout, p.stderr
    p = cli(home, "phone", "enrol", "--worker", "W2", input=f"{BAD}\n1357\n1357\n")
    assert p.returncode != 0 and "check digit" in p.stderr and BAD not in p.stderr
    store = PhoneStore(home / "phone" / "phone.db")
    assert store.check_pin(PERMIT, "2468") == "W1"
    assert store.masked("W2") is None
    with pytest.raises(CredentialError) as e:
        store.enrol("W2", BAD, "1357")
    assert e.value.code == "bad_id_number"
    store.close()
