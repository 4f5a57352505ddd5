"""The lane state machine and the pass rules, without devices (pure)."""
from __future__ import annotations

from datetime import date

import pytest

from gateway.clockin import machine as L
from gateway.clockin.rules import Rules, age_on, eligibility, passback
from gateway.roster.worker import Worker

TODAY = date(2026, 11, 21)
OK_LIVE = {"passed": True, "reason": "ok", "turn_milli": 300, "frames": 6}
MATCH = {"worker_id": "W1", "distance": 0.31, "margin": 0.2, "decision": "match", "reason": "ok"}


def machine(**kw):
    return L.LaneMachine(L.LaneSettings(name="e1", device="gw/e1", **kw))


def run_allow(m, worker=Worker("W1")):
    acts = m.handle(L.CardPresented(worker), TODAY)
    assert acts == [L.Capture("W1")] and m.state is L.State.CAPTURE
    acts = m.handle(L.Captured(liveness=OK_LIVE, match=MATCH), TODAY)
    (commit,) = acts
    assert isinstance(commit, L.Commit) and m.state is L.State.COMMIT
    assert m.handle(L.Committed(7), TODAY) == [L.OpenGate()]      # committed BEFORE opening
    assert m.handle(L.GateOpened(), TODAY) == [L.WaitPassage()]
    return commit.body


def test_allowed_passage_commits_once_then_notes_presence():
    m = machine()
    body = run_allow(m)
    assert body == {"worker": "W1", "dir": "in", "method": "card+face", "device": "gw/e1", "lane": "e1",
                    "decision": "allow", "reason": "ok", "distance_milli": 310, "margin_milli": 200,
                    "liveness": "ok", "turn_milli": 300}
    assert all(isinstance(v, (int, str)) for v in body.values())    # wire set: no floats
    assert m.handle(L.Passage(True), TODAY) == [L.NotePresence("W1", "in")]
    assert m.state is L.State.READY


def test_no_passage_voids_the_record():
    m = machine()
    run_allow(m)
    (commit,) = m.handle(L.Passage(False), TODAY)
    assert commit.body["decision"] == "void" and commit.body["reason"] == "no_passage" and commit.body["ref"] == 7
    assert m.handle(L.Committed(8), TODAY) == [] and m.state is L.State.READY


def test_outbox_full_keeps_the_gate_closed_and_alarms():
    m = machine()
    m.handle(L.CardPresented(Worker("W1")), TODAY)
    m.handle(L.Captured(liveness=OK_LIVE, match=MATCH), TODAY)
    (alarm,) = m.handle(L.CommitFailed("outbox_full"), TODAY)
    assert isinstance(alarm, L.Alarm) and m.state is L.State.READY


@pytest.mark.parametrize("captured, reason", [
    (L.Captured(face_error="no_face"), "no_face"),
    (L.Captured(face_error="multiple_faces"), "multiple_faces"),
    (L.Captured(liveness={"passed": False, "reason": "replayed_frames", "turn_milli": 0}, match=None),
     "liveness_replayed_frames"),
    (L.Captured(liveness=OK_LIVE, match=MATCH | {"decision": "no_match", "reason": "too_far"}), "face_mismatch"),
    (L.Captured(liveness=OK_LIVE, match=MATCH | {"decision": "no_match", "reason": "not_enrolled"}), "not_enrolled"),
])
def test_face_denials(captured, reason):
    m = machine()
    m.handle(L.CardPresented(Worker("W1")), TODAY)
    (commit,) = m.handle(captured, TODAY)
    assert commit.body["decision"] == "deny" and commit.body["reason"] == reason
    assert m.handle(L.Committed(1), TODAY) == [] and m.state is L.State.READY


@pytest.mark.parametrize("worker, reason", [
    (None, "unknown_worker"),
    (Worker("W1", blacklisted=True), "blacklisted"),
    (Worker("W1", status="exited"), "exited"),
    (Worker("W1", contract_end=date(2026, 11, 20)), "contract_expired"),
    (Worker("W1", special_op="JZ-01"), "certificate_missing"),
    (Worker("W1", trade="270", cert_valid_to=date(2026, 1, 1)), "certificate_expired"),
    (Worker("W1", birth=date(2009, 1, 1)), "under_age"),
    (Worker("W1", birth=date(1960, 1, 1), gender="male"), "over_age"),
    (Worker("W1", birth=date(1969, 1, 1), gender="female"), "over_age"),
])
def test_roster_denials_never_capture(worker, reason):
    m = machine()
    (commit,) = m.handle(L.CardPresented(worker), TODAY)
    assert commit.body["reason"] == reason and commit.body["decision"] == "deny"


def test_rules_are_configurable_and_boundaries_exact():
    w = Worker("W1", birth=date(1966, 11, 22), gender="male")
    assert age_on(w.birth, TODAY) == 59 and eligibility(w, TODAY) == (True, "ok")
    assert eligibility(w, TODAY, Rules(max_age_male=58)) == (False, "over_age")
    assert eligibility(Worker("W1", contract_end=TODAY), TODAY) == (True, "ok")
    assert eligibility(Worker("W1", special_op="AQ-2.1"), TODAY,
                       Rules(special_operations=frozenset())) == (True, "ok")
    assert eligibility(Worker("W1", trade="020"), TODAY) == (True, "ok")      # 钢筋工: no certificate


def test_anti_passback():
    assert passback("in", "in", True) == (False, "anti_passback")
    assert passback("in", "in", False) == (True, "ok")
    assert passback("out", "in", True) == (True, "ok")
    m = machine(anti_passback=True)
    (commit,) = m.handle(L.CardPresented(Worker("W1"), last_dir="in"), TODAY)
    assert commit.body["reason"] == "anti_passback"


def test_face_only_mode_identifies_then_checks_the_roster():
    m = machine(mode="face")
    assert m.handle(L.FaceSeen(), TODAY) == [L.Capture(None)]
    (commit,) = m.handle(L.Captured(liveness=OK_LIVE, match=MATCH, worker=Worker("W1", status="exited")), TODAY)
    assert commit.body["worker"] == "W1" and commit.body["reason"] == "exited" and commit.body["method"] == "face"
    m = machine(mode="face")
    m.handle(L.FaceSeen(), TODAY)
    nobody = {"worker_id": None, "distance": 0.45, "margin": 0.01, "decision": "no_match", "reason": "ambiguous"}
    (commit,) = m.handle(L.Captured(liveness=OK_LIVE, match=nobody), TODAY)
    assert commit.body["worker"] is None and commit.body["reason"] == "face_not_identified"


def test_card_failure_and_events_out_of_order_are_ignored_safely():
    m = machine()
    (commit,) = m.handle(L.CardFailed("bad_id_number"), TODAY)
    assert commit.body["reason"] == "card_bad_id_number"
    m.handle(L.Committed(1), TODAY)
    assert m.handle(L.Passage(True), TODAY) == [] and m.handle(L.GateOpened(), TODAY) == []
    assert m.state is L.State.READY


@pytest.mark.parametrize("mode,offline,reason", [
    ("card+face", ("gate",), "gate_offline"),
    ("card+face", ("camera",), "camera_offline"),
    ("card+face", ("gate", "camera"), "gate_offline"),
    ("card", ("gate",), "gate_offline"),
])
def test_a_lost_device_refuses_before_capture_or_open(mode, offline, reason):
    m = machine(mode=mode)
    (commit,) = m.handle(L.CardPresented(Worker("W1"), offline=offline), TODAY)
    assert (commit.body["decision"], commit.body["reason"], commit.body["worker"]) == ("deny", reason, "W1")
    assert m.handle(L.Committed(3), TODAY) == [] and m.state is L.State.READY     # no OpenGate


def test_roster_reasons_come_before_a_lost_device():
    m = machine()
    (commit,) = m.handle(L.CardPresented(Worker("W1", blacklisted=True), offline=("gate",)), TODAY)
    assert commit.body["reason"] == "blacklisted"
    m.handle(L.Committed(1), TODAY)
    (commit,) = m.handle(L.CardPresented(None, offline=("gate",)), TODAY)
    assert commit.body["reason"] == "unknown_worker"


def test_gate_lost_while_waiting_for_the_passage_voids_the_record():
    m = machine()
    run_allow(m)
    (commit,) = m.handle(L.GateFailed("DeviceLost"), TODAY)
    assert (commit.body["decision"], commit.body["reason"], commit.body["ref"]) == ("void", "gate_DeviceLost", 7)
