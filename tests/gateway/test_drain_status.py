"""A drain's progress (backlog, rate, ETA) as the running daemon reports it in its health file:
in `sitegate status` (text and --json) and on the web app's devices page."""
from __future__ import annotations

import datetime as dt
import json
import time

from click.testing import CliRunner

from webfixtures import PASSWORDS, TZ, make_site

DRAIN = {"backlog": 900_000, "rate_per_s": 8123.4, "eta_s": 111, "draining": True,
         "window": 32, "busy_for_s": 0.0}


def _health(home, drain) -> None:
    (home / "run").mkdir(parents=True, exist_ok=True)
    (home / "run" / "health.json").write_text(json.dumps(
        {"ts": time.time(), "pid": 1, "gw": "gw", "healthy": True, "uplink_connected": True,
         "alarms": [], "lanes": [], "devices": [], "drain": drain}))


def test_status_shows_the_drain(tmp_path, monkeypatch):
    from gateway.cli.main import main
    from uplink.outbox import Outbox
    monkeypatch.setenv("SITEGATE_HOME", str(tmp_path))
    monkeypatch.setenv("SITEGATE_LANG", "en")
    site = tmp_path / "site.toml"
    site.write_text('[gateway]\nid = "gw-drain-1"\n')
    outbox = Outbox(tmp_path / "outbox.db", "gw-drain-1")
    outbox.append_many([{"n": i} for i in range(5)])
    outbox.close()
    runner = CliRunner()
    out = runner.invoke(main, ["status", "--json", "-c", str(site)])
    assert json.loads(out.output)["drain"] is None, "no daemon: no drain figures"
    _health(tmp_path, DRAIN)
    out = runner.invoke(main, ["status", "--json", "-c", str(site)])
    assert json.loads(out.output)["drain"] == DRAIN
    text = runner.invoke(main, ["status", "-c", str(site)], env={"COLUMNS": "200"}).output
    assert "drain rate" in text and "8123 records/s" in text and "1.9 min" in text, text
    _health(tmp_path, dict(DRAIN, eta_s=None, rate_per_s=0.0))
    text = runner.invoke(main, ["status", "-c", str(site)], env={"COLUMNS": "200"}).output
    assert "not known yet" in text, text


def test_devices_page_shows_the_drain(tmp_path):
    from fastapi.testclient import TestClient

    from gateway.cli.web import open_accounts
    from gateway.ledger.site_data import SiteData
    from gateway.web.app import build_app
    cfg, _ = make_site(tmp_path, dt.datetime.now(TZ).date())
    data = SiteData(cfg)
    try:
        c = TestClient(build_app(data, open_accounts(cfg)))
        assert c.post("/login", data={"user": "boss", "password": PASSWORDS["boss"]},
                      follow_redirects=False).status_code == 303
        assert 'id="drain"' not in c.get("/devices?lang=en").text
        _health(cfg.home, dict(DRAIN, busy_for_s=12.0))
        page = c.get("/devices?lang=en").text
        assert "900000 records waiting" in page and "8123 records/s" in page, page
        assert "1.9 min" in page and "sending again in 12 s" in page
        assert "补传" not in page
        zh = c.get("/devices?lang=zh").text
        assert "900000 条待上传" in zh
    finally:
        data.close()
