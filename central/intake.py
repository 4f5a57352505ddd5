"""Registry intake from gateways: ``registration`` records (a worker registered on site from
the unknown-card queue, docs/wire.md §3) become registry workers pending completion.

Derived in the same transaction that stores the block (a sibling of
:func:`central.attendance.derive`), so a record stored exactly once is taken in exactly once.
The person (ID number, name, birth, gender, nation, card type) arrives SM2-encrypted to
central's intake key (``$SITEGATE_HOME/central/intake.key``; the gateway has only the public
half); here it is decrypted, checked, and stored the way every personal field is stored
(:class:`central.crypto.FieldCipher`: SM4-GCM, keyed SM3 index) -- the clear values never
touch the database.

What becomes of a registration:

* resident ID card (证件类型 01): the person is found by ID-number index or added to
  ``workers``; the registration names that ``workerId`` and stays *pending* until the
  project has taken the worker on (ProjectWorker: employer ``corpCode``, work type) and holds
  a labour contract for them;
* other cards (residence permits, foreign permanent-resident cards): the national 证件类型
  table (standards.md §1.5) has no code for them, so the sealed person is kept on the
  registration and ``idCardType`` is missing as well;
* anything that cannot be read (wrong key, tampered, not bound to its record, bad fields) is
  stored as *invalid* with the reason -- never an exception: the block is stored and acked
  either way, and nothing is lost (the record itself is kept in ``records``).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import time
from pathlib import Path

import sqlalchemy as sa

from uplink.sm2 import SM2Error, generate_private_key, public_key_of, sm3
from uplink.sm2_cipher import decrypt

from . import codes as C
from .codes import InputError
from .crypto import FieldCipher, mask_id
from .tables import contracts, project_workers, registrations, workers

log = logging.getLogger("sitegate.central")
RECORD_TYPE = "registration"
CARD_ID_TYPE = {"resident": "01"}         # reader card type -> national 证件类型 (standards.md §1.5)


def load_intake_key(home: Path) -> str:
    """Central's intake private key (64 hex), made 0600 on first use."""
    path = home / "central" / "intake.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass                                   # another worker made it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(generate_private_key() + "\n")
    return path.read_text().strip()


def key_id(public_hex: str) -> str:
    """The gateway's ``personKey``: first 16 hex of SM3 over the 64-byte public key."""
    return sm3(bytes.fromhex(public_hex)).hex()[:16]


def _text(value, field: str, size: int, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InputError(f"{field}: required")
        return None
    if not isinstance(value, str) or len(value) > size:
        raise InputError(f"{field}: a string of at most {size} characters")
    return value


class Intake:
    def __init__(self, cipher: FieldCipher, private_hex: str) -> None:
        self.cipher, self._d = cipher, private_hex
        self.public_hex = public_key_of(private_hex)
        self.key_id = key_id(self.public_hex)

    # ------------------------------------------------------------ pure: record -> row
    def read(self, gw: str, project: str | None, record: dict) -> dict:
        """The registrations row for one record; InputError/SM2Error when it cannot be read."""
        body = record["body"]
        worker = _text(body.get("worker"), "worker", 32, True)
        row = {"gw_id": gw, "seq": record["seq"], "projectCode": project, "gatewayWorker": worker,
               "registeredAt": record["ts"], "state": "pending", "reason": None,
               "teamName": _text(body.get("team"), "team", 100),
               "workType": body["workType"] if body.get("workType") in C.WORK_TYPE else None,
               "specialOp": _text(body.get("specialOp"), "specialOp", 8),
               "contractEnd": C.check_date(body.get("contractEnd"), "contractEnd", False),
               "certValidTo": C.check_date(body.get("certValidTo"), "certValidTo", False)}
        if body.get("personKey") != self.key_id:
            raise SM2Error(f"person sealed to another key ({body.get('personKey')!r}, ours "
                           f"{self.key_id})")
        try:
            sealed = base64.b64decode(str(body.get("person", "")), validate=True)
        except (binascii.Error, ValueError):
            raise InputError("person: not base64") from None
        person = json.loads(decrypt(self._d, sealed))
        if not isinstance(person, dict) or person.get("v") != 1:
            raise InputError("person: not a version 1 object")
        if person.get("gw") != gw or person.get("worker") != worker:
            raise InputError("person: sealed for another gateway or worker (copied ciphertext?)")
        card = _text(person.get("cardType"), "cardType", 32) or "resident"
        id_type = CARD_ID_TYPE.get(card)
        gb11643 = card in ("resident", "hmt_residence", "foreign_permanent_2023")
        idn = C.check_id_number(person.get("idNumber"), "01" if gb11643 else "other", "idNumber")
        name = _text(person.get("name"), "name", 50, True)
        row.update(cardType=card, idCardIndex=self.cipher.index(idn, "id"), idCardMasked=mask_id(idn))
        row["_person"] = {"id_type": id_type, "idn": idn, "name": name,
                          "nation": _text(person.get("nation"), "nation", 20)}
        return row

    # ------------------------------------------------------------ the hook
    def derive(self, conn, gw: str, project: str | None, records) -> int:
        """Store a registrations row for each ``registration`` record (Store.derivers hook)."""
        n = 0
        for r in records:
            if r.get("type") != RECORD_TYPE:
                continue
            try:
                row = self.read(gw, project, r)
            except (InputError, SM2Error, ValueError, KeyError, TypeError) as exc:
                log.warning("registration %s/%s not taken in: %s", gw, r.get("seq"), exc)
                body = r.get("body") if isinstance(r.get("body"), dict) else {}
                worker = body.get("worker") if isinstance(body.get("worker"), str) else ""
                row = {"gw_id": gw, "seq": r["seq"], "projectCode": project,
                       "gatewayWorker": worker[:32], "registeredAt": r["ts"], "state": "invalid",
                       "reason": str(exc)[:300]}
            n += self._store(conn, row)
        return n

    def _store(self, conn, row: dict) -> bool:
        person = row.pop("_person", None)
        if person is not None:
            rg = registrations.c
            again = conn.execute(sa.select(sa.func.count()).select_from(registrations).where(
                rg.gw_id == row["gw_id"], rg.gatewayWorker == row["gatewayWorker"],
                rg.idCardIndex == row["idCardIndex"], rg.state == "pending")).scalar()
            if again:              # the same registration sent again (crash before marking it sent)
                return False
            if person["id_type"] is not None:
                row["workerId"] = self._worker(conn, person, row["idCardIndex"], row["idCardMasked"])
            else:                               # no national code for the card: keep it sealed here
                row["idCardNumberEnc"] = self.cipher.seal(person["idn"], "idCardNumber")
                row["workerNameEnc"] = self.cipher.seal(person["name"], "workerName")
        conn.execute(registrations.insert().values(row))
        return True

    def _worker(self, conn, person: dict, index: str, masked: str) -> str:
        """The registry worker with this ID number, added if new (race-safe by its index)."""
        found = conn.execute(sa.select(workers.c.workerId).where(workers.c.idCardIndex == index)).scalar()
        if found:
            return found
        birth, gender = C.birth_and_gender(person["idn"])
        wid = "W" + secrets.token_hex(6).upper()
        try:
            with conn.begin_nested():
                conn.execute(workers.insert().values(
                    workerId=wid, idCardType=person["id_type"], idCardIndex=index,
                    idCardNumberEnc=self.cipher.seal(person["idn"], "idCardNumber"), idCardMasked=masked,
                    workerNameEnc=self.cipher.seal(person["name"], "workerName"), gender=gender,
                    birthDate=birth, nation=person["nation"],
                    createdAt=time.time_ns() // 1_000_000))
        except sa.exc.IntegrityError:             # added by a concurrent block meanwhile
            return conn.execute(sa.select(workers.c.workerId).where(workers.c.idCardIndex == index)).scalar()
        return wid


def pending(conn, project: str | None = None) -> list[dict]:
    """Registrations with what is still missing at the registry: ``idCardType`` (card without
    a national code), ``employer`` (the project has not taken the worker on: ProjectWorker with
    corpCode and work type), ``contract`` (no labour contract on the project).  ``status``:
    ``pending`` while anything is missing, ``complete``, or ``invalid`` (with ``reason``)."""
    q = sa.select(registrations).order_by(registrations.c.registeredAt, registrations.c.seq)
    if project is not None:
        q = q.where(registrations.c.projectCode == project)
    out = []
    for r in conn.execute(q).mappings():
        missing = []
        if r["state"] == "pending":
            wid, prj = r["workerId"], r["projectCode"]
            if wid is None:
                missing.append("idCardType")
            if wid is None or prj is None or conn.execute(sa.select(sa.func.count()).select_from(
                    project_workers).where(project_workers.c.projectCode == prj,
                                           project_workers.c.workerId == wid)).scalar() == 0:
                missing.append("employer")
            if wid is None or prj is None or conn.execute(sa.select(sa.func.count()).select_from(
                    contracts).where(contracts.c.projectCode == prj,
                                     contracts.c.workerId == wid)).scalar() == 0:
                missing.append("contract")
        status = "invalid" if r["state"] == "invalid" else ("pending" if missing else "complete")
        out.append({"gateway": r["gw_id"], "seq": r["seq"], "projectCode": r["projectCode"],
                    "gatewayWorker": r["gatewayWorker"], "workerId": r["workerId"],
                    "cardType": r["cardType"], "idCardNumber": r["idCardMasked"],
                    "teamName": r["teamName"], "workType": r["workType"], "specialOp": r["specialOp"],
                    "contractEnd": r["contractEnd"].isoformat() if r["contractEnd"] else None,
                    "certValidTo": r["certValidTo"].isoformat() if r["certValidTo"] else None,
                    "registeredAt": r["registeredAt"], "status": status, "missing": missing,
                    "reason": r["reason"]})
    return out
