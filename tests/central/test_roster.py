"""Roster downlink over a real Mosquitto: full snapshot in pages, an offline gateway catching
up incrementally, pushes while online, forged rosters refused."""
from __future__ import annotations

from central.ingest import Ingest
from central.receiver import Receiver
from central.roster import RosterService
from central.store import Store
from month import Central, register_project
from sample import SUBCONTRACTOR, make_id
from spine import Running, wait_for
from uplink.broker import BrokerConfig, connect, new_client
from uplink.roster import (RosterClient, SqliteRoster, apply_delta, may_enter, roster_topic)
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import canonical

CODE = "GX-ROSTER-1"


def test_roster_catch_up_paging_push_and_forgery(tmp_path, mosquitto):
    c = Central(Store(f"sqlite:///{tmp_path / 'c.db'}"))
    wids = register_project(c, CODE, n_workers=3)
    c.store.add_gateway("gw-roster-1", Signer(generate_private_key()).public_hex, project=CODE)
    key = Signer(generate_private_key())
    service = RosterService(c.store, key, limit=2)
    receiver = Receiver(Ingest(c.store), BrokerConfig(mosquitto.url), client_id="central-r",
                        roster=service, push_interval_s=0.3)
    running = Running(receiver.run)
    assert receiver.connected.wait(10)
    roster = SqliteRoster(tmp_path / "roster.db")

    def online():
        client = RosterClient(roster, "gw-roster-1", BrokerConfig(mosquitto.url), key.public_hex)
        client.start()
        return client

    try:
        client = online()
        wait_for(lambda: len(roster.state()["workers"]) == 3 and not service.pending(), 15,
                 "first roster")
        assert client.received[0][2] is True and client.received[0][3] == 2   # full, paged
        v1 = roster.version
        client.stop()
        # offline: one leaves, one is blacklisted, one joins
        c.reg.exit(CODE, wids[0], "2026-03-20")
        c.reg.blacklist_worker(wids[1], "冒用他人身份证", "2026-03-21")
        team = None
        new = c.reg.add_worker({"idCardNumber": make_id(77), "workerName": "新工人"})
        c.reg.enter({"projectCode": CODE, "workerId": new, "teamSysNo": team,
                     "corpCode": SUBCONTRACTOR, "workType": "390", "entryDate": "2026-03-22"})
        client = online()
        wait_for(lambda: new in roster.state()["workers"] and not service.pending(), 15,
                 "catch-up after being offline")
        assert client.received[0][:3] == (v1, client.received[0][1], False)     # incremental
        state = roster.state()
        assert state["workers"][wids[0]]["status"] == "exited"
        assert state["workers"][wids[1]]["status"] == "blacklisted"
        assert may_enter(state, wids[1], "2026-03-22") == (False, "blacklisted")
        assert may_enter(state, new, "2026-03-22") == (True, "")
        # online: central pushes a change without being asked
        c.reg.add_certificate(new, "84", "T-001", "2026-03-01")
        wait_for(lambda: roster.state()["workers"][new]["certValidTo"] == "2026-03-01", 10,
                 "pushed change")
        assert may_enter(roster.state(), new, "2026-03-22") == (False, "certificate expired")
        # a roster not signed by central is refused and changes nothing
        forger = Signer(generate_private_key())
        body = canonical({"entries": [], "from": 0, "full": True, "gw": "gw-roster-1",
                          "more": False, "project": CODE, "to": 999, "type": "roster", "v": 1})
        pub = new_client(BrokerConfig(mosquitto.url), "forger")
        connect(pub, BrokerConfig(mosquitto.url))
        pub.loop_start()
        before = roster.state()
        pub.publish(roster_topic("gw-roster-1"), body + forger.sign(body), qos=1).wait_for_publish()
        wait_for(lambda: client.errors, 10, "forged roster refused")
        assert "bad signature" in client.errors[0]
        assert roster.state() == before
        pub.loop_stop()
        client.stop()
    finally:
        running.close()


def test_apply_delta_is_pure_and_refuses_out_of_step():
    s0 = {"project": "P", "version": 0, "workers": {}}
    full = {"entries": [{"worker": "W1", "status": "active"}], "from": 0, "full": True,
            "gw": "g", "more": False, "project": "P", "to": 5, "type": "roster", "v": 1}
    s1 = apply_delta(s0, full)
    assert s1["version"] == 5 and s0["workers"] == {}
    skip = dict(full, full=False, **{"from": 7, "to": 9})
    assert apply_delta(s1, skip) is s1
    inc = dict(full, full=False, entries=[{"worker": "W1", "status": "exited"}],
               **{"from": 5, "to": 6})
    assert apply_delta(s1, inc)["workers"]["W1"]["status"] == "exited"
