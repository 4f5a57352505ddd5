"""Monthly report per region and project as XLSX with Chinese headings: warnings opened,
cleared, overdue and still open, and the data-quality check (quality.py) -- what a regional
office hands upward (seed 001 III(3)-(4); seed 000 art. 27 月通报).

Pure function of the database; ``write_xlsx`` turns the report into a workbook.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from . import quality
from .rules import BY_CODE, PARTIES
from .tables import projects, warnings_t
from .store import Store

SUMMARY_HEAD = ["地区", "项目编码", "项目名称", "本月新增预警", "本月消除预警", "月末逾期预警",
                "月末未消除预警", "数据完整性问题", "数据时效性问题", "数据逻辑性问题"]
WARN_HEAD = ["预警编号", "规则", "规则名称", "项目编码", "期间", "等级", "状态", "发起日期",
             "处置期限", "消除日期", "责任方", "依据"]
QUALITY_HEAD = ["项目编码", "类别", "检测项", "数量", "说明", "依据"]
GROUPS = {"completeness": "完整性", "timeliness": "时效性", "logic": "逻辑性"}
STATES = {"open": "待处置", "extension_requested": "延期申请中", "extended": "已延期",
          "overdue": "逾期", "escalated": "已升级", "cleared_auto": "自动消除",
          "cleared_manual": "人工消除"}


def monthly(store: Store, month: str, region: str | None = None, calendar=None) -> dict:
    first, last = quality.month_bounds(month)
    w = warnings_t.c
    with store.engine.connect() as conn:
        q = sa.select(projects.c.projectCode, projects.c.name, projects.c.areaCode)
        if region:
            q = q.where(projects.c.areaCode.like(f"{region}%"))
        plist = [dict(r) for r in conn.execute(q.order_by(projects.c.projectCode)).mappings()]
        codes = [p["projectCode"] for p in plist]
        ws = [dict(r) for r in conn.execute(sa.select(warnings_t).where(
            w.projectCode.in_(codes), w.openedOn <= last,
            sa.or_(w.clearedOn.is_(None), w.clearedOn >= first)).order_by(
            w.projectCode, w.rule, w.period)).mappings()] if codes else []
    qc = quality.check(store, month, region, calendar)
    rows = []
    for p in plist:
        mine = [x for x in ws if x["projectCode"] == p["projectCode"]]
        still = [x for x in mine if x["clearedOn"] is None or x["clearedOn"] > last]
        counts = {g: sum(i["count"] for i in qc["issues"]
                         if i["projectCode"] == p["projectCode"] and i["group"] == g)
                  for g in GROUPS}
        rows.append({"region": p["areaCode"][:2], "projectCode": p["projectCode"],
                     "name": p["name"],
                     "opened": sum(1 for x in mine if x["openedOn"] >= first),
                     "cleared": sum(1 for x in mine if x["clearedOn"] and
                                    first <= x["clearedOn"] <= last),
                     "overdue": sum(1 for x in still if x["dueOn"] < last),
                     "open": len(still), **counts})
    return {"month": month, "region": region, "projects": rows, "warnings": ws,
            "quality": qc}


def _safe(v):
    """Cells never start a formula (=, +, -, @ at the start of text)."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
        return "'" + v
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def write_xlsx(report: dict, path: Path) -> Path:
    import openpyxl
    wb = openpyxl.Workbook(write_only=True)
    s = wb.create_sheet("汇总")
    s.append([f"{report['month']} 农民工工资支付监控预警月报"
              + (f"（地区 {report['region']}）" if report["region"] else "")])
    s.append(SUMMARY_HEAD)
    for r in report["projects"]:
        s.append([_safe(v) for v in (r["region"], r["projectCode"], r["name"], r["opened"],
                                     r["cleared"], r["overdue"], r["open"], r["completeness"],
                                     r["timeliness"], r["logic"])])
    s = wb.create_sheet("预警明细")
    s.append(WARN_HEAD)
    for x in report["warnings"]:
        s.append([_safe(v) for v in (
            x["id"], x["rule"], BY_CODE[x["rule"]]["name"], x["projectCode"], x["period"],
            x["level"], STATES.get(x["state"], x["state"]), x["openedOn"], x["dueOn"],
            x["clearedOn"], PARTIES.get(x["responsible"] or "", x["responsible"]),
            x["source"])])
    s = wb.create_sheet("数据质量")
    s.append(QUALITY_HEAD)
    for i in report["quality"]["issues"]:
        s.append([_safe(v) for v in (i["projectCode"], GROUPS[i["group"]], i["item"],
                                     i["count"], i["detail"], i["source"])])
    path = Path(path)
    wb.save(path)
    return path
