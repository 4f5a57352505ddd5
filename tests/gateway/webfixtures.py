"""A small site for the web app tests: roster with teams, attendance in the outbox and the
ledger, one unknown card, accounts for each role. Everything real (SQLite, SM4, SM2 keys)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway import keys
from gateway.config import parse
from gateway.ledger.site_data import SiteData
from uplink.outbox import Outbox

TZ = dt.timezone(dt.timedelta(hours=8))
ID_W1 = "110101199003071233"
ID_W2 = "110101198503071235"
ID_UNKNOWN = "110101199203071238"
PASSWORDS = {"boss": "manager-pass-1", "look": "viewer-pass-1", "fixer": "installer-pass-1"}
ROLES = {"boss": "manager", "look": "viewer", "fixer": "installer"}


def ts(day: dt.date, hour: int, minute: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def make_site(home: Path, today: dt.date, web: dict | None = None):
    """(cfg, expected) -- W1 attended days 2, 3 and 5 of today's month plus today (still in),
    W2 today in and out (an electrician whose certificate ends soon)."""
    cfg = parse({"gateway": {"id": "gw-web-1", "project": "P-WEB"},
                 "web": {"listen": "127.0.0.1", "port": 0, **(web or {})}}, home)
    cfg.key_file.parent.mkdir(parents=True, exist_ok=True)
    signer = keys.generate(cfg.key_file)
    data = SiteData(cfg)
    data.roster.add("W000001", id_number=ID_W1, name="张三", team="钢筋班")
    data.roster.add("W000002", id_number=ID_W2, name="李四", team="电工班", trade="建筑电工",
                    cert_valid_to=(today + dt.timedelta(days=10)).isoformat())
    outbox = Outbox(cfg.outbox_path, cfg.gateway_id, signer)
    first = today.replace(day=1)
    days = sorted({first + dt.timedelta(days=n) for n in (1, 2, 4)} - {today})
    for d in days:
        outbox.append({"worker": "W000001", "dir": "in", "decision": "allow", "lane": "lane1"}, ts_ms=ts(d, 7))
        outbox.append({"worker": "W000001", "dir": "out", "decision": "allow", "lane": "lane2"}, ts_ms=ts(d, 18))
    outbox.append({"worker": "W000001", "dir": "in", "decision": "allow", "lane": "lane1"}, ts_ms=ts(today, 0, 5))
    outbox.append({"worker": "W000002", "dir": "in", "decision": "allow", "lane": "lane1"}, ts_ms=ts(today, 0, 10))
    outbox.append({"worker": "W000002", "dir": "out", "decision": "allow", "lane": "lane2"}, ts_ms=ts(today, 0, 20))
    outbox.append({"worker": None, "dir": "in", "decision": "deny", "reason": "unknown_worker"},
                  ts_ms=ts(today, 0, 15))
    outbox.close()
    data.catch_up()
    data.roster.note_unknown({"name": "王五", "id_number": ID_UNKNOWN, "gender": "male",
                              "birth": dt.date(1992, 3, 7), "card_type": "resident"}, "lane1")
    data.close()
    from gateway.cli.web import open_accounts
    accounts = open_accounts(cfg)
    for name, role in ROLES.items():
        accounts.add(name, role, PASSWORDS[name])
    accounts.close()
    return cfg, {"w1_days": {d.day for d in days} | {today.day}}
