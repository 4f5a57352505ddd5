"""Registry intake of gateway registration records, in the block's own transaction, on SQLite
and PostgreSQL: a queued registration waits (and says why) until the gateway has central's
intake key; a repeat is absorbed; a record central cannot open is kept as invalid and never
stalls the chain; the person is stored only sealed."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from central.crypto import FieldCipher
from central.intake import Intake, load_intake_key
from central.registry import Registry
from central.tables import workers
from central.store import Store
from drivers.sim.samples import HMT, RESIDENT
from gateway.roster.report import RECORD_TYPE, RegistrationReporter, registration_body
from gateway.roster.store import Roster
from uplink.outbox import Outbox
from uplink.sm2 import Signer, generate_private_key, public_key_of, public_key_pem
from uplink.wire import decode_block

CARD = ("name", "id_number", "gender", "birth", "card_type")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_db")
    s = Store(url)
    yield s
    s.close()


def test_registrations_wait_for_the_key_then_reach_the_registry_once(store, tmp_path):
    signer = Signer(generate_private_key())
    gw = f"gw-intake-{tmp_path.name[-6:]}".replace("_", "-")
    outbox = Outbox(tmp_path / "o.db", gw, signer)
    roster = Roster(tmp_path / "r.db", key_file=tmp_path / "r.sm4")
    for card, wid in ((HMT, "W1"), (RESIDENT, "W2")):
        key = roster.note_unknown({k: card.get(k) for k in CARD}, "entry")["key"]
        roster.register_unknown(key, wid, "boss", team="A", trade="钢筋工")
    pem = tmp_path / "central-intake.pem"
    reporter = RegistrationReporter(roster, outbox, pem)
    assert reporter.report() == [] and outbox.head_seq == 0           # no key yet: queued, loud
    (alarm,) = reporter.alarms()
    assert alarm["code"] == "registrations_waiting" and "central-intake.pem" in alarm["message"]
    assert roster.registration_status("W1") is None
    d = load_intake_key(tmp_path / "home")
    assert (tmp_path / "home" / "central" / "intake.key").stat().st_mode & 0o777 == 0o600
    pem.write_text(public_key_pem(public_key_of(d)))
    assert reporter.report() == [("W1", 1), ("W2", 2)] and reporter.alarms() == []
    assert reporter.report() == [] and roster.registration_status("W2") == 2
    # a crash between committing and marking sent: the same registration goes out again
    (again_body := dict(next(outbox.iter_records(1))["body"]))
    outbox.append(again_body, type_=RECORD_TYPE)
    # one sealed to another key, one whose worker does not match its sealed person
    other = registration_body(gw, roster.get("W1"), {k: HMT.get(k) for k in CARD},
                              public_key_of(generate_private_key()))
    outbox.append(other, type_=RECORD_TYPE)
    outbox.append(dict(again_body, worker="W9"), type_=RECORD_TYPE)
    outbox.append({"worker": "W2", "dir": "in", "decision": "allow"})   # attendance alongside
    outbox.seal()
    store.add_gateway(gw, signer.public_hex, project="P-1")
    cipher = FieldCipher(b"\x02" * 32)
    store.derivers.append(Intake(cipher, d).derive)
    for _, _, payload in outbox.blocks_after(0, 10):
        assert store.commit_block(decode_block(payload)).status == "ok"     # stored and acked
    assert store.seqs(gw) == [1, 2, 3, 4, 5, 6]
    rows = {(r["seq"]): r for r in Registry(store, cipher).registrations("P-1")}
    assert set(rows) == {1, 2, 4, 5}                                       # seq 3 absorbed
    assert (rows[1]["status"], rows[1]["missing"]) == ("pending", ["idCardType", "employer", "contract"])
    assert (rows[2]["status"], rows[2]["missing"]) == ("pending", ["employer", "contract"])
    assert rows[4]["status"] == "invalid" and "another key" in rows[4]["reason"]
    assert rows[5]["status"] == "invalid" and "another gateway or worker" in rows[5]["reason"]
    with store.engine.connect() as conn:
        (w,) = conn.execute(sa.select(workers)).mappings().all()
    assert w["workerId"] == rows[2]["workerId"] and w["idCardType"] == "01"
    assert cipher.open(w["idCardNumberEnc"], "idCardNumber") == RESIDENT["id_number"]
    assert RESIDENT["name"] not in str(dict(w)) and RESIDENT["id_number"] not in str(dict(w))
    roster.close()
    outbox.close()


def test_a_removed_worker_is_never_sent(tmp_path):
    outbox = Outbox(tmp_path / "o.db", "gw-1", Signer(generate_private_key()))
    roster = Roster(tmp_path / "r.db", key_file=tmp_path / "r.sm4")
    key = roster.note_unknown({k: RESIDENT.get(k) for k in CARD}, "entry")["key"]
    roster.register_unknown(key, "W1", "boss")
    roster.remove("W1")                                  # PIPL: left before it went out
    pem = tmp_path / "p.pem"
    pem.write_text(public_key_pem(public_key_of(generate_private_key())))
    assert RegistrationReporter(roster, outbox, pem).report() == [] and outbox.head_seq == 0
    assert roster.registrations_to_report() == []
