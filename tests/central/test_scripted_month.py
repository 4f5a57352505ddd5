"""Done-means: a scripted month for a sample project on PostgreSQL, attendance from a simulated
gateway through Mosquitto and the real ingest path.  Labour cost arrives late, one worker is
not paid, the deposit is missing: exactly W04, W07 and W10 are raised with their levels and
deadlines, escalate while unresolved, and clear automatically when the data arrives."""
from __future__ import annotations

import datetime as dt

from central.attendance import CN
from central.ingest import Ingest
from central.receiver import Receiver
from central.reconcile import reconcile
from central.roster import RosterService
from month import Central, pay, register_project
from gateway.clockin.rules import eligibility
from gateway.roster.live import LiveRoster
from gateway.roster.store import Roster
from spine import Running, make_gateway, wait_for
from uplink.broker import BrokerConfig
from uplink.publisher import Uplink
from uplink.sm2 import Signer, generate_private_key

CODE = "GX-2026-0301"
D = dt.date


def ts(day: dt.date, hour: int) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=CN).timestamp() * 1000)


def test_scripted_month(postgres_url, tmp_path, mosquitto):
    from central.store import Store
    c = Central(Store(postgres_url))
    wids = register_project(c, CODE)
    outbox, gw_signer = make_gateway(tmp_path / "outbox.db", "gw-month-1")
    c.store.add_gateway("gw-month-1", gw_signer.public_hex, project=CODE)
    central_key = Signer(generate_private_key())
    roster_service = RosterService(c.store, central_key, c.cipher)
    receiver = Receiver(Ingest(c.store), BrokerConfig(mosquitto.url), client_id="central-month",
                        signer=central_key, roster=roster_service, push_interval_s=0.5)
    running = Running(receiver.run)
    assert receiver.connected.wait(10)
    # the gateway fetches its roster before the first shift, over its one uplink connection
    roster = Roster(tmp_path / "roster.db", key_file=tmp_path / "roster.sm4")
    uplink = Uplink(outbox, BrokerConfig(mosquitto.url), ack_timeout=2.0, backoff_max=2.0,
                    central_key=central_key.public_hex)
    live = LiveRoster(roster, uplink, central_key.public_hex, gw_signer.decrypt)
    up, client = Running(uplink.run), Running(live.run)
    wait_for(lambda: len(roster.workers()) == 5, 15, "roster on the gateway")
    assert all(eligibility(roster.get(w), D(2026, 3, 2)) == (True, "ok") for w in wids)
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("roster.db*"))
    assert "农民工".encode() not in raw and roster.private(wids[0])["name"] == "农民工1"

    events = {
        D(2026, 3, 25): [lambda: c.esc.add_flow({  # March labour cost: GX deadline is the 20th
            "projectCode": CODE, "bankSerial": "IN-2026-03", "direction": "in",
            "kind": "labour_cost", "amount": "200000", "valueDate": "2026-03-25",
            "forMonth": "2026-03"})],
        D(2026, 4, 3): [lambda: c.esc.add_deposit({  # the missing deposit, 1 % of 10 million
            "projectCode": CODE, "form": "cash", "issuer": "中国工商银行南宁分行",
            "guaranteeNo": "DEP-GX-0301", "amount": "100000", "validFrom": "2026-04-03"})],
        D(2026, 4, 8): [lambda: c.esc.add_flow({
            "projectCode": CODE, "bankSerial": "IN-2026-04", "direction": "in",
            "kind": "labour_cost", "amount": "200000", "valueDate": "2026-04-08",
            "forMonth": "2026-04"})] + [
            (lambda w=w, i=i: pay(c, CODE, w, "2026-03", "2026-04-08", "6600.00", 22,
                                  f"2026-03-{i}")) for i, w in enumerate(wids[:4])],
        D(2026, 4, 20): [lambda: pay(c, CODE, wids[4], "2026-03", "2026-04-20", "6600.00", 22,
                                     "2026-03-4", isBackPay=1)],
    }
    seen: dict[dt.date, list] = {}
    try:
        day = D(2026, 3, 2)
        while day <= D(2026, 4, 30):
            if day.weekday() < 5:                 # the site works Monday to Friday
                for w in wids:
                    outbox.append({"decision": "allow", "device": "lane-1", "dir": "in",
                                   "method": "card+face", "score_milli": 700, "worker": w},
                                  ts_ms=ts(day, 8))
                    outbox.append({"decision": "allow", "device": "lane-2", "dir": "out",
                                   "method": "card+face", "score_milli": 700, "worker": w},
                                  ts_ms=ts(day, 17))
                wait_for(lambda: outbox.acked_seq == outbox.head_seq,
                         20, f"attendance of {day} acknowledged by central")
            for ev in events.get(day, []):
                ev()
            c.warn.evaluate(day, [CODE])
            seen[day] = [(w["rule"], w["period"], w["level"], w["state"], w["tier"])
                         for w in c.warn.list(CODE) if w["state"] in (
                             "open", "overdue", "escalated", "extended")]
            day += dt.timedelta(days=1)
    finally:
        client.close()
        up.close()
        running.close()

    rows = {(w["rule"], w["period"]): w for w in c.warn.list(CODE)}
    assert set(rows) == {("W04", "-"), ("W07", "2026-03"), ("W10", "2026-03")}, rows
    w04, w07, w10 = rows[("W04", "-")], rows[("W07", "2026-03")], rows[("W10", "2026-03")]
    # W04: 20 working days after signing (2026-02-02) is 2026-03-06 (Spring Festival 02-15..23
    # off, 02-14 and 02-28 worked); raised the day after, disposal deadline 15 days (no
    # Guangxi override), overdue, escalated once (7 days), then cleared.
    assert (w04["openedOn"], w04["dueOn"], w04["level"]) == (D(2026, 3, 7), D(2026, 3, 22), "red")
    assert seen[D(2026, 3, 6)] == []
    assert seen[D(2026, 3, 7)] == [("W04", "-", "red", "open", 0)]
    assert ("W04", "-", "red", "overdue", 0) in seen[D(2026, 3, 23)]
    assert ("W04", "-", "red", "escalated", 1) in seen[D(2026, 3, 30)]
    assert (w04["state"], w04["clearedOn"], w04["tier"]) == ("cleared_auto", D(2026, 4, 3), 1)
    assert "working_days=20" in w04["source"] and w04["responsible"] == "contractor"
    # W07: Guangxi transfer deadline the 20th -> raised on the 21st, cleared on arrival (25th)
    assert (w07["openedOn"], w07["dueOn"], w07["level"]) == (D(2026, 3, 21), D(2026, 4, 5), "red")
    assert w07["details"]["deadline"] == "2026-03-20"
    assert (w07["state"], w07["clearedOn"]) == ("cleared_auto", D(2026, 3, 25))
    # W10: payroll for March on 04-08 pays 4 of 5 who attended: 20 % unpaid > 10 % -> red
    assert (w10["openedOn"], w10["dueOn"], w10["level"]) == (D(2026, 4, 8), D(2026, 4, 23), "red")
    assert w10["details"]["unpaid_workers"] == [wids[4]]
    assert (w10["state"], w10["clearedOn"]) == ("cleared_auto", D(2026, 4, 20))
    assert seen[D(2026, 4, 30)] == []
    # exactly those, on exactly these days
    assert seen[D(2026, 3, 20)] == [("W04", "-", "red", "open", 0)]
    assert sorted(seen[D(2026, 3, 21)]) == [("W04", "-", "red", "open", 0),
                                            ("W07", "2026-03", "red", "open", 0)]
    assert w07["responsible"] == "client" and "seed 000 art. 9" in w07["source"]
    # idempotent: evaluating again changes nothing
    before = c.warn.list(CODE)
    assert c.warn.evaluate(D(2026, 4, 30), [CODE]).get("opened", 0) == 0
    assert c.warn.list(CODE) == before
    history = [e["toState"] for e in c.warn.history(w04["id"])]
    assert history == ["open", "overdue", "escalated", "cleared_auto"]
    # attendance days and the payroll reconciliation feed the funds rules
    rec = reconcile(c.store, CODE, "2026-03")
    assert [r["attendanceDays"] for r in rec] == [22] * 5
    assert all(r["payrollDays"] == 22 and r["status"] == "ok" for r in rec)
    assert outbox.acked_seq == c.store.gateway("gw-month-1")["head_seq"]

