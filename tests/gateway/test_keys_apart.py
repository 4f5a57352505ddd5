"""Keys apart from the data, through the real `sitegate` console script run with umask 022:
[keys] dir keeps every key outside $SITEGATE_HOME (nothing sensitive is made in the data
folder); passphrase-sealed SM4 keys open with the right passphrase and refuse a wrong or
missing one with a clear line; keys handed in as systemd credentials ($CREDENTIALS_DIRECTORY)
are used and nothing is made in their place; every file the commands make is 0600."""
from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from paths import ROOT
from procs import sitegate_cmd

pytestmark = pytest.mark.timeout(300)
ID = "110101199003074477"            # valid check digit (phone enrolment checks it)
NAME = "张三"
PASS = "correct horse battery"


def sg(home: Path, conf: Path, *args, env: dict | None = None, input: str | None = None,
       ok: bool = True) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("SITEGATE_KEY_PASSPHRASE", "CREDENTIALS_DIRECTORY")}
    e.update(SITEGATE_HOME=str(home), **(env or {}))
    r = subprocess.run(sitegate_cmd(*args, "-c", str(conf)), capture_output=True, text=True, timeout=120, input=input, env=e,
                       preexec_fn=lambda: os.umask(0o022))
    if ok:
        assert r.returncode == 0, r.stderr[-2000:]
    return r


def use_the_site(home: Path, conf: Path, env: dict | None = None) -> None:
    """Commands that make every kind of site file: keys, roster, templates, phone, accounts,
    the attendance ledger and an export."""
    sg(home, conf, "keygen", env=env)
    sg(home, conf, "roster", "add", "W1", "--id-number", ID, "--name", NAME, "--team", "钢筋班", env=env)
    sg(home, conf, "roster", "add", "W2", "--name", "李四", env=env)
    sg(home, conf, "roster", "remove", "W2", env=env)                 # opens the template store
    sg(home, conf, "phone", "enrol", "--worker", "W1", input=f"{ID}\n2468\n2468\n", env=env)
    sg(home, conf, "web", "user", "add", "boss", "--role", "manager", "--password-stdin",
       input="boss-password-1\n", env=env)
    sg(home, conf, "export", "attendance", "--month", "2026-11", "-o", str(home / "sheet.csv"), env=env)


def roster_names(home, conf, env=None) -> list[str]:
    import json
    r = sg(home, conf, "roster", "list", "--json", env=env)
    return [row["worker_id"] for row in json.loads(r.stdout)]


def loose_files(*roots: Path) -> list[str]:
    out = []
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and stat.S_IMODE(p.stat().st_mode) & 0o077:
                out.append(f"{oct(stat.S_IMODE(p.stat().st_mode))} {p}")
    return out


def secrets_in(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and re.search(r"\.(sm4|key|pem)$|secret", p.name))


def test_keys_dir_holds_every_key_and_files_are_0600(tmp_path):
    home, keydir = tmp_path / "data", tmp_path / "etc-keys"
    conf = tmp_path / "site.toml"
    conf.write_text(f'[gateway]\nid = "gw-keys-1"\n[keys]\ndir = "{keydir}"\n')
    use_the_site(home, conf)
    assert secrets_in(home) == []                         # nothing sensitive with the data
    assert sorted(p.name for p in keydir.iterdir()) == [
        "gateway.key.pem", "gateway.key.pem.pub", "phone-secret.key", "roster.sm4", "templates.sm4"]
    for name in ("roster.db", "faces/templates.db", "phone/phone.db", "web/accounts.db", "attendance.db"):
        assert (home / name).exists(), name
    assert loose_files(home, keydir) == []                # umask 022 outside, 0600 inside
    assert roster_names(home, conf) == ["W1"]
    raw = b"".join(p.read_bytes() for p in home.rglob("roster.db*"))
    assert ID.encode() not in raw and NAME.encode() not in raw
    # the data without its key folder is unreadable, and no new key is quietly made for it
    conf.write_text('[gateway]\nid = "gw-keys-1"\n')
    r = sg(home, conf, "roster", "list", ok=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "exists but its key" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert secrets_in(home) == []


def test_default_home_files_are_0600_under_umask_022(tmp_path):
    home = tmp_path / "data"
    conf = tmp_path / "site.toml"
    conf.write_text('[gateway]\nid = "gw-keys-2"\n')
    use_the_site(home, conf)
    r = subprocess.run(sitegate_cmd("provision", "-y", "--project", "430100-P1", "--gateway-id", "gw-keys-2",
                                    "--broker", "mqtt://127.0.0.1:1883", "--password", "broker-pw",
                                    "--no-probe"),
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, SITEGATE_HOME=str(home)),
                       preexec_fn=lambda: os.umask(0o022))
    assert r.returncode == 0, r.stderr
    assert (home / "site.toml").exists() and (home / "keys" / "roster.sm4").exists()
    assert loose_files(home) == []


def test_sealed_keys_open_with_the_right_passphrase_only(tmp_path):
    home, keydir = tmp_path / "data", tmp_path / "keys"
    conf = tmp_path / "site.toml"
    conf.write_text(f'[gateway]\nid = "gw-keys-3"\n[keys]\ndir = "{keydir}"\nsealed = true\n')
    right = {"SITEGATE_KEY_PASSPHRASE": PASS}
    r = sg(home, conf, "roster", "add", "W1", "--id-number", ID, "--name", NAME, ok=False)
    assert r.returncode == 1 and "passphrase" in r.stderr and "Traceback" not in r.stderr
    assert not (keydir / "roster.sm4").exists() and not (home / "roster.db").exists()
    sg(home, conf, "roster", "add", "W1", "--id-number", ID, "--name", NAME, env=right)
    sg(home, conf, "phone", "enrol", "--worker", "W1", input=f"{ID}\n2468\n2468\n", env=right)
    for name in ("roster.sm4", "phone-secret.key"):
        text = (keydir / name).read_text()
        assert text.startswith("sitegate-sealed-key:1:")
    assert roster_names(home, conf, right) == ["W1"]
    wrong = sg(home, conf, "roster", "list", env={"SITEGATE_KEY_PASSPHRASE": "not it"}, ok=False)
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "wrong passphrase" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    missing = sg(home, conf, "roster", "list", ok=False)
    assert missing.returncode == 1 and "is sealed with a passphrase" in missing.stderr
    # the passphrase as a systemd credential (LoadCredentialEncrypted=key-passphrase:...)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "key-passphrase").write_text(PASS + "\n")
    assert roster_names(home, conf, {"CREDENTIALS_DIRECTORY": str(creds)}) == ["W1"]


def test_daemon_and_web_app_refuse_a_sealed_key_without_the_passphrase_cleanly(tmp_path):
    home, keydir = tmp_path / "data", tmp_path / "keys"
    conf = tmp_path / "site.toml"
    conf.write_text(f'[gateway]\nid = "gw-keys-6"\n[broker]\nurl = "mqtt://127.0.0.1:1"\n'
                    f'[keys]\ndir = "{keydir}"\nsealed = true\n[web]\nlisten = "127.0.0.1"\nport = 0\n')
    sg(home, conf, "keygen")
    sg(home, conf, "roster", "add", "W1", "--name", NAME, env={"SITEGATE_KEY_PASSPHRASE": PASS})
    for cmd in (("run",), ("web", "serve")):
        r = sg(home, conf, *cmd, ok=False)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert "is sealed with a passphrase" in r.stderr


def test_keys_seal_converts_plain_keys_in_place(tmp_path):
    home = tmp_path / "data"
    conf = tmp_path / "site.toml"
    conf.write_text('[gateway]\nid = "gw-keys-4"\n')
    sg(home, conf, "roster", "add", "W1", "--id-number", ID, "--name", NAME)
    plain = (home / "keys" / "roster.sm4").read_text()
    r = sg(home, conf, "keys", "seal", env={"SITEGATE_KEY_PASSPHRASE": PASS})
    assert "roster: " in r.stdout and "sealed" in r.stdout
    assert (home / "keys" / "roster.sm4").read_text().startswith("sitegate-sealed-key:1:")
    assert plain.strip() not in (home / "keys" / "roster.sm4").read_text()
    assert stat.S_IMODE((home / "keys" / "roster.sm4").stat().st_mode) == 0o600
    assert roster_names(home, conf, {"SITEGATE_KEY_PASSPHRASE": PASS}) == ["W1"]
    assert sg(home, conf, "roster", "list", ok=False).returncode == 1
    listed = sg(home, conf, "keys", "list", "--json").stdout
    assert '"role": "roster"' in listed and '"sealed": true' in listed


def test_keys_from_systemd_credentials(tmp_path):
    home = tmp_path / "data"
    conf = tmp_path / "site.toml"
    conf.write_text('[gateway]\nid = "gw-keys-5"\n')
    creds = tmp_path / "credentials"                       # what LoadCredential= makes
    creds.mkdir()
    for name, nbytes in (("roster.sm4", 16), ("templates.sm4", 16), ("phone-secret.key", 32)):
        (creds / name).write_text(os.urandom(nbytes).hex() + "\n")
        (creds / name).chmod(0o400)
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    sg(home, conf, "roster", "add", "W1", "--id-number", ID, "--name", NAME, env=env)
    sg(home, conf, "roster", "remove", "W9", env=env, ok=False)          # opens the templates
    sg(home, conf, "phone", "enrol", "--worker", "W1", input=f"{ID}\n2468\n2468\n", env=env)
    assert secrets_in(home) == []                          # nothing made in the credentials' place
    assert roster_names(home, conf, env) == ["W1"]
    listed = sg(home, conf, "keys", "list", env=env).stdout
    assert f"{creds / 'roster.sm4'}  (credential" in listed
    r = sg(home, conf, "roster", "list", ok=False)          # without the credential: refused
    assert r.returncode == 1 and "exists but its key" in r.stderr


def test_unit_documents_the_credential_names_the_gateway_reads():
    from gateway.site import KEY_NAMES
    unit = (ROOT / "systemd" / "sitegate.service").read_text()
    named = set(re.findall(r"^# LoadCredential(?:Encrypted)?=([\w.-]+):", unit, re.M))
    assert set(KEY_NAMES.values()) <= named | {"gateway.key.pem"}
    assert named <= set(KEY_NAMES.values()) | {"key-passphrase"}
    assert "UMask=0077" in unit
