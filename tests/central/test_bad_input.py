"""Bad input is refused with a clear error and nothing partial is stored."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from central.codes import InputError
from central.store import Store
from central.tables import metadata
from month import Central, pay, register_project
from sample import CONTRACTOR, SUBCONTRACTOR, bad_check_digit, make_id

CODE = "GX-BAD-01"


@pytest.fixture
def c(tmp_path):
    central = Central(Store(f"sqlite:///{tmp_path / 'c.db'}"))
    central.wids = register_project(central, CODE, n_workers=2)
    return central


def snapshot(store) -> dict:
    with store.engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in metadata.sorted_tables}


def refused(c, fn, *match):
    before = snapshot(c.store)
    with pytest.raises(InputError) as exc:
        fn()
    for m in match:
        assert m in str(exc.value), str(exc.value)
    assert snapshot(c.store) == before, "something was stored"
    return str(exc.value)


def test_wrong_credit_code_check_digit(c):
    bad = bad_check_digit(CONTRACTOR)
    refused(c, lambda: c.reg.add_company({"corpCode": bad, "corpName": "x"}),
            "corpCode", "check digit")
    refused(c, lambda: c.reg.add_project({"projectCode": "P2", "name": "n", "areaCode": "450103",
                                          "contractorCorpCode": bad}),
            "contractorCorpCode", "check digit")
    refused(c, lambda: c.reg.add_company({"corpCode": "91450100ABC", "corpName": "x"}),
            "18 characters")


def test_bad_id_number_and_no_personal_data_in_the_error(c):
    good = make_id(55)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    msg = refused(c, lambda: c.reg.add_worker({"idCardNumber": bad, "workerName": "张三"}),
                  "idCardNumber", "invalid")
    assert bad not in msg and "张三" not in msg
    refused(c, lambda: c.reg.add_worker({"idCardNumber": "45010319850101", "workerName": "李四"}),
            "17 digits")
    refused(c, lambda: c.reg.set_labour_manager(CODE, "王五", bad), "laborManagerIdCardNumber")


def test_end_before_start(c):
    w = c.wids[0]
    refused(c, lambda: c.reg.add_contract({"projectCode": CODE, "workerId": w,
                                           "corpCode": SUBCONTRACTOR, "startDate": "2026-05-01",
                                           "endDate": "2026-04-01"}), "before start")
    refused(c, lambda: c.reg.add_project({"projectCode": "P3", "name": "n", "areaCode": "450103",
                                          "contractorCorpCode": CONTRACTOR,
                                          "startDate": "2026-05-01",
                                          "completeDate": "2025-01-01"}), "before start")
    refused(c, lambda: c.esc.add_deposit({"projectCode": CODE, "form": "bank_guarantee",
                                          "issuer": "银行", "guaranteeNo": "G1", "amount": "1",
                                          "validFrom": "2026-05-01", "validTo": "2026-01-01"}),
            "before start")
    refused(c, lambda: c.reg.exit(CODE, w, "2026-01-01"), "before start")


def test_negative_amount(c):
    refused(c, lambda: c.esc.add_flow({"projectCode": CODE, "bankSerial": "N1", "direction": "in",
                                       "amount": "-5", "valueDate": "2026-03-03"}), "negative")
    refused(c, lambda: c.esc.add_deposit({"projectCode": CODE, "form": "cash", "issuer": "银行",
                                          "guaranteeNo": "G2", "amount": "-100000",
                                          "validFrom": "2026-03-03"}), "negative")
    refused(c, lambda: c.esc.add_flow({"projectCode": CODE, "bankSerial": "N2", "direction": "in",
                                       "amount": "1.005", "valueDate": "2026-03-03"}),
            "two decimals")


def test_payroll_serial_with_no_bank_flow(c):
    w = c.wids[0]
    line = {"projectCode": CODE, "thirdPayRollCode": "PX-1", "corpCode": SUBCONTRACTOR,
            "workerId": w, "payMonth": "2026-03", "days": 20, "totalPayAmount": "6000",
            "actualAmount": "6000", "balanceDate": "2026-04-08", "bankSerial": "NO-SUCH-FLOW"}
    refused(c, lambda: c.esc.add_payroll_line(line), "PX-1", "no matching bank payout")
    c.esc.add_flow({"projectCode": CODE, "bankSerial": "OUT-1", "direction": "out",
                    "amount": "5000", "valueDate": "2026-04-08"})
    refused(c, lambda: c.esc.add_payroll_line(dict(line, bankSerial="OUT-1")), "5000.00",
            "6000.00")
    pay(c, CODE, w, "2026-03", "2026-04-08", "6000", 20, "OK-1")
    refused(c, lambda: c.esc.add_payroll_line(dict(line, bankSerial="BOK-1")),
            "already pays payroll line")


def test_unknown_project(c):
    refused(c, lambda: c.esc.add_flow({"projectCode": "NOPE", "bankSerial": "U1",
                                       "direction": "in", "amount": "1",
                                       "valueDate": "2026-03-03"}), "unknown project")
    refused(c, lambda: c.reg.enter({"projectCode": "NOPE", "workerId": c.wids[0],
                                    "corpCode": SUBCONTRACTOR, "workType": "020",
                                    "entryDate": "2026-03-02"}), "unknown project")
    refused(c, lambda: c.reg.add_team({"projectCode": "NOPE", "corpCode": SUBCONTRACTOR,
                                       "teamName": "x"}), "unknown project")


def test_import_is_all_or_nothing(c, tmp_path):
    csv = tmp_path / "flows.csv"
    csv.write_text("projectCode,bankSerial,direction,kind,amount,valueDate\n"
                   f"{CODE},F-1,in,labour_cost,200000.00,2026-03-10\n"
                   f"{CODE},F-2,out,payout,6000,2026-03-11\n"
                   f"{CODE},F-3,in,labour_cost,-1,2026-03-12\n", encoding="utf-8-sig")
    msg = refused(c, lambda: c.esc.import_file("flows", csv), "row 4", "negative")
    assert "amount" in msg
    xlsx = tmp_path / "flows.xlsx"
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["projectCode", "bankSerial", "direction", "kind", "amount", "valueDate"])
    ws.append([CODE, "X-1", "in", "labour_cost", 200000, "2026-03-10"])
    ws.append(["NOPE", "X-2", "in", "labour_cost", 1, "2026-03-10"])
    wb.save(xlsx)
    refused(c, lambda: c.esc.import_file("flows", xlsx), "row 3", "unknown project")
    ws.delete_rows(3)
    wb.save(xlsx)
    assert c.esc.import_file("flows", xlsx) == 1


def test_bad_codes_and_dates(c):
    refused(c, lambda: c.reg.enter({"projectCode": CODE, "workerId": c.wids[0],
                                    "corpCode": SUBCONTRACTOR, "workType": "999",
                                    "entryDate": "2026-03-02"}), "workType", "code table")
    refused(c, lambda: c.esc.add_flow({"projectCode": CODE, "bankSerial": "D1", "direction": "in",
                                       "amount": "1", "valueDate": "2026-02-30"}), "valueDate")
    refused(c, lambda: c.esc.add_payroll_line({"projectCode": CODE, "payMonth": "2026-13"}),
            "thirdPayRollCode")


def test_id_numbers_are_encrypted_indexed_and_masked(c):
    idn = make_id(1, "450103")
    wid = c.reg.find_worker(idn)
    assert wid == c.wids[0]
    assert c.reg.add_worker({"idCardNumber": idn, "workerName": "农民工1"}) == wid   # once
    view = c.reg.worker_view(wid)
    assert view["idCardNumber"] == idn[:4] + "*" * 10 + idn[-4:]
    assert view["workerName"] == "农***"
    with c.store.engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for t in metadata.sorted_tables
                         for r in conn.execute(sa.select(t)))
    assert idn not in dump and "农民工1" not in dump and "6222000000000" not in dump
    assert c.reg.worker_view(wid, reveal=True)["idCardNumber"] == idn


def test_registry_sheet_import_is_all_or_nothing(c, tmp_path):
    good, bad = make_id(201), make_id(202)[:-1] + ("0" if make_id(202)[-1] != "0" else "1")
    header = "projectCode,idCardNumber,workerName,corpCode,workType,entryDate,payRollBankCardNumber\n"
    sheet = tmp_path / "workers.csv"
    sheet.write_text(header + f"{CODE},{good},甲,{SUBCONTRACTOR},010,2026-03-05,6222000000009999\n"
                     f"{CODE},{bad},乙,{SUBCONTRACTOR},010,2026-03-05,\n")
    msg = refused(c, lambda: c.reg.import_rows("workers", __import__("central.escrow").escrow
                                               .read_sheet(sheet)), "row 3", "idCardNumber")
    assert bad not in msg and "乙" not in msg
    sheet.write_text(header + f"{CODE},{good},甲,{SUBCONTRACTOR},010,2026-03-05,\n")
    from central.escrow import read_sheet
    assert c.reg.import_rows("workers", read_sheet(sheet)) == 1
    wid = c.reg.find_worker(good)
    exits = tmp_path / "exits.csv"
    exits.write_text(f"projectCode,idCardNumber,date\n{CODE},{good},2026-03-01\n")
    refused(c, lambda: c.reg.import_rows("exits", read_sheet(exits)), "row 2", "before start")
    exits.write_text(f"projectCode,idCardNumber,date\n{CODE},{good},2026-03-20\n")
    c.reg.import_rows("exits", read_sheet(exits))
    with c.store.engine.connect() as conn:
        from central.tables import project_workers
        assert conn.execute(sa.select(project_workers.c.exitDate).where(
            project_workers.c.workerId == wid)).scalar().isoformat() == "2026-03-20"
