"""The delivery queue in the central store (table ``platform_jobs``).

One job per object version and target, unique on its idempotency key
``target|kind|objectKey|version``: planning the same version twice adds nothing.  A job's
business data is sealed at rest (SM4-GCM, :class:`central.crypto.FieldCipher`) -- it carries ID
and bank-card numbers.

States::

    queued --claim, intent committed--> sending --answer--> submitted --poll--> done
       ^                                  |  (crash or timeout: in doubt; resolved by the
       |                                  |   platform's query, or re-sent after settle_s)
       +------ retry (backoff) ----------+--> parked (the platform's reason; operator retries)
    queued/parked --a newer version of the same object--> superseded

Claiming takes due jobs with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several central
processes share the queue; each claim writes a lease and an owner token, and every later write
is fenced on that token (a process whose lease ran out cannot overwrite its successor).  On
SQLite the ``BEGIN IMMEDIATE`` transaction serialises claims: use one process.
"""
from __future__ import annotations

import json
import os
import secrets
import socket

import sqlalchemy as sa

from ..crypto import FieldCipher
from ..store import Store, now_ms
from ..tables import platform_jobs as J
from ..tables import platform_objects as O
from .profile import RANK

OPEN = ("queued", "sending", "submitted")
ACTIVE = OPEN + ("parked",)
COLUMN = "platform_jobs.payload"


# Statements run once per job, built once (building one costs more than running it)
_B = sa.bindparam
_FINISH_JOB = J.update().where(J.c.id == _B("b_id"), J.c.owner == _B("b_owner")).values(
    state="done", owner=None, leaseUntil=None, doneAt=_B("b_t"), updatedAt=_B("b_t"),
    resolvedBy=_B("b_by"), remoteId=_B("b_remote"), lastError=_B("b_note"),
    serial=_B("b_serial"), method=_B("b_method"))
_HELD = O.update().where(O.c.target == _B("b_target"), O.c.kind == _B("b_kind"),
                         O.c.objectKey == _B("b_key"))
_HELD_VERSION = _HELD.values(deliveredVersion=_B("b_version"))
_HELD_VERSION_ID = _HELD.values(deliveredVersion=_B("b_version"), remoteId=_B("b_remote"))

_PLANNED = sa.select(J.c.id).where(J.c.idemKey == _B("b_idem"))
_SUPERSEDE = J.update().where(J.c.target == _B("b_target"), J.c.objectKey == _B("b_key"),
                              J.c.state.in_(("queued", "parked"))).values(
    state="superseded", updatedAt=_B("b_t"), lastError="a newer version was planned")
_NEWEST = sa.select(O.c.version).where(O.c.target == _B("b_target"), O.c.kind == _B("b_kind"),
                                       O.c.objectKey == _B("b_key"))
_NEWEST_SET = _HELD.values(version=_B("b_version"), jobId=_B("b_job"))


_WAKE = J.update().where(
    J.c.target == _B("b_target"), J.c.projectCode == _B("b_project"), J.c.state == "queued",
    J.c.nextAt > _B("b_t"), J.c.lastError.like("waiting for %")).values(nextAt=_B("b_t"))


def _claim_statement():
    """Due jobs of a target, most urgent first, none behind an earlier version of its object
    still on its way (built once: an idle delivery thread claims 20 times a second)."""
    earlier = J.alias("earlier")
    blocked = sa.exists().where(earlier.c.target == J.c.target,
                                earlier.c.objectKey == J.c.objectKey,
                                earlier.c.id < J.c.id,
                                earlier.c.state.in_(("sending", "submitted")))
    rank = sa.case({k: v for k, v in RANK.items()}, value=J.c.kind, else_=99)
    t = _B("b_t")
    return (sa.select(J).where(J.c.target == _B("b_target"), J.c.state.in_(OPEN),
                               J.c.nextAt <= t,
                               sa.or_(J.c.leaseUntil.is_(None), J.c.leaseUntil < t), ~blocked)
            .order_by(rank, J.c.deadlineAt, J.c.id).limit(_B("b_n")))


_CLAIM = _claim_statement()
_CLAIM_PG = _CLAIM.with_for_update(skip_locked=True, of=J)


def idem_key(target: str, kind: str, object_key: str, version: str) -> str:
    return f"{target}|{kind}|{object_key}|{version}"


class Queue:
    def __init__(self, store: Store, cipher: FieldCipher, clock=now_ms) -> None:
        self.store, self.cipher, self.clock = store, cipher, clock
        self.host = f"{socket.gethostname()[:30]}:{os.getpid()}"

    # ------------------------------------------------------------------ planning
    def enqueue(self, conn, *, target: str, kind: str, project: str, object_key: str,
                version: str, data: dict, refs: dict | None, records: int, not_before: int,
                deadline: int | None, source: str | None, state: str = "queued",
                reason: str | None = None) -> int | None:
        """Add a job in the caller's transaction; None when this version is already planned.
        Older versions of the object not yet on their way are superseded."""
        key = idem_key(target, kind, object_key, version)
        if conn.execute(_PLANNED, {"b_idem": key}).first():
            return None
        t = self.clock()
        obj = {"b_target": target, "b_kind": kind, "b_key": object_key}
        conn.execute(_SUPERSEDE, dict(obj, b_t=t))
        jid = conn.execute(J.insert().values(
            target=target, kind=kind, projectCode=project, objectKey=object_key,
            version=version, idemKey=key, payloadEnc=self.seal(data),
            refs=json.dumps(refs, sort_keys=True) if refs else None, records=records,
            state=state, attempts=0, nextAt=not_before, deadlineAt=deadline,
            deadlineSource=(source or "")[:200] or None, reason=reason, createdAt=t,
            updatedAt=t)).inserted_primary_key[0]
        if conn.execute(_NEWEST, obj).first() is None:
            conn.execute(O.insert().values(target=target, kind=kind, objectKey=object_key,
                                           version=version, jobId=jid))
        else:
            conn.execute(_NEWEST_SET, dict(obj, b_version=version, b_job=jid))
        return jid

    def seal(self, data: dict) -> str:
        return self.cipher.seal(json.dumps(data, ensure_ascii=False, separators=(",", ":")), COLUMN)

    def open(self, job: dict) -> dict:
        return json.loads(self.cipher.open(job["payloadEnc"], COLUMN))

    # ------------------------------------------------------------------ claiming
    def claim(self, target: str, n: int, lease_ms: int) -> list[dict]:
        """Up to ``n`` due jobs of ``target``, leased to a fresh owner token."""
        t = self.clock()
        with self.store.engine.begin() as conn:
            q = _CLAIM_PG if conn.dialect.name == "postgresql" else _CLAIM
            rows = [dict(r) for r in conn.execute(q, {"b_target": target, "b_t": t,
                                                      "b_n": n}).mappings()]
            if not rows:
                return []
            token = f"{self.host}:{secrets.token_hex(4)}"
            # the lease, and for a queued job the intent, in one statement (each side of a
            # SET sees the row as it was): committed before a byte leaves, so from here a
            # crash leaves the job in doubt (resolved through the platform's query), never
            # forgotten
            fresh = J.c.state == "queued"
            conn.execute(J.update().where(J.c.id.in_([r["id"] for r in rows])).values(
                owner=token, leaseUntil=t + lease_ms, updatedAt=t,
                state=sa.case((fresh, "sending"), else_=J.c.state),
                attempts=sa.case((fresh, J.c.attempts + 1), else_=J.c.attempts),
                sentAt=sa.case((fresh, t), else_=J.c.sentAt),
                serial=sa.case((fresh, sa.null()), else_=J.c.serial)))
        for r in rows:
            r["owner"], r["leaseUntil"] = token, t + lease_ms
            if r["state"] == "queued":
                r.update(intent=True, attempts=r["attempts"] + 1, sentAt=t, serial=None)
        return rows

    def update(self, job: dict, **values) -> bool:
        """Fenced write: only while ``job`` is still ours (its owner token)."""
        values.setdefault("updatedAt", self.clock())
        if job.get("method") and "method" not in values:
            values["method"] = job["method"]
        with self.store.engine.begin() as conn:
            n = conn.execute(J.update().where(J.c.id == job["id"],
                                              J.c.owner == job["owner"]).values(**values)).rowcount
        if n == 1:
            job.update(values)
        return n == 1

    def release(self, job: dict, **values) -> bool:
        return self.update(job, owner=None, leaseUntil=None, **values)

    def finish(self, job: dict, resolved_by: str, remote: dict | None = None,
               note: str | None = None) -> bool:
        """Done: the platform holds this version (and told us the ids it gave it)."""
        t = self.clock()
        with self.store.engine.begin() as conn:
            ok = self._finish(conn, job, resolved_by, remote, note, t)
            if ok:
                self._wake(conn, job["target"], job["projectCode"], t)
        return ok

    def _finish(self, conn, job, resolved_by, remote, note, t) -> bool:
        remote_id = None
        if remote:
            remote_id = next((str(remote[k]) for k in ("teamSysNo", "projectCode", "id")
                              if remote.get(k) not in (None, "")), None)
        n = conn.execute(_FINISH_JOB, {
            "b_id": job["id"], "b_owner": job["owner"], "b_t": t, "b_by": resolved_by,
            "b_remote": remote_id, "b_note": note, "b_serial": job.get("serial"),
            "b_method": job.get("method")}).rowcount
        if n != 1:
            return False
        conn.execute(_HELD_VERSION_ID if remote_id else _HELD_VERSION, {
            "b_target": job["target"], "b_kind": job["kind"], "b_key": job["objectKey"],
            "b_version": job["version"], "b_remote": remote_id})
        job.update(state="done", resolvedBy=resolved_by, remoteId=remote_id)
        return True

    def _wake(self, conn, target: str, project: str, t: int) -> None:
        """Jobs that waited for one that is done now may go."""
        conn.execute(_WAKE, {"b_target": target, "b_project": project, "b_t": t})

    def finish_many(self, done: list[tuple]) -> None:
        """Several jobs done, in one transaction: [(job, resolved_by, remote, note)]."""
        t = self.clock()
        with self.store.engine.begin() as conn:
            woken = set()
            for job, resolved_by, remote, note in done:
                if self._finish(conn, job, resolved_by, remote, note, t):
                    woken.add((job["target"], job["projectCode"]))
            for target, project in woken:
                self._wake(conn, target, project, t)

    def release_many(self, jobs: list[dict], **values) -> None:
        """Release several jobs with the same values (their serials kept), one transaction."""
        t = self.clock()
        with self.store.engine.begin() as conn:
            for job in jobs:
                v = dict(values, owner=None, leaseUntil=None, updatedAt=t)
                for k in ("serial", "method"):
                    if job.get(k):
                        v[k] = job[k]
                if conn.execute(J.update().where(J.c.id == job["id"], J.c.owner == job["owner"])
                                .values(**v)).rowcount == 1:
                    job.update(v)

    def delivered(self, target: str, keys: list[str]) -> dict[str, str | None]:
        """objectKey -> the platform's id (or None) for objects the platform holds."""
        if not keys:
            return {}
        with self.store.engine.connect() as conn:
            return {k: rid for k, rid in conn.execute(sa.select(O.c.objectKey, O.c.remoteId).where(
                O.c.target == target, O.c.objectKey.in_(keys), O.c.deliveredVersion.is_not(None)))}

    def ever_delivered(self, job: dict) -> tuple[bool, str | None]:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(O.c.deliveredVersion, O.c.remoteId).where(
                O.c.target == job["target"], O.c.kind == job["kind"],
                O.c.objectKey == job["objectKey"])).first()
        return (row is not None and row[0] is not None), (row[1] if row else None)

    # ------------------------------------------------------------------ operators
    def stats(self, target: str | None = None) -> dict:
        q = sa.select(J.c.target, J.c.kind, J.c.state, sa.func.count(),
                      sa.func.sum(J.c.records), sa.func.min(J.c.deadlineAt)).group_by(
            J.c.target, J.c.kind, J.c.state)
        if target:
            q = q.where(J.c.target == target)
        out: dict = {}
        with self.store.engine.connect() as conn:
            for tg, kind, state, n, recs, dl in conn.execute(q):
                t = out.setdefault(tg, {"jobs": {}, "records": {}, "kinds": {},
                                        "nextDeadline": None})
                t["jobs"][state] = t["jobs"].get(state, 0) + n
                t["records"][state] = t["records"].get(state, 0) + int(recs or 0)
                k = t["kinds"].setdefault(kind, {})
                k[state] = k.get(state, 0) + n
                if state in OPEN and dl is not None and (t["nextDeadline"] is None or
                                                         dl < t["nextDeadline"]):
                    t["nextDeadline"] = dl
        return out

    def jobs(self, target: str | None = None, state: str | None = None,
             project: str | None = None, limit: int = 1000) -> list[dict]:
        cols = [c for c in J.c if c.name not in ("payloadEnc", "refs", "owner")]
        q = sa.select(*cols).order_by(J.c.id).limit(limit)
        if target:
            q = q.where(J.c.target == target)
        if state:
            q = q.where(J.c.state == state)
        if project:
            q = q.where(J.c.projectCode == project)
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def retry(self, ids: list[int] | None = None, target: str | None = None) -> int:
        """Parked jobs back to the queue (after the operator fixed the cause), due now."""
        t = self.clock()
        q = J.update().where(J.c.state == "parked")
        if ids is not None:
            q = q.where(J.c.id.in_(ids))
        if target:
            q = q.where(J.c.target == target)
        with self.store.engine.begin() as conn:
            return conn.execute(q.values(state="queued", nextAt=t, attempts=0, owner=None,
                                         leaseUntil=None, updatedAt=t,
                                         lastError="retried by an operator")).rowcount
