"""Registrations on site reach central: a worker put on the roster from the unknown-card queue
goes to central's registry as a ``registration`` record in the outbox (docs/wire.md §3).

The record carries what central's registry intake needs: the roster worker id, team, work
type, special operation, contract end, certificate date and the masked ID number in clear;
the person (ID number, name, birth date, gender, nation, card type) only as an SM2 ciphertext
to central's intake public key (``keys/central-intake.pem``), so neither the broker nor a
stolen gateway's outbox reveals it, and the gateway holds no key that could open it.

The roster queues each registration in the same transaction that adds the worker
(:meth:`Roster.register_unknown`); :class:`RegistrationReporter` moves queued ones into the
outbox.  A crash between the outbox commit and marking it sent makes central see the same
registration twice, which it absorbs (idempotent per gateway and worker).
"""
from __future__ import annotations

import base64
import logging
import threading
from pathlib import Path
from typing import Any

from drivers.sam.idnumber import mask
from uplink.sm2 import SM2Error, public_key_from_pem, sm3
from uplink.sm2_cipher import encrypt
from uplink.wire import canonical

from gateway.roster.worker import Worker

log = logging.getLogger("sitegate.roster")
RECORD_TYPE = "registration"


def key_id(public_hex: str) -> str:
    """First 16 hex of SM3 over the 64-byte public key: names the key the person was sealed to."""
    return sm3(bytes.fromhex(public_hex)).hex()[:16]


def person_plaintext(gw: str, worker_id: str, card: dict) -> bytes:
    """Canonical bytes of the sealed part; ``gw`` and ``worker`` bind it to its record."""
    p = {"birth": card.get("birth"), "cardType": card.get("card_type"), "gender": card.get("gender"),
         "gw": gw, "idNumber": card["id_number"], "name": card.get("name"), "nation": card.get("nation"),
         "worker": worker_id}
    return canonical({k: (v if v is None or isinstance(v, str) else str(v)) for k, v in p.items()}
                     | {"v": 1})


def registration_body(gw: str, worker: Worker, card: dict, intake_public_hex: str,
                      k: int | None = None) -> dict:
    """The ``registration`` record body (``k`` fixes the SM2 nonce for test vectors only)."""
    sealed = encrypt(intake_public_hex, person_plaintext(gw, worker.worker_id, card), k)
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return {"worker": worker.worker_id, "team": worker.team, "workType": worker.trade,
            "specialOp": worker.special_op, "contractEnd": iso(worker.contract_end),
            "certValidTo": iso(worker.cert_valid_to), "idMasked": mask(card["id_number"]),
            "person": base64.b64encode(sealed).decode(), "personKey": key_id(intake_public_hex)}


class RegistrationReporter:
    """Moves queued registrations from the roster into the outbox (thread-safe; the daemon
    calls :meth:`report` every few seconds, the web app right after a registration)."""

    def __init__(self, roster: Any, outbox: Any, intake_key: Path) -> None:
        self.roster, self.outbox, self.intake_key = roster, outbox, Path(intake_key)
        self.problem: str | None = None
        self._lock = threading.Lock()

    def _public_key(self) -> str:
        try:
            return public_key_from_pem(self.intake_key.read_text())
        except FileNotFoundError:
            raise SM2Error(f"no central intake key at {self.intake_key} (`sitegate-central intake key` "
                           f"prints it)") from None
        except OSError as exc:
            raise SM2Error(f"{self.intake_key}: {exc.strerror}") from None

    def report(self) -> list[tuple[str, int]]:
        """Send what is queued: [(worker id, outbox seq)].  Nothing is lost on failure: a
        registration stays queued (and :meth:`alarms` says why) until it is committed."""
        from uplink.outbox import OutboxFull
        with self._lock:
            queued = self.roster.registrations_to_report()
            if not queued:
                self.problem = None
                return []
            sent: list[tuple[str, int]] = []
            try:
                pub = self._public_key()
                for reg in queued:
                    worker = self.roster.get(reg["worker"])
                    if worker is None:                 # removed before it went out: PIPL, send nothing
                        self.roster.mark_reported(reg["id"], 0)
                        continue
                    body = registration_body(self.outbox.gw, worker, reg["card"], pub)
                    seq = self.outbox.append(body, type_=RECORD_TYPE).seq
                    self.roster.mark_reported(reg["id"], seq)
                    log.info("registration of %s committed as record %d", worker.worker_id, seq)
                    sent.append((worker.worker_id, seq))
                self.problem = None
            except Exception as exc:  # noqa: BLE001 - kept queued and alarmed, never lost or fatal
                if not isinstance(exc, (SM2Error, OutboxFull, OSError)):
                    exc = RuntimeError(f"{type(exc).__name__}: {exc}")
                if str(exc) != self.problem:
                    log.error("registrations for central wait: %s", exc)
                self.problem = str(exc)
            return sent

    def alarms(self) -> list[dict]:
        """For the retained state topic: registrations that cannot go out, and why."""
        if self.problem is None:
            return []
        return [{"code": "registrations_waiting", "level": "warning",
                 "message": f"worker registrations wait for central: {self.problem}"}]
