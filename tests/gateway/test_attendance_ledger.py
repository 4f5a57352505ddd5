"""The attendance ledger following a real outbox: idempotent catch-up that resumes, concurrent
catch-up from two instances, voids, the site's local day, gaps and foreign record types."""
from __future__ import annotations

import logging
import sqlite3
import threading

import pytest

from attendance_records import allow, deny, local_ms, put, signed_outbox, void
from gateway.ledger.ledger import (Ledger, LedgerError, local_day_minute, month_bounds, month_calendar,
                                parse_month, today_summary)
from uplink.outbox import Outbox

pytestmark = pytest.mark.timeout(120)


def rows(ledger: Ledger, sql: str, *args):
    return ledger._conn.execute(sql, args).fetchall()


def count(ledger: Ledger, table: str) -> int:
    return rows(ledger, f"SELECT COUNT(*) FROM {table}")[0][0]


@pytest.fixture
def outbox(tmp_path):
    ob = signed_outbox(tmp_path / "outbox.db")
    yield ob
    ob.close()


# ---------------------------------------------------------------- pure helpers
def test_local_day_boundary_at_utc_plus_8():
    late, early = local_ms(2026, 11, 20, 23, 30), local_ms(2026, 11, 21, 0, 30)
    assert early - late == 3600_000
    assert local_day_minute(late, 480) == ("2026-11-20", 23 * 60 + 30)
    assert local_day_minute(early, 480) == ("2026-11-21", 30)
    # the same two instants are one UTC day apart only by the offset: at UTC both are the 20th
    assert local_day_minute(late, 0)[0] == local_day_minute(early, 0)[0] == "2026-11-20"


def test_parse_month_and_bounds():
    assert parse_month("2026-11") == (2026, 11)
    assert parse_month("2028-02") == (2028, 2)
    for bad in ("2026-13", "2026-00", "2026-1", "26-11", "2026/11", "november", "2026-11-01", "",
                "1999-12", " 2026-11", "2026-+1", "2026- 1", "2026-1 ", "+2026-11"):
        with pytest.raises(LedgerError, match="YYYY-MM"):
            parse_month(bad)
    assert month_bounds(2028, 2) == ("2028-02-01", "2028-02-29", 29)
    assert month_bounds(2026, 2) == ("2026-02-01", "2026-02-28", 28)
    assert month_bounds(2026, 12)[1:] == ("2026-12-31", 31)


def test_month_calendar_monday_first():
    weeks = month_calendar(2026, 11)              # 1 November 2026 is a Sunday
    assert weeks[0] == [0, 0, 0, 0, 0, 0, 1]
    assert weeks[-1][0] == 30 and weeks[-1][1:] == [0] * 6
    assert sorted(d for w in weeks for d in w if d) == list(range(1, 31))


def test_today_summary_counts_hours_teams_and_on_site():
    passages = [("W1", "in", 7 * 60 + 55), ("W2", "in", 8 * 60 + 1), ("W1", "out", 17 * 60),
                ("W3", "in", 8 * 60 + 30), ("W4", None, 9 * 60)]
    s = today_summary(passages, ["W2", "W3"], {"W1": "A", "W2": "A", "W3": None})
    assert (s["on_site"], s["entries"], s["exits"]) == (2, 3, 1)
    assert s["hours"][7] == {"in": 1, "out": 0} and s["hours"][8] == {"in": 2, "out": 0}
    assert s["hours"][17] == {"in": 0, "out": 1} and s["hours"][9] == {"in": 0, "out": 0}
    assert s["teams"] == {"": {"in": 1, "out": 0, "on_site": 1},
                          "A": {"in": 2, "out": 1, "on_site": 1}}
    assert list(s["teams"]) == ["", "A"]


# ---------------------------------------------------------------- catch-up
def test_catch_up_twice_counts_once_and_resumes_after_reopen(tmp_path, outbox):
    day = (2026, 11, 3)
    put(outbox, allow("W1", "in"), local_ms(*day, 7, 50))
    put(outbox, allow("W2", "in"), local_ms(*day, 7, 55))
    put(outbox, deny("W3", "contract_expired"), local_ms(*day, 7, 58))
    put(outbox, allow("W1", "out"), local_ms(*day, 17, 5))
    ledger = Ledger(tmp_path / "attendance.db", 480)
    assert ledger.catch_up(outbox) == 4
    assert ledger.catch_up(outbox) == 0                    # nothing new: nothing added twice
    assert ledger.last_seq == 4 and count(ledger, "passages") == 4
    assert rows(ledger, "SELECT worker, ins, outs, last_dir FROM days ORDER BY worker") == \
        [("W1", 1, 1, "out"), ("W2", 1, 0, "in")]
    assert ledger.month_days(2026, 11) == {"W1": {3}, "W2": {3}}
    assert ledger.on_site("2026-11-03") == ["W2"]
    assert ledger.day_denials("2026-11-03") == 1
    assert ledger.worker_denials("W3", 2026, 11) == {3: ["contract_expired"]}
    assert ledger.worker_month("W1", 2026, 11) == {3: {"first": "07:50", "last": "17:05", "ins": 1, "outs": 1}}
    ledger.close()

    # more records arrive while the ledger is closed; a new instance resumes from its mark
    put(outbox, allow("W2", "out"), local_ms(*day, 18, 0))
    put(outbox, allow("W1", "in"), local_ms(2026, 11, 4, 7, 45))
    again = Ledger(tmp_path / "attendance.db", 480)
    assert again.last_seq == 4
    assert again.catch_up(outbox) == 2
    assert again.catch_up(outbox) == 0
    assert again.last_seq == 6 and count(again, "passages") == 6
    assert again.month_days(2026, 11) == {"W1": {3, 4}, "W2": {3}}
    assert again.on_site("2026-11-03") == [] and again.on_site("2026-11-04") == ["W1"]
    assert again.gaps() == []
    again.close()


def test_a_lost_mark_does_not_count_twice(tmp_path, outbox):
    for d in (2, 3):
        put(outbox, allow("W1", "in"), local_ms(2026, 11, d, 8))
        put(outbox, allow("W1", "out"), local_ms(2026, 11, d, 17))
    v = put(outbox, allow("W2", "in"), local_ms(2026, 11, 3, 8))
    put(outbox, void("W2", v), local_ms(2026, 11, 3, 8, 0, 9))
    ledger = Ledger(tmp_path / "attendance.db", 480)
    assert ledger.catch_up(outbox) == 6
    before = rows(ledger, "SELECT * FROM days ORDER BY worker, day")
    ledger._conn.execute("DELETE FROM meta")               # e.g. restored from an older copy
    assert ledger.last_seq == 0
    assert ledger.catch_up(outbox) == 0
    assert ledger.last_seq == 6
    assert rows(ledger, "SELECT * FROM days ORDER BY worker, day") == before
    assert rows(ledger, "SELECT SUM(ins), SUM(outs) FROM days")[0] == (2, 2)
    ledger.close()


def test_catch_up_in_small_batches_takes_everything(tmp_path, outbox):
    outbox.append_many([allow(f"W{i % 4}", "in") for i in range(23)], ts_ms=local_ms(2026, 11, 5))
    ledger = Ledger(tmp_path / "attendance.db")
    assert ledger.catch_up(outbox, batch=5) == 23
    assert ledger.last_seq == 23 and count(ledger, "passages") == 23
    assert rows(ledger, "SELECT SUM(ins) FROM days")[0][0] == 23
    assert ledger.catch_up(outbox, batch=5) == 0
    ledger.close()


def test_ingest_skips_records_already_seen():
    ledger = Ledger(":memory:")
    ts = local_ms(2026, 11, 6)
    rec = lambda seq, w: {"seq": seq, "ts": ts + seq, "type": "attendance", "body": allow(w)}  # noqa: E731
    assert ledger.ingest([rec(1, "W1"), rec(2, "W2")]) == 2
    assert ledger.ingest([rec(2, "W2"), rec(3, "W1")]) == 1      # 2 again: skipped
    assert ledger.last_seq == 3
    assert rows(ledger, "SELECT worker, ins FROM days ORDER BY worker") == [("W1", 2), ("W2", 1)]
    assert ledger.ingest([]) == 0 and ledger.last_seq == 3
    ledger.close()


def test_two_ledgers_catching_up_concurrently_count_exactly(tmp_path, outbox):
    """The daemon's follower and `sitegate export` may catch up at the same moment, each over its
    own read-only outbox connection, while the lanes keep appending."""
    ts = local_ms(2026, 11, 9, 8)
    path = tmp_path / "attendance.db"
    ledgers = [Ledger(path, 480), Ledger(path, 480)]
    readers = [Outbox(outbox.path, outbox.gw, readonly=True) for _ in ledgers]
    done, start = threading.Event(), threading.Barrier(3)
    added = [0, 0]
    errors = []

    def writer():
        start.wait()
        for i in range(40):
            outbox.append_many([allow(f"W{(i * 10 + j) % 7}", "in" if j % 2 else "out")
                                for j in range(10)], ts_ms=ts + i)
        done.set()

    def follower(k):
        start.wait()
        try:
            while True:
                last = done.is_set()
                added[k] += ledgers[k].catch_up(readers[k], batch=7)
                if last:
                    return
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=follower, args=(k,))
                                                    for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert outbox.head_seq == 400
    assert sum(added) == 400                               # each record counted by exactly one
    check = Ledger(path, 480)
    assert check.last_seq == 400 and count(check, "passages") == 400
    assert rows(check, "SELECT MIN(seq), MAX(seq) FROM passages")[0] == (1, 400)
    assert rows(check, "SELECT SUM(ins), SUM(outs) FROM days")[0] == (200, 200)
    assert check.gaps() == []
    for x in (*ledgers, *readers, check):
        x.close()


# ---------------------------------------------------------------- voids
def test_void_cancels_the_day_and_a_day_with_another_passage_stays(tmp_path, outbox):
    day = (2026, 11, 10)
    a = put(outbox, allow("W1", "in"), local_ms(*day, 8, 0))
    put(outbox, void("W1", a), local_ms(*day, 8, 0, 9))        # nobody walked through
    put(outbox, allow("W2", "in"), local_ms(*day, 7, 40))
    put(outbox, allow("W2", "out"), local_ms(*day, 17, 0))
    b = put(outbox, allow("W2", "in"), local_ms(*day, 18, 0))
    put(outbox, void("W2", b), local_ms(*day, 18, 0, 8))
    ledger = Ledger(tmp_path / "attendance.db", 480)
    ledger.catch_up(outbox)
    assert ledger.month_days(2026, 11) == {"W2": {10}}
    # W2's day is recomputed without the voided entry: one in, one out, last seen leaving
    assert ledger.worker_month("W2", 2026, 11) == {10: {"first": "07:40", "last": "17:00", "ins": 1, "outs": 1}}
    assert ledger.on_site("2026-11-10") == []
    assert sorted(ledger.day_passages("2026-11-10")) == [("W2", "in", 7 * 60 + 40), ("W2", "out", 17 * 60)]
    assert rows(ledger, "SELECT seq FROM passages WHERE voided = 1 ORDER BY seq") == [(a,), (b,)]
    ledger.close()


def test_void_after_midnight_cancels_the_day_of_the_passage(tmp_path, outbox):
    a = put(outbox, allow("W1", "in"), local_ms(2026, 11, 11, 23, 59, 55))
    put(outbox, void("W1", a), local_ms(2026, 11, 12, 0, 0, 5))
    put(outbox, allow("W2", "in"), local_ms(2026, 11, 11, 23, 30))
    ledger = Ledger(tmp_path / "attendance.db", 480)
    ledger.catch_up(outbox)
    assert ledger.month_days(2026, 11) == {"W2": {11}}
    ledger.close()


def test_local_day_boundary_in_the_ledger(tmp_path, outbox):
    put(outbox, allow("W1", "in"), local_ms(2026, 11, 20, 23, 30))
    put(outbox, allow("W2", "in"), local_ms(2026, 11, 21, 0, 30))
    put(outbox, allow("W3", "in"), local_ms(2026, 11, 30, 23, 59))
    put(outbox, allow("W3", "out"), local_ms(2026, 12, 1, 0, 1))    # next month at the site
    site = Ledger(tmp_path / "site.db", 480)
    site.catch_up(outbox)
    assert site.month_days(2026, 11) == {"W1": {20}, "W2": {21}, "W3": {30}}
    assert site.month_days(2026, 12) == {"W3": {1}}
    assert site.worker_month("W2", 2026, 11)[21]["first"] == "00:30"
    utc = Ledger(tmp_path / "utc.db", 0)                      # a UTC site sees other days
    utc.catch_up(outbox)
    assert utc.month_days(2026, 11) == {"W1": {20}, "W2": {20}, "W3": {30}}
    site.close()
    utc.close()


# ---------------------------------------------------------------- gaps and other records
def test_gap_when_the_outbox_purged_records_before_indexing(tmp_path, outbox, caplog):
    ts = local_ms(2026, 11, 12, 8)
    for i in range(3):
        put(outbox, allow(f"W{i}"), ts + i)
    ledger = Ledger(tmp_path / "attendance.db", 480)
    assert ledger.catch_up(outbox) == 3
    for i in range(3, 10):                                 # seq 4..10, the ledger is not looking
        put(outbox, allow(f"W{i}"), ts + i)
    outbox.seal()
    assert outbox.ack(7, outbox.hash_of(7))
    assert outbox.purge(now=ts + 30 * 86400_000) == 7      # central has 1..7; retention drops them
    assert [r["seq"] for r in outbox.iter_records()] == [8, 9, 10]
    caplog.set_level(logging.CRITICAL, logger="sitegate.attendance")
    assert ledger.catch_up(outbox) == 3
    assert ledger.gaps() == [(4, 7)]
    assert ledger.last_seq == 10
    assert [r.levelname for r in caplog.records] == ["CRITICAL"]
    assert "4..7" in caplog.records[0].getMessage()
    assert set(ledger.month_days(2026, 11)) == {"W0", "W1", "W2", "W7", "W8", "W9"}
    caplog.clear()
    assert ledger.catch_up(outbox) == 0                    # reported once, not on every step
    assert ledger.gaps() == [(4, 7)] and caplog.records == []
    ledger.close()


def test_other_record_types_are_skipped_but_the_mark_advances(tmp_path, outbox):
    ts = local_ms(2026, 11, 13, 9)
    put(outbox, allow("W1"), ts)
    put(outbox, {"lane": "entry", "alarm": "gate_stuck"}, ts + 1, type_="alarm")
    put(outbox, {"fw": "1.2"}, ts + 2, type_="device_state")
    ledger = Ledger(tmp_path / "attendance.db", 480)
    assert ledger.catch_up(outbox) == 1
    assert ledger.last_seq == 3 and count(ledger, "passages") == 1
    put(outbox, allow("W2"), ts + 3)
    assert ledger.catch_up(outbox) == 1
    assert ledger.last_seq == 4 and ledger.gaps() == []
    assert ledger.month_days(2026, 11) == {"W1": {13}, "W2": {13}}
    # only other types after the mark: nothing indexed, but they are not read again either
    put(outbox, {"fw": "1.3"}, ts + 4, type_="device_state")
    assert ledger.catch_up(outbox) == 0 and ledger.last_seq == 5
    ledger.close()


def test_denials_and_anonymous_records_make_no_day(tmp_path, outbox):
    ts = local_ms(2026, 11, 14, 9)
    put(outbox, deny(None, "card_bad_id_number"), ts)
    put(outbox, deny("W5", "blacklisted"), ts + 1)
    put(outbox, {**allow("W6"), "dir": None}, ts + 2)         # allowed, no direction: a day, no count
    ledger = Ledger(tmp_path / "attendance.db", 480)
    assert ledger.catch_up(outbox) == 3
    assert ledger.month_days(2026, 11) == {"W6": {14}}
    assert ledger.day_denials("2026-11-14") == 2
    assert rows(ledger, "SELECT ins, outs FROM days WHERE worker = 'W6'") == [(0, 0)]
    ledger.close()


def test_readonly_ledger_reads_and_cannot_write(tmp_path, outbox):
    put(outbox, allow("W1"), local_ms(2026, 11, 15))
    Ledger(tmp_path / "attendance.db").catch_up(outbox)
    ro = Ledger(tmp_path / "attendance.db", readonly=True)
    assert ro.month_days(2026, 11) == {"W1": {15}}
    put(outbox, allow("W2"), local_ms(2026, 11, 15))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.catch_up(outbox)
    assert ro.last_seq == 1                                # rolled back, nothing half-written
    ro.close()


def test_gap_at_the_end_is_reported_without_waiting_for_a_newer_record(tmp_path, outbox, caplog):
    ts = local_ms(2026, 11, 14, 8)
    for i in range(3):
        put(outbox, allow(f"W{i}"), ts + i)
    ledger = Ledger(tmp_path / "attendance.db", 480)
    assert ledger.catch_up(outbox) == 1 + 1 + 1
    for i in range(3, 6):                                  # 4..6, then acked and purged
        put(outbox, allow(f"W{i}"), ts + i)
    outbox.seal()
    assert outbox.ack(6, outbox.hash_of(6))
    assert outbox.purge(now=ts + 30 * 86400_000) == 6
    assert list(outbox.iter_records()) == []
    caplog.set_level(logging.CRITICAL, logger="sitegate.attendance")
    assert ledger.catch_up(outbox) == 0
    assert ledger.gaps() == [(4, 6)] and ledger.last_seq == 6
    assert "4..6" in caplog.records[0].getMessage()
    put(outbox, allow("W9"), ts + 9)                        # the next record follows on cleanly
    assert ledger.catch_up(outbox) == 1 and ledger.gaps() == [(4, 6)]
    ledger.close()
