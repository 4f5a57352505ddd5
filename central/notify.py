"""Warning notifications through Apprise (WeCom, DingTalk, Feishu, e-mail, JSON webhooks …).

Targets are per region and party (``notify_targets``: region ``*`` or a province prefix, a
party from ``rules.PARTIES``, an Apprise URL sealed with SM4 because webhook URLs carry keys).
The warning engine writes ``notifications`` rows in the same transaction as the warning change
(an outbox); ``Notifier.send_pending`` delivers them after the commit and marks each ``sent``,
keeps it ``pending`` with the error for the next run, or ``failed`` after ``MAX_ATTEMPTS``.
Messages carry no personal data: rule, project, level, state, deadline, responsible party.
"""
from __future__ import annotations

import sqlalchemy as sa

from .codes import InputError
from .crypto import FieldCipher
from .rules import BY_CODE, PARTIES
from .store import Store, now_ms
from .tables import notifications, notify_targets, warnings_t

MAX_ATTEMPTS = 10
EVENTS = {"open": "新预警", "overdue": "逾期未处置", "escalated": "已升级"}


def mask_url(url: str) -> str:
    """``json://host/…`` → ``json://h***`` — enough to recognise a target, no keys."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest[:1]}***" if rest else "***"


def add_target(store: Store, cipher: FieldCipher, region: str, party: str, url: str) -> int:
    import apprise
    region = str(region or "").strip()
    if region != "*" and not (len(region) == 2 and region.isdigit()):
        raise InputError("region: '*' or a province prefix such as 45")
    if party not in PARTIES:
        raise InputError(f"party: one of {sorted(PARTIES)}")
    if not apprise.Apprise().add(url):
        raise InputError("url: not a notification URL Apprise understands")
    with store.engine.begin() as conn:
        return conn.execute(notify_targets.insert().values(
            region=region, party=party, urlEnc=cipher.seal(url, "notifyUrl"),
            urlMasked=mask_url(url), createdAt=now_ms())).inserted_primary_key[0]


def list_targets(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(
            notify_targets.c.id, notify_targets.c.region, notify_targets.c.party,
            notify_targets.c.urlMasked).order_by(notify_targets.c.id)).mappings()]


def remove_target(store: Store, target_id: int) -> None:
    with store.engine.begin() as conn:
        if not conn.execute(notify_targets.delete().where(
                notify_targets.c.id == target_id)).rowcount:
            raise InputError(f"no notification target {target_id}")


def message(w: dict, event: str) -> tuple[str, str]:
    rule = BY_CODE[w["rule"]]
    party = PARTIES.get(w["responsible"] or "", w["responsible"] or "-")
    title = f"[{w['level']}] {w['rule']} {rule['name']} - {w['projectCode']}"
    body = (f"{EVENTS.get(event, event)}: {w['rule']} {rule['name']}\n"
            f"项目 {w['projectCode']}  期间 {w['period']}  等级 {w['level']}  层级 {w['tier']}\n"
            f"状态 {w['state']}  处置期限 {w['dueOn']}  责任方 {party}\n"
            f"依据 {w['source'] or '-'}")
    return title, body


class Notifier:
    def __init__(self, store: Store, cipher: FieldCipher, timeout_s: float = 10.0) -> None:
        self.store, self.cipher, self.timeout_s = store, cipher, timeout_s

    def send_pending(self, limit: int = 500) -> int:
        """Deliver queued notifications; returns how many went out."""
        import apprise
        n = notifications.c
        with self.store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(sa.select(notifications).where(
                n.status == "pending").order_by(n.id).limit(limit)).mappings()]
            targets = [dict(r) for r in conn.execute(sa.select(notify_targets)).mappings()]
            ws = {r["id"]: dict(r) for r in conn.execute(sa.select(warnings_t).where(
                warnings_t.c.id.in_([r["warningId"] for r in rows]))).mappings()} if rows else {}
        sent = 0
        for note in rows:
            parties = note["parties"].split(",")
            urls = [self.cipher.open(t["urlEnc"], "notifyUrl") for t in targets
                    if t["region"] in (note["region"], "*") and t["party"] in parties]
            values: dict = {"attempts": note["attempts"] + 1}
            if not urls:
                values["status"] = "no_target"
            else:
                ap = apprise.Apprise()
                for u in urls:
                    ap.add(u)
                title, body = message(ws[note["warningId"]], note["event"])
                try:
                    ok = bool(ap.notify(title=title, body=body))
                    error = None if ok else "a target refused or could not be reached"
                except Exception as exc:  # noqa: BLE001 - a target's failure is data, not a crash
                    ok, error = False, f"{type(exc).__name__}: {exc}"[:300]
                if ok:
                    values.update(status="sent", sentAt=now_ms(), lastError=None)
                    sent += 1
                else:
                    values.update(lastError=error, status="failed"
                                  if note["attempts"] + 1 >= MAX_ATTEMPTS else "pending")
            with self.store.engine.begin() as conn:
                conn.execute(notifications.update().where(n.id == note["id"]).values(values))
        return sent


def outbox(store: Store, status: str | None = None) -> list[dict]:
    with store.engine.connect() as conn:
        q = sa.select(notifications).order_by(notifications.c.id)
        if status:
            q = q.where(notifications.c.status == status)
        return [dict(r) for r in conn.execute(q).mappings()]
