"""The central CLI over a real demo run: gateways, verify, and an audit export that OpenSSL
alone can check."""
from __future__ import annotations

import base64
import json
import subprocess

import pytest

from procs import central_cmd, sitegate_cmd


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    env = {"SITEGATE_HOME": str(home)}
    out = subprocess.run(sitegate_cmd("demo", "--spine-only", "--records", "600", "--json"),
                         env=_env(env), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    return home, summary


def _env(extra):
    import os
    return dict(os.environ, **extra)


def run_central(home, *args, check=True):
    out = subprocess.run(central_cmd(*args), env=_env({"SITEGATE_HOME": str(home)}),
                         capture_output=True, text=True, timeout=60)
    if check:
        assert out.returncode == 0, out.stderr[-2000:]
    return out


def test_demo_summary_counts_everything(demo_home):
    _, s = demo_home
    assert s["ok"] is True
    assert s["produced"] == s["acknowledged"] == s["verified_at_central"] == 600
    assert s["stored_at_central"] == 600 and s["rejected"] == 0


def test_central_commands_find_the_demo_database(demo_home):
    home, s = demo_home
    listed = json.loads(run_central(home, "gateways", "list", "--json").stdout)
    assert s["gateway"] in [g["gw_id"] for g in listed]
    shown = json.loads(run_central(home, "gateways", "show", s["gateway"], "--json").stdout)
    assert shown["head_seq"] == 600 and shown["records"] == 600
    verified = json.loads(run_central(home, "verify", "--json").stdout)
    assert all(v["ok"] for v in verified)


def test_gateways_add_refuses_bad_keys_and_duplicates(demo_home):
    home, s = demo_home
    for key in ("04" + "ab" * 64, "zz" * 64, "12" * 64):     # 04-prefixed, not hex, off curve
        out = run_central(home, "gateways", "add", "gw-bad", "--public-key", key, check=False)
        assert out.returncode != 0 and "gw-bad" not in run_central(home, "gateways", "list",
                                                                   "--json").stdout
    shown = json.loads(run_central(home, "gateways", "show", s["gateway"], "--json").stdout)
    out = run_central(home, "gateways", "add", s["gateway"], "--public-key",
                      shown["public_key"], check=False)
    assert out.returncode != 0 and "already registered" in out.stderr
    out = run_central(home, "gateways", "show", "gw-missing", check=False)
    assert out.returncode != 0 and "unknown gateway" in out.stderr


def test_export_verifies_with_openssl_alone(demo_home, tmp_path):
    home, s = demo_home
    out = run_central(home, "export", "--format", "jsonl", "--gateway", s["gateway"])
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert sum(len(b["records"]) for b in lines) == 600
    seqs = [r["seq"] for b in lines for r in b["records"]]
    assert seqs == list(range(1, 601))
    for i, block in enumerate([lines[0], lines[-1]]):
        msg, sig, pem = tmp_path / f"m{i}.bin", tmp_path / f"s{i}.der", tmp_path / f"p{i}.pem"
        msg.write_bytes(base64.b64decode(block["signed_b64"]))
        sig.write_bytes(base64.b64decode(block["signature_der_b64"]))
        pem.write_text(block["public_key_pem"])
        ok = subprocess.run(["openssl", "dgst", "-sm3", "-sigopt", "distid:1234567812345678",
                             "-verify", str(pem), "-signature", str(sig), str(msg)],
                            capture_output=True, text=True)
        assert ok.returncode == 0 and "Verified OK" in ok.stdout
        assert json.loads(msg.read_bytes())["records"] == block["records"]
        # the distid trap: without it OpenSSL 3 uses an empty ID and must fail
        bad = subprocess.run(["openssl", "dgst", "-sm3", "-verify", str(pem), "-signature",
                              str(sig), str(msg)], capture_output=True, text=True)
        assert bad.returncode != 0
        # one changed byte and OpenSSL refuses
        data = bytearray(msg.read_bytes())
        data[len(data) // 2] ^= 1
        msg.write_bytes(bytes(data))
        tampered = subprocess.run(["openssl", "dgst", "-sm3", "-sigopt",
                                   "distid:1234567812345678", "-verify", str(pem),
                                   "-signature", str(sig), str(msg)], capture_output=True)
        assert tampered.returncode != 0
