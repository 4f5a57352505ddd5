"""The HTTP API against its own OpenAPI document (schemathesis), plus roles and privacy."""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, settings
from starlette.testclient import TestClient

from central.api import add_token, create_app
from central.store import Store
from month import Central, pay, register_project
from sample import SUBCONTRACTOR, make_id

CODE = "GX-API-1"


def make_app(path: Path):
    c = Central(Store(f"sqlite:///{path}"))
    wids = register_project(c, CODE, n_workers=3)
    pay(c, CODE, wids[0], "2026-03", "2026-04-08", "6000", 20, "API-1")
    c.warn.evaluate(dt.date(2026, 4, 30), [CODE])
    return (create_app(c.store, c.cipher), add_token(c.store, c.cipher, "admin", "admin"),
            add_token(c.store, c.cipher, "reader", "read"))


app, ADMIN, READ = make_app(Path(tempfile.mkdtemp(prefix="sitegate-api-")) / "api.db")
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=int(os.environ.get("SITEGATE_API_EXAMPLES", "12")), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case):
    # Every check except positive_data_acceptance: JSON Schema cannot express check digits,
    # calendar dates or references to existing projects, so some schema-valid bodies are
    # rightly refused with 400 (that refusal is itself checked against the schema).
    negative = {loc for loc, info in (case.meta.components.items() if case.meta else ())
                if info.mode == GenerationMode.NEGATIVE}
    if negative and negative <= {ParameterLocation.HEADER}:
        return      # the only mutation was dropping Authorization, which we always send
    if case.query:  # requests drops parameters valued None or []; send them empty instead
        case.query = {k: ("" if v is None or v == [] else v) for k, v in case.query.items()}
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"},
                           excluded_checks=[positive_data_acceptance])


def test_roles_and_masking(tmp_path):
    app, ADMIN, READ = make_app(tmp_path / "roles.db")
    client = TestClient(app)
    assert client.get("/projects").status_code == 401
    assert client.get("/projects", headers={"Authorization": "Bearer nope"}).status_code == 401
    read = {"Authorization": f"Bearer {READ}"}
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert client.get(f"/projects/{CODE}", headers=read).json()["projectCode"] == CODE
    body = {"idCardNumber": make_id(321), "workerName": "覃大海"}
    r = client.post("/workers", json=body, headers=read)
    assert r.status_code == 403
    r = client.post("/workers", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert make_id(321) not in r.text and "覃大海" not in r.text
    assert r.json()["idCardNumber"].startswith("4501**********")
    wid = r.json()["workerId"]
    bad = dict(body, idCardNumber=make_id(321)[:-1] + "0" if make_id(321)[-1] != "0" else "1")
    r = client.post("/workers", json=bad, headers=admin)
    assert r.status_code == 400 and "idCardNumber" in r.json()["detail"]
    r = client.post("/escrow/flows", headers=admin, json={"rows": [
        {"projectCode": CODE, "bankSerial": "API-F1", "direction": "in", "amount": "1",
         "valueDate": "2026-03-01"},
        {"projectCode": CODE, "bankSerial": "API-F2", "direction": "in", "amount": "-1",
         "valueDate": "2026-03-01"}]})
    assert r.status_code == 400 and "row 3" in r.json()["detail"]
    team = client.post(f"/projects/{CODE}/teams", headers=admin,
                       json={"corpCode": SUBCONTRACTOR, "teamName": "木工班"})
    assert team.status_code == 201 and team.json()["teamSysNo"] >= 1
    r = client.post(f"/projects/{CODE}/workers", headers=admin, json={
        "workerId": wid, "corpCode": SUBCONTRACTOR, "workType": "240",
        "teamSysNo": team.json()["teamSysNo"], "entryDate": "2026-03-10"})
    assert r.status_code == 201, r.text
    r = client.post(f"/projects/{CODE}/contracts", headers=admin, json={
        "workerId": wid, "corpCode": SUBCONTRACTOR, "startDate": "2026-03-10",
        "endDate": "2026-03-01"})
    assert r.status_code == 400 and "before start" in r.json()["detail"]
    r = client.post(f"/projects/{CODE}/workers/{wid}/exit", headers=admin,
                    json={"date": "2026-03-31"})
    assert r.status_code == 200
    exp = client.get("/export/project-workers", params={"project": CODE}, headers=read).json()
    assert {"idCardNumber", "workType", "payRollBankCardNumber"} <= set(exp["workerList"][0])
    assert "*" in exp["workerList"][0]["idCardNumber"]
    ws = client.get("/warnings", params={"project": CODE, "state": "active"}, headers=read).json()
    # no gateway sent attendance, no deposit, no April labour cost
    # and the one payroll line pays 20 days to a worker with no attendance (W18)
    assert {w["rule"] for w in ws} == {"W04", "W06", "W07", "W18"}
    w10 = next(w for w in ws if w["rule"] == "W04")
    r = client.post(f"/warnings/{w10['id']}/clear", headers=admin,
                    json={"by": "inspector-1", "reason": "leaver settled in cash", "evidence": []})
    assert r.status_code == 422
    r = client.post(f"/warnings/{w10['id']}/clear", headers=admin,
                    json={"by": "inspector-1", "reason": "settled", "evidence": ["scan-001.pdf"],
                          "on": "2026-05-02"})
    assert r.status_code == 200 and r.json()["state"] == "cleared_manual"


def _candidates(masked: str, birth: str | None) -> int:
    """Resident ID numbers that fit a mask ``RRRR**********SSSC`` (and a birth date, if given):
    the hidden digits are two region digits and the eight-digit birth date."""
    from stdnum.cn import ric
    births = [birth.replace("-", "")] if birth else None
    if births is None:
        return 10 ** 6          # any date of birth: far more than can be listed here
    n = 0
    for region in range(100):
        body = f"{masked[:4]}{region:02d}{births[0]}{masked[-4:-1]}"
        n += ric.calc_check_digit(body) == masked[-1]
    return n


def test_masked_worker_gives_no_clue_to_the_hidden_digits(tmp_path):
    app, admin_token, read_token = make_app(tmp_path / "mask.db")
    client = TestClient(app)
    idn = make_id(77, "450103", "19900307")
    r = client.post("/workers", json={"idCardNumber": idn, "workerName": "韦小宝"},
                    headers={"Authorization": f"Bearer {admin_token}"})
    assert r.status_code == 201, r.text
    for view in (r.json(), client.get(f"/workers/{r.json()['workerId']}",
                                      headers={"Authorization": f"Bearer {read_token}"}).json()):
        masked = view["idCardNumber"]
        assert masked == idn[:4] + "*" * 10 + idn[-4:]
        text = str(view)
        assert not {k for k in view if "birth" in k.lower() or "age" in k.lower()}, view
        assert "19900307" not in text and "1990-03-07" not in text and "1990" not in text
        # what an attacker could narrow it to: with the old birthDate, ~9 numbers
        assert _candidates(masked, view.get("birthDate")) > 1000
    assert _candidates(idn[:4] + "*" * 10 + idn[-4:], "1990-03-07") < 12    # the old leak
    props = client.get("/openapi.json").json()["components"]["schemas"]["WorkerOut"]["properties"]
    assert "birthDate" not in props


def test_every_api_operation_runs_under_its_own_id(request):
    """pytest-xdist (`make test`) schedules tests by node id: items sharing one would run once
    for all (tests/conftest.py gives each operation's item its own)."""
    ids = [i.nodeid for i in request.session.items if type(i).__name__ == "SchemathesisFunction"]
    assert len(set(ids)) == len(ids), sorted(ids)[:3]
    if ids:                             # the whole file was collected: one per operation
        assert len(ids) == sum(1 for _ in schema.get_all_operations())
