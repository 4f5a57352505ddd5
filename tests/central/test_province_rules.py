"""Per-province rules against the seed regulations (/shared/seeds): each test names the seed
and article it checks.  000 Guangxi, 001 Hunan, 002 Shandong, 003 Xinjiang, 004 Anhui."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from central.cli import main
from central.rules import PROFILES, RULES, effective, table
from central.tables import attendance_days
from central.store import Store
from central.workdays import Calendar
from month import Central, pay, register_project

D = dt.date


@pytest.fixture
def c(tmp_path):
    return Central(Store(f"sqlite:///{tmp_path / 'p.db'}"))


def active(c, code, on):
    c.warn.evaluate(on, [code])
    return {(w["rule"], w["period"]): w for w in c.warn.list(code, "active")}


def attend(c, code, wids, days):
    with c.store.engine.begin() as conn:
        conn.execute(attendance_days.insert(), [
            {"projectCode": code, "workerId": w, "day": d, "firstIn": 0}
            for d in days for w in wids])


def weekdays(first: D, last: D) -> list[D]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)
            if (first + dt.timedelta(days=i)).weekday() < 5]


def at(day: D) -> int:
    """A receipt time on ``day`` (10:00 China time), for the Escrow clock."""
    return int(dt.datetime(day.year, day.month, day.day, 10,
                           tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp() * 1000)


# ---------------------------------------------------------------- every number has a source
def test_every_parameter_of_every_profile_names_its_source():
    """Rules are data; each parameter in each province profile says where it comes from."""
    for region in (None, "45", "43", "37", "65", "34"):
        rows = table(region)
        assert {r["rule"] for r in rows} == {r["code"] for r in RULES}
        for r in rows:
            assert r["source"] and r["responsibleSource"], r
            assert r["source"].startswith(("seed 00", "national:", "sitegate default",
                                           "another platform", "Tibet")), r
    assert set(PROFILES) == {"45", "43", "37", "65", "34"}
    eff = effective("45")
    assert eff[("W07", "transfer_day")] == (20, "seed 000 art. 9: labour cost by the 20th")
    assert effective("37")[("W07", "transfer_day")][1].startswith("seed 002 art. 15")
    assert effective("43")[("*", "disposal_days")][0] == 30


def test_rules_show_cli_prints_the_effective_table_with_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("SITEGATE_HOME", str(tmp_path / "home"))
    db = f"sqlite:///{tmp_path / 'r.db'}"
    run = CliRunner().invoke
    r = run(main, ["rules", "show", "--region", "43", "--json", "--db", db])
    assert r.exit_code == 0, r.output
    rows = {(x["rule"], x["param"]): x for x in json.loads(r.output)}
    assert rows[("W01", "working_days")]["value"] == 10
    assert rows[("W01", "working_days")]["source"] == "seed 001 II(1)"
    assert rows[("W03", "disposal_days")]["source"].startswith("seed 001 II(10)")
    assert rows[("W17", "flow_days")]["value"] == 0
    r = run(main, ["rules", "set", "43", "W06", "gap_days", "5", "--db", db])
    assert r.exit_code == 2                                   # --source is required
    r = run(main, ["rules", "set", "43", "W06", "gap_days", "5", "--source",
                   "长沙市人社局 2026 通知 第3条", "--db", db])
    assert r.exit_code == 0, r.output
    rows = {(x["rule"], x["param"]): x for x in json.loads(run(
        main, ["rules", "show", "--region", "43", "--json", "--db", db]).output)}
    assert rows[("W06", "gap_days")]["value"] == 5
    assert "长沙市人社局 2026 通知 第3条" in rows[("W06", "gap_days")]["source"]
    r = run(main, ["rules", "show", "--region", "45", "--db", db])
    assert r.exit_code == 0 and "seed 000 art. 11(1)" in r.output.replace("\n", " ") \
        or "hardware_days" in r.output


# ---------------------------------------------------------------- Guangxi (seed 000)
def test_seed000_art11_1_guangxi_w06_waits_for_the_15_day_hardware_window(c):
    """Art. 11(1): ID and biometric hardware within 15 days of start; no attendance before
    that is not a warning; after it, the usual gap applies."""
    wids = register_project(c, "GX-HW", n_workers=2)            # start 2026-03-02
    assert ("W06", "2026-03-17") not in active(c, "GX-HW", D(2026, 3, 6))
    assert not [k for k in active(c, "GX-HW", D(2026, 3, 19)) if k[0] == "W06"]
    w = active(c, "GX-HW", D(2026, 3, 20))                       # 03-17..03-20: gap 4 > 3
    assert w[("W06", "2026-03-17")]["level"] == "yellow"
    assert "seed 000 art. 11(1)" in w[("W06", "2026-03-17")]["source"]
    attend(c, "GX-HW", wids, weekdays(D(2026, 3, 17), D(2026, 3, 20)))
    assert not [k for k in active(c, "GX-HW", D(2026, 3, 20)) if k[0] == "W06"]


def test_seed000_art17_w07_belongs_to_the_client_and_others_to_the_contractor(c):
    """Art. 17 para. 3: the client answers for warnings from labour cost not transferred."""
    register_project(c, "GX-RESP", n_workers=1)
    w = active(c, "GX-RESP", D(2026, 3, 21))
    assert w[("W07", "2026-03")]["responsible"] == "client"
    assert w[("W07", "2026-03")]["responsibleCorp"] == c.reg.project_view("GX-RESP")[
        "buildCorpCode"]
    assert w[("W04", "-")]["responsible"] == "contractor"


# ---------------------------------------------------------------- Hunan (seed 001)
def test_seed001_II1_hunan_w01_ten_working_days_after_the_permit(c):
    """II(1): pushed within 10 working days of the construction permit (building, municipal);
    the permit is dated 2026-09-28, so the National Day week does not count."""
    register_project(c, "HN-PERMIT", area="430102", n_workers=1, permitDate="2026-09-28",
                     startDate="2026-10-12", contractStartDate=None,
                     contractSignDate="2026-09-01", address=None)
    # working days after 09-28: 09-29, 09-30, (10-01..10-07 off), 10-08, 10-09, 10-10 (a
    # worked Saturday), 10-12, 10-13, 10-14, 10-15, 10-16 -> due 10-16
    assert ("W01", "-") not in active(c, "HN-PERMIT", D(2026, 10, 16))
    w = active(c, "HN-PERMIT", D(2026, 10, 17))[("W01", "-")]
    assert w["details"] == {"missing": ["address", "contractStartDate"], "due": "2026-10-16"}
    assert "seed 001 II(1)" in w["source"]


def test_seed001_II1_hunan_transport_project_needs_no_permit_and_registers_before_start(c):
    """II(1): projects that need no construction permit are pushed before actual start; the
    permit number and date are asked only of building and municipal projects (annex 一(一))."""
    register_project(c, "HN-ROAD", area="430102", n_workers=1, sector="transport",
                     builderLicenseNum=None, permitDate=None, startDate="2026-03-02")
    assert ("W01", "-") not in active(c, "HN-ROAD", D(2026, 3, 2))
    c.reg.update_project("HN-ROAD", sector="building")       # now a permit is needed
    w = active(c, "HN-ROAD", D(2026, 3, 2))[("W01", "-")]
    assert set(w["details"]["missing"]) == {"builderLicenseNum", "permitDate"}


def test_seed001_II4_hunan_semimonthly_batches_are_late_only_after_the_cutoff(c):
    """II(4): transport and water linear projects collect daily and push by the 15th and by
    month end; a gap before the batch is due is normal, a missing batch is not."""
    wids = register_project(c, "HN-LINE", area="430102", n_workers=2, sector="transport",
                            pushSchedule="semimonthly", builderLicenseNum=None,
                            permitDate=None)
    first_half = weekdays(D(2026, 3, 2), D(2026, 3, 13))
    # nothing pushed yet on 03-10: the first batch is due by the 15th (+2 days grace)
    assert not [k for k in active(c, "HN-LINE", D(2026, 3, 10)) if k[0] == "W06"]
    assert not [k for k in active(c, "HN-LINE", D(2026, 3, 17)) if k[0] == "W06"]
    w = active(c, "HN-LINE", D(2026, 3, 18))
    w06 = w[("W06", "2026-03-02")]
    assert w06["details"]["batch_cutoff"] == "2026-03-15" and \
        w06["details"]["schedule"] == "semimonthly"
    attend(c, "HN-LINE", wids, first_half)                   # the batch arrives
    assert not [k for k in active(c, "HN-LINE", D(2026, 3, 18)) if k[0] == "W06"]
    # a daily project with the same data would have warned on 03-20 (a 6-day gap)
    c.reg.update_project("HN-LINE", pushSchedule="daily")
    assert [k for k in active(c, "HN-LINE", D(2026, 3, 20)) if k[0] == "W06"]
    c.reg.update_project("HN-LINE", pushSchedule="semimonthly")
    assert not [k for k in active(c, "HN-LINE", D(2026, 3, 31)) if k[0] == "W06"]
    assert [k for k in active(c, "HN-LINE", D(2026, 4, 3)) if k[0] == "W06"]  # 03-31 + 2


def test_seed001_II4_hunan_labour_manager_within_30_days_of_start(c):
    register_project(c, "HN-LM", area="430102", n_workers=1)
    with c.store.engine.begin() as conn:
        from central.tables import projects
        conn.execute(projects.update().values(laborManagerIdIndex=None))
    assert ("W03", "-") not in active(c, "HN-LM", D(2026, 4, 1))      # start 03-02 + 30
    assert "seed 001 II(4)" in active(c, "HN-LM", D(2026, 4, 2))[("W03", "-")]["source"]


def test_seed001_II5_II6_II8_hunan_bank_records_and_guarantees_received_late(c):
    """II(5): account events within 3 working days; II(6): flows the same day; II(8): payment
    guarantees within 3 working days of receipt.  Central stores when it received each."""
    register_project(c, "HN-BANK", area="430102", n_workers=1)
    c.clock_ms = at(D(2026, 3, 5))                  # same day: on time
    c.esc.add_flow({"projectCode": "HN-BANK", "bankSerial": "HB-1", "direction": "in",
                    "amount": "200000", "valueDate": "2026-03-05", "balanceAfter": "200000",
                    "counterpartyName": "长沙城投", "counterpartyAccount": "6222000011112222"})
    assert not [k for k in active(c, "HN-BANK", D(2026, 3, 6)) if k[0] == "W17"]
    c.clock_ms = at(D(2026, 3, 9))                  # a flow of 03-06 arriving on 03-09: late
    c.esc.add_flow({"projectCode": "HN-BANK", "bankSerial": "HB-2", "direction": "in",
                    "amount": "1000", "valueDate": "2026-03-06"})
    c.esc.add_guarantee({"projectCode": "HN-BANK", "guaranteeNo": "PG-1", "issuer": "某担保",
                         "amount": "500000", "validFrom": "2026-03-01",
                         "validTo": "2026-12-31", "receivedDate": "2026-03-03"})
    active(c, "HN-BANK", D(2026, 3, 9))
    bank = [x for x in c.warn.list("HN-BANK", rule="W17") if x["subjectType"] == "bank"][0]
    guar = [x for x in c.warn.list("HN-BANK", rule="W17") if x["subjectType"] == "project"][0]
    assert bank["details"] == {"late": {"flow": 1}} and bank["responsible"] == "bank"
    assert guar["details"] == {"late": {"guarantee": 1}} and guar["responsible"] == "contractor"
    assert "seed 001 II(6)" in bank["source"]
    # the same records in Guangxi: no deadline in seed 000, nothing raised
    register_project(c, "GX-BANK", n_workers=1)
    c.esc.add_flow({"projectCode": "GX-BANK", "bankSerial": "GB-2", "direction": "in",
                    "amount": "1000", "valueDate": "2026-03-06"})
    assert not [k for k in active(c, "GX-BANK", D(2026, 3, 9)) if k[0] == "W17"]


def test_seed001_II10_hunan_warnings_are_disposed_within_30_days(c):
    register_project(c, "HN-30", area="430102", n_workers=1)
    w = active(c, "HN-30", D(2026, 4, 1))[("W07", "2026-03")]
    assert w["dueOn"] == D(2026, 5, 1)
    assert "disposal_days=30 [seed 001 II(10)" in w["source"]


# ---------------------------------------------------------------- Shandong (seed 002)
def test_seed002_art12_shandong_w01_within_30_days_of_contract_signing(c):
    register_project(c, "SD-FILE", area="370102", n_workers=1, labourCostRatio=None,
                     contractSignDate="2026-02-02")
    assert ("W01", "-") not in active(c, "SD-FILE", D(2026, 3, 4))    # 02-02 + 30 = 03-04
    w = active(c, "SD-FILE", D(2026, 3, 5))[("W01", "-")]
    assert w["details"]["missing"] == ["labourCostRatio"]              # art. 15
    assert "seed 002 art. 12" in w["source"]


def test_seed002_art15_shandong_w07_labour_cost_by_the_contract_ratio_by_the_10th(c):
    """Art. 15: the contract sets the labour-cost share; the client transfers it by the 10th."""
    register_project(c, "SD-RATIO", area="370102", n_workers=1, labourCostMonthly="1000",
                     labourCostRatio="25")
    c.esc.add_progress_payment({"projectCode": "SD-RATIO", "ref": "GCK-2026-03",
                                "paidDate": "2026-03-03", "amount": "2000000"})
    c.esc.add_flow({"projectCode": "SD-RATIO", "bankSerial": "SR-1", "direction": "in",
                    "amount": "300000", "valueDate": "2026-03-09", "forMonth": "2026-03"})
    assert ("W07", "2026-03") not in active(c, "SD-RATIO", D(2026, 3, 10))
    w = active(c, "SD-RATIO", D(2026, 3, 11))[("W07", "2026-03")]      # 25 % of 2 M = 500 k
    assert (w["details"]["required_fen"], w["details"]["received_fen"]) == (50000000, 30000000)
    assert w["details"]["deadline"] == "2026-03-10"
    c.esc.add_flow({"projectCode": "SD-RATIO", "bankSerial": "SR-2", "direction": "in",
                    "amount": "200000", "valueDate": "2026-03-11", "forMonth": "2026-03"})
    assert ("W07", "2026-03") not in active(c, "SD-RATIO", D(2026, 3, 11))


def test_seed002_art13_shandong_w16_payment_guarantee_required_and_kept_valid(c):
    register_project(c, "SD-PG", area="370102", n_workers=1)      # signed 02-02
    assert ("W16", "-") not in active(c, "SD-PG", D(2026, 3, 4))
    w = active(c, "SD-PG", D(2026, 3, 5))[("W16", "-")]
    assert w["responsible"] == "client" and "seed 002 art. 13" in w["source"]
    c.esc.add_guarantee({"projectCode": "SD-PG", "guaranteeNo": "PG-SD", "issuer": "某银行",
                         "amount": "1000000", "validFrom": "2026-03-01",
                         "validTo": "2026-05-31", "receivedDate": "2026-03-01"})
    assert ("W16", "-") not in active(c, "SD-PG", D(2026, 3, 5))
    assert ("W16", "-#2") in active(c, "SD-PG", D(2026, 6, 1))          # expired
    register_project(c, "GX-PG", n_workers=1)                          # Guangxi: not required
    assert not [k for k in active(c, "GX-PG", D(2026, 3, 5)) if k[0] == "W16"]


# ---------------------------------------------------------------- Xinjiang (seed 003)
def test_seed003_II_xinjiang_everything_before_start(c):
    """II(1) project information with project manager, project lead and labour manager;
    II(2) tripartite agreement and special account; II(3) deposit; II(6) rights-notice board
    -- all before start: on the start day each missing item is a warning, not a day earlier."""
    register_project(c, "XJ-1", area="650102", n_workers=1, startDate="2026-03-10",
                     noticeBoardDate=None, tripartiteAgreementRef=None,
                     projectLeadName=None, projectLeadIdCardNumber=None,
                     projectLeadPhone=None)
    with c.store.engine.begin() as conn:
        from central.tables import special_accounts
        conn.execute(special_accounts.update().values(agreementRef=None))
    before = active(c, "XJ-1", D(2026, 3, 9))
    assert not {k[0] for k in before} & {"W01", "W02", "W04", "W14"}
    on = active(c, "XJ-1", D(2026, 3, 10))
    assert on[("W01", "-")]["details"] == {"missing": ["projectLead"], "due": "2026-03-09"}
    assert on[("W02", "-")]["details"]["agreement"] is False
    assert on[("W04", "-")]["details"]["due"] == "2026-03-09"
    assert ("W14", "-") in on
    for rule in ("W01", "W02", "W04", "W14"):
        assert "seed 003 II(" in on[(rule, "-")]["source"]
    c.reg.update_project("XJ-1", tripartiteAgreementRef="三方协议-XJ-7", noticeBoardDate="2026-03-10")
    after = active(c, "XJ-1", D(2026, 3, 10))
    assert ("W02", "-") not in after and ("W14", "-") not in after


# ---------------------------------------------------------------- Anhui (seed 004)
def test_seed004_IV3_anhui_account_and_labour_manager_from_the_start(c):
    """IV(3): 开工即开户, 配备劳资专管员 -- the account and the labour manager from the start."""
    from sample import CONTRACTOR
    c.reg.add_company({"corpCode": CONTRACTOR, "corpName": "皖建总承包"})
    c.reg.add_project({"projectCode": "AH-1", "name": "合肥安置房", "areaCode": "340102",
                       "contractorCorpCode": CONTRACTOR, "prjStatus": "003",
                       "contractSignDate": "2026-02-20", "startDate": "2026-03-02"})
    assert not {k[0] for k in active(c, "AH-1", D(2026, 3, 2))} & {"W02", "W03"}
    w = active(c, "AH-1", D(2026, 3, 3))
    assert "seed 004 IV(3)" in w[("W02", "-")]["source"]
    assert "seed 004 IV(3)" in w[("W03", "-")]["source"]
    # national default elsewhere: 30 days after signing
    c.reg.add_project({"projectCode": "BJ-1", "name": "x", "areaCode": "110105",
                       "contractorCorpCode": CONTRACTOR, "prjStatus": "003",
                       "contractSignDate": "2026-02-20", "startDate": "2026-03-02"})
    assert ("W02", "-") not in active(c, "BJ-1", D(2026, 3, 22))
    assert "人社部发〔2021〕53号" in active(c, "BJ-1", D(2026, 3, 23))[("W02", "-")]["source"]


# ---------------------------------------------------------------- days paid vs attended
def test_w18_days_paid_differ_from_days_attended_seed000_art11_3(c):
    """Art. 11(3): identity, real-name attendance and wages must match, per worker and month."""
    wids = register_project(c, "GX-DAYS", n_workers=2)
    attend(c, "GX-DAYS", wids, weekdays(D(2026, 3, 2), D(2026, 3, 31)))     # 22 days
    pay(c, "GX-DAYS", wids[0], "2026-03", "2026-04-08", "6600", 22, "D1")
    pay(c, "GX-DAYS", wids[1], "2026-03", "2026-04-08", "7500", 25, "D2")
    w = active(c, "GX-DAYS", D(2026, 4, 8))[("W18", "2026-03")]
    assert w["details"]["mismatched"] == [{"workerId": wids[1], "paidDays": 25,
                                           "attendanceDays": 22}]


# ---------------------------------------------------------------- the calendar
def test_working_days_follow_the_state_council_calendar_and_the_override_file(tmp_path):
    cal = Calendar()
    assert cal.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)      # a worked Saturday
    assert cal.add_working_days(D(2026, 2, 14), 1) == D(2026, 2, 24)      # Spring Festival
    assert cal.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)      # National Day
    assert cal.add_working_days(D(2026, 10, 9), 1) == D(2026, 10, 10)     # worked Saturday
    f = tmp_path / "workdays.toml"
    f.write_text('holidays = ["2027-03-01"]\nworkdays = ["2027-02-27"]\n')
    cal = Calendar.from_file(f)
    assert cal.add_working_days(D(2027, 2, 26), 1) == D(2027, 2, 27)
    assert cal.add_working_days(D(2027, 2, 27), 1) == D(2027, 3, 2)
    f.write_text('holidays = ["2027-03-01"]\nworkdays = ["2027-03-01"]\n')
    with pytest.raises(ValueError, match="both"):
        Calendar.from_file(f)


def test_docs_rule_by_province_table_is_the_code():
    """docs/central.md's table rule x province -> parameter, deadline, source is generated
    from rules.py; a change to either without the other fails here."""
    from pathlib import Path
    from central.rules import markdown_table
    doc = (Path(__file__).resolve().parents[2] / "docs" / "central.md").read_text()
    assert markdown_table() in doc
