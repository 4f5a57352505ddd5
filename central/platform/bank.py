"""Banks push special-account data to central: account events (open, change, close) and flows.

Each bank has its own credential: its bank code and a secret central made for it (stored
SM4-sealed; shown once).  A push is ``POST`` with a JSON body and the headers

* ``X-Bank-Code``: the bank's code (e.g. ``105``),
* ``X-Timestamp``: Unix seconds, within ``TOLERANCE_S`` (± 6 min, the clock tolerance of the
  Guangdong standard, standards.md §1.4) of central's clock,
* ``X-Signature``: hex HMAC-SHA256 under the secret of
  ``timestamp + "\\n" + METHOD + "\\n" + path + "\\n" + body``.

Every push is idempotent on ``(bank, serial)``: the same body again answers ``duplicate``
with the original receipt time and stores nothing; another body under a used serial is refused.
The receipt time is stored with each event (Hunan's lateness rules depend on it: seed 001
II(5) account events within 3 working days, II(6) flows the same day).  Account and
counterparty numbers are sealed like every personal field; the bank may touch only accounts
it holds.  A refused push stores nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import sqlalchemy as sa

from .. import codes as C
from ..codes import InputError
from ..crypto import FieldCipher
from ..escrow import Escrow
from ..store import Store, now_ms
from ..tables import account_flows, bank_credentials, bank_events, special_accounts

MAX_BODY = 64 * 1024
TOLERANCE_S = 360
EVENT_TYPES = ("open", "change", "close")


class BankRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def signing_bytes(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    return f"{timestamp}\n{method.upper()}\n{path}\n".encode() + body


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    return hmac.new(secret.encode(), signing_bytes(timestamp, method, path, body),
                    hashlib.sha256).hexdigest()


class BankIntake:
    def __init__(self, store: Store, cipher: FieldCipher, clock=now_ms) -> None:
        self.store, self.cipher, self.clock = store, cipher, clock

    # ------------------------------------------------------------------ credentials
    def add_bank(self, code: str, name: str, rotate: bool = False) -> str:
        code = str(code).strip()
        if not code.isdigit() or not 3 <= len(code) <= 8:
            raise InputError("bankCode: 3-8 digits (e.g. 105)")
        name = C.text(name, "name", 100)
        secret = secrets.token_urlsafe(32)
        with self.store.engine.begin() as conn:
            old = conn.execute(sa.select(bank_credentials.c.bankCode).where(
                bank_credentials.c.bankCode == code)).first()
            if old and not rotate:
                raise InputError(f"bank {code} already has a credential (rotate it to replace)")
            values = dict(name=name, secretEnc=self.cipher.seal(secret, "bank_credentials.secret"),
                          enabled=True, createdAt=self.clock())
            if old:
                conn.execute(bank_credentials.update().where(
                    bank_credentials.c.bankCode == code).values(values))
            else:
                conn.execute(bank_credentials.insert().values(bankCode=code, **values))
        return secret

    def banks(self) -> list[dict]:
        with self.store.engine.connect() as conn:
            return [{k: v for k, v in dict(r).items() if k != "secretEnc"}
                    for r in conn.execute(sa.select(bank_credentials)).mappings()]

    def authenticate(self, headers: dict, method: str, path: str, body: bytes) -> str:
        h = {k.lower(): v for k, v in headers.items()}
        code, ts, sig = h.get("x-bank-code"), h.get("x-timestamp"), h.get("x-signature")
        if not code or not ts or not sig:
            raise BankRefused(401, "missing X-Bank-Code, X-Timestamp or X-Signature")
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(bank_credentials).where(
                bank_credentials.c.bankCode == code[:8])).mappings().first()
        if row is None:
            raise BankRefused(401, "unknown bank")
        if not row["enabled"]:
            raise BankRefused(403, "this bank's credential is disabled")
        secret = self.cipher.open(row["secretEnc"], "bank_credentials.secret")
        want = sign(secret, ts, method, path, body)
        if not hmac.compare_digest(want, sig.strip().lower()):
            raise BankRefused(401, "bad signature")
        try:
            skew = abs(int(ts) - self.clock() / 1000)
        except ValueError:
            raise BankRefused(401, "X-Timestamp: Unix seconds") from None
        if skew > TOLERANCE_S:
            raise BankRefused(401, f"X-Timestamp more than {TOLERANCE_S} s from central's "
                                   "clock")
        return row["bankCode"]

    # ------------------------------------------------------------------ events
    def account_event(self, bank: str, d: dict) -> dict:
        kind = d.get("type")
        if kind not in EVENT_TYPES:
            raise InputError("type: open, change or close")
        field = {"open": "openedDate", "change": "changedDate", "close": "closedDate"}[kind]
        return self._apply(bank, kind, d, field)

    def flow(self, bank: str, d: dict) -> dict:
        return self._apply(bank, "flow", d, "valueDate")

    def _apply(self, bank: str, kind: str, d: dict, date_field: str) -> dict:
        serial = C.text(d.get("serial"), "serial", 64)
        if d.get("bankCode") not in (None, bank):
            raise BankRefused(403, "bankCode: not the bank of this credential")
        event_date = C.check_date(d.get(date_field), date_field)
        digest = self.cipher.index(json.dumps(d, sort_keys=True, ensure_ascii=False),
                                   "bank-event")
        received = self.clock()
        esc = Escrow(self.store, self.cipher, clock=lambda: received)
        try:
            with self.store.engine.begin() as conn:
                old = conn.execute(sa.select(bank_events).where(
                    bank_events.c.bankCode == bank,
                    bank_events.c.serial == serial)).mappings().first()
                if old is not None:
                    if old["digest"] == digest:
                        return {"status": "duplicate", "serial": serial,
                                "receivedAt": old["receivedAt"]}
                    raise BankRefused(409, f"serial {serial!r} was already used for other "
                                           "content; nothing stored")
                project = C.text(d.get("projectCode"), "projectCode", 64)
                if kind == "open":
                    esc._open_account(conn, dict(d, bankCode=bank))
                else:
                    acc = self._account(conn, bank, project, d.get("accountNo"))
                    if kind == "close":
                        esc._close_account(conn, dict(d, closedBy=d.get("closedBy")
                                                      or f"bank {bank}"))
                    elif kind == "change":
                        self._change(conn, acc, d)
                    else:
                        self._flow(conn, esc, acc, d, serial)
                conn.execute(bank_events.insert().values(
                    bankCode=bank, serial=serial, kind=kind, projectCode=project,
                    eventDate=event_date, digest=digest, receivedAt=received))
        except sa.exc.IntegrityError:
            raise BankRefused(409, "conflicts with stored data (a number already used); "
                                   "nothing stored") from None
        return {"status": "stored", "serial": serial, "receivedAt": received}

    def _account(self, conn, bank: str, project: str, number) -> dict:
        no = str(number or "").replace(" ", "")
        if not no.isdigit():
            raise InputError("accountNo: digits")
        acc = conn.execute(sa.select(special_accounts).where(
            special_accounts.c.accountNoIndex == self.cipher.index(no, "account"),
            special_accounts.c.projectCode == project)).mappings().first()
        if acc is None:
            raise InputError("accountNo: no such special account on this project")
        if acc["bankCode"] != bank:
            raise BankRefused(403, "accountNo: the account is held by another bank")
        return dict(acc)

    def _change(self, conn, acc: dict, d: dict) -> None:
        values = {}
        if d.get("accountName"):
            values["accountName"] = C.text(d["accountName"], "accountName", 300)
        if d.get("agreementRef"):
            values["agreementRef"] = C.text(d["agreementRef"], "agreementRef", 100)
        if not values:
            raise InputError("a change names accountName and/or agreementRef")
        if acc["closedDate"] is not None:
            raise InputError("accountNo: the account is closed")
        conn.execute(special_accounts.update().where(
            special_accounts.c.accountId == acc["accountId"]).values(values))

    def _flow(self, conn, esc: Escrow, acc: dict, d: dict, serial: str) -> None:
        fields = ("projectCode", "valueDate", "direction", "kind", "amount", "forMonth",
                  "balanceAfter", "counterpartyName", "counterpartyAccount")
        esc._add_flow(conn, dict({k: d[k] for k in fields if k in d}, bankSerial=serial))
        # escrow files a flow under the project's first account; this one names its account
        conn.execute(account_flows.update().where(account_flows.c.bankSerial == serial).values(
            accountId=acc["accountId"]))
