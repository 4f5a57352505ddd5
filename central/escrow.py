"""Escrow: special wage accounts, account flows, per-worker wage payments, wage deposits
(cash, bank guarantee, guarantee insurance) with deposit/use/top-up/return, payment guarantees,
complaints -- and CSV/XLSX import of the sheets banks and contractors deliver.

Every write validates first and runs in one transaction; an import is one transaction for the
whole file, so a bad row stores nothing and the error names the row.
Matching rule: each payroll line names the bank serial (``bankSerial``) of the payout that paid
it; that serial must be an outgoing flow of the project's special account with the same amount.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from . import codes as C
from .codes import InputError
from .crypto import FieldCipher, mask_card
from .sheets import read_sheet
from .store import Store, now_ms
from .tables import (account_flows, complaints, deposit_events, deposits, payment_guarantees,
                     payroll_lines, progress_payments, project_workers, projects,
                     special_accounts)


def _project(conn, code) -> dict:
    code = C.text(code, "projectCode", 64)
    row = conn.execute(sa.select(projects).where(projects.c.projectCode == code)).mappings().first()
    if row is None:
        raise InputError(f"projectCode: unknown project {code!r}")
    return dict(row)


class Escrow:
    """``clock`` gives the time central *receives* a bank or guarantee record (ms); it is
    stored with the record so lateness against the province's deadline is measurable."""

    def __init__(self, store: Store, cipher: FieldCipher, clock=now_ms) -> None:
        self.store, self.cipher, self.clock = store, cipher, clock

    def _tx(self, fn, d):
        try:
            with self.store.engine.begin() as conn:
                return fn(conn, d)
        except sa.exc.IntegrityError:
            raise InputError("conflicts with stored data (duplicate number or missing "
                             "reference)") from None

    # ---------------------------------------------------------------- accounts and flows
    def open_account(self, d: dict) -> int:
        return self._tx(self._open_account, d)

    def _open_account(self, conn, d: dict) -> int:
        p = _project(conn, d.get("projectCode"))
        no = str(d.get("accountNo") or "").replace(" ", "")
        if not no.isdigit() or not 8 <= len(no) <= 32:
            raise InputError("accountNo: 8-32 digits")
        index = self.cipher.index(no, "account")
        if conn.execute(sa.select(special_accounts.c.accountId).where(
                special_accounts.c.accountNoIndex == index)).first():
            raise InputError("accountNo: this account is already registered")
        return conn.execute(special_accounts.insert().values(
            projectCode=p["projectCode"],
            accountName=C.text(d.get("accountName") or f"{p['name']}农民工工资专用账户",
                               "accountName", 300),
            bankCode=C.text(d.get("bankCode"), "bankCode", 8),
            accountNoEnc=self.cipher.seal(no, "accountNo"), accountNoIndex=index,
            accountMasked=mask_card(no),
            openedDate=C.check_date(d.get("openedDate"), "openedDate"),
            agreementRef=C.text(d.get("agreementRef"), "agreementRef", 100, False),
            receivedAt=self.clock(),
        )).inserted_primary_key[0]

    def close_account(self, d: dict) -> None:
        return self._tx(self._close_account, d)

    def _close_account(self, conn, d: dict) -> None:
        """The bank reports the account closed (注销): when, by whom; central notes when it
        learnt of it (seed 001 II(5): within 3 working days)."""
        p = _project(conn, d.get("projectCode"))
        no = str(d.get("accountNo") or "").replace(" ", "")
        acc = conn.execute(sa.select(special_accounts).where(
            special_accounts.c.accountNoIndex == self.cipher.index(no, "account"),
            special_accounts.c.projectCode == p["projectCode"])).mappings().first() \
            if no else None
        if acc is None:
            raise InputError("accountNo: no such special account on this project")
        if acc["closedDate"] is not None:
            raise InputError(f"accountNo: already closed on {acc['closedDate']}")
        closed = C.check_date(d.get("closedDate"), "closedDate")
        C.check_range(acc["openedDate"], closed, "account openedDate/closedDate")
        conn.execute(special_accounts.update().where(
            special_accounts.c.accountId == acc["accountId"]).values(
            closedDate=closed, closedBy=C.text(d.get("closedBy"), "closedBy", 100),
            closedReceivedAt=self.clock()))

    def _account_of(self, conn, project: str) -> int:
        acc = conn.execute(sa.select(special_accounts.c.accountId).where(
            special_accounts.c.projectCode == project).order_by(
            special_accounts.c.accountId)).scalar()
        if acc is None:
            raise InputError(f"projectCode: project {project!r} has no special account")
        return acc

    def add_flow(self, d: dict) -> str:
        return self._tx(self._add_flow, d)

    def _add_flow(self, conn, d: dict) -> str:
        p = _project(conn, d.get("projectCode"))
        acc = self._account_of(conn, p["projectCode"])
        serial = C.text(d.get("bankSerial"), "bankSerial", 64)
        direction = str(d.get("direction", "")).strip()
        if direction not in ("in", "out"):
            raise InputError("direction: 'in' or 'out'")
        kind = C.code(C.FLOW_KIND, d.get("kind") or ("labour_cost" if direction == "in"
                                                    else "payout"), "kind")
        amount = C.amount_fen(d.get("amount"), "amount")
        value_date = C.check_date(d.get("valueDate"), "valueDate")
        for_month = C.check_month(d["forMonth"], "forMonth") if d.get("forMonth") else \
            f"{value_date.year:04d}-{value_date.month:02d}"
        balance = C.amount_fen(d["balanceAfter"], "balanceAfter", allow_zero=True) \
            if d.get("balanceAfter") not in (None, "") else None
        cp_name = C.text(d.get("counterpartyName"), "counterpartyName", 200, False)
        cp_acc = str(d.get("counterpartyAccount") or "").replace(" ", "") or None
        if cp_acc and (not cp_acc.isdigit() or not 6 <= len(cp_acc) <= 32):
            raise InputError("counterpartyAccount: 6-32 digits")
        old = conn.execute(sa.select(account_flows).where(
            account_flows.c.bankSerial == serial)).mappings().first()
        if old is not None:
            if (old["amount"], old["direction"], old["projectCode"]) == \
                    (amount, direction, p["projectCode"]):
                return serial                      # the bank re-sent the same flow
            raise InputError(f"bankSerial: {serial!r} already stored with other content")
        conn.execute(account_flows.insert().values(
            bankSerial=serial, accountId=acc, projectCode=p["projectCode"], valueDate=value_date,
            direction=direction, kind=kind, amount=amount, forMonth=for_month,
            balanceAfter=balance, counterpartyName=cp_name,
            counterpartyAccountEnc=self.cipher.seal(cp_acc, "counterpartyAccount"),
            counterpartyAccountMasked=mask_card(cp_acc) if cp_acc else None,
            receivedAt=self.clock()))
        return serial

    # ---------------------------------------------------------------- payroll
    def add_payroll_line(self, d: dict) -> str:
        return self._tx(self._add_payroll_line, d)

    def _add_payroll_line(self, conn, d: dict) -> str:
        p = _project(conn, d.get("projectCode"))
        serial = C.text(d.get("thirdPayRollCode"), "thirdPayRollCode", 64)
        wid = C.text(d.get("workerId"), "workerId", 32)
        if not conn.execute(sa.select(project_workers.c.workerId).where(
                project_workers.c.projectCode == p["projectCode"],
                project_workers.c.workerId == wid)).first():
            raise InputError(f"workerId: {wid!r} is not on project {p['projectCode']!r}")
        total = C.amount_fen(d.get("totalPayAmount"), "totalPayAmount")
        actual = C.amount_fen(d.get("actualAmount"), "actualAmount")
        if actual > total:
            raise InputError("actualAmount: larger than totalPayAmount")
        days = C.integer(d.get("days"), "days", 0, 31, 0)
        bank_serial = C.text(d.get("bankSerial"), "bankSerial", 64)
        flow = conn.execute(sa.select(account_flows).where(
            account_flows.c.bankSerial == bank_serial)).mappings().first()
        if flow is None or flow["direction"] != "out" or \
                flow["projectCode"] != p["projectCode"]:
            raise InputError(f"bankSerial: payroll serial {serial!r} has no matching bank "
                             f"payout {bank_serial!r} from this project's special account")
        if flow["amount"] != actual:
            raise InputError(f"bankSerial: bank payout {bank_serial!r} is {C.yuan(flow['amount'])}"
                             f" but payroll line {serial!r} pays {C.yuan(actual)}")
        used = conn.execute(sa.select(payroll_lines.c.thirdPayRollCode).where(
            payroll_lines.c.bankSerial == bank_serial)).scalar()
        if used is not None and used != serial:
            raise InputError(f"bankSerial: {bank_serial!r} already pays payroll line {used!r}")
        row = {"thirdPayRollCode": serial, "projectCode": p["projectCode"],
               "corpCode": C.check_uscc(d.get("corpCode")),
               "teamSysNo": C.integer(d.get("teamSysNo"), "teamSysNo", 1, 2**31 - 1),
               "workerId": wid, "payMonth": C.check_month(d.get("payMonth")), "days": days,
               "workHours": C.integer(d.get("workHours"), "workHours", 0, 744),
               "totalPayAmount": total, "actualAmount": actual,
               "isBackPay": str(d.get("isBackPay", "0")) in ("1", "True", "true"),
               "isFinal": str(d.get("isFinal", "0")) in ("1", "True", "true"),
               "balanceDate": C.check_date(d.get("balanceDate"), "balanceDate"),
               "bankSerial": bank_serial,
               "paymentMethod": C.code(C.PAYMENT_METHOD, d.get("paymentMethod") or "bank_card",
                                       "paymentMethod")}
        same = conn.execute(sa.select(payroll_lines).where(
            payroll_lines.c.thirdPayRollCode == serial)).mappings().first()
        if same is not None and (same["bankSerial"], same["actualAmount"], same["workerId"]) != \
                (bank_serial, actual, wid):
            raise InputError(f"thirdPayRollCode: {serial!r} already stored with other content")
        if used is None:
            conn.execute(payroll_lines.insert().values(row))
        return serial

    # ---------------------------------------------------------------- deposits
    def add_deposit(self, d: dict) -> int:
        return self._tx(self._add_deposit, d)

    def _add_deposit(self, conn, d: dict) -> int:
        p = _project(conn, d.get("projectCode"))
        form = C.code(C.DEPOSIT_FORM, d.get("form"), "form")
        vf = C.check_date(d.get("validFrom") or d.get("date"), "validFrom")
        vt = C.check_date(d.get("validTo"), "validTo", form != "cash")
        C.check_range(vf, vt, "deposit validFrom/validTo")
        amount = C.amount_fen(d.get("amount"), "amount")
        payer_code = C.check_uscc(d["payerCorpCode"], "payerCorpCode") \
            if d.get("payerCorpCode") else None
        due = C.amount_fen(d["amountDue"], "amountDue", allow_zero=True) \
            if d.get("amountDue") not in (None, "") else None
        reduction = C.amount_fen(d["reductionAmount"], "reductionAmount", allow_zero=True) \
            if d.get("reductionAmount") not in (None, "") else None
        if due is not None and reduction is not None and reduction > due:
            raise InputError("reductionAmount: larger than amountDue")
        did = conn.execute(deposits.insert().values(
            projectCode=p["projectCode"], form=form, issuer=C.text(d.get("issuer"), "issuer"),
            guaranteeNo=C.text(d.get("guaranteeNo"), "guaranteeNo", 64), validFrom=vf,
            validTo=vt, payerName=C.text(d.get("payerName"), "payerName", 200, False),
            payerCorpCode=payer_code, amountDue=due,
            reductionAmount=reduction)).inserted_primary_key[0]
        conn.execute(deposit_events.insert().values(depositId=did, date=vf, type="deposit",
                                                    amount=amount, ref=d.get("ref")))
        return did

    def deposit_event(self, d: dict) -> None:
        self._tx(self._deposit_event, d)

    def _deposit_event(self, conn, d: dict) -> None:
        no = C.text(d.get("guaranteeNo"), "guaranteeNo", 64)
        dep = conn.execute(sa.select(deposits).where(deposits.c.guaranteeNo == no)).mappings().first()
        if dep is None:
            raise InputError(f"guaranteeNo: unknown deposit {no!r}")
        kind = str(d.get("type", "")).strip()
        if kind not in C.DEPOSIT_EVENT[1:]:
            raise InputError("type: use, top_up or return")
        amount = C.amount_fen(d.get("amount"), "amount")
        date = C.check_date(d.get("date"), "date")
        if date < dep["validFrom"]:
            raise InputError("date: before the deposit was made")
        bal = self._deposit_balance(conn, dep["depositId"])
        if kind in ("use", "return") and amount > bal:
            raise InputError(f"amount: {kind} of {C.yuan(amount)} exceeds the balance "
                             f"{C.yuan(bal)}")
        conn.execute(deposit_events.insert().values(depositId=dep["depositId"], date=date,
                                                    type=kind, amount=amount, ref=d.get("ref")))

    def _deposit_balance(self, conn, did: int) -> int:
        bal = 0
        for kind, amount in conn.execute(sa.select(deposit_events.c.type, deposit_events.c.amount)
                                         .where(deposit_events.c.depositId == did)):
            bal += amount if kind in ("deposit", "top_up") else -amount
        return bal

    def add_guarantee(self, d: dict) -> str:
        return self._tx(self._add_guarantee, d)

    def _add_guarantee(self, conn, d: dict) -> str:
        p = _project(conn, d.get("projectCode"))
        vf = C.check_date(d.get("validFrom"), "validFrom")
        vt = C.check_date(d.get("validTo"), "validTo")
        C.check_range(vf, vt, "guarantee validFrom/validTo")
        no = C.text(d.get("guaranteeNo"), "guaranteeNo", 64)
        received = C.check_date(d.get("receivedDate"), "receivedDate", False)
        conn.execute(payment_guarantees.insert().values(
            guaranteeNo=no, projectCode=p["projectCode"], issuer=C.text(d.get("issuer"), "issuer"),
            amount=C.amount_fen(d.get("amount"), "amount"), validFrom=vf, validTo=vt,
            issuerCorpCode=C.check_uscc(d["issuerCorpCode"], "issuerCorpCode")
            if d.get("issuerCorpCode") else None,
            receivedDate=received, receivedAt=self.clock()))
        return no

    def add_progress_payment(self, d: dict) -> str:
        return self._tx(self._add_progress_payment, d)

    def _add_progress_payment(self, conn, d: dict) -> str:
        """A progress payment (工程款) from the client; with the contract's labour-cost ratio it
        sets the labour cost due into the special account that month (seed 002 art. 15)."""
        p = _project(conn, d.get("projectCode"))
        ref = C.text(d.get("ref"), "ref", 64)
        paid = C.check_date(d.get("paidDate"), "paidDate")
        month = C.check_month(d["forMonth"], "forMonth") if d.get("forMonth") else \
            f"{paid.year:04d}-{paid.month:02d}"
        amount = C.amount_fen(d.get("amount"), "amount")
        old = conn.execute(sa.select(progress_payments).where(
            progress_payments.c.ref == ref)).mappings().first()
        if old is not None:
            if (old["amount"], old["projectCode"]) == (amount, p["projectCode"]):
                return ref
            raise InputError(f"ref: {ref!r} already stored with other content")
        conn.execute(progress_payments.insert().values(
            ref=ref, projectCode=p["projectCode"], paidDate=paid, forMonth=month, amount=amount))
        return ref

    def add_complaint(self, d: dict) -> int:
        return self._tx(self._add_complaint, d)

    def _add_complaint(self, conn, d: dict) -> int:
        p = _project(conn, d.get("projectCode"))
        sev = str(d.get("severity") or "yellow")
        if sev not in ("yellow", "orange", "red"):
            raise InputError("severity: yellow, orange or red")
        opened = C.check_date(d.get("openedDate"), "openedDate")
        closed = C.check_date(d.get("closedDate"), "closedDate", False)
        C.check_range(opened, closed, "complaint openedDate/closedDate")
        return conn.execute(complaints.insert().values(
            projectCode=p["projectCode"], openedDate=opened, severity=sev,
            closedDate=closed)).inserted_primary_key[0]

    # ---------------------------------------------------------------- import
    KINDS = {"accounts": "_open_account", "flows": "_add_flow", "payroll": "_add_payroll_line",
             "deposits": "_add_deposit", "deposit-events": "_deposit_event",
             "guarantees": "_add_guarantee", "complaints": "_add_complaint",
             "account-closures": "_close_account", "progress-payments": "_add_progress_payment"}

    def import_rows(self, kind: str, rows: list[dict], progress=None) -> int:
        """All rows or none: one transaction; the error names the (1-based, header = row 1) row.
        ``progress(done, total)`` is told after each row."""
        if kind not in self.KINDS:
            raise InputError(f"unknown import kind {kind!r}; one of {sorted(self.KINDS)}")
        fn = getattr(self, self.KINDS[kind])
        try:
            with self.store.engine.begin() as conn:
                for i, row in enumerate(rows, start=2):
                    if not isinstance(row, dict):
                        raise InputError(f"row {i}: not a record")
                    try:
                        fn(conn, row)
                    except InputError as exc:
                        raise InputError(f"row {i}: {exc}") from None
                    except sa.exc.IntegrityError:
                        raise InputError(f"row {i}: conflicts with stored data (duplicate "
                                         "number or missing reference)") from None
                    if progress is not None:
                        progress(i - 1, len(rows))
        except sa.exc.IntegrityError as exc:
            raise InputError("conflicts with stored data") from exc
        return len(rows)

    def import_file(self, kind: str, path: Path) -> int:
        return self.import_rows(kind, read_sheet(path))
