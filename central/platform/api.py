"""HTTP endpoints of the connector, mounted by ``central.api.create_app``.

* ``/platform/status|push|retry|parked`` (admin token): what ``sitegate-central platform
  status|push|retry|parked`` do (every target; 409 without a configuration); a push plans,
  then delivers in the background (progress in ``status``);
* ``/bank/accounts`` and ``/bank/flows``: banks push special-account events and flows, signed
  with their own credential (``bank.py``); refused pushes store nothing: 400 malformed, 401
  unauthenticated, 403 not this bank's, 409 used serial, 413 oversized, 415 not JSON.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..codes import InputError
from ..crypto import FieldCipher
from ..store import Store
from .bank import MAX_BODY, BankIntake, BankRefused
from .config import ConfigError

log = logging.getLogger("sitegate.central.platform")
CODE = r"^[A-Za-z0-9_.-]{1,64}$"
DATE = r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
MONEY = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
TARGET = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Error(BaseModel):
    detail: str


class Push(Strict):
    projects: list[str] | None = Field(None, max_length=10000)
    target: str | None = Field(None, pattern=TARGET)
    kinds: list[Literal["project", "company", "team", "worker", "entry_exit", "contract",
                        "attendance", "payroll"]] | None = None
    now: bool = False


class Retry(Strict):
    ids: list[int] | None = Field(None, max_length=100000)
    target: str | None = Field(None, pattern=TARGET)


class AccountEvent(Strict):
    serial: str = Field(min_length=1, max_length=64)
    type: Literal["open", "change", "close"]
    projectCode: str = Field(pattern=CODE)
    accountNo: str = Field(pattern=r"^[0-9]{8,32}$")
    bankCode: str | None = Field(None, max_length=8)
    accountName: str | None = Field(None, max_length=300)
    agreementRef: str | None = Field(None, max_length=100)
    openedDate: str | None = Field(None, pattern=DATE)
    changedDate: str | None = Field(None, pattern=DATE)
    closedDate: str | None = Field(None, pattern=DATE)
    closedBy: str | None = Field(None, max_length=100)


class Flow(Strict):
    serial: str = Field(min_length=1, max_length=64)
    projectCode: str = Field(pattern=CODE)
    accountNo: str = Field(pattern=r"^[0-9]{8,32}$")
    bankCode: str | None = Field(None, max_length=8)
    valueDate: str = Field(pattern=DATE)
    direction: Literal["in", "out"]
    kind: Literal["labour_cost", "payout", "refund", "other"] | None = None
    amount: str = Field(pattern=MONEY)
    forMonth: str | None = Field(None, pattern=r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$")
    balanceAfter: str | None = Field(None, pattern=MONEY)
    counterpartyName: str | None = Field(None, max_length=200)
    counterpartyAccount: str | None = Field(None, pattern=r"^[0-9]{6,32}$")


def router(store: Store, cipher: FieldCipher, admin, load_targets) -> APIRouter:
    """``admin``: the app's admin-token dependency; ``load_targets()``: the configured
    targets (raises ConfigError when there is no configuration)."""
    r = APIRouter()
    banks = BankIntake(store, cipher)
    state: dict[str, Any] = {"service": None, "thread": None}
    errors = {s: {"model": _Error, "description": d} for s, d in (
        (400, "Bad input; nothing done"), (401, "No or unknown token"),
        (403, "Token lacks the admin role"),
        (409, "No platform configuration (docs/platform.md); nothing done"))}
    lock = threading.Lock()

    def service(required: bool = True):
        from .service import Platform
        with lock:
            if state["service"] is None:
                try:
                    targets = load_targets()
                except ConfigError as exc:
                    if required:
                        raise HTTPException(409, f"{exc}; nothing done") from None
                    return Platform(store, cipher, [])
                state["service"] = Platform(store, cipher, targets)
            return state["service"]

    @r.get("/platform/status", response_model=dict[str, Any], responses=errors)
    def status(_: str = Depends(admin)):
        out = service(required=False).status()
        t = state["thread"]
        out["delivering"] = bool(t and t.is_alive())
        return out

    @r.post("/platform/push", status_code=202, response_model=dict[str, Any], responses=errors)
    def push(body: Push, _: str = Depends(admin)):
        svc = service()
        planned = svc.plan(body.projects, body.kinds)
        released = svc.release(body.projects, body.target) if body.now else 0
        with lock:
            t = state["thread"]
            if t is None or not t.is_alive():
                t = threading.Thread(target=svc.push, kwargs={"projects": body.projects,
                                                              "target": body.target},
                                     daemon=True, name="platform-push")
                state["thread"] = t
                t.start()
        return {"planned": planned, "released": released, "delivering": True}

    @r.get("/platform/parked", response_model=list[dict[str, Any]], responses=errors)
    def parked(_: str = Depends(admin)):
        return service(required=False).parked()

    @r.post("/platform/retry", response_model=dict[str, int], responses=errors)
    def retry(body: Retry, _: str = Depends(admin)):
        return {"requeued": service(required=False).retry(body.ids, body.target)}

    # ------------------------------------------------------------------ banks
    async def _read(request: Request) -> bytes:
        ctype = request.headers.get("content-type", "")
        if not ctype.split(";")[0].strip().lower() == "application/json":
            raise BankRefused(415, "Content-Type must be application/json")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise BankRefused(413, f"body larger than {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise BankRefused(413, f"body larger than {MAX_BODY} bytes")
        return body

    async def _bank_push(request: Request, model, apply) -> JSONResponse:
        try:
            body = await _read(request)
            bank = await run_in_threadpool(banks.authenticate, dict(request.headers),
                                           request.method, request.url.path, body)
            try:
                raw = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise BankRefused(400, "body is not UTF-8 JSON") from None
            if not isinstance(raw, dict):
                raise BankRefused(400, "body must be a JSON object")
            try:
                item = model.model_validate(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first.get("loc", ())) or "body"
                raise BankRefused(400, f"{where}: {first.get('msg')}") from None
            out = await run_in_threadpool(apply, bank, item.model_dump(exclude_none=True))
        except BankRefused as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        except InputError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return JSONResponse(out, status_code=201 if out["status"] == "stored" else 200)

    responses = {s: {"description": d} for s, d in (
        (400, "Malformed or invalid; nothing stored"), (401, "Bad credential or signature"),
        (403, "Not this bank's account"), (409, "Serial already used; nothing stored"),
        (413, "Body too large"), (415, "Not JSON"))}

    @r.post("/bank/accounts", status_code=201, responses=responses,
            openapi_extra={"requestBody": {"content": {"application/json": {
                "schema": AccountEvent.model_json_schema()}}, "required": True}})
    async def bank_account(request: Request):
        return await _bank_push(request, AccountEvent, banks.account_event)

    @r.post("/bank/flows", status_code=201, responses=responses,
            openapi_extra={"requestBody": {"content": {"application/json": {
                "schema": Flow.model_json_schema()}}, "required": True}})
    async def bank_flow(request: Request):
        return await _bank_push(request, Flow, banks.flow)

    return r
