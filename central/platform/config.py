"""Which platforms central pushes to: targets from a TOML file (docs/platform.md).

The file is ``--config``, else ``$SITEGATE_PLATFORM_CONFIG``, else
``$SITEGATE_HOME/central/platform.toml``.  Credentials are never written in it: a target names
the environment variable (``secret_env``) or the file (``secret_file``, mode 0600) that holds
its secret, and nothing here prints or logs a secret (``repr`` masks it).
"""
from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .guangzhou import GuangzhouProfile
from .national import NationalProfile
from .profile import KINDS, Credentials

PROFILES = ("national", "guangzhou")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    name: str
    profile_name: str
    url: str
    appid: str
    secret: str = field(repr=False)
    regions: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    objects: tuple[str, ...] = KINDS
    batch_size: int = 200
    timeout_s: float = 10.0
    poll_s: float = 5.0
    settle_s: float = 120.0
    retry_base_s: float = 5.0
    retry_max_s: float = 900.0
    max_attempts: int = 20
    lease: float | None = None
    concurrency: int = 2
    profile_options: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.appid, self.secret)

    def profile(self):
        opts = dict(self.profile_options)
        if self.profile_name == "national":
            return NationalProfile(self.url, **opts)
        return GuangzhouProfile(self.url, **opts)

    def kinds(self) -> tuple[str, ...]:
        carried = self.profile().kinds
        return tuple(k for k in KINDS if k in self.objects and k in carried)

    def serves(self, project_code: str, area_code: str | None) -> bool:
        if project_code in self.projects:
            return True
        return bool(area_code) and any(area_code.startswith(r) for r in self.regions)

    def lease_s(self) -> float:
        """How long a claimed job stays ours: longer than any request can take."""
        return self.lease if self.lease is not None else 3 * self.timeout_s + 30


def default_path(home: Path) -> Path:
    env = os.environ.get("SITEGATE_PLATFORM_CONFIG")
    return Path(env) if env else home / "central" / "platform.toml"


def from_environment() -> list[Target]:
    """The targets of ``$SITEGATE_PLATFORM_CONFIG`` or ``$SITEGATE_HOME/central/platform.toml``
    (``~/.sitegate`` when SITEGATE_HOME is not set)."""
    home = Path(os.environ.get("SITEGATE_HOME") or Path.home() / ".sitegate").expanduser()
    return load(default_path(home))


def load(path: Path, env: dict | None = None) -> list[Target]:
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no platform configuration (see docs/platform.md)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    items = raw.get("target", [])
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: no [[target]] tables")
    unknown = set(raw) - {"target"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}")
    out = [_target(t, path, env) for t in items]
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: target names must be unique")
    return out


KNOWN = {"name", "profile", "url", "appid", "secret_env", "secret_file", "regions", "projects",
         "objects", "batch_size", "timeout_s", "poll_s", "settle_s", "retry_base_s",
         "retry_max_s", "max_attempts", "clock_codes", "retry_codes", "duplicate_words",
         "paths", "page_size", "lease_s", "concurrency"}


def _target(t: dict, path: Path, env) -> Target:
    where = f"{path}: target {t.get('name', '?')!r}"
    if "secret" in t:
        raise ConfigError(f"{where}: never write the secret in the file; use secret_env or "
                          "secret_file")
    unknown = set(t) - KNOWN
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    name = str(t.get("name", ""))
    if not NAME_RE.match(name):
        raise ConfigError(f"{where}: name: 1-32 of a-z, 0-9, _ and -")
    prof = t.get("profile")
    if prof not in PROFILES:
        raise ConfigError(f"{where}: profile: one of {', '.join(PROFILES)}")
    url = str(t.get("url", ""))
    if not re.match(r"^https?://[^\s]+$", url):
        raise ConfigError(f"{where}: url: http(s)://host[:port]/path")
    appid = str(t.get("appid", ""))
    if not appid or len(appid) > 100:
        raise ConfigError(f"{where}: appid is required")
    secret = _secret(t, where, env)
    regions = tuple(str(r) for r in t.get("regions", ()))
    if any(not re.fullmatch(r"[1-8][0-9]{1,5}", r) for r in regions):
        raise ConfigError(f"{where}: regions: area-code prefixes such as \"43\"")
    projects = tuple(str(p) for p in t.get("projects", ()))
    if not regions and not projects:
        raise ConfigError(f"{where}: give regions or projects (which projects it serves)")
    objects = tuple(t.get("objects", KINDS))
    bad = set(objects) - set(KINDS)
    if bad:
        raise ConfigError(f"{where}: objects: unknown {sorted(bad)}; known {', '.join(KINDS)}")
    opts = {}
    for k in ("clock_codes", "retry_codes", "duplicate_words"):
        if k in t:
            opts[k] = tuple(t[k])
    if prof == "national":
        if "page_size" in t:
            opts["page_size"] = _num(t, "page_size", 1, 10_000, where, int)
        if len(secret) not in (16, 24, 32):
            raise ConfigError(f"{where}: the national profile needs a 16, 24 or 32 character "
                              "app secret (it is the AES key)")
    else:
        if "paths" in t:
            opts["paths"] = {str(k): str(v) for k, v in dict(t["paths"]).items()}
            bad = set(opts["paths"]) - set(KINDS)
            if bad:
                raise ConfigError(f"{where}: paths: unknown objects {sorted(bad)}")
        if len(secret.encode()) < 8:
            raise ConfigError(f"{where}: the guangzhou profile needs an access key of at "
                              "least 8 bytes (the DES key)")
    timeout = _num(t, "timeout_s", 0.1, 300, where, float, 10.0)
    lease = _num(t, "lease_s", 0.5, 86400, where, float, None)
    if lease is not None and lease <= 2 * timeout:
        raise ConfigError(f"{where}: lease_s must be longer than two timeout_s")
    return Target(
        name=name, profile_name=prof, url=url, appid=appid, secret=secret, regions=regions,
        projects=projects, objects=objects,
        batch_size=_num(t, "batch_size", 1, 5000, where, int, 200),
        timeout_s=timeout,
        poll_s=_num(t, "poll_s", 0.01, 3600, where, float, 5.0),
        settle_s=_num(t, "settle_s", 0.0, 86400, where, float, 120.0),
        retry_base_s=_num(t, "retry_base_s", 0.01, 3600, where, float, 5.0),
        retry_max_s=_num(t, "retry_max_s", 0.01, 86400, where, float, 900.0),
        max_attempts=_num(t, "max_attempts", 1, 10_000, where, int, 20),
        lease=lease,
        concurrency=_num(t, "concurrency", 1, 32, where, int, 2),
        profile_options=opts)


def _num(t, key, lo, hi, where, typ, default=None):
    if key not in t:
        return default
    try:
        v = typ(t[key])
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key}: a number") from None
    if not lo <= v <= hi:
        raise ConfigError(f"{where}: {key}: between {lo} and {hi}")
    return v


def _secret(t: dict, where: str, env) -> str:
    if t.get("secret_env"):
        value = env.get(str(t["secret_env"]))
        if not value:
            raise ConfigError(f"{where}: environment variable {t['secret_env']} is not set")
        return value.strip()
    if t.get("secret_file"):
        p = Path(str(t["secret_file"])).expanduser()
        try:
            mode = p.stat().st_mode
            value = p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: secret_file: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{where}: secret_file {p} is readable by others; chmod 600")
        if not value:
            raise ConfigError(f"{where}: secret_file {p} is empty")
        return value
    raise ConfigError(f"{where}: secret_env or secret_file is required")
