"""A card that is not on the roster, at a real lane (ID-card simulator on a pty): the lane denies
it and the card lands in the roster's unknown-card queue; once registered it is recognised."""
from __future__ import annotations

import logging

import pytest

from drivers.sim.samples import FOREIGN

pytestmark = pytest.mark.timeout(120)


def test_unknown_card_is_denied_and_queued_then_registered(rig, caplog):
    caplog.set_level(logging.DEBUG)
    body = rig.card(FOREIGN)
    assert body == {"worker": None, "dir": "in", "method": "card+face", "device": "gw-test-1/entry",
                    "lane": "entry", "decision": "deny", "reason": "unknown_worker"}
    assert rig.tsim.pulses == []
    (u,) = rig.roster.unknown_cards()
    assert u["key"] == rig.roster.id_mac(FOREIGN["id_number"])
    assert (u["reads"], u["lane"], u["status"]) == (1, "entry", "pending")
    same = u["card"]["id_number"] == FOREIGN["id_number"] and u["card"]["name"] == FOREIGN["name"]
    assert same and u["card"]["card_type"] == "foreign_permanent" and u["card"]["birth"] == "1985-01-01"

    assert rig.card(FOREIGN)["reason"] == "unknown_worker"
    assert [x["reads"] for x in rig.roster.unknown_cards()] == [2]
    assert rig.runner.errors == 0

    # the labour manager registers the card: the lane now knows the holder
    rig.roster.register_unknown(u["key"], "W000300", "manager", team="C-外援")
    body = rig.card(FOREIGN)
    assert body["worker"] == "W000300" and body["reason"] != "unknown_worker", body["reason"]
    assert rig.roster.unknown(u["key"])["reads"] == 2 and rig.roster.unknown_cards() == []
    leaked = any(s in caplog.text for s in (FOREIGN["id_number"], FOREIGN["name"], FOREIGN["name_en"]))
    assert not leaked, "the card's ID number or name is in the log"
