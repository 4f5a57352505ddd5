"""Warning rules W01-W15 as data (standards.md §2.2), and province profiles.

A rule names its family, inputs, condition (in words, for people), the check that implements it
(``checks.py``), its level, whether it clears automatically, and its parameters.  Parameters
marked [P] in the standards are defaults, overridable per province (``PROFILES`` here, or rows in
the ``rule_params`` table, which win).  Deadlines are disposal deadlines: opened + disposal_days.
"""
from __future__ import annotations

COMPLIANCE, FUNDS, COMPLAINT, TECHNICAL = "compliance", "funds", "complaint", "technical"
LEVELS = ("technical", "yellow", "orange", "red")

RULES: list[dict] = [
    {"code": "W01", "family": COMPLIANCE, "name": "项目未登记/未纳管",
     "inputs": "project start date, registration items",
     "condition": "project started and its registration is incomplete (permit number, labour "
                  "manager); red after red_after_days",
     "level": "yellow", "auto_clear": True, "params": {"red_after_days": 30}},
    {"code": "W02", "family": COMPLIANCE, "name": "未开立农民工工资专用账户",
     "inputs": "contract signing date, special account",
     "condition": "no special account open_days after the construction contract was signed",
     "level": "red", "auto_clear": True, "params": {"open_days": 30}},
    {"code": "W03", "family": COMPLIANCE, "name": "未配备劳资专管员",
     "inputs": "project status, labour manager",
     "condition": "project under construction, grace_days after start, no labour manager",
     "level": "yellow", "auto_clear": True, "params": {"grace_days": 30}},
    {"code": "W04", "family": FUNDS, "name": "未缴存工资保证金",
     "inputs": "contract date and value, deposits",
     "condition": "no deposit/guarantee covering ratio_permille of the contract value "
                  "working_days working days after signing, unless exempt",
     "level": "red", "auto_clear": True,
     "params": {"working_days": 20, "ratio_permille": 10, "exempt_below_yuan": 3000000}},
    {"code": "W05", "family": FUNDS, "name": "保证金动用后未补足",
     "inputs": "deposit events", "condition": "deposit used and not topped up within "
                                              "working_days working days",
     "level": "red", "auto_clear": True, "params": {"working_days": 10}},
    {"code": "W06", "family": COMPLIANCE, "name": "考勤数据未上传",
     "inputs": "attendance days", "condition": "no attendance for more than gap_days days while "
                                               "under construction; red once the gap spans a "
                                               "month end",
     "level": "yellow", "auto_clear": True, "params": {"gap_days": 3}},
    {"code": "W07", "family": FUNDS, "name": "人工费用未按时足额拨付",
     "inputs": "special-account inflows, agreed monthly labour cost",
     "condition": "labour cost for month M not in the account by day transfer_day of M "
                  "(0 = month end)",
     "level": "red", "auto_clear": True, "params": {"transfer_day": 0}},
    {"code": "W08", "family": FUNDS, "name": "专户余额不足",
     "inputs": "account balance, previous month's payroll",
     "condition": "on days 1..check_until_day, balance below the last month's payroll still "
                  "to be paid",
     "level": "yellow", "auto_clear": True, "params": {"check_until_day": 10}},
    {"code": "W09", "family": FUNDS, "name": "工资未按月通过专户发放",
     "inputs": "attendance months, payroll lines matched to bank payouts",
     "condition": "month M with attendance has no wage paid through the account by the "
                  "start of M+2",
     "level": "red", "auto_clear": True, "params": {}},
    {"code": "W10", "family": FUNDS, "name": "工资与考勤不符",
     "inputs": "attendance days vs payroll lines",
     "condition": "after pay_day of M+1 or once payroll for M exists: workers who attended in M "
                  "without a paid wage line; red above red_permille of them",
     "level": "yellow", "auto_clear": True, "params": {"pay_day": 15, "red_permille": 100}},
    {"code": "W11", "family": FUNDS, "name": "工资额异常",
     "inputs": "payroll lines", "condition": "average pay below floor_yuan, or one worker above "
                                             "max_month_yuan in a month",
     "level": "red", "auto_clear": False,
     "params": {"floor_yuan": 1890, "max_month_yuan": 50000}},
    {"code": "W12", "family": FUNDS, "name": "离场人员工资未结清",
     "inputs": "exits, final settlement lines",
     "condition": "worker left settle_days ago without a final wage settlement",
     "level": "red", "auto_clear": True, "params": {"settle_days": 3}},
    {"code": "W13", "family": COMPLAINT, "name": "欠薪投诉/维权",
     "inputs": "complaints", "condition": "complaint open against the project",
     "level": "by_severity", "auto_clear": False, "params": {}},
    {"code": "W14", "family": COMPLIANCE, "name": "维权信息公示牌未上传",
     "inputs": "notice-board photo", "condition": "no rights-notice board photo grace_days "
                                                  "after start",
     "level": "yellow", "auto_clear": True, "params": {"grace_days": 15}},
    {"code": "W15", "family": TECHNICAL, "name": "数据上传失败",
     "inputs": "ingest rejections", "condition": "a gateway of the project had blocks refused "
                                                 "(signature, chain, format) on the day",
     "level": "technical", "auto_clear": True, "params": {}},
]
BY_CODE = {r["code"]: r for r in RULES}

# Lifecycle parameters, per rule ("*" = all rules).
LIFECYCLE = {"disposal_days": 15, "escalate_after_days": 7}

# Province profiles: region = first two digits of the project's GB/T 2260 area code.
PROFILES: dict[str, dict[str, dict[str, int]]] = {
    "45": {"W07": {"transfer_day": 20}},          # Guangxi, seed 000_ art. 9
    "37": {"W07": {"transfer_day": 10}},          # Shandong, seed 002_ art. 15
    "43": {"*": {"disposal_days": 30}},           # Hunan, seed 001_ II(10)
}


def param(rule: str, key: str, region: str, overrides: dict | None = None) -> int:
    """Look-up order: rule_params table (region, then '*'), built-in profile, rule default."""
    for reg in (region, "*"):
        for r in (rule, "*"):
            if overrides and (reg, r, key) in overrides:
                return int(overrides[(reg, r, key)])
    prof = PROFILES.get(region, {})
    for r in (rule, "*"):
        if key in prof.get(r, {}):
            return prof[r][key]
    if key in BY_CODE.get(rule, {}).get("params", {}):
        return BY_CODE[rule]["params"][key]
    return LIFECYCLE[key]
