"""Exports in the national interface's shapes and field names (standards.md §1.3).

ID and bank-card numbers are masked by default.  With a platform ``appsecret`` they are
encrypted the way the national OpenAPI expects (AES/CBC/PKCS7, key = the secret's bytes,
IV = its first 16 characters, Base64), so the payload can be posted as is.
"""
from __future__ import annotations

import base64
import datetime as dt

import sqlalchemy as sa
from Cryptodome.Cipher import AES
from Cryptodome.Util.Padding import pad

from uplink.wire import parse_canonical

from .attendance import CN, month_bounds
from .codes import ATTEND_TYPE, DIRECTION, yuan
from .crypto import FieldCipher, mask_card
from .store import Store
from .tables import gateways, records
from .tables import payroll_lines, project_workers, workers


class PlatformCipher:
    def __init__(self, appsecret: str) -> None:
        if len(appsecret) not in (16, 24, 32):
            raise ValueError("appsecret must be 16, 24 or 32 characters (AES key)")
        self.key, self.iv = appsecret.encode(), appsecret[:16].encode()

    def __call__(self, value: str) -> str:
        c = AES.new(self.key, AES.MODE_CBC, self.iv)
        return base64.b64encode(c.encrypt(pad(value.encode(), 16))).decode()


class Exporter:
    def __init__(self, store: Store, cipher: FieldCipher, appsecret: str | None = None) -> None:
        self.store, self.cipher = store, cipher
        self.platform = PlatformCipher(appsecret) if appsecret else None

    def _id(self, w: dict) -> str:
        if self.platform:
            return self.platform(self.cipher.open(w["idCardNumberEnc"], "idCardNumber"))
        return w["idCardMasked"]

    def _workers(self, conn, ids) -> dict:
        return {w["workerId"]: dict(w) for w in conn.execute(
            sa.select(workers).where(workers.c.workerId.in_(list(ids)))).mappings()}

    def attendance(self, project: str, day: dt.date) -> dict:
        """WorkerAttendance.Add for one project and day (the platform's query unit)."""
        start = int(dt.datetime.combine(day, dt.time(), tzinfo=CN).timestamp() * 1000)
        q = sa.select(records.c.ts, records.c.data).join(
            gateways, gateways.c.gw_id == records.c.gw_id).where(
            gateways.c.project == project, records.c.type == "attendance",
            records.c.ts >= start, records.c.ts < start + 86_400_000).order_by(records.c.ts)
        with self.store.engine.connect() as conn:
            rows = [(ts, parse_canonical(d.encode(), "record")["body"])
                    for ts, d in conn.execute(q)]
            ws = self._workers(conn, {b["worker"] for _, b in rows if b.get("worker")})
        data = []
        for ts, b in rows:
            w = ws.get(b.get("worker"))
            if w is None or b.get("decision") != "allow":
                continue
            data.append({"idCardType": w["idCardType"], "idCardNumber": self._id(w),
                         "date": dt.datetime.fromtimestamp(ts / 1000, CN).strftime(
                             "%Y-%m-%d %H:%M:%S"),
                         "direction": DIRECTION.get(b.get("dir"), "01"),
                         "attendType": ATTEND_TYPE.get(b.get("method"), "011"),
                         "channel": b.get("device")})
        return {"projectCode": project, "dataList": data}

    def project_workers(self, project: str) -> dict:
        with self.store.engine.connect() as conn:
            pws = [dict(r) for r in conn.execute(sa.select(project_workers).where(
                project_workers.c.projectCode == project)).mappings()]
            ws = self._workers(conn, {p["workerId"] for p in pws})
        out = []
        for p in pws:
            w = ws[p["workerId"]]
            card = None
            if p["payRollBankCardNumberEnc"]:
                plain = self.cipher.open(p["payRollBankCardNumberEnc"], "payRollBankCardNumber")
                card = self.platform(plain) if self.platform else mask_card(plain)
            out.append({"workerId": p["workerId"], "idCardType": w["idCardType"],
                        "idCardNumber": self._id(w), "teamSysNo": p["teamSysNo"],
                        "corpCode": p["corpCode"], "workType": p["workType"],
                        "workRole": p["workRole"], "isTeamLeader": int(p["isTeamLeader"]),
                        "cardNumber": p["cardNumber"], "payRollBankCardNumber": card,
                        "payRollTopBankCode": p["payRollTopBankCode"],
                        "joinedTime": p["entryDate"].isoformat(),
                        "exitTime": p["exitDate"].isoformat() if p["exitDate"] else None})
        return {"projectCode": project, "workerList": out}

    def payroll(self, project: str, month: str) -> dict:
        first, last = month_bounds(month)
        with self.store.engine.connect() as conn:
            lines = [dict(r) for r in conn.execute(sa.select(payroll_lines).where(
                payroll_lines.c.projectCode == project, payroll_lines.c.payMonth == month)
                .order_by(payroll_lines.c.thirdPayRollCode)).mappings()]
            ws = self._workers(conn, {x["workerId"] for x in lines})
        detail = [{"idCardType": ws[x["workerId"]]["idCardType"],
                   "idCardNumber": self._id(ws[x["workerId"]]), "days": x["days"],
                   "workHours": x["workHours"], "totalPayAmount": yuan(x["totalPayAmount"]),
                   "actualAmount": yuan(x["actualAmount"]), "isBackPay": int(x["isBackPay"]),
                   "balanceDate": x["balanceDate"].isoformat(),
                   "thirdPayRollCode": x["thirdPayRollCode"], "bankSerial": x["bankSerial"]}
                  for x in lines]
        return {"projectCode": project, "payMonth": month, "detailList": detail}
