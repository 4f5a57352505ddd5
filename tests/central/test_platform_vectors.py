"""The signature and encryption vectors in docs/platform.md (one per profile): every output is
recomputed here with hashlib and cryptography called directly -- not with the adapters'
pycryptodomex -- the adapters must produce exactly the documented requests, and a wrong sort
or a missing lower-casing must give another signature."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from central.platform.guangzhou import GuangzhouProfile
from central.platform.national import NationalProfile
from central.platform.profile import Credentials

DOC = Path(__file__).resolve().parents[2] / "docs" / "platform.md"


def vector(name: str) -> dict:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- vector:{name} -->\s*```json\n(.*?)\n```", text, re.S)
    assert m, f"docs/platform.md has no {name} vector"
    return json.loads(m.group(1))


def aes_cbc(secret: str, plain: str) -> str:
    p = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(secret.encode()), modes.CBC(secret[:16].encode())).encryptor()
    return base64.b64encode(enc.update(p.update(plain.encode()) + p.finalize()) +
                            enc.finalize()).decode()


def des_ecb(key: str, plain: str) -> str:
    p = padding.PKCS7(64).padder()
    enc = Cipher(TripleDES(key.encode()[:8] * 3), modes.ECB()).encryptor()
    return "des:" + (enc.update(p.update(plain.encode()) + p.finalize()) +
                     enc.finalize()).hex().upper()


def test_national_vector_recomputed_independently():
    v = vector("national")
    for plain, sealed in v["sealed"].items():
        assert aes_cbc(v["appsecret"], plain) == sealed
    business = json.loads(json.dumps(v["business"]))
    for item in business["dataList"]:
        item["idCardNumber"] = v["sealed"][item["idCardNumber"]]
    data = json.dumps(business, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert data == v["params"]["data"]
    p = v["params"]
    text = "&".join(f"{k}={p[k]}" for k in sorted(p)) + f"&appsecret={v['appsecret']}"
    assert text.lower() == v["signString"]
    assert hashlib.sha256(v["signString"].encode()).hexdigest() == v["sign"]


def test_national_vector_catches_a_wrong_sort_or_case():
    v = vector("national")
    p = v["params"]
    order = ["method", "appid", "data", "format", "nonce", "timestamp", "version"]
    unsorted = "&".join(f"{k}={p[k]}" for k in order) + f"&appsecret={v['appsecret']}"
    assert hashlib.sha256(unsorted.lower().encode()).hexdigest() != v["sign"]
    as_is = "&".join(f"{k}={p[k]}" for k in sorted(p)) + f"&appsecret={v['appsecret']}"
    assert hashlib.sha256(as_is.encode()).hexdigest() != v["sign"]


def test_the_national_adapter_sends_exactly_the_vector():
    v = vector("national")
    prof = NationalProfile("https://platform.example/open.api")
    req = prof.write(v["kind"], v["business"], False,
                     Credentials(v["params"]["appid"], v["appsecret"]), v["nowMs"],
                     v["params"]["nonce"])
    assert dict(parse_qsl(req.body.decode())) == dict(v["params"], sign=v["sign"])
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "430102198501010018" not in req.body.decode() and "430102198501010018" not in repr(req)


def test_guangzhou_vector_recomputed_independently():
    v = vector("guangzhou")
    for plain, sealed in v["sealed"].items():
        assert des_ecb(v["accessKey"], plain) == sealed
    p = v["params"]
    text = "&".join(f"{k}={p[k]}" for k in sorted(p) if k not in ("sign", "dataList"))
    assert text + f"&key={v['accessKey']}" == v["signString"]
    assert hashlib.md5(v["signString"].encode()).hexdigest().upper() == v["sign"]
    business = json.loads(json.dumps(v["business"]))
    business["teamSysNo"] = v["sealed"][str(business["teamSysNo"])]
    for item in business["dataList"]:
        item["idCardNumber"] = v["sealed"][item["idCardNumber"]]
    assert json.dumps(business, ensure_ascii=False, sort_keys=True, separators=(",", ":")) == \
        p["dataList"]


def test_guangzhou_vector_catches_a_wrong_sort_or_case():
    v = vector("guangzhou")
    p = v["params"]
    backwards = "&".join(f"{k}={p[k]}" for k in sorted(p, reverse=True) if k != "dataList")
    assert hashlib.md5(f"{backwards}&key={v['accessKey']}".encode()).hexdigest().upper() != \
        v["sign"]
    assert hashlib.md5(v["signString"].encode()).hexdigest() != v["sign"]     # lower case


def test_the_guangzhou_adapter_sends_exactly_the_vector():
    v = vector("guangzhou")
    prof = GuangzhouProfile("https://gz.example")
    req = prof.write(v["kind"], v["business"], False,
                     Credentials(v["params"]["accessNo"], v["accessKey"]), v["nowMs"], "unused")
    assert req.url == "https://gz.example" + v["path"]
    assert dict(parse_qsl(req.body.decode())) == dict(v["params"], sign=v["sign"])


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_a_national_secret_that_is_no_aes_key_is_refused(secret):
    from central.platform.national import FieldSeal
    with pytest.raises(ValueError):
        FieldSeal(secret)
