"""The unknown-card queue in the roster: cards read at a lane that are not on the roster, kept
sealed for the labour manager to register (name, ID number, birth from the card) or reject.
Assertions compare values without echoing them (no ID numbers or names in test output)."""
from __future__ import annotations

from datetime import date

import pytest

from drivers.sam.cardtext import Identity
from drivers.sim.samples import FOREIGN, HMT, RESIDENT, RESIDENT_LONG_TERM
from gateway.roster.store import Roster, RosterError


def identity(card: dict) -> Identity:
    """A card as the SAM driver hands it to the lane (dates as dates, photo bytes, extras)."""
    d = lambda v: None if v in (None, "long-term") else date.fromisoformat(v)  # noqa: E731
    return Identity(card_type=card["card_type"], name=card["name"], id_number=card["id_number"],
                    gender=card["gender"], birth=d(card["birth"]), valid_from=d(card["valid_from"]),
                    valid_to=d(card["valid_to"]), name_en=card.get("name_en"), nation=card.get("nation"),
                    address=card.get("address"), issuer=card.get("issuer"), photo=b"\xff\xd8jpeg")


@pytest.fixture
def roster(tmp_path):
    r = Roster(tmp_path / "roster.db", key_file=tmp_path / "keys" / "roster.sm4")
    yield r
    r.close()


def test_noting_a_card_twice_counts_reads(roster):
    a = roster.note_unknown(vars(identity(RESIDENT)), "entry", ts_ms=1000)
    b = roster.note_unknown(vars(identity(RESIDENT)), "exit", ts_ms=5000)
    assert a["key"] == b["key"] == roster.id_mac(RESIDENT["id_number"])
    assert (b["reads"], b["first_ms"], b["last_ms"], b["lane"], b["status"]) == (2, 1000, 5000, "exit", "pending")
    card = b["card"]
    same = (card["id_number"] == RESIDENT["id_number"] and card["name"] == RESIDENT["name"])
    assert same, "the sealed card does not hold the card's ID number and name"
    assert card["birth"] == "1985-03-07" and card["gender"] == "male" and card["valid_to"] == "2035-06-01"
    assert set(card) <= {"name", "id_number", "gender", "birth", "card_type", "valid_to", "nation"}
    assert "address" not in card and "photo" not in card          # only what registration needs
    assert [u["key"] for u in roster.unknown_cards()] == [a["key"]]


def test_id_number_case_and_blanks_do_not_make_a_second_card(roster):
    lower = dict(vars(identity(RESIDENT_LONG_TERM)), id_number=RESIDENT_LONG_TERM["id_number"].lower() + " ")
    roster.note_unknown(lower, "entry")
    u = roster.note_unknown(vars(identity(RESIDENT_LONG_TERM)), "entry")
    assert u["reads"] == 2 and len(roster.unknown_cards(None)) == 1
    assert u["card"]["valid_to"] is None                            # long-term card
    with pytest.raises(RosterError, match="without an ID number"):
        roster.note_unknown({"name": "x", "id_number": " "}, "entry")


def test_rejected_card_stays_rejected(roster):
    key = roster.note_unknown(vars(identity(FOREIGN)), "entry")["key"]
    roster.note_unknown(vars(identity(FOREIGN)), "entry")
    roster.reject_unknown(key, "manager", "not with any of our teams")
    again = roster.note_unknown(vars(identity(FOREIGN)), "entry")
    assert again["status"] == "rejected" and again["reads"] == 3
    assert again["decided_by"] == "manager" and again["note"] == "not with any of our teams"
    assert roster.unknown_cards() == []
    assert [u["key"] for u in roster.unknown_cards("rejected")] == [key]
    with pytest.raises(RosterError, match="already rejected"):
        roster.reject_unknown(key, "manager")
    with pytest.raises(RosterError, match="already rejected"):
        roster.register_unknown(key, "W000300", "manager")
    assert roster.get("W000300") is None
    with pytest.raises(RosterError, match="no such unknown card"):
        roster.reject_unknown("0" * 64, "manager")


def test_register_puts_the_card_on_the_roster_once(roster):
    key = roster.note_unknown(vars(identity(RESIDENT)), "entry")["key"]
    w = roster.register_unknown(key, "W000200", "manager", team="A-钢筋", trade="钢筋工",
                                special_op="JZ-01", cert_valid_to="2027-06-30")
    assert (w.worker_id, w.team, w.trade, w.special_op, w.birth, w.gender, w.status) == \
        ("W000200", "A-钢筋", "020", "JZ-01", date(1985, 3, 7), "male", "active")
    assert w.cert_valid_to == date(2027, 6, 30)
    found = roster.by_id_number(RESIDENT["id_number"])
    assert found is not None and found.worker_id == "W000200"
    private = roster.private("W000200")
    same = private["name"] == RESIDENT["name"] and private["id_number"] == RESIDENT["id_number"]
    assert same, "registered worker does not carry the card's name and ID number"
    u = roster.unknown(key)
    assert (u["status"], u["worker"], u["decided_by"]) == ("registered", "W000200", "manager")
    assert u["decided_ms"] and roster.unknown_cards() == []
    with pytest.raises(RosterError, match="already registered"):
        roster.register_unknown(key, "W000201", "manager")
    assert roster.get("W000201") is None
    # the worker leaves the roster, the card turns up again: back in the queue for a decision
    roster.remove("W000200")
    assert roster.note_unknown(vars(identity(RESIDENT)), "entry")["status"] == "pending"


def test_register_refuses_a_taken_worker_id_or_id_number(roster):
    roster.add("W000100", name="someone", id_number=HMT["id_number"])
    key = roster.note_unknown(vars(identity(RESIDENT)), "entry")["key"]
    with pytest.raises(RosterError, match="already on the roster"):
        roster.register_unknown(key, "W000100", "manager")
    with pytest.raises(RosterError, match="bad worker id"):
        roster.register_unknown(key, "bad id!", "manager")
    # the same person was meanwhile added by hand under another id
    roster.add("W000101", id_number=RESIDENT["id_number"])
    with pytest.raises(RosterError, match="ID number is already on the roster"):
        roster.register_unknown(key, "W000102", "manager")
    assert roster.unknown(key)["status"] == "pending" and roster.get("W000102") is None
    assert roster.registrations_to_report() == []           # nothing queued for central either
    with pytest.raises(RosterError, match="work type"):
        roster.register_unknown(key, "W000103", "manager", trade="astronaut")
    assert roster.unknown(key)["status"] == "pending" and roster.get("W000103") is None
    # W000100 kept its own card
    assert roster.by_id_number(HMT["id_number"]).worker_id == "W000100"


def test_sealed_at_rest(tmp_path, roster):
    for card in (RESIDENT, FOREIGN, HMT):
        roster.note_unknown(vars(identity(card)), "entry")
    key = roster.id_mac(RESIDENT["id_number"])
    roster.register_unknown(key, "W000200", "manager", team="A")
    roster.reject_unknown(roster.id_mac(FOREIGN["id_number"]), "manager")
    raw = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("roster.db*")))
    assert len(raw) > 4096 and b"unknown_cards" in raw           # we did read the database
    secrets = [c[f] for c in (RESIDENT, FOREIGN, HMT) for f in ("id_number", "name", "birth")]
    leaked = [i for i, s in enumerate(secrets) if s.encode("utf-8") in raw]
    assert leaked == [], "personal data in clear in the roster file (indexes into the list)"
    # another key cannot open the queue
    other = Roster(tmp_path / "roster.db", key_file=tmp_path / "other.sm4")
    with pytest.raises(Exception):
        other.unknown_cards(None)
    other.close()


def test_version_changes_with_the_roster(roster):
    v0 = roster.version()
    roster.add("W1")
    v1 = roster.version()
    roster.add("W22")
    v2 = roster.version()
    roster.remove("W1")
    assert len({v0, v1, v2, roster.version()}) == 4
