"""The connector against the shipped fake platform (a real `sitegate-central platform fake`
process): every object arrives once, in the national shapes, with lane devices and phone
coordinates; each failure the fake can be told to stage ends in its documented state."""
from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import sqlalchemy as sa

from central.platform.deliver import Deliverer
from central.platform.http import Http, InDoubt
from central.platform.service import Platform
from central.tables import platform_jobs, registrations
from central.store import Store
from platform_kit import (SECRET, FakeProc, Gateway, aes_open, hunan_site, lane, national_call,
                          phone, targets, today_ms, write_config)
from sample import make_id

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def fake():
    f = FakeProc()
    yield f
    f.stop()


def make(tmp_path, url, n_workers=5, secret=SECRET, **over):
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    c, wids = hunan_site(store, n_workers=n_workers)
    gw = Gateway(store, "gw-hn-1", "HN-1")
    cfg = write_config(tmp_path / "platform.toml", url, **over)
    return store, c, wids, gw, Platform(store, c.cipher, targets(cfg, secret))


def jobs(store, **where):
    q = sa.select(platform_jobs)
    for k, v in where.items():
        q = q.where(platform_jobs.c[k] == v)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(platform_jobs.c.id)).mappings()]


def test_every_object_reaches_the_platform_once_with_device_fence_and_coordinates(tmp_path,
                                                                                   fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    t0 = today_ms(7)
    gw.punches([lane(wids[i % 5], "in" if i % 2 == 0 else "out") for i in range(30)] +
               [phone(wids[i % 5]) for i in range(10)], t0)
    out = svc.push()
    s = out["targets"]["hunan"]
    assert s["jobs"] == {"done": s["jobs"]["done"]}, s            # nothing left, nothing parked
    state = fake.state()
    assert state["held"] == {"project": 1, "company": 1, "team": 1, "worker": 5,
                             "entry_exit": 5, "contract": 5, "attendance": 40, "payroll": 0}
    assert len(state["submitted"]) == 40 and set(state["submitted"].values()) == {1}
    assert state["stats"].get("invalid", 0) == 0

    # what the platform holds, asked with a client written from the convention alone
    ans = national_call(fake.url, "WorkerAttendance.Query",
                        {"projectCode": "HN-1", "date": dt.datetime.fromtimestamp(
                            t0 / 1000, dt.timezone(dt.timedelta(hours=8))).date().isoformat(),
                         "pageIndex": 0, "pageSize": 100})
    assert ans["code"] == 0
    rows = ans["data"]["rows"]
    assert len(rows) == 40
    phones = [r for r in rows if r.get("channel", "").startswith("fence:")]
    lanes = [r for r in rows if r.get("channel") == "lane-2"]
    assert len(phones) == 10 and len(lanes) == 30
    assert {(r["lng"], r["lat"], r["channel"], r["attendType"]) for r in phones} == \
        {("112.938123", "28.228456", "fence:corridor-K12", "001")}
    assert all("lng" not in r for r in lanes)
    assert {r["direction"] for r in lanes} == {"01", "02"}
    ids = {make_id(i + 1, "450103") for i in range(5)}
    assert {aes_open(r["idCardNumber"]) for r in rows} == ids        # sealed on the wire
    assert not ids & {r["idCardNumber"] for r in rows}

    # at rest the queue holds no ID number in clear
    with store.engine.connect() as conn:
        dump = json.dumps([dict(r) for r in conn.execute(
            sa.select(platform_jobs)).mappings()], default=str)
    assert not any(i in dump for i in ids)

    # planning again adds nothing; a change is one new version, sent as an update
    assert svc.plan() == {"hunan": 0}
    c.reg.exit("HN-1", wids[0], dt.date.today().isoformat())
    c.reg.update_project("HN-1", completeDate="2027-06-30")
    assert svc.plan() == {"hunan": 2}
    svc.push()
    assert fake.state()["held"]["entry_exit"] == 6
    project_jobs = jobs(store, kind="project")
    assert [j["method"] for j in project_jobs] == ["Project.Add", "Project.PartUpdate"]
    assert all(j["state"] == "done" for j in project_jobs)


def test_five_hundred_errors_are_retried_with_backoff(tmp_path, fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    gw.punches([lane(w) for w in wids], today_ms(8))
    fake.inject("5xx", count=3)
    svc.push()
    first = jobs(store, kind="project")[0]
    assert first["state"] == "done" and first["attempts"] == 4 and first["resolvedBy"] == "answer"
    st = fake.state()
    assert st["stats"]["injected_5xx"] == 3
    assert set(st["submitted"].values()) == {1} and st["held"]["attendance"] == 5
    d = svc.deliverers["hunan"]
    assert d.counters["retried"] == 3


def test_a_timeout_is_resolved_through_the_platforms_query_not_sent_twice(tmp_path, fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url, timeout_s=1.0, lease_s=4.0)
    svc.push(kinds=["project", "company", "team", "worker", "entry_exit", "contract"])
    gw.punches([lane(w) for w in wids], today_ms(8))
    writes = fake.state()["stats"]["writes"]
    fake.inject("timeout", count=1, delay_s=2.5)    # processed, answered after our timeout
    svc.push()
    att = jobs(store, kind="attendance")
    assert [(j["state"], j["resolvedBy"], j["attempts"]) for j in att] == [("done", "query", 1)]
    st = fake.state()
    assert st["stats"]["writes"] == writes + 1               # the attendance write, once
    assert set(st["submitted"].values()) == {1} and st["held"]["attendance"] == 5
    assert svc.deliverers["hunan"].counters["resolved_by_query"] == 1


def test_status_10_parks_with_the_platforms_reason_until_an_operator_retries(tmp_path, fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    gw.punches([lane(w) for w in wids], today_ms(8))
    fake.inject("status10", count=1, reason="施工许可证号与住建系统不一致")
    out = svc.push(horizon_s=2.0)
    parked = svc.parked()
    assert [(p["kind"], p["reason"]) for p in parked] == \
        [("project", "status 10: 施工许可证号与住建系统不一致")]
    assert out["targets"]["hunan"]["jobs"]["queued"] > 0       # the rest waits for the project
    assert fake.state()["held"]["attendance"] == 0
    waiting = jobs(store, kind="attendance")[0]
    assert waiting["state"] == "queued" and waiting["lastError"].startswith("waiting for project/")
    assert svc.retry([parked[0]["id"]]) == 1
    out = svc.push()
    assert set(out["targets"]["hunan"]["jobs"]) == {"done"}
    assert fake.state()["held"]["attendance"] == 5


def test_clock_skew_is_corrected_from_the_platforms_date_header(tmp_path, fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    fake.inject("skew", skew_s=1200)              # the platform's clock is 20 minutes ahead
    out = svc.push(kinds=["project"])
    assert set(out["targets"]["hunan"]["jobs"]) == {"done"}
    d = svc.deliverers["hunan"]
    assert d.counters["clock"] >= 1
    assert abs(d.offset_ms - 1_200_000) < 5_000
    assert fake.state()["stats"]["refused_1002"] >= 1


def test_a_duplicate_answer_counts_as_held(tmp_path, fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    fake.inject("duplicate", count=1)
    svc.push(kinds=["project"])
    [job] = jobs(store, kind="project")
    assert job["state"] == "done" and job["resolvedBy"] == "duplicate"
    assert "数据重复" in job["lastError"]
    assert fake.state()["held"]["project"] == 1


def test_a_wrong_secret_parks_with_the_signature_error(tmp_path, fake):
    wrong = "ffffffffffffffffffffffffffffffff"
    store, c, wids, gw, svc = make(tmp_path, fake.url, secret=wrong)
    svc.push(kinds=["project"], horizon_s=2.0)
    [job] = svc.parked()
    assert job["reason"].startswith("code 1001: sign error")
    assert fake.state()["held"]["project"] == 0
    fixed = Platform(store, c.cipher, targets(tmp_path / "platform.toml"))
    assert fixed.retry(target="hunan") == 1
    assert set(fixed.push(kinds=["project"])["targets"]["hunan"]["jobs"]) == {"done"}


def test_a_crash_between_send_and_commit_is_resolved_without_sending_again(tmp_path, fake):
    """The request reaches the platform, then the process dies before it records the answer:
    the job is found in doubt and the platform's query settles it."""
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    svc.push(kinds=["project", "company", "team", "worker", "entry_exit", "contract"])
    gw.punches([lane(w) for w in wids], today_ms(8))
    svc.plan()

    class DiesAfterSending(Http):
        def post(self, req):
            super().post(req)
            raise SystemExit("killed")              # the answer is never recorded

    d = Deliverer(store, c.cipher, svc.targets[0], http=DiesAfterSending(2.0))
    with pytest.raises(SystemExit):
        while True:
            d.run_once(1)
    [att] = jobs(store, kind="attendance")
    assert att["state"] == "sending" and att["attempts"] == 1
    writes = fake.state()["stats"]["writes"]
    with store.engine.begin() as conn:          # the dead process's lease runs out
        conn.execute(platform_jobs.update().where(platform_jobs.c.id == att["id"]).values(
            leaseUntil=0))
    time.sleep(1.1)                             # settle_s: the platform has had its time
    again = Platform(store, c.cipher, targets(tmp_path / "platform.toml"))
    again.push(kinds=["attendance"])
    [att] = jobs(store, kind="attendance")
    assert (att["state"], att["resolvedBy"], att["attempts"]) == ("done", "query", 1)
    st = fake.state()
    assert st["stats"]["writes"] == writes and set(st["submitted"].values()) == {1}


def test_a_write_that_never_arrived_is_sent_after_the_settle_time(tmp_path, fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    svc.push(kinds=["project", "company", "team", "worker", "entry_exit", "contract"])
    gw.punches([lane(w) for w in wids], today_ms(8))
    svc.plan()

    class LostOnTheWay(Http):
        def post(self, req):
            raise InDoubt("connection lost")        # nothing reached the platform

    d = Deliverer(store, c.cipher, svc.targets[0], http=LostOnTheWay(2.0))
    d.run_once(1)
    assert jobs(store, kind="attendance")[0]["state"] == "sending"
    svc.push(kinds=["attendance"])
    [att] = jobs(store, kind="attendance")
    assert (att["state"], att["resolvedBy"], att["attempts"]) == ("done", "answer", 2)
    assert set(fake.state()["submitted"].values()) == {1}


def test_punches_of_workers_not_on_the_roster_wait_parked_until_they_are(tmp_path, fake):
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    gw.punches([lane("W000042"), lane(wids[0])], today_ms(9))
    svc.push(horizon_s=2.0)
    [held] = svc.parked()
    assert held["kind"] == "attendance" and "W000042" in held["reason"] and held["records"] == 1
    assert fake.state()["held"]["attendance"] == 1
    assert svc.retry([held["id"]]) == 0                     # still unknown: stays parked
    with store.engine.begin() as conn:                       # intake maps the gateway's id
        conn.execute(registrations.insert().values(
            gw_id="gw-hn-1", seq=99, projectCode="HN-1", gatewayWorker="W000042",
            workerId=wids[3], state="pending", registeredAt=0))
    assert svc.retry([held["id"]]) == 1
    svc.push()
    assert fake.state()["held"]["attendance"] == 2
    assert svc.parked() == []


def test_the_fake_platform_cli_speaks_the_documented_interface(fake):
    bad = national_call(fake.url, "Project.Add", {"projectCode": "X"}, secret="x" * 32)
    assert bad["code"] != 0 and "sign" in bad["message"]
    stale = national_call(fake.url, "Project.Query", {"projectCode": "X"}, ts="20200101000000")
    assert stale["code"] == 1002
    ok = national_call(fake.url, "Project.Add", {
        "projectCode": "HN-X", "name": "测试项目", "contractorCorpCode": "91430100MA4L000001",
        "contractorCorpName": "湖南建工", "areaCode": "430102", "prjStatus": "003"})
    assert ok["code"] == 0 and ok["data"]["requestSerialCode"]
    serial = ok["data"]["requestSerialCode"]
    time.sleep(0.2)
    res = national_call(fake.url, "AsyncHandleResult.Query", {"requestSerialCode": serial})
    assert res["code"] == 0 and res["data"]["status"] == "20"
    # a worker with a broken ID number and an unknown work type: status 10 with the reasons
    w = national_call(fake.url, "ProjectWorker.Add", {
        "projectCode": "HN-X", "corpCode": "91430100MA4L000001", "corpName": "湖南建工",
        "workerList": [{"workerName": "张三", "idCardType": "01", "workType": "999",
                        "workRole": "20", "isTeamLeader": 0,
                        "idCardNumber": _aes("430102198501010010")}]})
    time.sleep(0.2)
    res = national_call(fake.url, "AsyncHandleResult.Query",
                        {"requestSerialCode": w["data"]["requestSerialCode"]})
    assert res["data"]["status"] == "10"
    assert "workType" in res["data"]["result"] and "idCardNumber" in res["data"]["result"]
    again = national_call(fake.url, "Project.Query", {"projectCode": "HN-X"}, nonce="n-1")
    assert again["code"] == 0
    replay = national_call(fake.url, "Project.Query", {"projectCode": "HN-X"}, nonce="n-1")
    assert replay["code"] == 1006


def _aes(value):
    from platform_kit import aes_seal
    return aes_seal(value)


GZ_KEY = "gz-access-key-2026"


def test_the_guangzhou_profile_signs_with_md5_and_seals_des_fields(tmp_path):
    f = FakeProc("guangzhou", secret=GZ_KEY)
    try:
        store, c, wids, gw, svc = make(tmp_path, f.url, secret=GZ_KEY, profile="guangzhou",
                                       timeout_s=1.0, lease_s=4.0)
        gw.punches([lane(w) for w in wids] + [phone(wids[0])], today_ms(8))
        out = svc.push()
        assert out["targets"]["hunan"]["kinds"] == {"attendance": {"done": 1}}  # what it carries
        st = f.state()
        assert st["held"]["attendance"] == 6 and set(st["submitted"].values()) == {1}
        # no query in this profile: an in-doubt write is sent again, the duplicate answer
        # counts as delivered, and the platform still holds each record once
        gw.punches([lane(w, "out") for w in wids], today_ms(18))
        f.inject("timeout", count=1, delay_s=2.0)
        svc.push()
        [late] = [j for j in jobs(store, kind="attendance") if j["id"] != jobs(
            store, kind="attendance")[0]["id"]]
        assert (late["state"], late["resolvedBy"], late["attempts"]) == ("done", "duplicate", 2)
        st = f.state()
        assert st["held"]["attendance"] == 11
        assert sorted(st["submitted"].values()).count(2) == 5     # sent twice, held once
    finally:
        f.stop()


def test_a_wrong_guangzhou_key_is_parked_with_the_platforms_words(tmp_path):
    f = FakeProc("guangzhou", secret=GZ_KEY)
    try:
        store, c, wids, gw, svc = make(tmp_path, f.url, secret="not-the-key-2026",
                                       profile="guangzhou")
        gw.punches([lane(w) for w in wids], today_ms(8))
        svc.push(horizon_s=2.0)
        [job] = svc.parked()
        assert job["reason"] == "resultCode 1: 签名错误"
        assert f.state()["held"]["attendance"] == 0
    finally:
        f.stop()


def test_no_secret_and_no_personal_number_reaches_the_logs(tmp_path, fake, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    store, c, wids, gw, svc = make(tmp_path, fake.url)
    gw.punches([lane(w) for w in wids], today_ms(8))
    fake.inject("status10", count=1, reason="校验失败")
    fake.inject("5xx", count=2)
    svc.push(horizon_s=2.0)
    svc.retry(target="hunan")
    svc.push()
    text = caplog.text + repr(svc.targets) + json.dumps(svc.status(), default=str)
    assert "parked" in caplog.text                        # the log did say something
    assert SECRET not in text and SECRET.lower() not in text
    assert not any(make_id(i + 1, "450103") in text for i in range(5))
