"""Each rule W01-W15 fires on its condition, with the province profile's numbers, and the
lifecycle (extension, manual clearing with evidence, recurrence) behaves (SQLite, no broker).
Working days follow the State Council calendar (2026: Spring Festival 02-15..02-23 with
02-14 and 02-28 worked; Qingming 04-04..04-06)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from central.codes import InputError
from central.store import Store, now_ms
from central.tables import gateways, rejections
from central.tables import attendance_days, rule_params
from month import Central, pay, register_project
from sample import SUBCONTRACTOR

D = dt.date


@pytest.fixture
def c(tmp_path):
    return Central(Store(f"sqlite:///{tmp_path / 'w.db'}"))


def active(c, code, on):
    c.warn.evaluate(on, [code])
    return {(w["rule"], w["period"]): w for w in c.warn.list(code, "active")}


def attend(c, code, wids, first: D, last: D):
    rows, d = [], first
    while d <= last:
        if d.weekday() < 5:
            rows += [{"projectCode": code, "workerId": w, "day": d, "firstIn": 0} for w in wids]
        d += dt.timedelta(days=1)
    with c.store.engine.begin() as conn:
        conn.execute(attendance_days.insert(), rows)


def test_transfer_deadline_and_disposal_days_follow_the_province(c):
    for code, area in (("GX-1", "450103"), ("SD-1", "370102"), ("HN-1", "430102"),
                       ("BJ-1", "110105")):
        register_project(c, code, area=area, n_workers=1)
    c.warn.evaluate(D(2026, 3, 11))
    w07 = {w["projectCode"]: w for w in c.warn.list(rule="W07")}
    assert set(w07) == {"SD-1"}                              # Shandong: by the 10th
    assert w07["SD-1"]["dueOn"] == D(2026, 3, 26)            # default disposal 15 days
    c.warn.evaluate(D(2026, 3, 21))
    w07 = {w["projectCode"]: w for w in c.warn.list(rule="W07")}
    assert set(w07) == {"SD-1", "GX-1"}                      # Guangxi: by the 20th
    c.warn.evaluate(D(2026, 4, 1))
    w07 = {w["projectCode"]: w for w in c.warn.list(rule="W07")}
    assert w07["HN-1"]["openedOn"] == D(2026, 4, 1)          # default: month end
    assert w07["HN-1"]["dueOn"] == D(2026, 5, 1)             # Hunan: 30 days
    # a rule_params row overrides the built-in profile
    with c.store.engine.begin() as conn:
        conn.execute(rule_params.insert().values(region="11", rule="W07", key="transfer_day",
                                                 value="5"))
    c.warn.evaluate(D(2026, 4, 6))
    assert ("W07", "2026-04") in {(w["rule"], w["period"]) for w in c.warn.list("BJ-1")}


def test_compliance_rules(c):
    register_project(c, "P-C", n_workers=1, builderLicenseNum=None, noticeBoardDate=None)
    c.reg.add_project({"projectCode": "P-NOACC", "name": "no account", "areaCode": "450103",
                       "contractorCorpCode": c.reg.add_company(
                           {"corpCode": SUBCONTRACTOR, "corpName": "x"}),
                       "contractSignDate": "2026-01-05", "startDate": "2026-02-01",
                       "prjStatus": "003", "invest": "1000000"})
    assert ("W01", "-") not in active(c, "P-C", D(2026, 3, 17))       # Guangxi: 15 days
    w = active(c, "P-C", D(2026, 3, 20))
    assert w[("W01", "-")]["level"] == "yellow"
    assert w[("W01", "-")]["details"] == {"missing": ["builderLicenseNum"], "due": "2026-03-17"}
    assert "seed 000 art. 10" in w[("W01", "-")]["source"]
    assert w[("W14", "-")]["level"] == "yellow"
    assert ("W01", "-") in active(c, "P-C", D(2026, 4, 17)) and \
        c.warn.list("P-C", rule="W01")[0]["level"] == "red"          # 30 days after the due day
    n = active(c, "P-NOACC", D(2026, 3, 10))
    assert {k[0] for k in n} >= {"W02", "W03", "W06"} and "W04" not in {k[0] for k in n}
    c.reg.update_project("P-C", builderLicenseNum="L-1", noticeBoardDate="2026-04-03")
    w = active(c, "P-C", D(2026, 4, 3))
    assert ("W01", "-") not in w and ("W14", "-") not in w


def test_funds_rules(c):
    wids = register_project(c, "P-F", n_workers=4)
    attend(c, "P-F", wids, D(2026, 3, 2), D(2026, 5, 29))
    c.esc.add_deposit({"projectCode": "P-F", "form": "bank_guarantee", "issuer": "工行",
                       "guaranteeNo": "BG-1", "amount": "100000", "validFrom": "2026-03-01",
                       "validTo": "2026-04-30"})
    for m, day in (("2026-03", "2026-03-05"), ("2026-04", "2026-04-05"),
                   ("2026-05", "2026-05-05")):
        c.esc.add_flow({"projectCode": "P-F", "bankSerial": f"IN-{m}", "direction": "in",
                        "kind": "labour_cost", "amount": "200000", "valueDate": day,
                        "forMonth": m})
    c.esc.deposit_event({"guaranteeNo": "BG-1", "type": "use", "amount": "20000",
                         "date": "2026-04-01"})
    # March: one worker paid 60,000 (W11), one underpaid; two not paid at all (W10 red)
    pay(c, "P-F", wids[0], "2026-03", "2026-04-10", "60000", 22, "F1")
    pay(c, "P-F", wids[1], "2026-03", "2026-04-10", "1000", 22, "F2")
    assert ("W05", "2026-04-01") not in active(c, "P-F", D(2026, 4, 16))   # 10 w.d.: 04-16
    w = active(c, "P-F", D(2026, 4, 17))
    assert w[("W05", "2026-04-01")]["level"] == "red"            # not topped up in 10 w.d.
    assert w[("W10", "2026-03")]["level"] == "red"
    assert w[("W10", "2026-03")]["details"]["unpaid"] == 2
    assert w[("W11", "2026-03")]["details"]["above_max"] == [wids[0]]
    c.esc.deposit_event({"guaranteeNo": "BG-1", "type": "top_up", "amount": "20000",
                         "date": "2026-04-17"})
    for i, wid in enumerate(wids[2:]):
        pay(c, "P-F", wid, "2026-03", "2026-04-17", "6000", 22, f"F{3 + i}")
    w = active(c, "P-F", D(2026, 4, 17))
    assert ("W05", "2026-04-01") not in w and ("W10", "2026-03") not in w
    assert ("W11", "2026-03") in w                                 # manual rule: stays
    w11 = w[("W11", "2026-03")]["id"]
    with pytest.raises(InputError, match="evidence"):
        c.warn.clear(w11, "inspector", "bonus for the season", [], D(2026, 4, 18))
    c.warn.clear(w11, "inspector", "season bonus, contract annex", ["annex-7.pdf"], D(2026, 4, 18))
    assert ("W11", "2026-03") not in active(c, "P-F", D(2026, 4, 19))   # not reopened
    # April: nobody is paid by June 1st -> W09 red for April; W08 on May 1-10 (balance short)
    w = active(c, "P-F", D(2026, 6, 1))
    assert w[("W09", "2026-04")]["level"] == "red"
    # the bank guarantee expired on 04-30: the deposit is missing again
    assert w[("W04", "-")]["details"]["covered_fen"] == 0


def test_w08_balance_short(c):
    wids = register_project(c, "P-B", n_workers=2)
    c.esc.add_flow({"projectCode": "P-B", "bankSerial": "IN-B1", "direction": "in",
                    "kind": "labour_cost", "amount": "13000", "valueDate": "2026-03-05"})
    for i, wid in enumerate(wids):
        pay(c, "P-B", wid, "2026-03", "2026-03-31", "6000", 20, f"B{i}")
    w = active(c, "P-B", D(2026, 5, 3))          # April's pay (12,000) vs balance 1,000
    assert w[("W08", "2026-04")]["details"] == {"balance_fen": 100000, "needed_fen": 1200000}


def test_w06_gap_w12_exit_w13_complaint_w15_rejections(c):
    wids = register_project(c, "P-X", area="110105", n_workers=2)   # no province profile
    attend(c, "P-X", wids, D(2026, 3, 2), D(2026, 3, 13))
    assert ("W06", "2026-03-14") not in active(c, "P-X", D(2026, 3, 18))  # 3 working days
    w = active(c, "P-X", D(2026, 3, 19))
    assert w[("W06", "2026-03-14")]["level"] == "yellow"
    assert w[("W06", "2026-03-14")]["details"]["days_without"] == 6
    w = active(c, "P-X", D(2026, 4, 1))
    assert w[("W06", "2026-03-14")]["level"] == "red"              # spans the month end
    c.reg.exit("P-X", wids[0], "2026-03-13")
    assert ("W12", "2026-03-13") in {(k[0], k[1]) for k in active(c, "P-X", D(2026, 4, 1))}
    pay(c, "P-X", wids[0], "2026-03", "2026-04-02", "4000", 10, "X1", isFinal=1)
    c.esc.add_complaint({"projectCode": "P-X", "openedDate": "2026-04-02", "severity": "orange"})
    w = active(c, "P-X", D(2026, 4, 2))
    assert ("W12", "2026-03-13") not in w
    assert w[("W13", "2026-04-02")]["level"] == "orange"
    c.store.add_gateway("gw-x", _pub(), project="P-X")
    with c.store.engine.begin() as conn:
        conn.execute(rejections.insert().values(at=now_ms(), gw_id="gw-x", topic="t",
                                                kind="bad_signature", reason="r", size=1))
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    assert ("W15", today.isoformat()) in active(c, "P-X", today)


def test_extension_moves_the_deadline_and_escalation_waits(c):
    """seed 000 art. 17: an extension is asked for, with reasons, before the deadline, and
    granted by the sector department (another role, another person)."""
    register_project(c, "P-E", n_workers=1)
    c.warn.evaluate(D(2026, 3, 6), ["P-E"])
    assert c.warn.list("P-E", rule="W04") == []       # 20 working days after 02-02: 03-06
    c.warn.evaluate(D(2026, 3, 7), ["P-E"])
    w04 = c.warn.list("P-E", rule="W04")[0]
    assert (w04["dueOn"], w04["responsible"]) == (D(2026, 3, 22), "contractor")
    with pytest.raises(InputError, match="participating unit"):
        c.warn.request_extension(w04["id"], 20, "保函 being issued", "人社局", D(2026, 3, 10),
                                 role="official")
    c.warn.request_extension(w04["id"], 20, "保函 being issued", "总包", D(2026, 3, 10))
    with pytest.raises(InputError, match="no such warning"):
        c.warn.grant_extension(w04["id"] + 999, "人社局", D(2026, 3, 11))
    with pytest.raises(InputError, match="sector department"):
        c.warn.grant_extension(w04["id"], "总包经理", D(2026, 3, 11), role="party")
    with pytest.raises(InputError, match="another person"):
        c.warn.grant_extension(w04["id"], "总包", D(2026, 3, 11))
    assert c.warn.grant_extension(w04["id"], "人社局", D(2026, 3, 11)) == D(2026, 4, 11)
    c.warn.evaluate(D(2026, 4, 11), ["P-E"])
    assert c.warn.list("P-E", rule="W04")[0]["state"] == "extended"
    c.warn.evaluate(D(2026, 4, 12), ["P-E"])
    assert c.warn.list("P-E", rule="W04")[0]["state"] == "overdue"
    from central.warnings import DeadlinePassed
    with pytest.raises(InputError, match="overdue"):
        c.warn.request_extension(w04["id"], 5, "again", "总包", D(2026, 4, 12))
    # an open warning past its due day (not yet marked overdue) cannot be extended either
    c.warn.evaluate(D(2026, 3, 21), ["P-E"])
    w07 = c.warn.list("P-E", rule="W07")[0]
    with pytest.raises(DeadlinePassed, match="deadline .* has passed"):
        c.warn.request_extension(w07["id"], 5, "late", "建设单位", w07["dueOn"] +
                                 dt.timedelta(days=1))


def _pub() -> str:
    from uplink.sm2 import Signer, generate_private_key
    return Signer(generate_private_key()).public_hex


def test_evaluation_is_idempotent_under_repetition(c):
    register_project(c, "P-I", n_workers=1)
    for _ in range(3):
        c.warn.evaluate(D(2026, 3, 25), ["P-I"])
    with c.store.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM warnings")).scalar()
    assert n == len({(w["rule"], w["period"]) for w in c.warn.list("P-I")})
    assert gateways is not None


def test_a_condition_that_returns_after_auto_clearing_is_a_new_episode(c):
    register_project(c, "P-R", n_workers=1)
    c.warn.evaluate(D(2026, 3, 9), ["P-R"])
    c.esc.add_deposit({"projectCode": "P-R", "form": "insurance", "issuer": "人保财险",
                       "guaranteeNo": "INS-1", "amount": "100000", "validFrom": "2026-03-10",
                       "validTo": "2026-03-31"})
    c.warn.evaluate(D(2026, 3, 10), ["P-R"])
    c.warn.evaluate(D(2026, 4, 1), ["P-R"])                 # the policy has expired
    c.warn.evaluate(D(2026, 4, 2), ["P-R"])
    rows = c.warn.list("P-R", rule="W04")
    assert [(w["period"], w["state"], w["openedOn"]) for w in rows] == [
        ("-", "cleared_auto", D(2026, 3, 9)), ("-#2", "open", D(2026, 4, 1))]
