"""Shared pieces of the platform connector tests: the shipped fake platform as a real process,
a target configuration, a Hunan project with workers, signed attendance blocks in the store."""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from central.platform.config import load
from central.store import Store
from month import Central, register_project
from procs import central_cmd
from uplink.sm2 import Signer, generate_private_key
from uplink.wire import ZERO_HASH, canonical, decode_block, make_record, record_hash, seal_block

SECRET = "0123456789abcdefFEDCBA9876543210"      # 32 characters: the AES-256 key
APPID = "APP-HN-0001"


class FakeProc:
    """``sitegate-central platform fake`` as the installer runs it."""

    def __init__(self, profile: str = "national", *args: str, secret: str = SECRET,
                 appid: str = APPID, process_ms: int = 50) -> None:
        env = dict(os.environ, SITEGATE_PLATFORM_SECRET=secret)
        self.proc = subprocess.Popen(
            central_cmd("platform", "fake", "--profile", profile, "--port", "0", "--appid",
                        appid, "--process-ms", str(process_ms), *args),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.proc.stderr.read()[-2000:]
        self.base = self.url.removesuffix("/open.api")

    def state(self) -> dict:
        with urllib.request.urlopen(self.base + "/_fake/state", timeout=10) as r:
            return json.loads(r.read())

    def inject(self, mode: str, count: int = 1, **params) -> None:
        req = urllib.request.Request(self.base + "/_fake/inject", method="POST",
                                     data=json.dumps(dict(params, mode=mode, count=count)).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["ok"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def write_config(path: Path, url: str, profile: str = "national", **over) -> Path:
    import tomli_w
    t = {"name": "hunan", "profile": profile, "url": url, "appid": APPID,
         "secret_env": "SITEGATE_TEST_PLATFORM_SECRET", "regions": ["43"], "poll_s": 0.05,
         "settle_s": 1.0, "timeout_s": 2.0, "retry_base_s": 0.05, "retry_max_s": 0.5,
         "lease_s": 5.0}
    t.update(over)
    path.write_text(tomli_w.dumps({"target": [t]}))
    return path


def targets(path: Path, secret: str = SECRET):
    return load(path, {"SITEGATE_TEST_PLATFORM_SECRET": secret})


def hunan_site(store: Store, code: str = "HN-1", n_workers: int = 5, key: bytes | None = None,
               **over):
    """A Hunan project (area 430102) with a team and ``n_workers`` workers; ``key`` = the
    field key central's processes use (SITEGATE_CENTRAL_KEY), else a random one."""
    c = Central(store)
    if key is not None:
        from central.crypto import FieldCipher
        from central.escrow import Escrow
        from central.registry import Registry
        c.cipher = FieldCipher(key)
        c.reg = Registry(store, c.cipher)
        c.esc = Escrow(store, c.cipher, clock=lambda: c.clock_ms)
    over.setdefault("startDate", "2026-03-02")
    wids = register_project(c, code, area="430102", n_workers=n_workers, **over)
    return c, wids


class Gateway:
    """A signing gateway whose blocks go straight into the store (as ingest stores them)."""

    def __init__(self, store: Store, gw: str, project: str) -> None:
        self.store, self.gw = store, gw
        self.signer = Signer(generate_private_key())
        store.add_gateway(gw, self.signer.public_hex, project=project)
        self.seq, self.prev = 0, ZERO_HASH

    def punches(self, bodies: list[dict], t0_ms: int, step_ms: int = 1000,
                block: int = 200) -> None:
        recs = []
        for i, body in enumerate(bodies):
            self.seq += 1
            r = make_record(self.gw, self.seq, self.prev, t0_ms + i * step_ms, "attendance",
                            body)
            self.prev = record_hash(canonical(r))
            recs.append(r)
        for i in range(0, len(recs), block):
            out = self.store.commit_block(decode_block(seal_block(
                self.signer, self.gw, recs[i:i + block], t0_ms)))
            assert out.status == "ok", out


def lane(worker: str, direction: str = "in") -> dict:
    return {"worker": worker, "dir": direction, "method": "face", "device": "lane-2",
            "decision": "allow"}


def phone(worker: str, direction: str = "in") -> dict:
    return {"worker": worker, "dir": direction, "method": "phone", "device": "phone-gw",
            "decision": "allow", "fence": "corridor-K12", "lon_e6": 112938123,
            "lat_e6": 28228456, "acc_m": 8}


def today_ms(hour: int = 8) -> int:
    """An hour of today, China time."""
    import datetime as dt
    cn = dt.timezone(dt.timedelta(hours=8))
    d = dt.datetime.now(cn).date()
    return int(dt.datetime.combine(d, dt.time(hour), tzinfo=cn).timestamp() * 1000)


def wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- an independent national client
def national_call(url: str, method: str, data: dict, secret: str = SECRET, appid: str = APPID,
                  ts: str | None = None, nonce: str | None = None) -> dict:
    """One signed call written from the convention alone (hashlib, urllib): sorted ``k=v&``,
    ``&appsecret=``, lower-cased, SHA-256."""
    import datetime as dt
    import hashlib
    import uuid
    from urllib.parse import urlencode
    cn = dt.timezone(dt.timedelta(hours=8))
    params = {"appid": appid, "data": json.dumps(data, ensure_ascii=False),
              "format": "json", "method": method, "nonce": nonce or uuid.uuid4().hex,
              "timestamp": ts or dt.datetime.now(cn).strftime("%Y%m%d%H%M%S"),
              "version": "1.0"}
    text = "&".join(f"{k}={params[k]}" for k in sorted(params)) + f"&appsecret={secret}"
    params["sign"] = hashlib.sha256(text.lower().encode()).hexdigest()
    req = urllib.request.Request(url, data=urlencode(params).encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def aes_seal(value: str, secret: str = SECRET) -> str:
    import base64
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    p = padding.PKCS7(128).padder()
    e = Cipher(algorithms.AES(secret.encode()), modes.CBC(secret[:16].encode())).encryptor()
    return base64.b64encode(e.update(p.update(value.encode()) + p.finalize()) +
                            e.finalize()).decode()


def aes_open(value: str, secret: str = SECRET) -> str:
    import base64
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    d = Cipher(algorithms.AES(secret.encode()), modes.CBC(secret[:16].encode())).decryptor()
    u = padding.PKCS7(128).unpadder()
    raw = d.update(base64.b64decode(value)) + d.finalize()
    return (u.update(raw) + u.finalize()).decode()
