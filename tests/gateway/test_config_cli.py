"""Site config and the gateway CLI: bad input is a clear error and changes nothing."""
from __future__ import annotations

import os
import stat
import subprocess

import pytest

from procs import sitegate_cmd
from gateway.config import ConfigError, load, parse


def test_defaults_and_home_relative_paths(tmp_path):
    cfg = parse({"gateway": {"id": "gw-1"}}, home=tmp_path)
    assert cfg.outbox_path == tmp_path / "outbox.db"
    assert cfg.key_file == tmp_path / "keys" / "gateway.key.pem"
    assert cfg.broker.port == 1883 and not cfg.broker.tls
    tls = parse({"gateway": {"id": "gw-1"}, "broker": {"url": "mqtts://central.example:8883",
                                                      "ca_file": "ca.pem"}}, home=tmp_path)
    assert tls.broker.tls and tls.broker.ca_file == str(tmp_path / "ca.pem")


@pytest.mark.parametrize("data, message", [
    ({}, "id is required"),
    ({"gateway": {"id": "bad id!"}}, "gateway id"),
    ({"gateway": {"id": "gw"}, "outbox": {"max_unaked": 5}}, "unknown setting"),
    ({"gateway": {"id": "gw"}, "outbox": {"max_unacked": "many"}}, "must be an integer"),
    ({"gateway": {"id": "gw"}, "broker": {"url": "http://x"}}, "scheme"),
    ({"gateway": {"id": "gw"}, "uplink": {"window": 0}}, "window"),
    ({"gateway": {"id": "gw"}, "turnstiles": {}}, "unknown section"),
])
def test_bad_config_names_the_problem(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        parse(data, home=tmp_path)


def test_cli_reports_config_errors_and_creates_nothing(home):
    site = home / "site.toml"
    site.write_text('[gateway]\nid = "gw-1"\n[outbox]\nmax_unaked = 5\n')
    out = subprocess.run(sitegate_cmd("run", "-c", str(site)), capture_output=True, text=True)
    assert out.returncode != 0 and "max_unaked: unknown setting" in out.stderr
    assert not (home / "outbox.db").exists()
    site.write_text("[gateway\n")
    out = subprocess.run(sitegate_cmd("status", "-c", str(site)), capture_output=True, text=True)
    assert out.returncode != 0 and "site.toml" in out.stderr


def test_keygen_is_private_and_never_overwrites(home):
    site = home / "site.toml"
    site.write_text('[gateway]\nid = "gw-1"\n')
    out = subprocess.run(sitegate_cmd("keygen", "-c", str(site)), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    key = home / "keys" / "gateway.key.pem"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    before = key.read_bytes()
    again = subprocess.run(sitegate_cmd("keygen", "-c", str(site)), capture_output=True, text=True)
    assert again.returncode != 0 and "refusing" in again.stderr
    assert key.read_bytes() == before
    assert "PRIVATE" not in (home / "keys" / "gateway.key.pem.pub").read_text()
    loaded = load(site)
    assert loaded.gateway_id == "gw-1"


def test_run_without_key_says_what_to_do(home):
    site = home / "site.toml"
    site.write_text('[gateway]\nid = "gw-1"\n')
    out = subprocess.run(sitegate_cmd("run", "-c", str(site)), capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0 and "sitegate keygen" in out.stderr


def test_shipped_example_config_is_valid(tmp_path):
    from pathlib import Path
    example = Path(__file__).resolve().parents[2] / "config" / "site.toml"
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "broker.password").write_text("secret\n")
    cfg = load(example, home=tmp_path)
    assert cfg.broker.tls and cfg.broker.password == "secret"
    assert cfg.limits.max_unacked == 1_800_000 and cfg.window == 8 and cfg.drain_window == 32
