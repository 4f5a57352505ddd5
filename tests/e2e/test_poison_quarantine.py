"""A correctly signed block central can never store: real `sitegate run`, real
`sitegate-central run` on PostgreSQL, real Mosquitto.  Central answers it with a definite
``rejected`` (today: no answer, the gateway re-sends forever and nothing after it arrives), the
gateway shows the alarm in `sitegate status`, the operator quarantines it with
`sitegate-central quarantine accept`, and the chain goes on without losing its evidence."""
from __future__ import annotations

import json
import subprocess
import time

from central.store import Store
from gateway.config import load
from gateway import keys
from outbox_faults import inject_raw, provision, site_toml
from procs import central_cmd, sitegate_cmd
from spine import wait_for
from uplink.outbox import Outbox
from uplink.wire import MAX_INT

GW = "gw-poison-1"


def _status(site, env) -> tuple[int, dict]:
    out = subprocess.run(sitegate_cmd("status", "-c", str(site), "--json"), env=env,
                         capture_output=True, text=True, timeout=60)
    return out.returncode, json.loads(out.stdout)


def _codes(report) -> set[str]:
    return {a["code"] for a in report["alarms"]}


def test_poison_block_rejected_shown_quarantined_and_the_chain_goes_on(
        home, mosquitto, postgres_url, tmp_path):
    site = site_toml(home, GW, mosquitto.url)
    env = provision(home, site, GW, db=postgres_url)
    cfg = load(site, home)
    # records 1-3 fine, 4 with ts 2^53-1 (committed by an older version: no wire check then),
    # 5-6 fine -- all committed before the daemon starts
    outbox = Outbox(cfg.outbox_path, GW, keys.load(cfg.key_file), cfg.limits)
    outbox.append_many([{"decision": "allow", "dir": "in", "worker": f"W{i:06d}"}
                        for i in (1, 2, 3)], ts_ms=1_767_225_600_000)
    outbox.close()
    assert inject_raw(cfg.outbox_path, GW, MAX_INT, "attendance",
                      {"decision": "allow", "dir": "in", "worker": "W000004"}) == 4
    outbox = Outbox(cfg.outbox_path, GW, keys.load(cfg.key_file), cfg.limits)
    outbox.append_many([{"decision": "allow", "dir": "in", "worker": f"W{i:06d}"}
                        for i in (5, 6)], ts_ms=1_767_225_700_000)
    outbox.close()

    store = Store(postgres_url)
    log = open(tmp_path / "procs.log", "ab")
    central = subprocess.Popen(central_cmd("run", "--db", postgres_url, "--broker",
                                           mosquitto.url), env=env, stdout=log, stderr=log)
    daemon = subprocess.Popen(sitegate_cmd("run", "-c", str(site)), env=env, stdout=log,
                              stderr=log)
    try:
        wait_for(lambda: store.gateway(GW)["head_seq"] == 3, 60, "records 1-3 stored")

        def rejected_shown():
            code, report = _status(site, env)
            return code == 1 and "central_rejected" in _codes(report)
        wait_for(rejected_shown, 60, "central_rejected in `sitegate status`")
        code, report = _status(site, env)
        alarm = next(a for a in report["alarms"] if a["code"] == "central_rejected")
        assert alarm["level"] == "critical" and "limit:" in alarm["message"]
        assert report["state"] == "alarm"

        listed = subprocess.run(central_cmd("quarantine", "list", "--json", "--gateway", GW,
                                            "--db", postgres_url),
                                env=env, capture_output=True, text=True, check=True)
        held = json.loads(listed.stdout)["held"]
        assert [(h["gw_id"], h["first"], h["last"], h["kind"]) for h in held] == \
            [(GW, 4, 4, "limit")], "the poison record is sealed alone and held at central"
        shown = subprocess.run(central_cmd("quarantine", "show", GW, "4", "--db", postgres_url),
                               env=env, capture_output=True, text=True, check=True)
        assert json.loads(shown.stdout)["ts"] == MAX_INT
        assert store.gateway(GW)["head_seq"] == 3, "nothing after the poison block got in"
        # refused for good: re-sent once per ack_timeout (2 s), not in a tight loop
        before = store.rejection_counts(GW).get("limit", 0)
        time.sleep(6)
        assert store.rejection_counts(GW).get("limit", 0) - before <= 5

        refused = subprocess.run(central_cmd("quarantine", "accept", GW, "4", "--note", " ",
                                             "--db", postgres_url), env=env,
                                 capture_output=True, text=True)
        assert refused.returncode != 0 and store.gateway(GW)["head_seq"] == 3
        subprocess.run(central_cmd("quarantine", "accept", GW, "4", "--note",
                                   "site 17: gateway clock fault, record kept as evidence",
                                   "--db", postgres_url), env=env, check=True,
                       capture_output=True)
        wait_for(lambda: store.gateway(GW)["head_seq"] == 6, 60, "the chain goes on to 6")
        assert store.seqs(GW) == [1, 2, 3, 5, 6]

        def cleared():
            code, report = _status(site, env)
            return code == 0 and report["outbox"]["backlog"] == 0 and \
                "central_rejected" not in _codes(report)
        wait_for(cleared, 60, "the alarm clears once central acknowledged past the block")
    finally:
        daemon.terminate()
        daemon.wait(20)
        central.terminate()
        central.wait(20)
        log.close()
    verify = subprocess.run(central_cmd("verify", "--json", "--gateway", GW, "--db", postgres_url),
                            env=env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    result = json.loads(verify.stdout)[0]
    assert result["ok"] and result["verified_records"] == 5
    assert result["unstored"] == [[4, 4, "quarantined"]]
    export = subprocess.run(central_cmd("export", "--gateway", GW, "--db", postgres_url),
                            env=env, capture_output=True, text=True, check=True)
    lines = [json.loads(x) for x in export.stdout.splitlines()]
    evidence = [x for x in lines if x.get("unstored") == "quarantined"]
    assert len(evidence) == 1 and evidence[0]["records"][0]["ts"] == MAX_INT
    assert "clock fault" in evidence[0]["note"]
