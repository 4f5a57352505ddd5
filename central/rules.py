"""Warning rules W01-W19 as data, province profiles, and where every number comes from.

A rule names its family, inputs, condition (in words, for people), its level, whether it
clears automatically, the party that answers for it, and its parameters.  Every parameter is a
``(value, source)`` pair: the source is a seed regulation and article (``seed 000 art. 11(1)``
= ``/shared/seeds/000_…``: Guangxi 2024 细则; ``001`` Hunan 湘人社规〔2024〕13号; ``002``
Shandong 鲁人社规〔2023〕2号; ``003`` Xinjiang 2024 规程; ``004`` Anhui 皖人社秘〔2021〕9号), a
national document (as summarised in standards.md), or ``sitegate default`` where no document
fixes a number.

Look-up order for a parameter of a project in region R (first two digits of its area code):
``rule_params`` table (R, then ``*``; an operator's override carries its own source) → the
built-in profile of R → the rule's default.  Deadline rules share three keys: ``anchor``
(``start``, ``contract``, ``permit``), ``days`` (calendar days after the anchor; -1 = before
the anchor day) and ``working_days`` (if > 0, working days after the anchor instead, by the
holiday calendar in ``workdays.py``).
"""
from __future__ import annotations

COMPLIANCE, FUNDS, COMPLAINT, TECHNICAL = "compliance", "funds", "complaint", "technical"
LEVELS = ("technical", "yellow", "orange", "red")

DEFAULT = "sitegate default"
NAT53 = "national: 人社部发〔2021〕53号 special-account rules (standards.md §3.2)"
NAT65 = "national: 人社部发〔2021〕65号 wage-deposit rules (standards.md §3.1)"
S11 = "another platform's rule book, not a seed (standards.md §2.2, S11)"
S27 = "Tibet platform rule, not a seed (standards.md §2.2, S27)"

# Parties (seed 000 art. 21: warnings go to the client, the general contractor, the
# subcontractor or the project lead; art. 17: the client answers for labour-cost warnings).
PARTIES = {"client": "建设单位", "contractor": "施工总承包单位", "subcontractor": "分包单位",
           "project_lead": "项目负责人", "bank": "银行", "authority": "行业主管部门/人社部门"}

# Sectors (行业) as the seeds distinguish them: building and municipal projects hold a
# construction permit (seed 001 annex 一(一): 施工许可证 only for 房屋建筑和市政工程);
# transport and water linear projects may push attendance in batches (seed 001 II(4)).
SECTORS = {"building": "房屋建筑", "municipal": "市政", "transport": "交通运输",
           "water": "水利", "railway": "铁路", "aviation": "民航", "energy": "电力能源",
           "other": "其他"}
PERMIT_SECTORS = ("building", "municipal")
BATCH_PUSH_SECTORS = ("transport", "water")


def _p(value, source):
    return (value, source)


RULES: list[dict] = [
    {"code": "W01", "family": COMPLIANCE, "name": "项目未登记/登记信息不全",
     "inputs": "project dates (start, contract signing, permit), registration items",
     "condition": "the project's registration items are incomplete after its registration "
                  "deadline (anchor + days or working days); red red_after_days later. The "
                  "construction permit is required only of building and municipal projects",
     "level": "yellow", "auto_clear": True, "responsible": "contractor",
     "params": {"anchor": _p("start", DEFAULT + " (standards.md §2.2 W01: Tibet monitors "
                                                "projects 30 days after start)"),
                "days": _p(30, DEFAULT + " (standards.md §2.2 W01 [P])"),
                "working_days": _p(0, DEFAULT),
                "items": _p("buildCorpCode,builderLicenseNum",
                            DEFAULT + " (national Project fields buildCorpCode, "
                                      "builderLicenses: standards.md §1.3)"),
                "red_after_days": _p(30, DEFAULT + " (standards.md §2.2 W01 [P])")}},
    {"code": "W02", "family": COMPLIANCE, "name": "未开立农民工工资专用账户",
     "inputs": "contract signing or start date, special account, tripartite agreement",
     "condition": "no special account by the deadline (and, where needs_agreement = 1, no "
                  "tripartite-agreement reference)",
     "level": "red", "auto_clear": True, "responsible": "contractor",
     "params": {"anchor": _p("contract", NAT53 + ": within 30 days of signing"),
                "days": _p(30, NAT53), "working_days": _p(0, NAT53),
                "needs_agreement": _p(0, DEFAULT)}},
    {"code": "W03", "family": COMPLIANCE, "name": "未配备劳资专管员",
     "inputs": "project status, start date, labour manager",
     "condition": "project under construction, past the deadline after start, no labour "
                  "manager recorded",
     "level": "yellow", "auto_clear": True, "responsible": "contractor",
     "params": {"anchor": _p("start", DEFAULT), "days": _p(30, DEFAULT),
                "working_days": _p(0, DEFAULT)}},
    {"code": "W04", "family": FUNDS, "name": "未缴存工资保证金",
     "inputs": "contract date and value, deposits",
     "condition": "no deposit/guarantee covering ratio_permille of the contract value by the "
                  "deadline, unless exempt (contract value below exempt_below_yuan)",
     "level": "red", "auto_clear": True, "responsible": "contractor",
     "params": {"anchor": _p("contract", NAT65), "days": _p(0, NAT65),
                "working_days": _p(20, NAT65 + ": 20 working days (per summary)"),
                "ratio_permille": _p(10, NAT65 + ": 1 %-3 % of the contract value (lowest)"),
                "exempt_below_yuan": _p(3000000, NAT65 + ": may exempt below 3 million CNY")}},
    {"code": "W05", "family": FUNDS, "name": "保证金动用后未补足",
     "inputs": "deposit events", "condition": "deposit used and not topped up within "
                                              "working_days working days",
     "level": "red", "auto_clear": True, "responsible": "contractor",
     "params": {"working_days": _p(10, NAT65 + ": top up within 10 working days")}},
    {"code": "W06", "family": COMPLIANCE, "name": "考勤数据未上传",
     "inputs": "attendance days, push schedule, start date",
     "condition": "after the hardware window (hardware_days after start): daily projects, no "
                  "attendance for more than gap_days working days (public holidays are not "
                  "gaps); semimonthly projects, the batch due by the 15th / month end "
                  "(+ batch_grace_days) leaves a gap of more than gap_days working days before "
                  "its cut-off. Red once the gap spans a month end",
     "level": "yellow", "auto_clear": True, "responsible": "contractor",
     "params": {"gap_days": _p(3, DEFAULT + " (standards.md §2.2 W06 [P] 3-7 days), "
                                                  "working days"),
                "hardware_days": _p(0, DEFAULT + ": no installation window"),
                "batch_grace_days": _p(2, DEFAULT + " (grace after the 15th / month end for "
                                                    "semimonthly pushes, seed 001 II(4))")}},
    {"code": "W07", "family": FUNDS, "name": "人工费用未按时足额拨付",
     "inputs": "special-account inflows, agreed monthly labour cost, progress payments x "
               "labour-cost ratio",
     "condition": "labour cost for month M not in the account by day transfer_day of M "
                  "(0 = month end); the amount due is the agreed monthly labour cost, or the "
                  "contract's labour-cost ratio of that month's progress payments if larger. "
                  "Not asked of a stopped or finished project for a month without attendance",
     "level": "red", "auto_clear": True, "responsible": "client",
     "params": {"transfer_day": _p(0, NAT53 + ": transfer period at most one month")}},
    {"code": "W08", "family": FUNDS, "name": "专户余额不足",
     "inputs": "account balance, previous month's payroll",
     "condition": "on days 1..check_until_day, balance below the last month's payroll still "
                  "to be paid",
     "level": "yellow", "auto_clear": True, "responsible": "client",
     "params": {"check_until_day": _p(10, S27)}},
    {"code": "W09", "family": FUNDS, "name": "工资未按月通过专户发放",
     "inputs": "attendance months, payroll lines matched to bank payouts",
     "condition": "month M with attendance has no wage paid through the account by the "
                  "first day of M + months_after",
     "level": "red", "auto_clear": True, "responsible": "contractor",
     "params": {"months_after": _p(2, S11)}},
    {"code": "W10", "family": FUNDS, "name": "工资与考勤不符(人数)",
     "inputs": "attendance days vs payroll lines",
     "condition": "after pay_day of M+1 or once payroll for M exists: workers who attended in M "
                  "without a paid wage line; red above red_permille of them",
     "level": "yellow", "auto_clear": True, "responsible": "contractor",
     "params": {"pay_day": _p(15, DEFAULT), "red_permille": _p(100, S11)}},
    {"code": "W11", "family": FUNDS, "name": "工资额异常",
     "inputs": "payroll lines", "condition": "average pay below floor_yuan, or one worker above "
                                             "max_month_yuan in a month",
     "level": "red", "auto_clear": False, "responsible": "contractor",
     "params": {"floor_yuan": _p(1890, S11 + ": that province's floor"),
                "max_month_yuan": _p(50000, S11)}},
    {"code": "W12", "family": FUNDS, "name": "离场人员工资未结清",
     "inputs": "exits, final settlement lines",
     "condition": "worker left settle_days ago without a final wage settlement",
     "level": "red", "auto_clear": True, "responsible": "contractor",
     "params": {"settle_days": _p(3, DEFAULT)}},
    {"code": "W13", "family": COMPLAINT, "name": "欠薪投诉/维权",
     "inputs": "complaints", "condition": "complaint open against the project",
     "level": "by_severity", "auto_clear": False, "responsible": "contractor", "params": {}},
    {"code": "W14", "family": COMPLIANCE, "name": "维权信息公示牌未上传",
     "inputs": "notice-board photo", "condition": "no rights-notice board photo by the deadline",
     "level": "yellow", "auto_clear": True, "responsible": "contractor",
     "params": {"anchor": _p("start", DEFAULT), "days": _p(15, DEFAULT),
                "working_days": _p(0, DEFAULT)}},
    {"code": "W15", "family": TECHNICAL, "name": "数据上传失败",
     "inputs": "ingest rejections", "condition": "a gateway of the project had blocks refused "
                                                 "(signature, chain, format) on the day",
     "level": "technical", "auto_clear": True, "responsible": "contractor", "params": {}},
    {"code": "W16", "family": FUNDS, "name": "工程款支付担保缺失或失效",
     "inputs": "contract signing date, payment guarantees",
     "condition": "where required = 1: days after contract signing, no payment guarantee valid "
                  "on the day (missing or expired) while the project is not completed",
     "level": "yellow", "auto_clear": True, "responsible": "client",
     "params": {"required": _p(0, DEFAULT + ": no seed outside Shandong requires one"),
                "days": _p(30, DEFAULT)}},
    {"code": "W17", "family": COMPLIANCE, "name": "银行及担保数据推送超时",
     "inputs": "bank account events, flows and payment guarantees with the day central "
               "received each",
     "condition": "in month M, records reached central later than the province allows: "
                  "account events after account_working_days, flows after flow_days, payment "
                  "guarantees after guarantee_working_days (-1 = not checked)",
     "level": "yellow", "auto_clear": False, "responsible": "bank",
     "params": {"account_working_days": _p(-1, DEFAULT + ": not checked"),
                "flow_days": _p(-1, DEFAULT + ": not checked"),
                "guarantee_working_days": _p(-1, DEFAULT + ": not checked")}},
    {"code": "W18", "family": FUNDS, "name": "工资天数与考勤天数不符",
     "inputs": "attendance days per worker and month vs days on the paid wage lines",
     "condition": "once wages for M are paid: workers whose paid days differ from their "
                  "attendance days by more than tolerance_days",
     "level": "yellow", "auto_clear": True, "responsible": "contractor",
     "params": {"tolerance_days": _p(0, DEFAULT + " (seed 000 art. 11(3): identity, "
                                                  "attendance and wages must match)")}},
    # W15's family (technical: data that should reach the platforms): the delivery queue of
    # central/platform/.  Its parameters are also the push deadlines the queue schedules by.
    {"code": "W19", "family": TECHNICAL, "name": "平台推送逾期风险",
     "inputs": "the platform delivery queue: jobs the platform does not hold yet, with their "
               "deadlines; parked jobs with the platform's reason",
     "condition": "a push job not delivered risk_minutes before its deadline (technical), past "
                  "its deadline or parked (yellow). Deadlines: attendance and entry/exit "
                  "attendance_days after the day (semimonthly projects: the cut-off days in "
                  "batch_days, 0 = month end); worker information and contracts worker_days "
                  "after entry; payroll payroll_days after payment; the project by W01's "
                  "registration deadline (its labour manager by W03's); other objects "
                  "other_days after central learns of them",
     "level": "technical", "auto_clear": True, "responsible": "contractor",
     "params": {"risk_minutes": _p(120, DEFAULT),
                "attendance_days": _p(0, DEFAULT + " (as seed 001 II(4): pushed the same day)"),
                "batch_days": _p("15,0", DEFAULT + " (as seed 001 II(4): linear transport and "
                                                   "water projects by the 15th and month end)"),
                "worker_days": _p(0, DEFAULT + " (as seed 001 II(4): no later than entry)"),
                "payroll_days": _p(0, DEFAULT + " (as seed 001 II(6): the same day)"),
                "other_days": _p(1, DEFAULT)}},
]
BY_CODE = {r["code"]: r for r in RULES}

# Where a rule's responsible party comes from.
RESPONSIBLE_SOURCE = {
    "W01": "seed 000 art. 10; seed 002 art. 12; seed 003 II(1)",
    "W02": "seed 000 art. 11(5); seed 003 II(2)", "W03": "seed 000 art. 11(4)",
    "W04": "seed 000 art. 11(6)", "W05": "seed 000 art. 11(6)",
    "W06": "seed 000 art. 11(1),(3)", "W07": "seed 000 art. 17 para. 3 (client answers for "
                                            "labour-cost warnings)",
    "W08": "seed 000 art. 17 para. 3", "W09": "seed 000 art. 11(3) (总包代发)",
    "W10": "seed 000 art. 11(3)", "W11": "seed 000 art. 11(3)", "W12": "seed 000 art. 11(3)",
    "W13": "seed 000 art. 20", "W14": "seed 000 art. 11(7)", "W15": "seed 000 art. 11(1)",
    "W16": "seed 002 art. 13", "W17": "seed 001 II(5),(6); guarantees: the contractor, "
                                      "seed 001 II(8)",
    "W18": "seed 000 art. 11(3)",
    "W19": "seed 001 II(4): the general contractor collects and pushes the employment data",
}

# Lifecycle parameters ("*" = all rules).
LIFECYCLE = {
    "disposal_days": _p(15, DEFAULT + " (standards.md §2.2 [P]; seeds 000 art. 17 and 002 "
                                      "art. 20 say 'within the time limit' without a number)"),
    "escalate_after_days": _p(7, DEFAULT + " (standards.md §2.2 escalation [P])"),
    "max_tier": _p(2, DEFAULT + ": county -> city -> province (seed 001 I(3) 市州或县市区; "
                                "seed 000 art. 29 上一级主管部门)"),
    "max_extension_days": _p(90, DEFAULT),
    # who hears of a warning ("responsible" = the warning's own party)
    "notify_open": _p("client,contractor,subcontractor,project_lead,responsible",
                      DEFAULT + " (after seed 000 art. 21: pushed to the client, general "
                                "contractor, subcontractor or project lead)"),
    "notify_escalated": _p("authority,responsible",
                           DEFAULT + " (seed 000 art. 18: departments press for disposal)"),
}

# Province profiles: region = first two digits of the project's GB/T 2260 area code.
S000, S001, S002, S003, S004 = "seed 000", "seed 001", "seed 002", "seed 003", "seed 004"
PROFILES: dict[str, dict] = {
    "45": {"name": "广西", "seed": "000", "rules": {
        "W01": {"anchor": _p("start", f"{S000} art. 10: on file within 15 days of start"),
                "days": _p(15, f"{S000} art. 10"),
                "items": _p("invest,sector,buildCorpCode,contractStartDate,builderLicenseNum",
                            f"{S000} art. 10: name, cost, contract period, type, client, "
                            "contractor")},
        "W06": {"hardware_days": _p(15, f"{S000} art. 11(1): ID and biometric hardware within "
                                        "15 days of start")},
        "W07": {"transfer_day": _p(20, f"{S000} art. 9: labour cost by the 20th")},
        "*": {"notify_open": _p("client,contractor,subcontractor,project_lead,responsible",
                                f"{S000} art. 21")},
    }},
    "43": {"name": "湖南", "seed": "001", "rules": {
        "W01": {"anchor": _p("permit", f"{S001} II(1): pushed within 10 working days of the "
                                       "permit; projects without a permit before start"),
                "days": _p(-1, f"{S001} II(1): without a permit, before actual start"),
                "working_days": _p(10, f"{S001} II(1)"),
                "items": _p("address,sector,contractStartDate,buildCorpCode,builderLicenseNum,"
                            "permitDate", f"{S001} annex 一(一)-(二)")},
        "W03": {"days": _p(30, f"{S001} II(4): labour manager within 30 days of start")},
        "W17": {"account_working_days": _p(3, f"{S001} II(5): account opened, changed or "
                                              "closed: within 3 working days"),
                "flow_days": _p(0, f"{S001} II(6): fund movements the same day"),
                "guarantee_working_days": _p(3, f"{S001} II(8): payment guarantee within 3 "
                                                "working days of receipt")},
        "W19": {"attendance_days": _p(0, f"{S001} II(4): entry/exit and attendance "
                                         "collected daily, pushed the same day"),
                "batch_days": _p("15,0", f"{S001} II(4): linear transport and water projects "
                                         "by the 15th and month end"),
                "worker_days": _p(0, f"{S001} II(4): worker information and contract no later "
                                     "than the worker's entry"),
                "payroll_days": _p(0, f"{S001} II(6): wage payments the same day")},
        "*": {"disposal_days": _p(30, f"{S001} II(10): verified and disposed within 30 days")},
    }},
    "37": {"name": "山东", "seed": "002", "rules": {
        "W01": {"anchor": _p("contract", f"{S002} art. 12: on file within 30 days of contract "
                                         "signing"),
                "days": _p(30, f"{S002} art. 12"),
                "items": _p("invest,sector,buildCorpCode,contractStartDate,labourCostRatio",
                            f"{S002} art. 12 (basic information), art. 15 (labour-cost ratio "
                            "set by the contract)")},
        "W07": {"transfer_day": _p(10, f"{S002} art. 15: labour cost by the 10th")},
        "W16": {"required": _p(1, f"{S002} art. 13: the client provides a payment guarantee"),
                "days": _p(30, DEFAULT + f" ({S002} art. 13 sets no period)")},
    }},
    "65": {"name": "新疆", "seed": "003", "rules": {
        "W01": {"anchor": _p("start", f"{S003} II(1): project information before start"),
                "days": _p(-1, f"{S003} II(1)"),
                "items": _p("buildCorpCode,startDate,projectManager,projectLead,laborManager",
                            f"{S003} II(1): client, contractor, start, project manager, "
                            "project lead, labour manager")},
        "W02": {"anchor": _p("start", f"{S003} II(2): tripartite agreement and account before "
                                      "start"),
                "days": _p(-1, f"{S003} II(2)"), "working_days": _p(0, f"{S003} II(2)"),
                "needs_agreement": _p(1, f"{S003} II(2)")},
        "W03": {"days": _p(-1, f"{S003} II(1): labour manager in the project information "
                               "before start")},
        "W04": {"anchor": _p("start", f"{S003} II(3): deposit agreement before start"),
                "days": _p(-1, f"{S003} II(3)"), "working_days": _p(0, f"{S003} II(3)")},
        "W14": {"days": _p(-1, f"{S003} II(6): rights-notice board before start")},
    }},
    "34": {"name": "安徽", "seed": "004", "rules": {
        "W02": {"anchor": _p("start", f"{S004} IV(3): 开工即开户 (account at start)"),
                "days": _p(0, f"{S004} IV(3)"), "working_days": _p(0, f"{S004} IV(3)")},
        "W03": {"days": _p(0, f"{S004} IV(3): labour manager from the start")},
        "W07": {"transfer_day": _p(0, f"{S004} IV(3): labour cost transferred monthly")},
    }},
}


def effective(region: str, overrides: dict | None = None) -> dict[tuple[str, str], tuple]:
    """Every parameter in force for ``region``: {(rule or '*', key): (value, source)}."""
    out: dict[tuple[str, str], tuple] = {}
    for r in RULES:
        for k, v in r["params"].items():
            out[(r["code"], k)] = v
    for k, v in LIFECYCLE.items():
        out[("*", k)] = v
    prof = PROFILES.get(region, {}).get("rules", {})
    for rule, params in prof.items():
        for k, v in params.items():
            out[(rule, k)] = v
    for reg in ("*", region):
        for (oreg, rule, key), (value, source) in (overrides or {}).items():
            if oreg == reg:
                default = out.get((rule, key), LIFECYCLE.get(key, (None, "")))[0]
                label = f"rule_params override ({reg}): {source or 'no source given'}"
                out[(rule, key)] = (_typed(value, default), label)
    return out


def _typed(value, like):
    if isinstance(like, int) and not isinstance(like, bool):
        return int(value)
    return str(value)


def lookup(eff: dict, rule: str, key: str):
    """(value, source) of ``key`` for ``rule``: the rule's own, else its '*' value."""
    hit = eff.get((rule, key))
    if hit is None:
        hit = eff[("*", key)]
    return hit


def param(rule: str, key: str, region: str, overrides: dict | None = None):
    return lookup(effective(region, overrides), rule, key)[0]


def rule_source(eff: dict, rule: str) -> str:
    """One line naming the source of each parameter the rule uses, and its deadline."""
    parts = [f"{k}={v} [{s}]" for (r, k), (v, s) in eff.items() if r == rule]
    dv, ds = lookup(eff, rule, "disposal_days")
    parts.append(f"disposal_days={dv} [{ds}]")
    return "; ".join(parts)


def table(region: str | None, overrides: dict | None = None) -> list[dict]:
    """The effective rule table for a region (``None`` = the defaults), one row per
    parameter, for ``rules show``."""
    eff = effective(region or "--", overrides)
    rows = []
    for r in RULES:
        base = {"rule": r["code"], "name": r["name"], "family": r["family"],
                "level": r["level"], "autoClear": r["auto_clear"],
                "responsible": r["responsible"], "responsibleSource": RESPONSIBLE_SOURCE[
                    r["code"]]}
        keys = [k for (rule, k) in eff if rule == r["code"]] + ["disposal_days",
                                                                "escalate_after_days"]
        for k in keys:
            v, s = lookup(eff, r["code"], k)
            rows.append(dict(base, param=k, value=v, source=s))
    return rows


def markdown_table() -> str:
    """docs/central.md's rule x province table, from the data above (a test keeps them equal)."""
    regions = list(PROFILES)
    head = ["rule", "parameter", "default (source)"] + \
        [f"{r} {PROFILES[r]['name']}" for r in regions]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(v):
        return f"**{v[0]}** ({v[1]})".replace("|", "/")
    for r in RULES:
        keys = list(r["params"]) + ["disposal_days"]
        for k in keys:
            base = r["params"].get(k) or LIFECYCLE[k]
            row = [f"{r['code']} {r['name']}" if k == keys[0] else "", k, cell(base)]
            for reg in regions:
                prof = PROFILES[reg]["rules"]
                v = prof.get(r["code"], {}).get(k) or (prof.get("*", {}).get(k)
                                                        if k not in r["params"] else None)
                row.append(cell(v) if v else "=")
            lines.append("| " + " | ".join(row) + " |")
    for k in ("escalate_after_days", "max_tier", "max_extension_days", "notify_open",
              "notify_escalated"):
        row = ["all rules", k, cell(LIFECYCLE[k])]
        for reg in regions:
            v = PROFILES[reg]["rules"].get("*", {}).get(k)
            row.append(cell(v) if v else "=")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
