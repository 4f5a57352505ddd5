"""Registering an unknown card on site reaches central, end to end with real processes: the
labour manager registers two queued cards (a residence permit and a resident ID card) in the
web app in a real Chromium, served by a real `sitegate run`; the registration records go
through the outbox, a real Mosquitto and a real `sitegate-central run`, and the central
registry lists both workers as pending completion (employer, contract) -- with the ID number
and name nowhere in clear on the way."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess

import pytest

from drivers.sim.samples import HMT, RESIDENT
from gateway import keys
from gateway.config import load
from gateway.roster.store import Roster
from gateway.web.accounts import Accounts
from procs import central_cmd, sitegate_cmd
from spine import wait_for
from brokers import free_port

pytestmark = pytest.mark.timeout(300)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GW = "gw-reg-1"


def test_web_registration_reaches_the_central_registry(home, tmp_path, mosquitto):
    from playwright import sync_api
    assert os.path.exists(CHROMIUM), "Debian chromium is required: apt-get install -y chromium"
    port = free_port()
    site = tmp_path / "site.toml"
    site.write_text(f"""
[gateway]
id = "{GW}"
project = "P-REG"
[broker]
url = "{mosquitto.url}"
[uplink]
linger_s = 0.05
[web]
listen = "127.0.0.1"
port = {port}
""")
    cfg = load(site, home)
    signer = keys.generate(cfg.key_file)
    acc = Accounts(cfg.web.accounts)
    acc.add("boss", "manager", "manager-pass-1")
    acc.close()
    roster = Roster(cfg.roster.path, key_file=home / "keys" / "roster.sm4")
    for card in (HMT, RESIDENT):                       # read at a lane, not on the roster
        roster.note_unknown({k: card.get(k) for k in ("name", "id_number", "gender", "birth", "card_type")},
                            "entry")
    roster.close()

    chome = tmp_path / "central-home"
    chome.mkdir()
    cenv = dict(os.environ, SITEGATE_HOME=str(chome))
    db = f"sqlite:///{tmp_path / 'central.db'}"

    def central(*args, check=True):
        return subprocess.run(central_cmd(*args), env=cenv, capture_output=True, text=True,
                              timeout=120, check=check)
    central("gateways", "add", GW, "--public-key", signer.public_hex, "--project", "P-REG", "--db", db)
    (home / "keys" / "central-intake.pem").write_text(central("intake", "key").stdout)

    log = (tmp_path / "procs.log").open("w")
    ready = tmp_path / "central.ready"
    procs = [subprocess.Popen(central_cmd("run", "--db", db, "--broker", mosquitto.url,
                                          "--ready-file", str(ready)), env=cenv, stdout=log, stderr=log)]
    procs.append(subprocess.Popen(sitegate_cmd("run", "-c", str(site)), stdout=log, stderr=log,
                                  env=dict(os.environ, SITEGATE_HOME=str(home))))
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                 args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
    try:
        wait_for(ready.exists, 60, "central to subscribe")
        url = f"http://127.0.0.1:{port}"
        page = browser.new_page(locale="zh-CN")

        def web_up():
            try:
                return page.goto(url + "/login").status == 200
            except Exception:  # noqa: BLE001 - not listening yet
                return False
        wait_for(web_up, 60, "the web app")
        page.fill("#user", "boss")
        page.fill("#password", "manager-pass-1")
        page.click("#signin")
        page.goto(url + "/unknown")
        sent = {}
        for card, wid, fields in ((HMT, "W000301", {"trade": "020"}),
                                  (RESIDENT, "W000302", {"special_op": "JZ-01"})):
            form = page.locator(".unknown-card", has_text=card["name"])
            form.locator("input[name=worker_id]").fill(wid)
            form.locator("input[name=team]").fill("钢筋一班")
            for name, value in fields.items():
                form.locator(f"select[name={name}]").select_option(value)
            form.locator(".do-register").click()
            page.wait_for_url(f"**/workers/{wid}")
            flash = page.locator("#flash").inner_text()
            assert "已报送中心平台" in flash, flash          # committed to the outbox at once
            sent[wid] = int(flash.split("记录 ")[1].split("）")[0])
            assert str(sent[wid]) in page.locator("#registration").inner_text()
            page.goto(url + "/unknown")
        assert page.locator(".unknown-card").count() == 0

        def registry():
            out = central("registrations", "--project", "P-REG", "--json", "--db", db)
            return {r["gatewayWorker"]: r for r in json.loads(out.stdout)}
        wait_for(lambda: len(registry()) == 2, 60, "central's registry to list both workers")
        got = registry()
        permit, resident = got["W000301"], got["W000302"]
        assert (permit["status"], permit["missing"]) == ("pending", ["idCardType", "employer", "contract"])
        assert (permit["cardType"], permit["idCardNumber"], permit["workType"], permit["teamName"]) == \
            ("hmt_residence", "8100**********0019", "020", "钢筋一班")
        assert (resident["status"], resident["missing"]) == ("pending", ["employer", "contract"])
        assert resident["workerId"] and resident["specialOp"] == "JZ-01"
        assert {permit["seq"], resident["seq"]} == set(sent.values())
        # the person crossed the broker and sits in central's records only encrypted
        with sqlite3.connect(tmp_path / "central.db") as c:
            stored = " ".join(d for (d,) in c.execute("SELECT data FROM records"))
            person = " ".join(str(v) for row in c.execute("SELECT * FROM workers") for v in row)
        for card in (HMT, RESIDENT):
            assert card["id_number"] not in stored and card["name"] not in stored
            assert card["id_number"] not in person and card["name"] not in person
        assert '"type":"registration"' in stored
    finally:
        browser.close()
        pw.stop()
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
    text = (tmp_path / "procs.log").read_text()
    assert procs[1].returncode == 0, text[-3000:]
    for card in (HMT, RESIDENT):
        assert card["id_number"] not in text and card["name"] not in text
