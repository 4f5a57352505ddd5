"""Local web accounts: hashing, roles, lockout, session timeouts (a controllable clock; the real
expiry through a browser is in test_webapp_browser.py)."""
from __future__ import annotations


import pytest

from gateway.web.accounts import (LOCK_S, MAX_FAILURES, SIGNIN_FAILED, AccountError, Accounts,
                                  SignInFailed, Throttle, check_password, hash_password)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def acc(tmp_path):
    clock = Clock()
    a = Accounts(tmp_path / "web" / "accounts.db", idle_s=600, max_s=3600, clock=clock)
    a.add("boss", "manager", "correct horse 1")
    yield a, clock
    a.close()


def test_hash_is_salted_scrypt_and_checks():
    h1, h2 = hash_password("pw-123456"), hash_password("pw-123456")
    assert h1 != h2 and h1.startswith("scrypt$")
    assert check_password("pw-123456", h1) and not check_password("pw-123457", h1)
    assert not check_password("pw-123456", "md5$abc") and not check_password("x", "garbage")


def test_file_has_no_password_or_token_in_clear(acc, tmp_path):
    a, _ = acc
    token = a.login("boss", "correct horse 1")
    raw = b"".join(p.read_bytes() for p in (tmp_path / "web").iterdir())
    assert b"correct horse 1" not in raw and token.encode() not in raw
    assert (tmp_path / "web" / "accounts.db").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("name,role,pw,why", [
    ("b", "manager", "long-enough-1", "user name"),
    ("ok-name", "admin", "long-enough-1", "role"),
    ("ok-name", "viewer", "short", "too short"),
    ("ok-name", "viewer", " padded-password ", "spaces"),
    ("boss", "viewer", "long-enough-1", "exists"),
])
def test_bad_accounts_refused_and_nothing_changes(acc, name, role, pw, why):
    a, _ = acc
    before = a.users()
    with pytest.raises(AccountError, match=why):
        a.add(name, role, pw)
    assert a.users() == before


def test_wrong_password_same_message_as_unknown_user(acc):
    a, _ = acc
    with pytest.raises(AccountError) as e1:
        a.login("boss", "wrong-password")
    with pytest.raises(AccountError) as e2:
        a.login("nobody", "wrong-password")
    assert str(e1.value) == str(e2.value) == SIGNIN_FAILED


def test_lockout_after_repeated_failures_then_lifted(acc):
    a, clock = acc
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInFailed) as e:
            a.login("boss", "wrong-password")
        assert e.value.why == "wrong password"
    with pytest.raises(SignInFailed) as e:
        a.login("boss", "correct horse 1")          # even the right password, while locked
    assert str(e.value) == SIGNIN_FAILED and e.value.why.startswith("not checked")
    assert a.users()[0]["locked"]
    clock.now += LOCK_S + 1
    assert a.login("boss", "correct horse 1")


def test_attempts_that_never_finished_still_end_in_a_lock_not_a_dead_account(acc):
    a, clock = acc
    # a crash after the failures were counted but before any was judged
    a._conn.execute("UPDATE users SET failures = ? WHERE name = 'boss'", (MAX_FAILURES,))
    with pytest.raises(SignInFailed):
        a.login("boss", "correct horse 1")
    assert a.users()[0]["locked"]
    clock.now += LOCK_S + 1
    assert a.login("boss", "correct horse 1")


def test_foreign_scrypt_cost_is_refused_not_computed():
    # a hash line asking for 1 GiB of scrypt memory must not be honoured
    assert not check_password("x", "scrypt$1048576$8$1$00$00")


def test_throttle_is_per_address_refills_and_stays_bounded():
    now = [0.0]
    th = Throttle(burst=3, per_min=6, max_addresses=100, clock=lambda: now[0])
    assert [th.take("10.0.0.1") for _ in range(3)] == [0.0] * 3
    assert th.take("10.0.0.1") == pytest.approx(10.0)   # 6 a minute: one every 10 s
    assert th.take("10.0.0.2") == 0.0
    now[0] += 10
    assert th.take("10.0.0.1") == 0.0 and th.take("10.0.0.1") > 0
    # one IPv6 host holds a /64: its addresses share a bucket
    assert [th.take(f"2001:db8::{i}") for i in range(4)][-1] > 0
    for i in range(1000):
        th.take(f"10.1.{i // 250}.{i % 250}")
    assert len(th._buckets) <= 100


def test_session_idle_and_absolute_timeouts(acc):
    a, clock = acc
    token = a.login("boss", "correct horse 1")
    s, why = a.session(token)
    assert s.user == "boss" and s.role == "manager" and why == ""
    start = clock.now
    for _ in range(11):                 # activity every 5 min keeps it alive ... for 55 min
        clock.now += 300
        assert a.session(token)[0] is not None
    clock.now = start + 3601            # ... but not past the absolute limit of 1 h
    assert a.session(token) == (None, "expired")
    token = a.login("boss", "correct horse 1")
    clock.now += 601
    assert a.session(token) == (None, "expired")
    assert a.session(token) == (None, "none")          # gone for good
    assert a.session("forged-token") == (None, "none")


def test_password_change_and_removal_end_sessions(acc):
    a, _ = acc
    token = a.login("boss", "correct horse 1")
    a.set_password("boss", "new password 2")
    assert a.session(token)[0] is None
    token = a.login("boss", "new password 2")
    a.set_role("boss", "viewer")
    assert a.session(token)[0].role == "viewer"       # role read on every request
    a.remove("boss")
    assert a.session(token)[0] is None
    with pytest.raises(AccountError):
        a.remove("boss")


def test_config_refuses_passwords_in_clear_off_host(tmp_path):
    from gateway.config import ConfigError, parse
    cfg = parse({"gateway": {"id": "gw-1"}, "web": {"listen": "0.0.0.0"}}, tmp_path)
    with pytest.raises(ConfigError, match="cert and key"):
        cfg.web.check_transport()
    parse({"gateway": {"id": "gw-1"}, "web": {"listen": "127.0.0.1"}}, tmp_path).web.check_transport()
    parse({"gateway": {"id": "gw-1"}, "web": {"listen": "0.0.0.0", "allow_plain_http": True}},
          tmp_path).web.check_transport()
    with pytest.raises(ConfigError, match="both cert and key"):
        parse({"gateway": {"id": "gw-1"}, "web": {"cert": "c.pem"}}, tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        parse({"gateway": {"id": "gw-1"}, "web": {"listen": "0.0.0.0", "cert": "c.pem", "key": "k.pem"}},
              tmp_path).web.check_transport()
    with pytest.raises(ConfigError, match="unknown"):
        parse({"gateway": {"id": "gw-1"}, "web": {"listen": "127.0.0.1", "colour": "red"}}, tmp_path)
