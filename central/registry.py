"""Registry: companies, projects, participating companies, teams, workers, entries and exits,
labour contracts, certificates, blacklist -- and the roster change log each change feeds.

Every operation validates first and writes in one transaction: bad input raises ``InputError``
and stores nothing.  Input dicts use the national interface's field names.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets

import sqlalchemy as sa

from . import codes as C
from .codes import InputError
from .crypto import FieldCipher, mask_card, mask_id, mask_name
from .rules import SECTORS
from .store import Store, now_ms
from .tables import (blacklist, certificates, companies, contracts, entry_exits, project_companies,
                     project_workers, projects, roster_changes, teams, workers)


def _one(conn, table, **where):
    q = sa.select(table)
    for k, v in where.items():
        q = q.where(table.c[k] == v)
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


class Registry:
    def __init__(self, store: Store, cipher: FieldCipher) -> None:
        self.store, self.cipher = store, cipher
        self._conn = None            # set by import_rows: every row in one transaction

    def _begin(self):
        return contextlib.nullcontext(self._conn) if self._conn is not None \
            else self.store.engine.begin()

    # ---------------------------------------------------------------- sheet import
    KINDS = ("companies", "projects", "workers", "contracts", "exits", "project-companies")

    def import_rows(self, kind: str, rows: list[dict], progress=None) -> int:
        """All rows or none, like Escrow.import_rows.  ``workers`` rows register the person
        and enter them on the project (ProjectWorker fields); ``exits`` rows need projectCode,
        idCardNumber and date.  ``progress(done, total)`` is told after each row."""
        if kind not in self.KINDS:
            raise InputError(f"unknown import kind {kind!r}; one of {list(self.KINDS)}")
        try:
            with self.store.engine.begin() as conn:
                self._conn = conn
                for i, row in enumerate(rows, start=2):
                    try:
                        if not isinstance(row, dict):
                            raise InputError("not a record")
                        self._import_row(kind, row)
                    except InputError as exc:
                        raise InputError(f"row {i}: {exc}") from None
                    except sa.exc.IntegrityError:
                        raise InputError(f"row {i}: conflicts with stored data") from None
                    if progress is not None:
                        progress(i - 1, len(rows))
        finally:
            self._conn = None
        return len(rows)

    def _import_row(self, kind: str, row: dict) -> None:
        if kind == "companies":
            self.add_company(row)
        elif kind == "projects":
            self.add_project(row)
        elif kind == "project-companies":
            self.add_project_company(row)
        elif kind == "workers":
            self.enter(dict(row, workerId=self.add_worker(row)))
        else:
            wid = self.find_worker(row.get("idCardNumber"))
            if wid is None:
                raise InputError("idCardNumber: no registered worker has this number")
            if kind == "contracts":
                self.add_contract(dict(row, workerId=wid))
            else:
                self.exit(C.text(row.get("projectCode"), "projectCode", 64), wid,
                          row.get("date"))

    # ---------------------------------------------------------------- companies
    def add_company(self, d: dict) -> str:
        code = C.check_uscc(d.get("corpCode"))
        row = {"corpCode": code, "corpName": C.text(d.get("corpName"), "corpName"),
               "areaCode": C.area_code(d["areaCode"]) if d.get("areaCode") else None,
               "address": C.text(d.get("address"), "address", 300, False),
               "legalMan": C.text(d.get("legalMan"), "legalMan", 100, False),
               "createdAt": now_ms()}
        with self._begin() as conn:
            if _one(conn, companies, corpCode=code):
                conn.execute(companies.update().where(companies.c.corpCode == code).values(
                    {k: v for k, v in row.items() if k != "createdAt"}))
            else:
                conn.execute(companies.insert().values(row))
        return code

    # ---------------------------------------------------------------- projects
    def add_project(self, d: dict) -> str:
        code = C.text(d.get("projectCode"), "projectCode", 64)
        contractor = C.check_uscc(d.get("contractorCorpCode"), "contractorCorpCode")
        builder = (C.check_uscc(d["buildCorpCode"], "buildCorpCode")
                   if d.get("buildCorpCode") else None)
        start = C.check_date(d.get("startDate"), "startDate", False)
        complete = C.check_date(d.get("completeDate"), "completeDate", False)
        C.check_range(start, complete, "project startDate/completeDate")
        signed = C.check_date(d.get("contractSignDate"), "contractSignDate", False)
        row = {"projectCode": code, "name": C.text(d.get("name"), "name"),
               "category": C.code(C.PRJ_CATEGORY, d["category"], "category")
               if d.get("category") else None,
               "contractorCorpCode": contractor, "buildCorpCode": builder,
               "areaCode": C.area_code(d.get("areaCode")),
               "address": C.text(d.get("address"), "address", 300, False),
               "prjStatus": C.code(C.PRJ_STATUS, d.get("prjStatus", "003"), "prjStatus"),
               "invest": C.amount_fen(d["invest"], "invest") if d.get("invest") else None,
               "labourCostMonthly": C.amount_fen(d["labourCostMonthly"], "labourCostMonthly")
               if d.get("labourCostMonthly") else None,
               "contractSignDate": signed, "startDate": start, "completeDate": complete,
               "builderLicenseNum": C.text(d.get("builderLicenseNum"), "builderLicenseNum", 64,
                                           False),
               "noticeBoardDate": C.check_date(d.get("noticeBoardDate"), "noticeBoardDate",
                                               False),
               "depositExempt": bool(d.get("depositExempt", False)),
               "payDay": C.integer(d.get("payDay"), "payDay", 1, 28),
               "createdAt": now_ms()}
        if row["payDay"] is not None and not 1 <= row["payDay"] <= 28:
            raise InputError("payDay: must be 1..28")
        row.update(_rule_fields(d))
        managers = {role: d for role in MANAGER_ROLES
                    if any(d.get(f"{role}{k}") for k in ("Name", "IdCardNumber", "Phone"))}
        with self._begin() as conn:
            for field in ("contractorCorpCode", "buildCorpCode"):
                if row[field] and not _one(conn, companies, corpCode=row[field]):
                    raise InputError(f"{field}: unknown company (register it first)")
            if _one(conn, projects, projectCode=code):
                row.pop("createdAt")
                conn.execute(projects.update().where(projects.c.projectCode == code).values(row))
            else:
                conn.execute(projects.insert().values(row))
            for role, m in managers.items():
                self._set_manager(conn, code, role, m.get(f"{role}Name"),
                                  m.get(f"{role}IdCardNumber"), m.get(f"{role}Phone"),
                                  m.get(f"{role}IdCardType") or "01")
        return code

    def update_project(self, code: str, **fields) -> None:
        allowed = {"prjStatus", "noticeBoardDate", "completeDate", "builderLicenseNum",
                   "depositExempt"} | set(RULE_FIELDS)
        bad = set(fields) - allowed
        if bad:
            raise InputError(f"cannot update {sorted(bad)} here")
        if "prjStatus" in fields:
            C.code(C.PRJ_STATUS, fields["prjStatus"], "prjStatus")
        if "noticeBoardDate" in fields:
            fields["noticeBoardDate"] = C.check_date(fields["noticeBoardDate"], "noticeBoardDate")
        if "completeDate" in fields:
            fields["completeDate"] = C.check_date(fields["completeDate"], "completeDate", False)
        fields.update(_rule_fields({k: v for k, v in fields.items() if k in RULE_FIELDS},
                                   only_given=True))
        with self._begin() as conn:
            self._project(conn, code)
            conn.execute(projects.update().where(projects.c.projectCode == code).values(fields))

    def set_labour_manager(self, code: str, name: str, id_number: str, phone: str | None = None,
                           id_type: str = "01") -> None:
        self.set_manager(code, "laborManager", name, id_number, phone, id_type)

    def set_manager(self, code: str, role: str, name: str | None, id_number: str | None,
                    phone: str | None = None, id_type: str = "01") -> None:
        with self._begin() as conn:
            self._set_manager(conn, code, role, name, id_number, phone, id_type)

    def _set_manager(self, conn, code: str, role: str, name: str | None,
                     id_number: str | None, phone: str | None = None,
                     id_type: str = "01") -> None:
        """Project manager (项目经理), project lead (项目负责人) or labour manager (劳资专管员):
        name, ID number (SM4-sealed, kept as a keyed index and a masked form) and phone."""
        if role not in MANAGER_ROLES:
            raise InputError(f"manager role: one of {list(MANAGER_ROLES)}")
        idn = C.check_id_number(id_number, C.code(C.ID_CARD_TYPE, id_type, f"{role}IdCardType"),
                                f"{role}IdCardNumber")
        name = C.text(name, f"{role}Name", 50)
        phone = C.text(phone, f"{role}Phone", 20, False)
        if phone and not phone.replace("-", "").replace("+", "").isdigit():
            raise InputError(f"{role}Phone: digits only")
        values = {f"{role}NameEnc": self.cipher.seal(name, f"{role}Name"),
                  f"{role}IdEnc": self.cipher.seal(idn, f"{role}IdCardNumber"),
                  f"{role}IdIndex": self.cipher.index(idn, "id"),
                  f"{role}IdMasked": mask_id(idn),
                  f"{role}PhoneEnc": self.cipher.seal(phone, f"{role}Phone")}
        if role == "laborManager":
            values["laborManagerSetAt"] = now_ms()
        self._project(conn, code)
        conn.execute(projects.update().where(projects.c.projectCode == code).values(values))

    def project_view(self, code: str) -> dict:
        """A project as screens and the API show it: managers' names, ID numbers and phones
        masked; nothing sealed or indexed."""
        with self.store.engine.connect() as conn:
            p = self._project(conn, code)
            companies_ = [dict(r) for r in conn.execute(sa.select(
                project_companies.c.corpCode, project_companies.c.corpType,
                project_companies.c.entryTime, project_companies.c.exitTime,
                project_companies.c.pmNameEnc, project_companies.c.pmIdMasked).where(
                project_companies.c.projectCode == p["projectCode"]).order_by(
                project_companies.c.corpCode)).mappings()]
        out = {k: v for k, v in p.items() if not k.endswith(("Enc", "Index", "Masked", "SetAt"))}
        out["labourCostRatio"] = None if p["labourCostRatio"] is None else \
            f"{p['labourCostRatio'] / 100:.2f}"
        for role in MANAGER_ROLES:
            name = self.cipher.open(p[f"{role}NameEnc"], f"{role}Name")
            phone = self.cipher.open(p[f"{role}PhoneEnc"], f"{role}Phone")
            out[role] = None if name is None else {
                "name": mask_name(name), "idCardNumber": p[f"{role}IdMasked"],
                "phone": mask_card(phone) if phone else None}
        for c in companies_:
            name = self.cipher.open(c.pop("pmNameEnc"), "pmName")
            c["pmName"] = mask_name(name) if name else None
            c["pmIdCardNumber"] = c.pop("pmIdMasked")
        out["companies"] = companies_
        return out

    def _project(self, conn, code) -> dict:
        code = C.text(code, "projectCode", 64)
        p = _one(conn, projects, projectCode=code)
        if p is None:
            raise InputError(f"projectCode: unknown project {code!r}")
        return p

    def add_project_company(self, d: dict) -> None:
        corp = C.check_uscc(d.get("corpCode"))
        entry = C.check_date(d.get("entryTime"), "entryTime", False)
        exit_ = C.check_date(d.get("exitTime"), "exitTime", False)
        C.check_range(entry, exit_, "entryTime/exitTime")
        row = {"projectCode": d.get("projectCode"), "corpCode": corp,
               "corpType": C.code(C.CORP_TYPE, d.get("corpType"), "corpType"),
               "entryTime": entry, "exitTime": exit_,
               "pmNameEnc": self.cipher.seal(C.text(d.get("pmName"), "pmName", 50, False),
                                             "pmName")}
        if d.get("pmIdCardNumber"):
            idn = C.check_id_number(d["pmIdCardNumber"], "01", "pmIdCardNumber")
            row["pmIdCardNumberEnc"] = self.cipher.seal(idn, "pmIdCardNumber")
            row["pmIdMasked"] = mask_id(idn)
        phone = C.text(d.get("pmPhone"), "pmPhone", 20, False)
        row["pmPhoneEnc"] = self.cipher.seal(phone, "pmPhone")
        with self._begin() as conn:
            self._project(conn, row["projectCode"])
            if not _one(conn, companies, corpCode=corp):
                raise InputError("corpCode: unknown company (register it first)")
            conn.execute(project_companies.delete().where(
                project_companies.c.projectCode == row["projectCode"],
                project_companies.c.corpCode == corp))
            conn.execute(project_companies.insert().values(row))

    def add_team(self, d: dict) -> int:
        entry = C.check_date(d.get("entryTime"), "entryTime", False)
        exit_ = C.check_date(d.get("exitTime"), "exitTime", False)
        C.check_range(entry, exit_, "team entryTime/exitTime")
        corp = C.check_uscc(d.get("corpCode"))
        with self._begin() as conn:
            self._project(conn, d.get("projectCode"))
            if not _one(conn, companies, corpCode=corp):
                raise InputError("corpCode: unknown company (register it first)")
            return conn.execute(teams.insert().values(
                projectCode=d["projectCode"], corpCode=corp,
                teamName=C.text(d.get("teamName"), "teamName", 100),
                entryTime=entry, exitTime=exit_)).inserted_primary_key[0]

    # ---------------------------------------------------------------- workers
    def add_worker(self, d: dict) -> str:
        """Register a person once (by ID number); returns the registry worker id."""
        id_type = C.code(C.ID_CARD_TYPE, d.get("idCardType", "01"), "idCardType")
        idn = C.check_id_number(d.get("idCardNumber"), id_type)
        name = C.text(d.get("workerName"), "workerName", 50)
        birth = gender = None
        if id_type == "01":
            birth, gender = C.birth_and_gender(idn)
        index = self.cipher.index(idn, "id")
        extra = self._indicators(d)
        with self._begin() as conn:
            found = _one(conn, workers, idCardIndex=index)
            if found:
                fill = {k: v for k, v in extra.items() if v is not None and found[k] is None}
                if fill:                 # a later registration (e.g. from the card) adds them
                    conn.execute(workers.update().where(
                        workers.c.workerId == found["workerId"]).values(fill))
                return found["workerId"]
            wid = "W" + secrets.token_hex(6).upper()
            conn.execute(workers.insert().values(
                workerId=wid, idCardType=id_type, idCardIndex=index,
                idCardNumberEnc=self.cipher.seal(idn, "idCardNumber"), idCardMasked=mask_id(idn),
                workerNameEnc=self.cipher.seal(name, "workerName"), gender=gender,
                birthDate=birth, nation=C.text(d.get("nation"), "nation", 20, False),
                cultureLevelType=d.get("cultureLevelType"),
                cellPhoneEnc=self.cipher.seal(d.get("cellPhone"), "cellPhone"),
                createdAt=now_ms(), **extra))
            return wid

    def _indicators(self, d: dict) -> dict:
        """Hunan indicators (seed 001 annex 二(一)): address, native place, household region,
        sealed like every personal field."""
        region = d.get("householdRegionCode")
        if region:
            region = C.area_code(region, "householdRegionCode")
        return {"addressEnc": self.cipher.seal(C.text(d.get("address"), "address", 300, False),
                                               "address"),
                "nativePlaceEnc": self.cipher.seal(C.text(d.get("nativePlace"), "nativePlace",
                                                          100, False), "nativePlace"),
                "householdRegionEnc": self.cipher.seal(region, "householdRegionCode")}

    def find_worker(self, id_number: str) -> str | None:
        idn = C.check_id_number(id_number, "01")
        with self._begin() as conn:
            return conn.execute(sa.select(workers.c.workerId).where(
                workers.c.idCardIndex == self.cipher.index(idn, "id"))).scalar()

    def worker_view(self, wid: str, reveal: bool = False) -> dict | None:
        with self.store.engine.connect() as conn:
            w = _one(conn, workers, workerId=wid)
        if w is None:
            return None
        name = self.cipher.open(w["workerNameEnc"], "workerName")
        out = {"workerId": wid, "idCardType": w["idCardType"], "idCardNumber": w["idCardMasked"],
               "workerName": name if reveal else name[:1] + "*" * (len(name) - 1),
               "gender": w["gender"], "nation": w["nation"]}
        if reveal:
            out["idCardNumber"] = self.cipher.open(w["idCardNumberEnc"], "idCardNumber")
            out["birthDate"] = w["birthDate"]
        # Masked, no birth date: the ten hidden digits of a resident ID are two region digits
        # and the birth date, so a birth date (even a year or an age) beside the mask and the
        # check digit would leave a handful of candidates (9 for a full date).
        return out

    def enter(self, d: dict) -> str:
        """ProjectWorker.Add + WorkerEntryExit(type 1): the worker joins a project and team."""
        project = d.get("projectCode")
        wid = C.text(d.get("workerId"), "workerId", 32)
        entry = C.check_date(d.get("entryDate") or d.get("date"), "entryDate")
        row = {"projectCode": project, "workerId": wid,
               "teamSysNo": C.integer(d.get("teamSysNo"), "teamSysNo", 1, 2**31 - 1),
               "corpCode": C.check_uscc(d.get("corpCode")),
               "workType": C.code(C.WORK_TYPE, d.get("workType"), "workType"),
               "workRole": C.code(C.WORK_ROLE, d.get("workRole", "20"), "workRole"),
               "isTeamLeader": bool(C.integer(d.get("isTeamLeader"), "isTeamLeader", 0, 1, 0)),
               "cardNumber": C.text(d.get("cardNumber"), "cardNumber", 32, False),
               "payRollTopBankCode": d.get("payRollTopBankCode"),
               "isLaborManager": bool(d.get("isLaborManager", False)),
               "entryDate": entry, "exitDate": None,
               "faceTemplateEnc": d.get("faceTemplateEnc")}
        card = d.get("payRollBankCardNumber")
        if card:
            card = str(card).replace(" ", "")
            if not card.isdigit() or not 12 <= len(card) <= 19:
                raise InputError("payRollBankCardNumber: 12-19 digits")
            row["payRollBankCardNumberEnc"] = self.cipher.seal(card, "payRollBankCardNumber")
            row["payRollBankCardMasked"] = mask_card(card)
        with self._begin() as conn:
            self._project(conn, project)
            if not _one(conn, workers, workerId=wid):
                raise InputError(f"workerId: unknown worker {wid!r}")
            if row["teamSysNo"] is not None:
                t = _one(conn, teams, teamSysNo=row["teamSysNo"])
                if t is None or t["projectCode"] != project:
                    raise InputError("teamSysNo: no such team on this project")
            conn.execute(project_workers.delete().where(
                project_workers.c.projectCode == project, project_workers.c.workerId == wid))
            conn.execute(project_workers.insert().values(row))
            conn.execute(entry_exits.insert().values(projectCode=project, workerId=wid,
                                                     date=entry, type="1"))
            self._roster_touch(conn, project, wid)
        return wid

    def exit(self, project: str, wid: str, date) -> None:
        day = C.check_date(date, "date")
        with self._begin() as conn:
            pw = _one(conn, project_workers, projectCode=project, workerId=wid)
            if pw is None:
                raise InputError("workerId: not on this project")
            C.check_range(pw["entryDate"], day, "worker entryDate/exitDate")
            conn.execute(project_workers.update().where(
                project_workers.c.projectCode == project,
                project_workers.c.workerId == wid).values(exitDate=day))
            conn.execute(entry_exits.insert().values(projectCode=project, workerId=wid,
                                                     date=day, type="0"))
            self._roster_touch(conn, project, wid)

    def move_to_team(self, project: str, wid: str, team_sys_no: int | None) -> None:
        """The worker changes team on the project (``None``: no team)."""
        team = None if team_sys_no is None else C.integer(team_sys_no, "teamSysNo", 1, 2**31 - 1)
        with self._begin() as conn:
            if _one(conn, project_workers, projectCode=project, workerId=wid) is None:
                self._project(conn, project)
                raise InputError("workerId: not on this project")
            if team is not None:
                t = _one(conn, teams, teamSysNo=team)
                if t is None or t["projectCode"] != project:
                    raise InputError("teamSysNo: no such team on this project")
            conn.execute(project_workers.update().where(
                project_workers.c.projectCode == project,
                project_workers.c.workerId == wid).values(teamSysNo=team))
            self._roster_touch(conn, project, wid)

    def add_contract(self, d: dict) -> int:
        start = C.check_date(d.get("startDate"), "startDate")
        end = C.check_date(d.get("endDate"), "endDate", d.get("contractPeriodType", "0") == "0")
        C.check_range(start, end, "contract startDate/endDate")
        row = {"projectCode": C.text(d.get("projectCode"), "projectCode", 64),
               "workerId": C.text(d.get("workerId"), "workerId", 32),
               "corpCode": C.check_uscc(d.get("corpCode")),
               "contractPeriodType": C.code(C.CONTRACT_PERIOD_TYPE,
                                            d.get("contractPeriodType", "0"),
                                            "contractPeriodType"),
               "startDate": start, "endDate": end,
               "unitPrice": C.amount_fen(d["unitPrice"], "unitPrice") if d.get("unitPrice")
               else None,
               "signDate": C.check_date(d.get("signDate"), "signDate", False),
               "wageMethod": C.code(C.WAGE_METHOD, d["wageMethod"], "wageMethod")
               if d.get("wageMethod") else None,
               "payDay": C.integer(d.get("payDay"), "payDay", 1, 31)}
        with self._begin() as conn:
            if not _one(conn, project_workers, projectCode=row["projectCode"],
                        workerId=row["workerId"]):
                self._project(conn, row["projectCode"])
                raise InputError("workerId: not on this project")
            cid = conn.execute(contracts.insert().values(row)).inserted_primary_key[0]
            self._roster_touch(conn, row["projectCode"], row["workerId"])
            return cid

    def add_certificate(self, wid: str, cert_type: str, cert_no: str | None, valid_to) -> None:
        vt = C.check_date(valid_to, "validTo")
        with self._begin() as conn:
            if not _one(conn, workers, workerId=wid):
                raise InputError(f"workerId: unknown worker {wid!r}")
            conn.execute(certificates.insert().values(workerId=wid, certType=cert_type,
                                                      certNo=cert_no, validTo=vt))
            for p in self._projects_of(conn, wid):
                self._roster_touch(conn, p, wid)

    def blacklist_worker(self, wid: str, reason: str, from_date, to_date=None) -> None:
        f = C.check_date(from_date, "fromDate")
        t = C.check_date(to_date, "toDate", False)
        C.check_range(f, t, "blacklist fromDate/toDate")
        with self._begin() as conn:
            if not _one(conn, workers, workerId=wid):
                raise InputError(f"workerId: unknown worker {wid!r}")
            conn.execute(blacklist.insert().values(subjectType="worker", subjectId=wid,
                                                   reason=C.text(reason, "reason", 300),
                                                   fromDate=f, toDate=t))
            for p in self._projects_of(conn, wid):
                self._roster_touch(conn, p, wid)

    def _projects_of(self, conn, wid) -> list[str]:
        return list(conn.execute(sa.select(project_workers.c.projectCode).where(
            project_workers.c.workerId == wid)).scalars())

    # ---------------------------------------------------------------- intake from gateways
    def registrations(self, project: str | None = None) -> list[dict]:
        """Workers registered on site (gateway ``registration`` records) and what is still
        missing for each: see :func:`central.intake.pending`."""
        from .intake import pending
        with self.store.engine.connect() as conn:
            return pending(conn, project)

    # ---------------------------------------------------------------- roster
    def _roster_touch(self, conn, project: str, wid: str) -> None:
        conn.execute(roster_changes.insert().values(
            projectCode=project, workerId=wid, entry=json.dumps(
                roster_entry(conn, project, wid), sort_keys=True, separators=(",", ":"),
                ensure_ascii=False), at=now_ms()))


MANAGER_ROLES = ("laborManager", "projectManager", "projectLead")
RULE_FIELDS = ("sector", "pushSchedule", "permitDate", "contractStartDate", "labourCostRatio",
               "tripartiteAgreementRef")


def _rule_fields(d: dict, only_given: bool = False) -> dict:
    """The project fields the province rules read (rules.py), validated."""
    out = {}
    if not only_given or "sector" in d:
        out["sector"] = C.code(SECTORS, d["sector"], "sector") if d.get("sector") else None
    if not only_given or "pushSchedule" in d:
        out["pushSchedule"] = C.code(C.PUSH_SCHEDULE, d.get("pushSchedule") or "daily",
                                     "pushSchedule")
    for f in ("permitDate", "contractStartDate"):
        if not only_given or f in d:
            out[f] = C.check_date(d.get(f), f, False)
    if not only_given or "labourCostRatio" in d:
        ratio = d.get("labourCostRatio")
        if ratio in (None, ""):
            out["labourCostRatio"] = None
        else:                    # percent with up to 2 decimals -> 1/10000
            bp = C.amount_fen(str(ratio).rstrip("%"), "labourCostRatio")
            if bp > 10000:
                raise InputError("labourCostRatio: a percentage, 0-100")
            out["labourCostRatio"] = bp
    if not only_given or "tripartiteAgreementRef" in d:
        out["tripartiteAgreementRef"] = C.text(d.get("tripartiteAgreementRef"),
                                               "tripartiteAgreementRef", 100, False)
    return out


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def roster_entry(conn, project: str, wid: str) -> dict:
    """What a gateway needs to decide at the gate -- no ID number, no name in clear."""
    pw = _one(conn, project_workers, projectCode=project, workerId=wid)
    w = _one(conn, workers, workerId=wid)
    contract_end = conn.execute(sa.select(sa.func.max(contracts.c.endDate)).where(
        contracts.c.projectCode == project, contracts.c.workerId == wid)).scalar()
    cert_to = conn.execute(sa.select(sa.func.min(certificates.c.validTo)).where(
        certificates.c.workerId == wid)).scalar()
    black = conn.execute(sa.select(sa.func.count()).select_from(blacklist).where(
        blacklist.c.subjectType == "worker", blacklist.c.subjectId == wid)).scalar() > 0
    status = "blacklisted" if black else ("exited" if pw["exitDate"] else "active")
    team_name = None if pw["teamSysNo"] is None else conn.execute(
        sa.select(teams.c.teamName).where(teams.c.teamSysNo == pw["teamSysNo"])).scalar()
    return {"worker": wid, "status": status, "team": pw["teamSysNo"], "teamName": team_name,
            "workType": pw["workType"], "card": pw["cardNumber"],
            "entry": _iso(pw["entryDate"]), "exit": _iso(pw["exitDate"]),
            "contractEnd": _iso(contract_end), "certValidTo": _iso(cert_to),
            "idMasked": w["idCardMasked"], "face": pw["faceTemplateEnc"]}
