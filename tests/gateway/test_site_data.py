"""SiteData (roster + templates + ledger opened from one config) and the daemon's LedgerFollower."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from attendance_records import allow, local_ms, put
from drivers.sim.samples import RESIDENT
from gateway import keys
from gateway.config import parse
from gateway.roster.store import Roster
from gateway.ledger.site_data import LedgerFollower, SiteData
from uplink.outbox import Outbox

GW = "gw-sd-1"


@pytest.fixture
def cfg(tmp_path):
    return parse({"gateway": {"id": GW, "project": "P1"}}, home=tmp_path)


def fill_outbox(cfg, n: int = 3) -> None:
    ob = Outbox(cfg.outbox_path, GW, keys.generate(cfg.key_file))
    for i in range(n):
        put(ob, allow(f"W{i + 1}"), local_ms(2026, 11, 2 + i))
    ob.close()


def test_people_masked_cached_and_refreshed(cfg):
    roster = Roster(cfg.roster.path, key_file=cfg.home / "keys" / "roster.sm4")
    roster.add("W1", id_number=RESIDENT["id_number"], name=RESIDENT["name"], team="A")
    data = SiteData(cfg)
    first = data.people()
    assert [(e.worker_id, e.id_masked, e.worker.team, e.face) for e in first] == \
        [("W1", "4501**********0030", "A", False)]
    same = first[0].name == RESIDENT["name"]
    assert same
    assert data.people() is first                            # nothing changed: not decrypted again
    time.sleep(0.002)
    roster.add("W2", team="B")
    roster.set_status("W1", "exited")
    people = data.people()
    assert people is not first and [(e.worker_id, e.worker.status) for e in people] == \
        [("W1", "exited"), ("W2", "active")]
    assert data.team_of() == {"W1": "A", "W2": "B"}
    assert data.entry("W2").worker.team == "B" and data.entry("W404") is None
    data.close()
    roster.close()


def test_sheet_from_the_site(cfg):
    roster = Roster(cfg.roster.path, key_file=cfg.home / "keys" / "roster.sm4")
    roster.add("W1", id_number=RESIDENT["id_number"], name=RESIDENT["name"], team="A")
    roster.add("W3", status="exited")
    roster.close()
    data = SiteData(cfg)
    assert data.catch_up() == 0                              # no outbox yet: nothing, no error
    fill_outbox(cfg)
    assert data.catch_up() == 3 and data.catch_up() == 0
    sheet = data.sheet(2026, 11)
    assert sheet.title == "考勤表 P1 2026年11月"
    assert [(r[1], r[3], r[-1]) for r in sheet.rows] == [("W1", "4501**********0030", 1), ("W2", "", 1),
                                                         ("W3", "", 1)]
    data.close()


def test_follower_survives_a_broken_ledger_file_and_recovers(cfg, caplog):
    fill_outbox(cfg)
    bad = cfg.home / "attendance.db"
    bad.write_bytes(b"this is not a database file at all " * 200)
    follower = LedgerFollower(cfg, interval=0.02)           # must not raise: the daemon starts
    caplog.set_level(logging.WARNING, logger="sitegate.attendance")
    stop = threading.Event()
    t = threading.Thread(target=follower.run, args=(stop,))
    t.start()
    try:
        deadline = time.monotonic() + 10
        while follower.errors < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert follower.errors >= 5
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "not a database" in errors[0].getMessage()   # said once
        bad.unlink()                                         # the operator removes the broken file
        deadline = time.monotonic() + 10
        while "indexing again" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()
    data = SiteData(cfg)
    assert data.ledger.last_seq == 3 and data.ledger.month_days(2026, 11) == {"W1": {2}, "W2": {3}, "W3": {4}}
    data.close()
