"""Central's field key apart from its data, through the real `sitegate-central` console script
run with umask 022: SITEGATE_CENTRAL_KEY_FILE keeps it outside $SITEGATE_HOME; a sealed key
opens with the right passphrase only; the systemd credential field.key is used when
$CREDENTIALS_DIRECTORY is set; central.db is 0600."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from procs import central_cmd

pytestmark = pytest.mark.timeout(300)
PASS = "correct horse battery"


def central(home: Path, *args, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("SITEGATE_CENTRAL_KEY") and k != "CREDENTIALS_DIRECTORY"}
    e.update(SITEGATE_HOME=str(home), **(env or {}))
    r = subprocess.run(central_cmd(*args), capture_output=True, text=True, timeout=120, env=e,
                       preexec_fn=lambda: os.umask(0o022))
    if ok:
        assert r.returncode == 0, r.stderr[-2000:]
    return r


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_key_file_apart_from_the_data_and_files_0600(tmp_path):
    home, keyfile = tmp_path / "data", tmp_path / "etc" / "field.key"
    env = {"SITEGATE_CENTRAL_KEY_FILE": str(keyfile)}
    token = central(home, "tokens", "add", "ops", env=env).stdout.strip()
    assert token and keyfile.exists() and mode(keyfile) == 0o600
    assert not list(home.rglob("*.key"))                       # none with the data
    db = home / "central" / "central.db"
    assert mode(db) == 0o600
    assert [p for p in home.rglob("*") if p.is_file() and mode(p) & 0o077] == []
    assert central(home, "field-key", "path", env=env).stdout.strip() == str(keyfile)


def test_sealed_field_key_right_wrong_and_missing_passphrase(tmp_path):
    home = tmp_path / "data"
    central(home, "tokens", "add", "first")
    path = home / "central" / "field.key"
    plain = path.read_text().strip()
    central(home, "field-key", "seal", env={"SITEGATE_CENTRAL_KEY_PASSPHRASE": PASS})
    text = path.read_text()
    assert text.startswith("sitegate-sealed-key:1:") and plain not in text and mode(path) == 0o600
    central(home, "tokens", "add", "second", env={"SITEGATE_CENTRAL_KEY_PASSPHRASE": PASS})
    wrong = central(home, "tokens", "add", "third", env={"SITEGATE_CENTRAL_KEY_PASSPHRASE": "nope"},
                    ok=False)
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    missing = central(home, "tokens", "add", "fourth", ok=False)
    assert missing.returncode == 1 and "sealed with a passphrase" in missing.stderr
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "field-key-passphrase").write_text(PASS + "\n")
    central(home, "tokens", "add", "fifth", env={"CREDENTIALS_DIRECTORY": str(creds)})
    # the same key throughout: a token made before sealing still has its keyed index
    from central.crypto import FieldCipher, open_key
    assert FieldCipher(open_key(text, PASS, "test")).index("x", "k") == \
        FieldCipher(bytes.fromhex(plain)).index("x", "k")


def test_field_key_from_a_systemd_credential(tmp_path):
    home = tmp_path / "data"
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "field.key").write_text(os.urandom(32).hex() + "\n")
    (creds / "field.key").chmod(0o400)
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    central(home, "tokens", "add", "ops", env=env)
    assert not list(home.rglob("field.key"))
    assert central(home, "field-key", "path", env=env).stdout.strip() == str(creds / "field.key")
