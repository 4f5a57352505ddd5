"""Projects carry what the rules need (import, `projects` commands, API), ID numbers sealed
and masked; API roles for extensions; the monthly data-quality check (seed 001 III(3)) and
the monthly XLSX report with Chinese headings."""
from __future__ import annotations

import datetime as dt
import json
import os

import openpyxl
import sqlalchemy as sa
from click.testing import CliRunner
from starlette.testclient import TestClient

from central.api import add_token, create_app
from central.cli import main
from central.crypto import FieldCipher
from central.quality import check
from central.report import SUMMARY_HEAD, monthly, write_xlsx
from central.tables import account_flows, projects, workers
from central.store import Store
from month import Central, pay, register_project
from sample import BUILDER, CONTRACTOR, SUBCONTRACTOR, make_id

D = dt.date
LM_ID = make_id(905, "430102", "19880808")


def test_import_projects_with_rule_fields_and_managers_sealed_and_masked(tmp_path, monkeypatch):
    key = os.urandom(32)
    monkeypatch.setenv("SITEGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SITEGATE_CENTRAL_KEY", key.hex())
    db = f"sqlite:///{tmp_path / 'p.db'}"
    run = CliRunner().invoke

    def ok(*args, input=None):
        r = run(main, [*args, "--db", db], input=input)
        assert r.exit_code == 0, r.output
        return r.output
    comp = tmp_path / "companies.csv"
    comp.write_text("corpCode,corpName\n" + "\n".join(
        f"{c},{n}" for c, n in ((CONTRACTOR, "湘建总承包"), (BUILDER, "长沙交投"),
                                (SUBCONTRACTOR, "湘劳务"))) + "\n", encoding="utf-8")
    ok("import", "companies", str(comp), "--no-evaluate")
    sheet = tmp_path / "projects.csv"
    sheet.write_text(
        "projectCode,name,contractorCorpCode,buildCorpCode,areaCode,prjStatus,startDate,"
        "contractSignDate,sector,pushSchedule,permitDate,contractStartDate,labourCostRatio,"
        "tripartiteAgreementRef,laborManagerName,laborManagerIdCardNumber,laborManagerPhone,"
        "projectManagerName,projectManagerIdCardNumber,projectLeadName,projectLeadIdCardNumber\n"
        f"HN-G1,长株潭城际公路,{CONTRACTOR},{BUILDER},430102,003,2026-03-02,2026-02-02,"
        f"transport,semimonthly,,2026-03-01,22.5,三方-HN-1,欧阳娜,{LM_ID},13700000000,"
        f"王强,{make_id(906, '430102', '19880808')},李红,{make_id(907, '430102', '19880808')}\n",
        encoding="utf-8")
    ok("import", "projects", str(sheet), "--no-evaluate")
    pc = tmp_path / "pc.csv"
    pc.write_text("projectCode,corpCode,corpType,entryTime,pmName,pmIdCardNumber\n"
                  f"HN-G1,{SUBCONTRACTOR},006,2026-03-02,周建,{make_id(908, '430102', '19880808')}\n",
                  encoding="utf-8")
    ok("import", "project-companies", str(pc), "--no-evaluate")
    shown = json.loads(ok("projects", "show", "HN-G1"))
    assert shown["pushSchedule"] == "semimonthly" and shown["sector"] == "transport"
    assert shown["labourCostRatio"] == "22.50" and shown["tripartiteAgreementRef"] == "三方-HN-1"
    assert shown["laborManager"] == {"name": "欧**", "idCardNumber": LM_ID[:4] + "*" * 10 +
                                     LM_ID[-4:], "phone": "*******0000"}
    assert shown["companies"][0]["corpType"] == "006" and "*" in shown["companies"][0]["pmName"]
    text = json.dumps(shown, ensure_ascii=False)
    assert LM_ID not in text and "欧阳娜" not in text and "13700000000" not in text
    with Store(db).engine.connect() as conn:                       # sealed at rest
        row = conn.execute(sa.select(projects).where(projects.c.projectCode == "HN-G1")) \
            .mappings().first()
    assert LM_ID not in json.dumps({k: str(v) for k, v in row.items()})
    assert FieldCipher(key).open(row["laborManagerIdEnc"], "laborManagerIdCardNumber") == LM_ID
    # the projects group: set fields, record a manager with the ID number on stdin
    ok("projects", "set", "HN-G1", "--push-schedule", "daily", "--permit-date", "2026-02-20")
    lead = make_id(909, "430102", "19880808")
    r = run(main, ["projects", "manager", "HN-G1", "--role", "project-lead", "--name", "赵六",
                   "--db", db], input=lead + "\n")
    assert r.exit_code == 0 and lead not in r.output
    shown = json.loads(ok("projects", "show", "HN-G1"))
    assert shown["pushSchedule"] == "daily" and shown["permitDate"] == "2026-02-20"
    assert shown["projectLead"]["name"] == "赵*"
    r = run(main, ["projects", "set", "HN-G1", "--sector", "spaceport", "--db", db])
    assert r.exit_code == 1 and "sector" in r.output
    listed = json.loads(ok("projects", "list", "--region", "43", "--json"))
    assert [p["projectCode"] for p in listed] == ["HN-G1"]
    # a bad manager ID number: refused, names the field, changes nothing
    bad = sheet.read_text().replace(LM_ID, LM_ID[:-1] + ("0" if LM_ID[-1] != "0" else "1"))
    sheet.write_text(bad, encoding="utf-8")
    r = run(main, ["import", "projects", str(sheet), "--no-evaluate", "--db", db])
    assert r.exit_code == 1 and "laborManagerIdCardNumber" in r.output
    assert json.loads(ok("projects", "show", "HN-G1"))["pushSchedule"] == "daily"


def test_api_project_fields_managers_and_extension_roles(tmp_path):
    c = Central(Store(f"sqlite:///{tmp_path / 'a.db'}"))
    register_project(c, "GX-API-R", n_workers=1)
    c.warn.evaluate(D(2026, 3, 7), ["GX-API-R"])
    app = TestClient(create_app(c.store, c.cipher))
    tok = {r: {"Authorization": f"Bearer {add_token(c.store, c.cipher, r, r)}"}
           for r in ("read", "party", "official", "admin")}
    p = app.get("/projects/GX-API-R", headers=tok["read"]).json()
    assert p["sector"] == "building" and p["laborManager"]["idCardNumber"].startswith("4501**")
    assert "laborManagerIdEnc" not in p and "laborManagerIdIndex" not in p
    body = {"role": "projectLead", "name": "黄山", "idCardNumber": make_id(910, "450103",
                                                                          "19880808")}
    assert app.post("/projects/GX-API-R/managers", json=body, headers=tok["party"]).status_code \
        == 403
    r = app.post("/projects/GX-API-R/managers", json=body, headers=tok["admin"])
    assert r.status_code == 200 and r.json()["name"] == "黄*"
    assert body["idCardNumber"] not in r.text
    r = app.post("/projects/GX-API-R/companies", headers=tok["admin"],
                 json={"corpCode": SUBCONTRACTOR, "corpType": "006", "pmName": "覃工"})
    assert r.status_code == 201
    rules = app.get("/rules", params={"region": "45"}, headers=tok["read"]).json()
    assert any(x["rule"] == "W07" and x["param"] == "transfer_day" and x["value"] == 20
               for x in rules)
    w04 = next(w for w in app.get("/warnings", params={"project": "GX-API-R"},
                                  headers=tok["read"]).json() if w["rule"] == "W04")
    assert w04["source"] and w04["responsible"] == "contractor"
    ext = {"by": "总包-张", "days": 10, "reason": "保函办理中", "on": "2026-03-10"}
    assert app.post(f"/warnings/{w04['id']}/extension", json=ext,
                    headers=tok["read"]).status_code == 403
    assert app.post(f"/warnings/{w04['id']}/extension", json=ext,
                    headers=tok["official"]).status_code == 403
    r = app.post(f"/warnings/{w04['id']}/extension", json=ext, headers=tok["party"])
    assert r.status_code == 200 and r.json()["state"] == "extension_requested"
    grant = {"by": "住建局-李", "on": "2026-03-11"}
    for role in ("party", "admin", "read"):
        assert app.post(f"/warnings/{w04['id']}/extension/grant", json=grant,
                        headers=tok[role]).status_code == 403
    r = app.post(f"/warnings/{w04['id']}/extension/grant", json=dict(grant, by="总包-张"),
                 headers=tok["official"])
    assert r.status_code == 400 and "another person" in r.json()["detail"]
    r = app.post(f"/warnings/{w04['id']}/extension/grant", json=grant, headers=tok["official"])
    assert r.status_code == 200 and r.json()["dueOn"] == "2026-04-01"
    # after the deadline a request is refused with a clear message
    r = app.post(f"/warnings/{w04['id']}/extension", headers=tok["party"],
                 json=dict(ext, on="2026-04-02"))
    assert r.status_code == 400 and "has passed" in r.json()["detail"]


def test_monthly_data_quality_check_and_xlsx_report_seed001_III3(tmp_path, monkeypatch):
    monkeypatch.setenv("SITEGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SITEGATE_CENTRAL_KEY", "22" * 32)
    c = Central(Store(f"sqlite:///{tmp_path / 'q.db'}"))
    wids = register_project(c, "HN-Q", area="430102", n_workers=2, sector="building",
                            pushSchedule="semimonthly")
    c.clock_ms = int(dt.datetime(2026, 3, 9, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
                     .timestamp() * 1000)
    c.esc.add_flow({"projectCode": "HN-Q", "bankSerial": "Q-1", "direction": "in",
                    "amount": "200000", "valueDate": "2026-03-05", "balanceAfter": "200000"})
    c.esc.add_flow({"projectCode": "HN-Q", "bankSerial": "Q-2", "direction": "in",
                    "amount": "1000", "valueDate": "2026-03-06", "balanceAfter": "999999",
                    "counterpartyName": "长沙城投", "counterpartyAccount": "62220000111122"})
    c.reg.add_worker({"idCardNumber": make_id(1, "450103"), "workerName": "x",
                      "address": "湖南省长沙市岳麓区1号", "nativePlace": "湖南长沙",
                      "householdRegionCode": "430104"})
    pay(c, "HN-Q", wids[0], "2026-03", "2026-03-31", "6000", 20, "Q9")
    out = check(c.store, "2026-03", "43")
    items = {(i["group"], i["item"]): i for i in out["issues"]}
    assert items[("completeness", "inflow counterparty")]["count"] == 1
    assert items[("timeliness", "flows received late")]["count"] == 2        # II(6) same day
    assert items[("logic", "balanceAfter does not follow from the previous flow")]["count"] == 1
    assert items[("logic", "semimonthly push on a project that is not transport or "
                           "water")]["source"] == "seed 001 II(4)"
    # the first worker's card fields were filled in by the later registration; the other not
    assert items[("completeness", "worker address")]["count"] == 1
    with c.store.engine.connect() as conn:
        enc = conn.execute(sa.select(workers.c.addressEnc)).scalars().all()
        assert all(e is None or e.startswith("sm4gcm:1:") for e in enc)
        assert conn.execute(sa.select(sa.func.count()).select_from(account_flows).where(
            account_flows.c.receivedAt.is_not(None))).scalar() == 3
    assert out["summary"]["timeliness"] >= 2 and out["summary"]["logic"] >= 2
    c.warn.evaluate(D(2026, 3, 31), ["HN-Q"])
    rep = monthly(c.store, "2026-03", "43")
    path = write_xlsx(rep, tmp_path / "月报.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "预警明细", "数据质量"]
    rows = list(wb["汇总"].iter_rows(values_only=True))
    assert list(rows[1]) == SUMMARY_HEAD
    hq = [r for r in rows[2:] if r[1] == "HN-Q"][0]
    assert hq[3] == len([w for w in c.warn.list("HN-Q")]) and hq[3] > 0
    detail = list(wb["预警明细"].iter_rows(values_only=True))
    assert detail[0][:3] == ("预警编号", "规则", "规则名称") and len(detail) == hq[3] + 1
    assert any("seed 001" in (r[11] or "") for r in detail[1:])
    quality_rows = list(wb["数据质量"].iter_rows(values_only=True))
    assert quality_rows[0] == ("项目编码", "类别", "检测项", "数量", "说明", "依据")
    assert any(r[1] == "时效性" for r in quality_rows[1:])
    r = CliRunner().invoke(main, ["report", "--month", "2026-03", "--region", "43", "-o",
                                  str(tmp_path / "r.xlsx"), "--db",
                                  f"sqlite:///{tmp_path / 'q.db'}"])
    assert r.exit_code == 0, r.output
    assert openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames == ["汇总", "预警明细", "数据质量"]
