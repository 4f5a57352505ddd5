"""Platform targets are configuration (the shipped config/platform.toml); secrets come from the
environment or a 0600 file, are never written in the file and never shown."""
from __future__ import annotations

from pathlib import Path

import pytest

from central.platform.config import ConfigError, load

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "platform.toml"
ENV = {"SITEGATE_PLATFORM_SECRET_HUNAN": "0123456789abcdef0123456789abcdef",
       "SITEGATE_PLATFORM_SECRET_GUANGZHOU": "gz-access-key-2026"}


def test_the_shipped_configuration_loads():
    hunan, gz = load(SHIPPED, ENV)
    assert (hunan.name, hunan.profile_name, hunan.regions) == ("hunan", "national", ("43",))
    assert hunan.serves("HN-1", "430102") and not hunan.serves("GX-1", "450103")
    assert gz.serves("GZ-2026-007", "440100") and not gz.serves("GZ-X", "440100")
    assert gz.kinds() == ("attendance",) and len(hunan.kinds()) == 8
    assert "0123456789abcdef" not in repr(hunan) and "gz-access" not in repr(gz)
    assert "secret=***" in repr(hunan.credentials)


def write(tmp_path, body: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(body)
    return p


BASE = '''[[target]]
name = "t"
profile = "national"
url = "http://127.0.0.1:1/open.api"
appid = "A"
regions = ["43"]
'''


@pytest.mark.parametrize("extra, env, words", [
    ('secret_env = "NOPE"\n', {}, "environment variable NOPE is not set"),
    ('secret = "0123456789abcdef"\n', {}, "never write the secret in the file"),
    ('secret_env = "S"\n', {"S": "short"}, "16, 24 or 32 character"),
    ('secret_env = "S"\ncolour = "blue"\n', {"S": "x" * 16}, "unknown keys ['colour']"),
    ('secret_env = "S"\ntimeout_s = 10\nlease_s = 15\n', {"S": "x" * 16},
     "lease_s must be longer than two timeout_s"),
    ('secret_env = "S"\nobjects = ["attendance", "gossip"]\n', {"S": "x" * 16}, "gossip"),
])
def test_bad_configuration_is_refused_with_the_key_named(tmp_path, extra, env, words):
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, BASE + extra), env)
    assert words in str(e.value) and "target 't'" in str(e.value)


def test_a_secret_file_must_be_private(tmp_path):
    secret = tmp_path / "s.key"
    secret.write_text("0123456789abcdef\n")
    secret.chmod(0o644)
    path = write(tmp_path, BASE + f'secret_file = "{secret}"\n')
    with pytest.raises(ConfigError, match="readable by others"):
        load(path, {})
    secret.chmod(0o600)
    [t] = load(path, {})
    assert t.secret == "0123456789abcdef"
