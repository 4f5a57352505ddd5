"""Banks push special-account events and flows: per-bank signed credentials, idempotent on the
bank serial, receipt time stored, numbers sealed -- and every refusal stores nothing."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from central.api import add_token, create_app
from central.platform.bank import BankIntake
from central.tables import account_flows, bank_events, special_accounts
from central.store import Store
from month import Central, register_project

ACCOUNT = "43050100000000001234"
OTHER_BANK_ACCOUNT = "43050100000000009999"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SITEGATE_PLATFORM_CONFIG", str(tmp_path / "none.toml"))
    c = Central(Store(f"sqlite:///{tmp_path / 'c.db'}"))
    register_project(c, "HN-B", area="430102", n_workers=1)
    banks = BankIntake(c.store, c.cipher)
    secret = banks.add_bank("105", "建设银行湖南省分行")
    other = banks.add_bank("103", "农业银行湖南省分行")
    c.esc.open_account({"projectCode": "HN-B", "bankCode": "103", "accountNo": OTHER_BANK_ACCOUNT,
                        "openedDate": "2026-03-01"})
    client = TestClient(create_app(c.store, c.cipher))
    return c, client, secret, other


def signed(secret, path, body: bytes, bank="105", ts=None, sig=None):
    ts = str(int(time.time()) if ts is None else ts)
    msg = f"{ts}\nPOST\n{path}\n".encode() + body
    return {"X-Bank-Code": bank, "X-Timestamp": ts, "Content-Type": "application/json",
            "X-Signature": sig or hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()}


def post(client, secret, path, obj, **kw):
    body = obj if isinstance(obj, bytes) else json.dumps(obj, ensure_ascii=False).encode()
    headers = signed(secret, path, body, **kw)
    headers.update(kw.pop("extra", {}) if "extra" in kw else {})
    return client.post(path, content=body, headers=headers)


def counts(c):
    with c.store.engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                     for t in (bank_events, special_accounts, account_flows))


OPEN = {"serial": "CCB-0001", "type": "open", "projectCode": "HN-B", "accountNo": ACCOUNT,
        "accountName": "HN-B 农民工工资专用账户", "openedDate": "2026-04-08",
        "agreementRef": "三方协议-HN-B"}
FLOW = {"serial": "CCB-F-0001", "projectCode": "HN-B", "accountNo": ACCOUNT,
        "valueDate": "2026-04-09", "direction": "in", "kind": "labour_cost",
        "amount": "250000.00", "forMonth": "2026-04", "counterpartyName": "长沙城投",
        "counterpartyAccount": "60001234567890"}


def test_a_bank_opens_an_account_pushes_a_flow_changes_and_closes(env):
    c, client, secret, _ = env
    before = int(time.time() * 1000)
    r = post(client, secret, "/bank/accounts", OPEN)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "stored" and r.json()["receivedAt"] >= before
    r = post(client, secret, "/bank/flows", FLOW)
    assert r.status_code == 201, r.text
    r = post(client, secret, "/bank/accounts", {
        "serial": "CCB-0002", "type": "change", "projectCode": "HN-B", "accountNo": ACCOUNT,
        "changedDate": "2026-04-10", "agreementRef": "三方协议-HN-B-补充"})
    assert r.status_code == 201, r.text
    r = post(client, secret, "/bank/accounts", {
        "serial": "CCB-0003", "type": "close", "projectCode": "HN-B", "accountNo": ACCOUNT,
        "closedDate": "2026-12-20"})
    assert r.status_code == 201, r.text
    with c.store.engine.connect() as conn:
        acc = conn.execute(sa.select(special_accounts).where(
            special_accounts.c.bankCode == "105")).mappings().one()
        flow = conn.execute(sa.select(account_flows).where(
            account_flows.c.bankSerial == "CCB-F-0001")).mappings().one()
        events = conn.execute(sa.select(bank_events.c.kind, bank_events.c.receivedAt).order_by(
            bank_events.c.receivedAt)).all()
        dump = json.dumps([dict(r) for t in (special_accounts, account_flows, bank_events)
                           for r in conn.execute(sa.select(t)).mappings()], default=str)
    assert acc["agreementRef"] == "三方协议-HN-B-补充" and str(acc["closedDate"]) == "2026-12-20"
    assert acc["receivedAt"] >= before and acc["closedReceivedAt"] >= acc["receivedAt"]
    assert flow["amount"] == 25_000_000 and flow["receivedAt"] >= before
    assert [k for k, _ in events] == ["open", "flow", "change", "close"]
    assert ACCOUNT not in dump and "60001234567890" not in dump      # sealed, with indexes


def test_the_same_push_again_is_a_duplicate_and_another_body_is_refused(env):
    c, client, secret, _ = env
    first = post(client, secret, "/bank/accounts", OPEN)
    assert first.status_code == 201
    n = counts(c)
    again = post(client, secret, "/bank/accounts", OPEN)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "serial": "CCB-0001",
                            "receivedAt": first.json()["receivedAt"]}
    other = post(client, secret, "/bank/accounts", dict(OPEN, accountName="另一个名字"))
    assert other.status_code == 409 and "already used" in other.json()["detail"]
    assert counts(c) == n
    post(client, secret, "/bank/flows", FLOW)
    n = counts(c)
    assert post(client, secret, "/bank/flows", FLOW).json()["status"] == "duplicate"
    r = post(client, secret, "/bank/flows", dict(FLOW, amount="1.00"))
    assert r.status_code == 409
    assert counts(c) == n


@pytest.mark.parametrize("case, status, words", [
    ("no headers", 401, "missing"),
    ("unknown bank", 401, "unknown bank"),
    ("bad signature", 401, "bad signature"),
    ("another bank's secret", 401, "bad signature"),
    ("stale timestamp", 401, "X-Timestamp"),
    ("not json", 400, "not UTF-8 JSON"),
    ("json list", 400, "JSON object"),
    ("unknown field", 400, "idCardNumber: Extra inputs are not permitted"),
    ("bad date", 400, "openedDate"),
    ("unknown project", 400, "projectCode"),
    ("oversized", 413, "larger than"),
    ("wrong content type", 415, "application/json"),
    ("bank code mismatch", 403, "bankCode"),
    ("another bank's account", 403, "another bank"),
])
def test_refusals_are_clear_and_store_nothing(env, case, status, words):
    c, client, secret, other = env
    post(client, secret, "/bank/accounts", OPEN)
    n = counts(c)
    path, obj, kw = "/bank/accounts", dict(OPEN, serial="CCB-X"), {}
    body = None
    headers = None
    if case == "no headers":
        headers = {"Content-Type": "application/json"}
    elif case == "unknown bank":
        kw = {"bank": "999"}
    elif case == "bad signature":
        kw = {"sig": "0" * 64}
    elif case == "another bank's secret":
        secret = other
    elif case == "stale timestamp":
        kw = {"ts": int(time.time()) - 3600}
    elif case == "not json":
        body = b"{not json"
    elif case == "json list":
        body = b"[1, 2]"
    elif case == "unknown field":
        obj["idCardNumber"] = "430102198501010018"
    elif case == "bad date":
        obj["openedDate"] = "2026-02-30x"
    elif case == "unknown project":
        obj["projectCode"] = "NOPE"
    elif case == "oversized":
        obj["accountName"] = "x" * 70_000
    elif case == "bank code mismatch":
        obj["bankCode"] = "103"
    elif case == "another bank's account":
        path, obj = "/bank/flows", dict(FLOW, serial="F-X", accountNo=OTHER_BANK_ACCOUNT)
    body = body if body is not None else json.dumps(obj, ensure_ascii=False).encode()
    if headers is None:
        headers = signed(secret, path, body, **kw)
    if case == "wrong content type":
        headers["Content-Type"] = "text/plain"
    r = client.post(path, content=body, headers=headers)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert counts(c) == n


def test_platform_endpoints_need_an_admin_token(env):
    c, client, _, _ = env
    admin = add_token(c.store, c.cipher, "ops", "admin")
    reader = add_token(c.store, c.cipher, "viewer", "read")
    assert client.get("/platform/status").status_code == 401
    assert client.get("/platform/status", headers={"Authorization": f"Bearer {reader}"}) \
        .status_code == 403
    ok = client.get("/platform/status", headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200 and ok.json()["targets"] == {}
    r = client.post("/platform/push", json={}, headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 409 and "platform configuration" in r.json()["detail"]
    r = client.post("/platform/retry", json={"ids": [1]},
                    headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200 and r.json() == {"requeued": 0}
