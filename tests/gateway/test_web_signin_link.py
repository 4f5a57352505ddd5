"""One-time sign-in links (the demo's way into the web app): single use, short-lived, bound to
one configured account, served to this machine only, and off unless configured. Real SQLite
accounts, the real app over real sockets (uvicorn on 127.0.0.1)."""
from __future__ import annotations

import datetime as dt
import http.client
import re
import sqlite3

import pytest

from gateway.config import ConfigError, parse
from gateway.web.accounts import Accounts, AccountError, SignInFailed
from webfixtures import TZ, make_site


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_link_is_spent_once_and_expires(tmp_path):
    clock = Clock()
    acc = Accounts(tmp_path / "accounts.db", clock=clock)
    acc.add("demo-manager", "manager", "a-long-password")
    acc.add("other", "manager", "a-long-password")
    token = acc.issue_link("demo-manager", ttl_s=60)
    # only its digest is stored: a copy of accounts.db is no link
    stored = [r[0] for r in sqlite3.connect(tmp_path / "accounts.db").execute(
        "SELECT token FROM signin_links")]
    assert stored and token not in stored
    session = acc.redeem_link(token, "demo-manager")
    assert acc.session(session)[0].user == "demo-manager"
    with pytest.raises(SignInFailed, match="wrong user name"):
        acc.redeem_link(token, "demo-manager")                 # used up
    late = acc.issue_link("demo-manager", ttl_s=60)
    clock.now += 61
    with pytest.raises(SignInFailed) as exc:
        acc.redeem_link(late, "demo-manager")
    assert exc.value.why == "link expired"
    # bound to the configured account: a link for another account is refused (and spent)
    theirs = acc.issue_link("other", ttl_s=60)
    with pytest.raises(SignInFailed) as exc:
        acc.redeem_link(theirs, "demo-manager")
    assert "another account" in exc.value.why
    with pytest.raises(SignInFailed):
        acc.redeem_link(theirs, "other")
    # a removed account's link opens nothing
    gone = acc.issue_link("other", ttl_s=60)
    acc.remove("other")
    with pytest.raises(SignInFailed):
        acc.redeem_link(gone, "other")
    with pytest.raises(AccountError, match="no user"):
        acc.issue_link("nobody")
    with pytest.raises(AccountError):
        acc.issue_link("demo-manager", ttl_s=86400)            # never a long-lived link


def test_links_only_on_loopback_and_only_when_configured(tmp_path):
    with pytest.raises(ConfigError, match="signin_link_user"):
        parse({"gateway": {"id": "gw-l"}, "web": {"listen": "0.0.0.0", "allow_plain_http": True,
                                                   "signin_link_user": "demo-manager"}}, tmp_path)
    cfg = parse({"gateway": {"id": "gw-l"}, "web": {"listen": "127.0.0.1"}}, tmp_path)
    assert cfg.web.signin_link_user == ""


def _request(url: str, method: str, path: str, headers: dict | None = None):
    host, port = url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        c.request(method, path, b"" if method == "POST" else None,
                  {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


@pytest.mark.parametrize("configured", [False, True])
def test_the_app_serves_links_only_when_configured(tmp_path, configured):
    from gateway.web.serve import open_accounts, start_web, stop_web
    today = dt.datetime.now(TZ).date()
    cfg, _ = make_site(tmp_path, today, web={"signin_link_user": "boss"} if configured else {})
    acc = open_accounts(cfg)
    token = acc.issue_link("boss")
    wrong = acc.issue_link("look")                 # a viewer's link: not the configured account
    acc.close()
    server = start_web(cfg)
    try:
        code, _, page = _request(server.url, "GET", f"/signin/{token}")
        if not configured:
            assert code == 404
            assert _request(server.url, "POST", f"/signin/{token}")[0] == 404
            return
        assert code == 200 and 'id="link-signin"' in page and "boss" in page
        # the page alone spends nothing: the button does
        code, headers, _ = _request(server.url, "POST", f"/signin/{token}")
        assert code == 303 and headers["location"] == "/"
        cookie = re.search(r"sg_session=([^;]+)", headers["set-cookie"]).group(1)
        code, _, page = _request(server.url, "GET", "/", {"Cookie": f"sg_session={cookie}"})
        assert code == 200 and "boss" in page
        code, headers, page = _request(server.url, "POST", f"/signin/{token}")
        assert code == 401 and "set-cookie" not in {k.lower() for k in headers} and 'id="error"' in page
        code, headers, _ = _request(server.url, "POST", f"/signin/{wrong}")
        assert code == 401 and "set-cookie" not in {k.lower() for k in headers}
        code, headers, _ = _request(server.url, "POST", "/signin/made-up-token")
        assert code == 401
    finally:
        stop_web(server)


def test_a_peer_off_this_machine_gets_no_link_route(tmp_path):
    """The app checks the TCP peer too (belt and braces behind listen = 127.0.0.1)."""
    from fastapi.testclient import TestClient
    from gateway.ledger.site_data import SiteData
    from gateway.web.app import build_app
    from gateway.web.serve import open_accounts
    today = dt.datetime.now(TZ).date()
    cfg, _ = make_site(tmp_path, today, web={"signin_link_user": "boss"})
    acc = open_accounts(cfg)
    token = acc.issue_link("boss")
    app = build_app(SiteData(cfg), acc, signin_link_user="boss")
    client = TestClient(app, client=("192.168.1.50", 40000))
    assert client.get(f"/signin/{token}").status_code == 404
    assert client.post(f"/signin/{token}", follow_redirects=False).status_code == 404
    local = TestClient(app, client=("127.0.0.1", 40000))
    assert local.post(f"/signin/{token}", follow_redirects=False).status_code == 303
