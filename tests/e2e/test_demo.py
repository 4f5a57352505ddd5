"""`sitegate demo` end to end, as a newcomer runs it (a real process, the embedded broker, real
`sitegate-central run` and `sitegate run` processes, the pty simulators), and every artefact it
prints checked against what it claims: central's database and verification, the warnings its
payroll must raise, the 考勤表's days, the outbox, the fence; then a real Chromium signs in
through the printed one-time link."""
from __future__ import annotations

import csv
import json
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from paths import FACES, ROOT
from procs import central_cmd, sitegate_cmd

pytestmark = pytest.mark.timeout(900)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "demo"


def _start(home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, SITEGATE_HOME=str(home))
    return subprocess.Popen(sitegate_cmd("demo", "--json", *args), env=env, stdout=subprocess.PIPE,
                            stderr=open(home / "demo.stderr", "wb"), text=True)


def _summary(proc: subprocess.Popen, home: Path, timeout: float = 600) -> dict:
    """The one JSON line the demo prints when its summary is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if line.strip().startswith("{"):
                return json.loads(line)
            if not line and proc.poll() is not None:
                break
    raise AssertionError("no summary from the demo:\n" +
                         (home / "demo.stderr").read_text(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def with_faces(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-faces")
    proc = _start(home, "--faces", str(FACES), "--stay", "300")
    try:
        summary = _summary(proc, home)
        yield home, summary, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)         # ends the web app's stay early
        proc.wait(60)


@pytest.fixture(scope="module")
def without_faces(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-cards")
    proc = _start(home, "--stay", "0")
    summary = _summary(proc, home)
    assert proc.wait(60) == 0, (home / "demo.stderr").read_text()[-3000:]
    return home, summary


def _central(summary: dict, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SITEGATE_HOME=str(Path(summary["folder"]) / "central"))
    out = subprocess.run(central_cmd(*args), env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def _check_common(summary: dict) -> None:
    assert summary["ok"] is True, summary["problems"]
    # every artefact printed exists, and the summary file is the summary
    for name, path in summary["artefacts"].items():
        assert Path(path).exists(), name
    assert json.loads(Path(summary["artefacts"]["summary (JSON)"]).read_text())["records"] == \
        summary["records"]
    # the spine: everything committed was acknowledged; central verified every record itself
    rec = summary["records"]
    assert rec["produced"] == rec["acknowledged"] > rec["simulated_month"] > 100
    shown = json.loads(_central(summary, "gateways", "show", "gw-demo-0001", "--json").stdout)
    assert shown["head_seq"] == shown["records"] == rec["produced"]
    verified = json.loads(_central(summary, "verify", "--json").stdout)
    assert [v["ok"] for v in verified] == [True] and verified[0]["verified_records"] == rec["produced"]
    assert summary["databases"]["outbox"]["tables"]["records"] == rec["produced"]
    # the lanes: one rule -- the unknown card and the ended contract refused, the rest passed
    lanes = summary["lanes"]
    reasons = {x["who"]: x["reason"] for x in lanes if x["decision"] != "allow"}
    assert sorted(reasons.values()) == ["contract_expired", "unknown_worker"], reasons
    assert all(x["passed"] for x in lanes if x["decision"] == "allow")
    assert sum(1 for x in lanes if x["decision"] == "allow" and x["lane"] == "exit") >= 1
    # the phone: a fix 1.5 km off the road is outside the corridor; a repeated attempt is refused
    phone = summary["phone"]
    assert [x["status"] for x in phone if x.get("where") == "off_road"] == ["outside"] * 3
    assert [x["http"] for x in phone if x.get("where") == "replay"] == [409] * 3
    # central's month: the unpaid worker is W10's, the overpaid one W18's (warnings.json)
    warnings = json.loads(Path(summary["artefacts"]["central warnings (JSON)"]).read_text())
    by_rule = {w["rule"]: w for w in warnings}
    w = summary["warnings"]
    assert summary["warnings"]["unpaid_worker"] in json.dumps(by_rule["W10"], ensure_ascii=False)
    assert w["overpaid_worker"] in json.dumps(by_rule["W18"], ensure_ascii=False)
    listed = json.loads(_central(summary, "warnings", "list", "--json").stdout)
    assert sorted(x["rule"] for x in listed) == sorted(r for r, n in w["by_rule"].items()
                                                       for _ in range(n))
    # the 考勤表 of the simulated month: each worker's days as simulated, ID numbers masked
    import openpyxl
    sheet = openpyxl.load_workbook(summary["artefacts"]["attendance sheet (考勤表)"]).active
    rows = [r for r in sheet.iter_rows(values_only=True) if isinstance(r[0], int)]
    days = {r[1]: r[-1] for r in rows}
    assert days == rec["days_present"]
    assert all("*" in r[3] for r in rows)
    # this month's sheet has today's lane passages
    with open(summary["artefacts"]["attendance sheet, this month (CSV)"], encoding="utf-8-sig") as f:
        this_month = [r for r in csv.reader(f)][2:]
    passed_in = {x["worker"] for x in lanes if x["decision"] == "allow" and x["lane"] == "entry"}
    assert {r[1] for r in this_month if int(r[-1]) >= 1} >= passed_in
    # the fence: drawn in GCJ-02
    fence = json.loads(Path(summary["artefacts"]["fence (GCJ-02 corridor)"]).read_text())
    assert fence["properties"]["crs"] == "gcj02"


def test_demo_without_faces(without_faces):
    home, summary = without_faces
    _check_common(summary)
    assert summary["faces"] is False
    # no photo, no selfie match: the page refuses on the road and records nothing
    assert [x["status"] for x in summary["phone"] if x.get("where") == "on_road"] == ["face_retry"] * 3
    assert any("dynamic-security" in n for n in summary["notes"])


def test_demo_with_faces(with_faces):
    home, summary, _ = with_faces
    _check_common(summary)
    assert summary["faces"] is True
    assert [x["status"] for x in summary["phone"] if x.get("where") == "on_road"] == ["ok"] * 3
    assert all(x["seq"] for x in summary["phone"] if x.get("where") == "on_road")


def test_browser_signs_in_through_the_printed_link(with_faces):
    from playwright import sync_api      # no skip: the link must work in a browser
    assert os.path.exists(CHROMIUM), "Debian chromium is required (make system-deps)"
    home, summary, proc = with_faces
    assert proc.poll() is None, "the demo should still serve the web app (--stay)"
    link = summary["web"]["link"]
    assert link.startswith("http://127.0.0.1:") and "/signin/" in link
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(link)
            assert "demo-manager" in page.inner_text("#link-note")
            page.click("#link-signin")
            page.wait_for_url(summary["web"]["url"])
            page.screenshot(path=str(ARTIFACTS / "today.png"), full_page=True)
            assert "demo-manager" in page.content()
            page.goto(summary["web"]["url"] + "roster")
            names = page.inner_text("body")
            passed = [x["who"] for x in summary["lanes"] if x["decision"] == "allow"]
            assert all(n in names for n in passed), names[:500]
            page.goto(summary["web"]["url"] + f"sheet?month={summary['month']}")
            page.screenshot(path=str(ARTIFACTS / "sheet.png"), full_page=True)
            assert "√" in page.inner_text("body")           # the simulated month's days
            # the link was single use: a second browser gets the refusal, no session
            other = browser.new_page()
            other.goto(link)
            other.click("#link-signin")
            assert other.locator("#error").count() == 1
            other.goto(summary["web"]["url"])
            assert "/login" in other.url
        finally:
            browser.close()
