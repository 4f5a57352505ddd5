"""The fake platform's judgement of the business data: field lists, code tables, formats.

Written from standards.md §1.3 and §1.5 (the national data standard's objects and code tables
as used on the wire), independently of the client (which lives in ``objects.py`` and the
adapters): a client that spells a field wrong, drops a required one or sends a code that is
not in the table gets the reasons back, as the national platform reports them through
``AsyncHandleResult.Query`` (status 10).
"""
from __future__ import annotations

import re

ID_TYPES = {f"{i:02d}" for i in range(1, 18)}
WORK_TYPES = {"010", "020", "030", "040", "050", "060", "070", "080", "090", "100", "110", "120",
              "130", "140", "150", "160", "170", "180", "190", "200", "210", "220", "230", "240",
              "250", "270", "280", "290", "300", "310", "320", "330", "340", "350", "360", "380",
              "390", "900", "1000"}
CORP_TYPES = {f"{i:03d}" for i in range(1, 13)}
ATTEND_TYPES = {f"{i:03d}" for i in range(1, 12)}
PRJ_STATUS = {"001", "002", "003", "004", "005"}
CATEGORIES = {f"{i:02d}" for i in range(1, 13)} | {"99"}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MONTH = re.compile(r"^\d{4}-\d{2}$")
MONEY = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
COORD = re.compile(r"^-?\d{1,3}(\.\d{1,8})?$")

# object -> (required, optional, list field, item required, item optional)
OBJECTS = {
    "project": ({"projectCode", "name", "contractorCorpCode", "contractorCorpName", "areaCode",
                 "prjStatus"},
                {"category", "buildCorpCode", "buildCorpName", "builderLicenses", "address",
                 "invest", "startDate", "completeDate", "description", "lng", "lat",
                 "laborManagerName", "laborManagerIDCardType", "laborManagerIDCardNumber",
                 "laborManagerPhone", "linkMan", "linkPhone"}, None, set(), set()),
    "company": ({"projectCode", "corpCode", "corpName", "corpType"},
                {"entryTime", "exitTime", "pmName", "pmIDCardType", "pmIDCardNumber", "pmPhone"},
                None, set(), set()),
    "team": ({"projectCode", "corpCode", "corpName", "teamName"},
             {"teamSysNo", "entryTime", "exitTime", "teamLeaderName", "teamLeaderPhone",
              "teamLeaderIDCardType", "teamLeaderIDNumber", "remark"}, None, set(), set()),
    "worker": ({"projectCode", "corpCode", "corpName"}, {"teamSysNo", "teamName"}, "workerList",
               {"workerName", "idCardType", "idCardNumber", "workType", "workRole",
                "isTeamLeader"},
               {"cardNumber", "payRollBankCardNumber", "payRollBankName", "payRollTopBankCode",
                "bankLinkNumber", "hasBuyInsurance", "nation", "address", "cellPhone",
                "joinedTime", "issueCardDate", "headImage", "politicsType", "cultureLevelType"}),
    "entry_exit": ({"projectCode", "corpCode"}, {"corpName", "teamSysNo"}, "workerList",
                   {"idCardType", "idCardNumber", "date", "type"}, {"voucher"}),
    "contract": ({"projectCode"}, set(), "contractList",
                 {"corpCode", "idCardType", "idCardNumber", "contractPeriodType", "startDate"},
                 {"corpName", "endDate", "unit", "unitPrice", "attachments"}),
    "attendance": ({"projectCode"}, {"teamSysNo"}, "dataList",
                   {"idCardType", "idCardNumber", "date", "direction", "attendType"},
                   {"image", "channel", "lng", "lat"}),
    "payroll": ({"projectCode", "corpCode", "payMonth"}, {"corpName", "teamSysNo"}, "detailList",
                {"idCardType", "idCardNumber", "days", "totalPayAmount", "actualAmount",
                 "balanceDate", "isBackPay"},
                {"workHours", "payRollBankCardNumber", "payRollBankCode", "payRollBankName",
                 "payBankCardNumber", "payBankCode", "payBankName", "thirdPayRollCode"}),
}


def id_number_ok(value: str) -> bool:
    """GB 11643 check digit (ISO 7064 MOD 11-2) of an 18-character resident ID number."""
    if not re.fullmatch(r"\d{17}[\dXx]", value or ""):
        return False
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(value[:17], weights))
    return "10X98765432"[total % 11] == value[17].upper()


def _field_problems(kind: str, where: str, obj: dict, required: set, optional: set) -> list[str]:
    out = []
    for f in sorted(required - {k for k, v in obj.items() if v not in (None, "")}):
        out.append(f"{where}{f}: required")
    for f in sorted(set(obj) - required - optional - {OBJECTS[kind][2]}):
        out.append(f"{where}{f}: not a field of this object")

    def check(field, ok, why):
        v = obj.get(field)
        if v not in (None, "") and not ok(v):
            out.append(f"{where}{field}: {why}")
    check("idCardType", lambda v: str(v) in ID_TYPES, "not in the 证件类型 table")
    check("workType", lambda v: str(v) in WORK_TYPES, "not in the 工种 table")
    check("workRole", lambda v: str(v) in ("10", "20"), "10 or 20")
    check("isTeamLeader", lambda v: str(v) in ("0", "1"), "0 or 1")
    check("isBackPay", lambda v: str(v) in ("0", "1"), "0 or 1")
    check("corpType", lambda v: str(v) in CORP_TYPES, "not in the 参建单位类型 table")
    check("prjStatus", lambda v: str(v) in PRJ_STATUS, "not in the 项目状态 table")
    check("category", lambda v: str(v) in CATEGORIES, "not in the 项目分类 table")
    check("direction", lambda v: str(v) in ("01", "02"), "01 (in) or 02 (out)")
    check("attendType", lambda v: str(v) in ATTEND_TYPES, "not in the 通行方式 table")
    check("type", lambda v: str(v) in ("0", "1"), "1 (entry) or 0 (exit)")
    check("contractPeriodType", lambda v: str(v) in ("0", "1"), "0 or 1")
    check("payMonth", lambda v: MONTH.match(str(v)), "yyyy-MM")
    for f in ("startDate", "completeDate", "entryTime", "exitTime", "joinedTime", "endDate",
              "balanceDate"):
        check(f, lambda v: DATE.match(str(v)), "yyyy-MM-dd")
    if kind == "attendance":
        check("date", lambda v: DATETIME.match(str(v)), "yyyy-MM-dd HH:mm:ss")
    elif kind == "entry_exit":
        check("date", lambda v: DATE.match(str(v)), "yyyy-MM-dd")
    for f in ("invest", "unitPrice", "totalPayAmount", "actualAmount"):
        check(f, lambda v: MONEY.match(str(v)), "an amount in yuan")
    for f in ("lng", "lat"):
        check(f, lambda v: COORD.match(str(v)), "decimal degrees")
    if obj.get("idCardType") == "01":
        check("idCardNumber", id_number_ok, "not a valid resident ID number")
    return out


def problems(kind: str, data: dict) -> list[str]:
    """Every reason the object is not acceptable (empty = acceptable)."""
    required, optional, list_field, ireq, iopt = OBJECTS[kind]
    out = _field_problems(kind, "", data, required, optional)
    if list_field:
        items = data.get(list_field)
        if not isinstance(items, list) or not items:
            out.append(f"{list_field}: a non-empty list")
        else:
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    out.append(f"{list_field}[{i}]: not an object")
                    continue
                out.extend(_field_problems(kind, f"{list_field}[{i}].", item, ireq, iopt))
    return out
