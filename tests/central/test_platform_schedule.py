"""Push windows from the project's schedule and its province's deadlines (seed 001 II(1),
II(4), II(6)), and warning W19 when a push is at risk of missing its deadline, missed it or
is parked."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from brokers import free_port
from central.platform.schedule import cutoff, end_ms, start_ms, window
from central.platform.service import Platform
from central.rules import effective
from central.tables import platform_jobs, rule_params
from central.store import Store
from central.workdays import default_calendar
from platform_kit import FakeProc, Gateway, hunan_site, lane, targets, today_ms, write_config

D = dt.date
CN = dt.timezone(dt.timedelta(hours=8))
pytestmark = pytest.mark.timeout(180)


def test_semimonthly_cutoffs_are_the_15th_and_the_month_end():
    assert cutoff(D(2026, 1, 3), "15,0") == D(2026, 1, 15)
    assert cutoff(D(2026, 1, 15), "15,0") == D(2026, 1, 15)
    assert cutoff(D(2026, 1, 16), "15,0") == D(2026, 1, 31)
    assert cutoff(D(2026, 2, 20), "15,0") == D(2026, 2, 28)
    assert cutoff(D(2028, 2, 29), "15,0") == D(2028, 2, 29)
    assert cutoff(D(2026, 4, 30), "10,20") == D(2026, 5, 10)


def test_windows_follow_the_schedule_and_the_hunan_regulation():
    eff, cal = effective("43"), default_calendar()
    now = start_ms(D(2026, 4, 8)) + 3_600_000
    daily = {"pushSchedule": "daily"}
    nb, dl, src = window("attendance", daily, {"day": D(2026, 4, 8)}, eff, cal, now)
    assert (nb, dl) == (now, end_ms(D(2026, 4, 8))) and "seed 001 II(4)" in src
    semi = {"pushSchedule": "semimonthly"}
    nb, dl, src = window("attendance", semi, {"day": D(2026, 4, 8)}, eff, cal, now)
    assert (nb, dl) == (start_ms(D(2026, 4, 15)), end_ms(D(2026, 4, 15)))
    assert "15th and month end" in src
    nb, dl, src = window("entry_exit", semi, {"day": D(2026, 4, 20)}, eff, cal, now)
    assert dl == end_ms(D(2026, 4, 30))
    nb, dl, src = window("worker", daily, {"entry": D(2026, 4, 9)}, eff, cal, now)
    assert dl == end_ms(D(2026, 4, 9)) and "no later than the worker's entry" in src
    nb, dl, src = window("payroll", daily, {"paid": D(2026, 4, 10)}, eff, cal, now)
    assert dl == end_ms(D(2026, 4, 10)) and "seed 001 II(6)" in src
    # a new project: within 10 working days of its permit (Qingming 2026-04-04..06 is off)
    p = {"pushSchedule": "daily", "permitDate": D(2026, 4, 1), "startDate": D(2026, 4, 20),
         "contractSignDate": None, "sector": "building"}
    nb, dl, src = window("project", p, {"update": False}, eff, cal, now)
    assert dl == end_ms(cal.add_working_days(D(2026, 4, 1), 10))
    assert dl > end_ms(D(2026, 4, 11)) and "seed 001 II(1)" in src
    # a later version naming the labour manager: 30 days after start (seed 001 II(4))
    nb, dl, src = window("project", p, {"update": True, "manager": True}, eff, cal, now)
    assert dl == end_ms(D(2026, 5, 20)) and "seed 001 II(4)" in src
    # elsewhere the defaults say where they come from
    nb, dl, src = window("attendance", daily, {"day": D(2026, 4, 8)}, effective("45"), cal, now)
    assert "sitegate default" in src


def _w19(store):
    from central.warnings import Warnings
    return [w for w in Warnings(store).list(rule="W19")]


def test_w19_opens_when_a_push_misses_its_deadline_and_clears_once_delivered(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    c, wids = hunan_site(store)
    gw = Gateway(store, "gw-hn-1", "HN-1")
    gw.punches([lane(w) for w in wids], today_ms(8) - 86_400_000)      # yesterday
    dead = write_config(tmp_path / "dead.toml", f"http://127.0.0.1:{free_port()}/open.api")
    svc = Platform(store, c.cipher, targets(dead))
    svc.plan()
    for _ in range(3):
        svc.deliver_round()
    svc.watch()
    yesterday = (dt.datetime.now(CN).date() - dt.timedelta(days=1)).isoformat()
    opened = {w["period"]: w for w in _w19(store) if w["state"] == "open"}
    # the workers' information was due on their entry day (2026-03-02), and the project 10
    # working days after its permit of 2026-02-10 (the Spring Festival in between): missed
    assert opened["2026-03-02"]["details"]["jobs"] == {
        "project:missed": 1, "worker:missed": 5, "contract:missed": 5, "entry_exit:missed": 5}
    w = opened[yesterday]
    assert w["level"] == "yellow" and w["family"] == "technical"
    assert w["details"]["jobs"]["attendance:missed"] == 1 and w["details"]["records"] == 5
    assert "attendance_days=0 [seed 001 II(4)" in w["source"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(platform_jobs.c.lastError).where(
            platform_jobs.c.kind == "project")).scalar().startswith("cannot connect")
    fake = FakeProc()
    try:
        live = Platform(store, c.cipher, targets(write_config(tmp_path / "p.toml", fake.url)))
        live.push()
        live.watch()
    finally:
        fake.stop()
    states = {w["period"]: w["state"] for w in _w19(store)}
    assert states[yesterday] == "cleared_auto"


def test_w19_warns_before_the_deadline_within_the_risk_window(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    c, wids = hunan_site(store)
    with store.engine.begin() as conn:             # rules as data: a day-long risk window
        conn.execute(rule_params.insert().values(region="43", rule="W19", key="risk_minutes",
                                                 value="1440", source="test: a whole day"))
    gw = Gateway(store, "gw-hn-1", "HN-1")
    gw.punches([lane(w) for w in wids], today_ms(0) + 60_000)
    svc = Platform(store, c.cipher, targets(write_config(
        tmp_path / "dead.toml", f"http://127.0.0.1:{free_port()}/open.api")))
    svc.plan()
    svc.watch()
    today = dt.datetime.now(CN).date().isoformat()
    [w] = [w for w in _w19(store) if w["period"] == today]
    assert w["level"] == "technical" and w["details"]["jobs"]["attendance:at_risk"] == 1
    assert "risk_minutes=1440 [rule_params override (43): test: a whole day]" in w["source"]


def test_a_semimonthly_project_holds_attendance_for_its_batch_day(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    c, wids = hunan_site(store, pushSchedule="semimonthly", sector="transport")
    gw = Gateway(store, "gw-hn-1", "HN-1")
    later = today_ms(8) + 20 * 86_400_000          # its batch day is after today, whatever today is
    gw.punches([lane(w) for w in wids], later)
    fake = FakeProc()
    try:
        svc = Platform(store, c.cipher, targets(write_config(tmp_path / "p.toml", fake.url)))
        svc.push(horizon_s=1.0)
        cut = cutoff(dt.datetime.fromtimestamp(later / 1000, CN).date(), "15,0")
        with store.engine.connect() as conn:
            [job] = [dict(r) for r in conn.execute(sa.select(platform_jobs).where(
                platform_jobs.c.kind == "attendance")).mappings()]
        assert (job["state"], job["nextAt"], job["deadlineAt"]) == \
            ("queued", start_ms(cut), end_ms(cut))
        assert fake.state()["held"]["attendance"] == 0
        assert fake.state()["held"]["worker"] == 5       # the rest is not held back
        out = svc.push(now=True)                         # the operator sends the batch early
        assert set(out["targets"]["hunan"]["jobs"]) == {"done"}
        assert fake.state()["held"]["attendance"] == 5
    finally:
        fake.stop()


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap():
    import random
    from central.platform.deliver import backoff_s
    rng = random.Random(7)
    for n, ceiling in ((1, 5), (2, 10), (3, 20), (6, 160), (9, 900), (30, 900)):
        waits = [backoff_s(n, 5.0, 900.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (n, min(waits), max(waits))
        assert max(waits) - min(waits) > ceiling / 4        # jittered, not one fixed value
