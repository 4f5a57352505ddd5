"""Roster downlink over a real Mosquitto, central's RosterService to the gateway's live roster
(the same Uplink connection, the same roster file the lanes read): a full snapshot in pages,
an offline gateway catching up incrementally, pushes while online, personal fields sealed for
the one gateway, forged and replayed updates refused with alarms."""
from __future__ import annotations

import datetime as dt

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.ingest import Ingest
from central.receiver import Receiver
from central.roster import RosterService
from central.store import Store
from gateway.clockin.rules import eligibility
from gateway.roster.live import LiveRoster
from gateway.roster.store import Roster
from month import Central, register_project
from sample import SUBCONTRACTOR, make_id
from spine import Running, make_gateway, wait_for
from uplink.broker import BrokerConfig
from uplink.publisher import Uplink
from uplink.roster import apply_delta, decide, decode_update, open_private, seal_private, sign_update
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import WireError, canonical, topic

CODE = "GX-ROSTER-1"
GW = "gw-roster-1"
DAY = dt.date(2026, 3, 22)


class Gateway:
    """The gateway's side: its uplink connection and live roster, started and stopped."""

    def __init__(self, tmp_path, url: str, central_pub: str, private_hex: str) -> None:
        self.roster = Roster(tmp_path / "roster.db", key_file=tmp_path / "roster.sm4")
        self.outbox, self.signer = make_gateway(tmp_path / "outbox.db", GW, key=private_hex)
        self.url, self.central_pub = url, central_pub

    def start(self):
        self.uplink = Uplink(self.outbox, BrokerConfig(self.url), backoff_max=1.0,
                             central_key=self.central_pub)
        self.live = LiveRoster(self.roster, self.uplink, self.central_pub, self.signer.decrypt)
        self.running = [Running(self.uplink.run), Running(self.live.run)]
        return self

    def stop(self) -> None:
        for r in self.running:
            r.close()


@pytest.fixture
def wire_tap(mosquitto):
    """Everything published on the gateway's roster topic, as an eavesdropper sees it."""
    seen: list[bytes] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tap")
    c.on_message = lambda cl, u, m: seen.append(bytes(m.payload))
    c.connect("127.0.0.1", mosquitto.port)
    c.subscribe(topic(GW, "roster"), qos=1)
    c.loop_start()
    yield seen, c
    c.loop_stop()


def test_roster_catch_up_paging_push_sealing_forgery_and_replay(tmp_path, mosquitto, wire_tap):
    seen, tap = wire_tap
    c = Central(Store(f"sqlite:///{tmp_path / 'c.db'}"))
    wids = register_project(c, CODE, n_workers=3)
    gw_private = generate_private_key()
    c.store.add_gateway(GW, Signer(gw_private).public_hex, project=CODE)
    key = Signer(generate_private_key())
    service = RosterService(c.store, key, c.cipher, limit=2)
    receiver = Receiver(Ingest(c.store), BrokerConfig(mosquitto.url), client_id="central-r",
                        signer=key, roster=service, push_interval_s=0.3)
    running = Running(receiver.run)
    assert receiver.connected.wait(10)
    gw = Gateway(tmp_path, mosquitto.url, key.public_hex, gw_private)
    try:
        g = gw.start()
        wait_for(lambda: len(g.roster.workers()) == 3 and not service.pending(), 15, "first roster")
        first = decode_update(seen[0], key.public_hex, GW)
        assert first["full"] and first["more"] and len(first["entries"]) == 2     # paged
        v1 = g.roster.central_state()["version"]
        assert v1 > 0 and g.roster.central_state()["project"] == CODE
        assert all(eligibility(g.roster.get(w), DAY) == (True, "ok") for w in wids)
        # the card finds the worker: the ID number came sealed, only this gateway opened it
        assert g.roster.by_id_number(make_id(1, "450103")).worker_id == wids[0]
        assert g.roster.get(wids[0]).team == "钢筋班"
        g.stop()
        # offline: one leaves, one is blacklisted, one joins without a contract end yet
        c.reg.exit(CODE, wids[0], "2026-03-20")
        c.reg.blacklist_worker(wids[1], "冒用他人身份证", "2026-03-21")
        team2 = c.reg.add_team({"projectCode": CODE, "corpCode": SUBCONTRACTOR,
                                "teamName": "木工班", "entryTime": "2026-03-02"})
        c.reg.move_to_team(CODE, wids[2], team2)
        new = c.reg.add_worker({"idCardNumber": make_id(77), "workerName": "新工人"})
        c.reg.enter({"projectCode": CODE, "workerId": new, "teamSysNo": team2,
                     "corpCode": SUBCONTRACTOR, "workType": "390", "entryDate": "2026-03-22"})
        before = len(seen)
        g = gw.start()
        wait_for(lambda: g.roster.get(new) is not None and not service.pending(), 15,
                 "catch-up after being offline")
        catch_up = decode_update(seen[before], key.public_hex, GW)
        assert not catch_up["full"] and catch_up["from"] == v1           # incremental
        assert eligibility(g.roster.get(wids[0]), DAY) == (False, "exited")
        assert eligibility(g.roster.get(wids[1]), DAY) == (False, "blacklisted")
        assert g.roster.get(wids[2]).team == "木工班"
        assert eligibility(g.roster.get(new), DAY) == (True, "ok")
        assert g.roster.by_id_number(make_id(77)).worker_id == new
        # online: central pushes changes without being asked
        c.reg.add_contract({"projectCode": CODE, "workerId": new, "corpCode": SUBCONTRACTOR,
                            "contractPeriodType": "0", "startDate": "2026-03-02",
                            "endDate": "2026-03-10"})
        wait_for(lambda: g.roster.get(new).contract_end == dt.date(2026, 3, 10), 10, "pushed change")
        assert eligibility(g.roster.get(new), DAY) == (False, "contract_expired")
        c.reg.add_certificate(new, "84", "T-001", "2026-03-01")
        wait_for(lambda: g.roster.get(new).cert_valid_to == dt.date(2026, 3, 1), 10, "pushed cert")
        assert g.live.alarms() == []
        # nothing personal in clear on the wire
        for payload in seen:
            for secret in (make_id(77), make_id(1, "450103"), "新工人", "农民工1"):
                assert secret.encode() not in payload
        held = g.roster.central_state()
        snapshot = [(w.worker_id, w.status, w.blacklisted, w.contract_end, w.team)
                    for w in g.roster.workers()]

        # a roster not signed by central (with anyone's broker access) is refused
        forger = Signer(generate_private_key())
        forged = dict(first, entries=[dict(first["entries"][0], status="active", exit=None)],
                      to=held["version"] + 100)
        tap.publish(topic(GW, "roster"), sign_update(forged, forger), qos=1).wait_for_publish()
        # central's own old full snapshot, replayed: would bring wids[0] back from exited
        tap.publish(topic(GW, "roster"), seen[0], qos=1).wait_for_publish()
        wait_for(lambda: g.live.counters["forged"] == 1 and g.live.counters["replayed"] == 1, 10,
                 "forged and replayed updates refused")
        assert [(w.worker_id, w.status, w.blacklisted, w.contract_end, w.team)
                for w in g.roster.workers()] == snapshot
        assert g.roster.central_state()["version"] == held["version"]
        alarms = {a["code"]: a["level"] for a in g.uplink.all_alarms()}
        assert alarms == {"roster_forged": "critical", "roster_replayed": "critical"}
        assert g.uplink.state()["state"] == "alarm"
        # an old incremental update is simply stale: nothing moves, no alarm needed
        tap.publish(topic(GW, "roster"), seen[before], qos=1).wait_for_publish()
        wait_for(lambda: g.live.counters["stale"] >= 1, 10, "stale update ignored")
        assert g.roster.central_state()["version"] == held["version"]
        g.stop()
    finally:
        running.close()


def test_sealed_fields_open_only_for_their_gateway():
    a, b = Signer(generate_private_key()), Signer(generate_private_key())
    fields = {"idCardNumber": make_id(5), "workerName": "张三", "gender": "M",
              "birthDate": "1985-01-01", "idCardType": "01"}
    key, sealed = seal_private("gw-a", a.public_hex, {"W1": fields})
    update = {"entries": [{"worker": "W1", "status": "active", "private": sealed["W1"]}],
              "from": 0, "full": True, "gw": "gw-a", "key": key, "more": False,
              "project": "P", "to": 3, "type": "roster", "v": 1}
    assert open_private(update, a.decrypt) == {"W1": fields}
    with pytest.raises(WireError):
        open_private(update, b.decrypt)                          # another gateway's key
    with pytest.raises(WireError):                               # moved to another worker
        open_private(dict(update, entries=[dict(update["entries"][0], worker="W2")]), a.decrypt)
    with pytest.raises(WireError):                               # addressed to another gateway
        open_private(dict(update, gw="gw-b"), a.decrypt)
    flipped = sealed["W1"][:-2] + ("00" if sealed["W1"][-2:] != "00" else "01")
    with pytest.raises(WireError):
        open_private(dict(update, entries=[dict(update["entries"][0], private=flipped)]), a.decrypt)


def test_versions_only_move_forward():
    s0 = {"project": "P", "version": 0, "workers": {}}
    full = {"entries": [{"worker": "W1", "status": "active"}], "from": 0, "full": True,
            "gw": "g", "key": None, "more": False, "project": "P", "to": 5, "type": "roster",
            "v": 1}
    s1 = apply_delta(s0, full)
    assert s1["version"] == 5 and s0["workers"] == {}
    ahead = dict(full, full=False, **{"from": 7, "to": 9})
    assert decide(ahead, 5, "P") == "ahead" and apply_delta(s1, ahead) is s1
    inc = dict(full, full=False, entries=[{"worker": "W1", "status": "exited"}],
               **{"from": 5, "to": 6})
    s2 = apply_delta(s1, inc)
    assert s2["workers"]["W1"]["status"] == "exited"
    assert decide(inc, 6, "P") == "stale" and apply_delta(s2, inc) is s2       # repeated
    assert decide(full, 6, "P") == "rollback" and apply_delta(s2, full) is s2  # replayed
    assert decide(dict(full, to=6), 6, "P") == "apply"                        # same version
    assert decide(dict(full, project="Q"), 6, "P") == "apply"                 # gateway moved
    assert decide(dict(inc, project="Q", **{"from": 6, "to": 7}), 6, "P") == "resync"
    assert canonical(full)                                                    # wire values only
