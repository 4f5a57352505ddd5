"""The objects central pushes, in the national data standard's wire names (standards.md §1.3),
built from the registry's rows (pure functions: rows and an ``open_`` for sealed fields in,
plain business data out; the adapters seal ID and card numbers their own way).

* project (``Project``), participating company (``ProjectSubContractor``), team (``Team``),
  project worker (``ProjectWorker``), entry/exit (``WorkerEntryExit``), labour contract
  (``WorkerContract``), attendance (``WorkerAttendance``), payroll (``Payroll``);
* attendance items keep where they were taken: a lane clock-in its device (``channel``), a
  phone clock-in its coordinates (``lng``, ``lat``, WGS-84 as measured) and the fence that
  admitted it (``channel`` = ``fence:<id>``);
* ``teamSysNo`` in the data is central's own team number; the delivery loop replaces it by
  the platform's (returned when the platform took the team) before sending.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from ..codes import ATTEND_TYPE, DIRECTION, yuan

CN = dt.timezone(dt.timedelta(hours=8))
_CN_MS = 8 * 3_600_000                     # China time has no daylight saving: a fixed offset
_EPOCH = dt.date(1970, 1, 1)


@lru_cache(maxsize=4096)
def _day(n: int) -> tuple[dt.date, str]:
    d = _EPOCH + dt.timedelta(days=n)
    return d, d.isoformat()


_HH_MM = [f" {h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SS = [f"{s:02d}" for s in range(60)]


def cn_time(ts_ms: int) -> tuple[dt.date, str]:
    """(the day, ``yyyy-MM-dd HH:mm:ss``) of a timestamp in China time, by arithmetic and
    tables (the planner does this for every punch)."""
    n, rest = divmod(ts_ms + _CN_MS, 86_400_000)
    day, iso = _day(n)
    m, s = divmod(rest // 1000, 60)
    return day, iso + _HH_MM[m] + _SS[s]


def _iso(d) -> str | None:
    return d.isoformat() if isinstance(d, dt.date) else d


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v not in (None, "", [])}


def project(p: dict, names: dict[str, str], open_) -> dict:
    lic = p.get("builderLicenseNum")
    return _clean({
        "projectCode": p["projectCode"], "name": p["name"], "category": p.get("category"),
        "contractorCorpCode": p["contractorCorpCode"],
        "contractorCorpName": names.get(p["contractorCorpCode"]),
        "buildCorpCode": p.get("buildCorpCode"), "buildCorpName": names.get(p.get("buildCorpCode")),
        "builderLicenses": [{"prjName": p["name"], "builderLicenseNum": lic}] if lic else None,
        "areaCode": p["areaCode"], "address": p.get("address"), "prjStatus": p["prjStatus"],
        "invest": yuan(p.get("invest")), "startDate": _iso(p.get("startDate")),
        "completeDate": _iso(p.get("completeDate")),
        # local additions seen in provincial schemas (standards.md §1.3): the labour manager
        "laborManagerName": open_(p.get("laborManagerNameEnc"), "laborManagerName"),
        "laborManagerIDCardType": "01" if p.get("laborManagerIdEnc") else None,
        "laborManagerIDCardNumber": open_(p.get("laborManagerIdEnc"), "laborManagerIdCardNumber"),
        "laborManagerPhone": open_(p.get("laborManagerPhoneEnc"), "laborManagerPhone"),
    })


def company(pc: dict, corp_name: str, open_) -> dict:
    return _clean({
        "projectCode": pc["projectCode"], "corpCode": pc["corpCode"], "corpName": corp_name,
        "corpType": pc["corpType"], "entryTime": _iso(pc.get("entryTime")),
        "exitTime": _iso(pc.get("exitTime")),
        "pmName": open_(pc.get("pmNameEnc"), "pmName"),
        "pmIDCardType": "01" if pc.get("pmIdCardNumberEnc") else None,
        "pmIDCardNumber": open_(pc.get("pmIdCardNumberEnc"), "pmIdCardNumber"),
        "pmPhone": open_(pc.get("pmPhoneEnc"), "pmPhone"),
    })


def team(t: dict, corp_name: str) -> dict:
    return _clean({"projectCode": t["projectCode"], "corpCode": t["corpCode"],
                   "corpName": corp_name, "teamName": t["teamName"],
                   "entryTime": _iso(t.get("entryTime")), "exitTime": _iso(t.get("exitTime"))})


def _envelope(pw: dict, corp_name: str, team_name: str | None) -> dict:
    return _clean({"projectCode": pw["projectCode"], "corpCode": pw["corpCode"],
                   "corpName": corp_name, "teamSysNo": pw.get("teamSysNo"),
                   "teamName": team_name})


def worker(pw: dict, w: dict, corp_name: str, team_name: str | None, open_) -> dict:
    item = _clean({
        "workerName": open_(w["workerNameEnc"], "workerName"),
        "isTeamLeader": int(bool(pw.get("isTeamLeader"))),
        "idCardType": w["idCardType"],
        "idCardNumber": open_(w["idCardNumberEnc"], "idCardNumber"),
        "workType": pw["workType"], "workRole": pw["workRole"],
        "cardNumber": pw.get("cardNumber"),
        "payRollBankCardNumber": open_(pw.get("payRollBankCardNumberEnc"),
                                       "payRollBankCardNumber"),
        "payRollTopBankCode": pw.get("payRollTopBankCode"),
        "nation": w.get("nation"), "cellPhone": open_(w.get("cellPhoneEnc"), "cellPhone"),
        "joinedTime": _iso(pw["entryDate"]),
    })
    return dict(_envelope(pw, corp_name, team_name), workerList=[item])


def entry_exit(e: dict, pw: dict, w: dict, corp_name: str, open_) -> dict:
    item = {"idCardType": w["idCardType"],
            "idCardNumber": open_(w["idCardNumberEnc"], "idCardNumber"),
            "date": _iso(e["date"]), "type": e["type"]}
    return dict(_envelope(pw, corp_name, None), workerList=[item])


def contract(c: dict, w: dict, corp_name: str, open_) -> dict:
    item = _clean({"corpCode": c["corpCode"], "corpName": corp_name,
                   "idCardType": w["idCardType"],
                   "idCardNumber": open_(w["idCardNumberEnc"], "idCardNumber"),
                   "contractPeriodType": c["contractPeriodType"],
                   "startDate": _iso(c["startDate"]), "endDate": _iso(c.get("endDate")),
                   "unitPrice": yuan(c.get("unitPrice"))})
    return {"projectCode": c["projectCode"], "contractList": [item]}


def payroll(line: dict, pw: dict, w: dict, corp_name: str, account: dict | None, open_) -> dict:
    item = _clean({
        "idCardType": w["idCardType"], "idCardNumber": open_(w["idCardNumberEnc"], "idCardNumber"),
        "days": line["days"], "workHours": line.get("workHours"),
        "payRollBankCardNumber": open_(pw.get("payRollBankCardNumberEnc"),
                                       "payRollBankCardNumber"),
        "payRollBankCode": pw.get("payRollTopBankCode"),
        "payBankCardNumber": open_(account["accountNoEnc"], "accountNo") if account else None,
        "payBankCode": account["bankCode"] if account else None,
        "payBankName": account["accountName"] if account else None,
        "totalPayAmount": yuan(line["totalPayAmount"]), "actualAmount": yuan(line["actualAmount"]),
        "isBackPay": int(bool(line.get("isBackPay"))), "balanceDate": _iso(line["balanceDate"]),
        "thirdPayRollCode": line["thirdPayRollCode"],
    })
    env = _clean({"projectCode": line["projectCode"], "corpCode": line["corpCode"],
                  "corpName": corp_name, "teamSysNo": line.get("teamSysNo") or pw.get("teamSysNo"),
                  "payMonth": line["payMonth"]})
    return dict(env, detailList=[item])


def attendance_item(date: str, body: dict, id_type: str, id_number: str | None) -> dict:
    """One punch: who (the worker's ID), when (``date``, China time: :func:`cn_time`), which
    way, how; where (lane device, or phone coordinates+fence)."""
    method = body.get("method")
    item = {"idCardType": id_type, "idCardNumber": id_number, "date": date,
            "direction": DIRECTION.get(body.get("dir"), "01")}
    if method == "phone":
        # a phone clock-in is admitted by a fence and verified against a selfie (face)
        item["attendType"] = ATTEND_TYPE["face"]
        if body.get("fence"):
            item["channel"] = f"fence:{body['fence']}"[:64]
        if isinstance(body.get("lon_e6"), int) and isinstance(body.get("lat_e6"), int):
            item["lng"] = f"{body['lon_e6'] / 1e6:.6f}"
            item["lat"] = f"{body['lat_e6'] / 1e6:.6f}"
    else:
        item["attendType"] = ATTEND_TYPE.get(method, "011")
        if body.get("device"):
            item["channel"] = str(body["device"])[:64]
    return item
