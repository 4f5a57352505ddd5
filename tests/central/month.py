"""A sample project for the scripted month: registration, team, five workers, account."""
from __future__ import annotations

import datetime as dt
import os

from central.crypto import FieldCipher
from central.escrow import Escrow
from central.registry import Registry
from central.store import Store, now_ms
from central.warnings import Warnings
from sample import BUILDER, CONTRACTOR, SUBCONTRACTOR, make_id

D = dt.date


class Central:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cipher = FieldCipher(os.urandom(32))
        self.reg = Registry(store, self.cipher)
        self.esc = Escrow(store, self.cipher, clock=lambda: self.clock_ms)
        self.clock_ms = now_ms()
        self.warn = Warnings(store)


def register_project(c: Central, code: str, area: str = "450103", n_workers: int = 5,
                     **over) -> list[str]:
    for corp, name in ((CONTRACTOR, "桂建总承包有限公司"), (BUILDER, "南宁城投建设有限公司"),
                       (SUBCONTRACTOR, "八桂劳务分包有限公司")):
        c.reg.add_company({"corpCode": corp, "corpName": name, "areaCode": "450100"})
    project = {"projectCode": code, "name": f"{code} 安置房项目", "category": "01",
               "contractorCorpCode": CONTRACTOR, "buildCorpCode": BUILDER, "areaCode": area,
               "prjStatus": "003", "invest": "10000000", "labourCostMonthly": "200000",
               "contractSignDate": "2026-02-02", "startDate": "2026-03-02",
               "builderLicenseNum": "450103202602020101", "noticeBoardDate": "2026-03-02",
               "payDay": 15, "sector": "building", "pushSchedule": "daily",
               "permitDate": "2026-02-10", "contractStartDate": "2026-03-01",
               "address": "南宁市青秀区民族大道1号", "labourCostRatio": "25",
               "tripartiteAgreementRef": "三方协议-001",
               "projectManagerName": "陆志强", "projectManagerIdCardNumber":
                   make_id(901, "450103", "19880808"), "projectManagerPhone": "13900000001",
               "projectLeadName": "蒙海燕", "projectLeadIdCardNumber":
                   make_id(902, "450103", "19880808"), "projectLeadPhone": "13900000002"}
    project.update(over)
    c.reg.add_project(project)
    c.reg.add_project_company({"projectCode": code, "corpCode": SUBCONTRACTOR, "corpType": "006",
                               "entryTime": "2026-03-02", "pmName": "黄建国"})
    c.reg.set_labour_manager(code, "韦丽", make_id(900, "450103", "19880808"), "13800000000")
    team = c.reg.add_team({"projectCode": code, "corpCode": SUBCONTRACTOR, "teamName": "钢筋班",
                           "entryTime": "2026-03-02"})
    wids = []
    for i in range(n_workers):
        wid = c.reg.add_worker({"idCardType": "01", "idCardNumber": make_id(i + 1, "450103"),
                                "workerName": f"农民工{i + 1}", "nation": "壮"})
        c.reg.enter({"projectCode": code, "workerId": wid, "teamSysNo": team,
                     "corpCode": SUBCONTRACTOR, "workType": "020", "workRole": "20",
                     "entryDate": "2026-03-02", "payRollBankCardNumber": f"6222000000000{i:04d}",
                     "payRollTopBankCode": "102"})
        c.reg.add_contract({"projectCode": code, "workerId": wid, "corpCode": SUBCONTRACTOR,
                            "contractPeriodType": "0", "startDate": "2026-03-02",
                            "endDate": "2026-12-31", "unitPrice": "300"})
        wids.append(wid)
    c.esc.open_account({"projectCode": code, "bankCode": "102",
                        "accountNo": f"62170{abs(hash(code)) % 10**12:012d}",
                        "openedDate": "2026-02-20", "agreementRef": "三方协议-001"})
    return wids


def pay(c: Central, code: str, wid: str, month: str, day: str, amount: str, days: int,
        serial: str, **kw) -> None:
    c.esc.add_flow({"projectCode": code, "bankSerial": f"B{serial}", "direction": "out",
                    "kind": "payout", "amount": amount, "valueDate": day, "forMonth": month})
    c.esc.add_payroll_line({"projectCode": code, "thirdPayRollCode": f"P{serial}",
                            "corpCode": SUBCONTRACTOR, "workerId": wid, "payMonth": month,
                            "days": days, "totalPayAmount": amount, "actualAmount": amount,
                            "balanceDate": day, "bankSerial": f"B{serial}", **kw})
