"""HTTP JSON API with OpenAPI (FastAPI): registry, escrow, warnings, attendance, exports.

Auth: ``Authorization: Bearer <token>``; tokens are stored only as a keyed SM3 index with a
role: ``read`` (GET), ``party`` (also asks for extensions), ``official`` (also grants or refuses
extensions and clears warnings), ``admin`` (writes, imports, evaluation; may ask for but never
grant an extension: seed 000 art. 17 wants another role to approve).  Errors are ``{"detail": "..."}`` with 400 (bad
input: nothing stored), 401, 403, 404.  ID numbers appear masked; names masked.
The platform connector's endpoints (``/platform/...``, admin) and the banks' push endpoints
(``/bank/...``, signed per bank) come from ``platform/api.py`` (docs/platform.md).
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from .attendance import month_table
from .codes import InputError, check_date, check_month
from .crypto import FieldCipher
from .escrow import Escrow
from .export import Exporter
from .reconcile import reconcile
from .registry import Registry
from .store import Store, now_ms
from .tables import api_tokens, projects
from .warnings import Warnings

Role = Literal["read", "party", "official", "admin"]
ROLES = ("read", "party", "official", "admin")
CODE_RE = r"^[A-Za-z0-9_.-]{1,64}$"
MONTH_RE = r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$"
DATE_RE = r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
USCC_RE = r"^[0-9A-HJ-NPQRTUWXY]{18}$"
AREA_RE = r"^[1-8][0-9]{5}$"
MONEY_RE = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"


class Error(BaseModel):
    detail: str


ERRORS = {400: {"model": Error, "description": "Bad input; nothing stored"},
          401: {"model": Error, "description": "No or unknown token"},
          403: {"model": Error, "description": "Token lacks the admin role"},
          404: {"model": Error, "description": "Not found"},
          409: {"model": Error, "description": "Conflicts with stored data; nothing stored"}}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Company(Strict):
    corpCode: str = Field(pattern=USCC_RE)
    corpName: str = Field(min_length=1, max_length=200)
    areaCode: str | None = Field(None, pattern=AREA_RE)
    address: str | None = Field(None, max_length=300)
    legalMan: str | None = Field(None, max_length=100)


class Project(Strict):
    projectCode: str = Field(pattern=CODE_RE)
    name: str = Field(min_length=1, max_length=200)
    category: str | None = Field(None, max_length=2)
    contractorCorpCode: str = Field(pattern=USCC_RE)
    buildCorpCode: str | None = Field(None, pattern=USCC_RE)
    areaCode: str = Field(pattern=AREA_RE)
    address: str | None = Field(None, max_length=300)
    prjStatus: Literal["001", "002", "003", "004", "005"] = "003"
    invest: str | None = Field(None, pattern=MONEY_RE, description="contract value, yuan")
    labourCostMonthly: str | None = Field(None, pattern=MONEY_RE)
    contractSignDate: str | None = Field(None, pattern=DATE_RE)
    startDate: str | None = Field(None, pattern=DATE_RE)
    completeDate: str | None = Field(None, pattern=DATE_RE)
    builderLicenseNum: str | None = Field(None, max_length=64)
    noticeBoardDate: str | None = Field(None, pattern=DATE_RE)
    payDay: int | None = Field(None, ge=1, le=28)
    sector: Literal["building", "municipal", "transport", "water", "railway", "aviation",
                    "energy", "other"] | None = None
    pushSchedule: Literal["daily", "semimonthly"] = "daily"
    permitDate: str | None = Field(None, pattern=DATE_RE)
    contractStartDate: str | None = Field(None, pattern=DATE_RE)
    labourCostRatio: str | None = Field(None, pattern=r"^[0-9]{1,3}(\.[0-9]{1,2})?$",
                                        description="percent of progress payments")
    tripartiteAgreementRef: str | None = Field(None, max_length=100)


class Manager(Strict):
    role: Literal["laborManager", "projectManager", "projectLead"]
    name: str = Field(min_length=1, max_length=50)
    idCardType: str = Field("01", max_length=2)
    idCardNumber: str = Field(pattern=r"^[0-9A-Za-z]{4,32}$", json_schema_extra={"writeOnly": True})
    phone: str | None = Field(None, max_length=20)


class ProjectCompany(Strict):
    corpCode: str = Field(pattern=USCC_RE)
    corpType: str = Field(pattern=r"^0(0[1-9]|1[0-2])$")
    entryTime: str | None = Field(None, pattern=DATE_RE)
    exitTime: str | None = Field(None, pattern=DATE_RE)
    pmName: str | None = Field(None, max_length=50)
    pmIdCardNumber: str | None = Field(None, pattern=r"^[0-9A-Za-z]{4,32}$",
                                       json_schema_extra={"writeOnly": True})
    pmPhone: str | None = Field(None, max_length=20)


class Worker(Strict):
    idCardType: str = Field("01", max_length=2)
    idCardNumber: str = Field(pattern=r"^[0-9A-Za-z]{4,32}$", json_schema_extra={"writeOnly": True})
    workerName: str = Field(min_length=1, max_length=50)
    nation: str | None = Field(None, max_length=20)
    cellPhone: str | None = Field(None, max_length=20)


class WorkerOut(BaseModel):
    """No birth date (nor year, nor age): beside the masked ID number it would give away the
    hidden digits (docs/central.md, "What the API never shows")."""
    workerId: str
    idCardType: str
    idCardNumber: str = Field(description="masked: region (4) and last four")
    workerName: str = Field(description="masked")
    gender: str | None
    nation: str | None


class Entry(Strict):
    workerId: str = Field(max_length=32)
    corpCode: str = Field(pattern=USCC_RE)
    workType: str = Field(max_length=4)
    workRole: str = Field("20", max_length=2)
    teamSysNo: int | None = Field(None, ge=1, le=2**31 - 1)
    entryDate: str = Field(pattern=DATE_RE)
    cardNumber: str | None = Field(None, max_length=32)
    payRollBankCardNumber: str | None = Field(None, max_length=19)
    payRollTopBankCode: str | None = Field(None, max_length=8)


class Team(Strict):
    corpCode: str = Field(pattern=USCC_RE)
    teamName: str = Field(min_length=1, max_length=100)
    entryTime: str | None = Field(None, pattern=DATE_RE)
    exitTime: str | None = Field(None, pattern=DATE_RE)


class Contract(Strict):
    workerId: str = Field(pattern=CODE_RE)
    corpCode: str = Field(pattern=USCC_RE)
    contractPeriodType: Literal["0", "1"] = "0"
    startDate: str = Field(pattern=DATE_RE)
    endDate: str | None = Field(None, pattern=DATE_RE)
    unitPrice: str | None = Field(None, pattern=MONEY_RE)
    signDate: str | None = Field(None, pattern=DATE_RE)


class Exit(Strict):
    date: str = Field(pattern=DATE_RE)


class Rows(Strict):
    rows: list[dict[str, Any]] = Field(max_length=10000)


class Clear(Strict):
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    evidence: list[str] = Field(min_length=1, max_length=20)
    on: str | None = Field(None, pattern=DATE_RE)


class Extend(Strict):
    by: str = Field(min_length=1, max_length=100)
    days: int = Field(ge=1, le=90)
    reason: str = Field(min_length=1, max_length=500)
    on: str | None = Field(None, pattern=DATE_RE)


class Grant(Strict):
    by: str = Field(min_length=1, max_length=100)
    on: str | None = Field(None, pattern=DATE_RE)


class Refuse(Strict):
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
    on: str | None = Field(None, pattern=DATE_RE)


class Evaluate(Strict):
    on: str | None = Field(None, pattern=DATE_RE)
    projects: list[str] | None = Field(None, max_length=10000)


class WarningOut(BaseModel):
    id: int
    rule: str
    family: str
    name: str
    subjectType: str
    subjectId: str
    projectCode: str
    period: str
    level: str
    state: str
    openedOn: dt.date
    dueOn: dt.date
    tier: int
    details: dict[str, Any]
    clearedOn: dt.date | None
    clearedBy: str | None
    clearReason: str | None
    evidence: list[str] | None
    extensionDays: int | None
    extensionReason: str | None
    source: str | None = Field(None, description="the rule's parameters and their sources")
    responsible: str | None
    responsibleCorp: str | None


def token_index(cipher: FieldCipher, token: str) -> str:
    return cipher.index(token, "api-token")


def add_token(store: Store, cipher: FieldCipher, name: str, role: str) -> str:
    if role not in ROLES:
        raise InputError(f"role: one of {', '.join(ROLES)}")
    token = "sg_" + secrets.token_urlsafe(24)
    with store.engine.begin() as conn:
        conn.execute(api_tokens.insert().values(tokenIndex=token_index(cipher, token), name=name,
                                                role=role, createdAt=now_ms()))
    return token


def today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def create_app(store: Store, cipher: FieldCipher) -> FastAPI:
    app = FastAPI(title="sitegate-central", version="1",
                  description="Registry, escrow, warnings and attendance of sitegate-central.")
    from .notify import Notifier
    reg, esc = Registry(store, cipher), Escrow(store, cipher)
    warn = Warnings(store, notifier=Notifier(store, cipher))
    exporter = Exporter(store, cipher)
    bearer = HTTPBearer(auto_error=False)

    def role(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        if cred is None or cred.scheme.lower() != "bearer" or not cred.credentials:
            raise HTTPException(401, "missing bearer token")
        with store.engine.connect() as conn:
            r = conn.execute(sa.select(api_tokens.c.role).where(
                api_tokens.c.tokenIndex == token_index(cipher, cred.credentials))).scalar()
        if r is None:
            raise HTTPException(401, "unknown token")
        return r

    def admin(r: str = Depends(role)) -> str:
        if r != "admin":
            raise HTTPException(403, "this action needs an admin token")
        return r

    def requester(r: str = Depends(role)) -> str:
        if r not in ("party", "admin"):
            raise HTTPException(403, "an extension is asked for by a participating unit "
                                     "(party or admin token)")
        return r

    def official(r: str = Depends(role)) -> str:
        if r != "official":
            raise HTTPException(403, "this decision needs an official token (sector "
                                     "department)")
        return r

    def inspector(r: str = Depends(role)) -> str:
        if r not in ("official", "admin"):
            raise HTTPException(403, "clearing needs an official or admin token")
        return r

    @app.exception_handler(sa.exc.IntegrityError)
    async def _conflict(request: Request, exc: sa.exc.IntegrityError):
        return JSONResponse({"detail": "conflicts with stored data (duplicate key or missing "
                                       "reference); nothing stored"}, status_code=409)

    @app.exception_handler(InputError)
    async def _bad(request: Request, exc: InputError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def _project_or_404(code: str) -> dict:
        with store.engine.connect() as conn:
            p = conn.execute(sa.select(projects).where(projects.c.projectCode == code)).mappings().first()
        if p is None:
            raise HTTPException(404, f"unknown project {code!r}")
        return {k: v for k, v in dict(p).items() if not k.endswith(("Enc", "Index"))}

    P = Path(pattern=CODE_RE)

    @app.get("/health", response_model=dict[str, str], responses={400: ERRORS[400]})
    def health():
        return {"status": "ok"}

    @app.post("/companies", status_code=201, responses=ERRORS, response_model=dict[str, str])
    def add_company(body: Company, _: str = Depends(admin)):
        return {"corpCode": reg.add_company(body.model_dump())}

    @app.post("/projects", status_code=201, responses=ERRORS, response_model=dict[str, str])
    def add_project(body: Project, _: str = Depends(admin)):
        return {"projectCode": reg.add_project(body.model_dump())}

    @app.get("/projects", responses=ERRORS, response_model=list[dict[str, Any]])
    def list_projects(_: str = Depends(role), limit: int = Query(100, ge=1, le=1000),
                      offset: int = Query(0, ge=0, le=10**9)):
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(projects.c.projectCode, projects.c.name,
                                          projects.c.areaCode, projects.c.prjStatus)
                                .order_by(projects.c.projectCode).limit(limit).offset(offset))
            return [dict(r) for r in rows.mappings()]

    @app.get("/projects/{code}", responses=ERRORS, response_model=dict[str, Any])
    def get_project(code: str = P, _: str = Depends(role)):
        _project_or_404(code)
        return reg.project_view(code)

    @app.post("/projects/{code}/managers", responses=ERRORS, response_model=dict[str, Any])
    def set_manager(body: Manager, code: str = P, _: str = Depends(admin)):
        _project_or_404(code)
        reg.set_manager(code, body.role, body.name, body.idCardNumber, body.phone,
                        body.idCardType)
        return reg.project_view(code)[body.role]

    @app.post("/projects/{code}/companies", status_code=201, responses=ERRORS,
              response_model=dict[str, str])
    def add_project_company(body: ProjectCompany, code: str = P, _: str = Depends(admin)):
        _project_or_404(code)
        reg.add_project_company(dict(body.model_dump(), projectCode=code))
        return {"corpCode": body.corpCode}

    @app.get("/rules", responses=ERRORS, response_model=list[dict[str, Any]])
    def rules_table(_: str = Depends(role),
                    region: str | None = Query(None, pattern=r"^[0-9]{2}$")):
        from .rules import table
        from .warnings import overrides
        with store.engine.connect() as conn:
            return table(region, overrides(conn))

    @app.post("/workers", status_code=201, responses=ERRORS, response_model=WorkerOut)
    def add_worker(body: Worker, _: str = Depends(admin)):
        return reg.worker_view(reg.add_worker(body.model_dump()))

    @app.get("/workers/{worker_id}", responses=ERRORS, response_model=WorkerOut)
    def get_worker(worker_id: str = Path(pattern=CODE_RE), _: str = Depends(role)):
        view = reg.worker_view(worker_id)
        if view is None:
            raise HTTPException(404, "unknown worker")
        return view

    @app.post("/projects/{code}/workers", status_code=201, responses=ERRORS,
              response_model=dict[str, str])
    def enter(body: Entry, code: str = P, _: str = Depends(admin)):
        return {"workerId": reg.enter(dict(body.model_dump(), projectCode=code))}

    @app.post("/projects/{code}/teams", status_code=201, responses=ERRORS,
              response_model=dict[str, int])
    def add_team(body: Team, code: str = P, _: str = Depends(admin)):
        return {"teamSysNo": reg.add_team(dict(body.model_dump(), projectCode=code))}

    @app.post("/projects/{code}/contracts", status_code=201, responses=ERRORS,
              response_model=dict[str, int])
    def add_contract(body: Contract, code: str = P, _: str = Depends(admin)):
        return {"id": reg.add_contract(dict(body.model_dump(), projectCode=code))}

    @app.post("/projects/{code}/workers/{worker_id}/exit", responses=ERRORS,
              response_model=dict[str, str])
    def exit_worker(body: Exit, code: str = P, worker_id: str = Path(pattern=CODE_RE),
                    _: str = Depends(admin)):
        reg.exit(code, worker_id, body.date)
        return {"workerId": worker_id, "exitDate": body.date}

    @app.get("/projects/{code}/attendance", responses=ERRORS,
             response_model=dict[str, list[int]])
    def attendance(code: str = P, month: str = Query(pattern=MONTH_RE), _: str = Depends(role)):
        _project_or_404(code)
        with store.engine.connect() as conn:
            return month_table(conn, code, check_month(month))

    @app.get("/projects/{code}/reconcile", responses=ERRORS, response_model=list[dict[str, Any]])
    def reconcile_month(code: str = P, month: str = Query(pattern=MONTH_RE),
                        _: str = Depends(role)):
        _project_or_404(code)
        return reconcile(store, code, check_month(month))

    @app.post("/escrow/{kind}", status_code=201, responses=ERRORS, response_model=dict[str, int])
    def escrow_import(body: Rows, kind: Literal["accounts", "flows", "payroll", "deposits",
                                                "deposit-events", "guarantees", "complaints",
                                                "account-closures", "progress-payments"],
                      _: str = Depends(admin)):
        return {"stored": esc.import_rows(kind, body.rows)}

    @app.get("/warnings", responses=ERRORS, response_model=list[WarningOut])
    def list_warnings(_: str = Depends(role), project: str | None = Query(None, pattern=CODE_RE),
                      region: str | None = Query(None, pattern=r"^[0-9]{2}$"),
                      state: Literal["active", "open", "extension_requested", "extended",
                                     "overdue", "escalated", "cleared_auto",
                                     "cleared_manual"] | None = Query(None),
                      rule: str | None = Query(None, pattern=r"^W\d\d$")):
        return warn.list(project, state, rule, region)

    def _day(on: str | None) -> dt.date:
        return check_date(on, "on") if on else today()

    def _warning_or_404(wid: int) -> dict:
        rows = [w for w in warn.list() if w["id"] == wid]
        if not rows:
            raise HTTPException(404, f"no warning {wid}")
        return rows[0]

    W = Path(ge=1, le=2**31 - 1)

    @app.get("/warnings/{wid}/history", responses=ERRORS, response_model=list[dict[str, Any]])
    def history(wid: int = W, _: str = Depends(role)):
        _warning_or_404(wid)
        return warn.history(wid)

    @app.post("/warnings/{wid}/clear", responses=ERRORS, response_model=WarningOut)
    def clear(body: Clear, wid: int = W, _: str = Depends(inspector)):
        _warning_or_404(wid)
        warn.clear(wid, body.by, body.reason, body.evidence, _day(body.on))
        return _warning_or_404(wid)

    @app.post("/warnings/{wid}/extension", responses=ERRORS, response_model=WarningOut)
    def extension(body: Extend, wid: int = W, r: str = Depends(requester)):
        _warning_or_404(wid)
        warn.request_extension(wid, body.days, body.reason, body.by, _day(body.on), r)
        return _warning_or_404(wid)

    @app.post("/warnings/{wid}/extension/grant", responses=ERRORS, response_model=WarningOut)
    def grant(body: Grant, wid: int = W, r: str = Depends(official)):
        _warning_or_404(wid)
        warn.grant_extension(wid, body.by, _day(body.on), r)
        return _warning_or_404(wid)

    @app.post("/warnings/{wid}/extension/refuse", responses=ERRORS, response_model=WarningOut)
    def refuse(body: Refuse, wid: int = W, r: str = Depends(official)):
        _warning_or_404(wid)
        warn.refuse_extension(wid, body.by, body.reason, _day(body.on), r)
        return _warning_or_404(wid)

    @app.post("/warnings/evaluate", responses=ERRORS, response_model=dict[str, int])
    def evaluate(body: Evaluate, _: str = Depends(admin)):
        return warn.evaluate(_day(body.on), body.projects)

    @app.get("/export/attendance", responses=ERRORS, response_model=dict[str, Any])
    def export_attendance(project: str = Query(pattern=CODE_RE), date: str = Query(pattern=DATE_RE),
                          _: str = Depends(role)):
        _project_or_404(project)
        return exporter.attendance(project, check_date(date, "date"))

    @app.get("/export/project-workers", responses=ERRORS, response_model=dict[str, Any])
    def export_workers(project: str = Query(pattern=CODE_RE), _: str = Depends(role)):
        _project_or_404(project)
        return exporter.project_workers(project)

    @app.get("/export/payroll", responses=ERRORS, response_model=dict[str, Any])
    def export_payroll(project: str = Query(pattern=CODE_RE),
                       month: str = Query(pattern=MONTH_RE), _: str = Depends(role)):
        _project_or_404(project)
        return exporter.payroll(project, check_month(month))

    from .platform.api import router as platform_router
    from .platform.config import from_environment
    app.include_router(platform_router(store, cipher, admin, from_environment))
    _fix_allow_header(app)
    return app


def _fix_allow_header(app: FastAPI) -> None:
    """Starlette answers 405 from the first route matching the path, so ``Allow`` would list
    only that route's methods; list every method the path supports (RFC 9110 §15.5.6).
    Also refuse query parameters an operation does not declare (a clear 400, not silence)."""
    from starlette.routing import Match

    @app.middleware("http")
    async def allow(request: Request, call_next):
        for route in app.router.routes:
            match, _ = route.matches(request.scope)
            if match == Match.FULL and hasattr(route, "dependant"):
                known = {q.alias for q in route.dependant.query_params}
                names = [k for k, _ in request.query_params.multi_items()]
                repeated = sorted({k for k in names if names.count(k) > 1})
                if repeated:
                    return JSONResponse({"detail": "query parameter(s) given more than once: "
                                         + ", ".join(repr(e)[:40] for e in repeated[:5])}, 400)
                extra = sorted(set(names) - known)
                if extra:
                    return JSONResponse({"detail": "unknown query parameter(s): "
                                         + ", ".join(repr(e)[:40] for e in extra[:5])}, 400)
                break
        response = await call_next(request)
        if response.status_code == 405:
            methods = set()
            for route in app.router.routes:
                match, _ = route.matches({"type": "http", "path": request.url.path,
                                          "method": "GET"})
                if match != Match.NONE and getattr(route, "methods", None):
                    methods |= route.methods
            if methods:
                response.headers["Allow"] = ", ".join(sorted(methods))
        return response
