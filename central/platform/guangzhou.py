"""The Guangzhou-style profile (standards.md §1.4 "Provincial variants", source S4), sans-I/O.

As we implement it (docs/platform.md has the vector; confirm details in the platform's test
environment before going live):

* HTTP POST ``application/x-www-form-urlencoded`` to one path per object (attendance batch:
  ``/attendance/attendance/saves``), parameters ``accessNo`` (the access number the platform
  issued), ``timestamp`` (Beijing time to the millisecond, ``yyyyMMddHHmmssSSS``),
  ``dataList`` (the business JSON) and ``sign``;
* ``sign``: every parameter except ``sign`` and ``dataList`` (S4: the data list is not signed)
  in dictionary order as ``k=v&…``, then ``&key=<access key>``, MD5, upper-case hex;
* team number, ID numbers, ID-image path, bank-card and social-security numbers are DES
  encrypted with the access key (its first 8 bytes; ECB, PKCS#5 -- Java's ``"DES"`` default),
  hex-encoded (upper case) and prefixed ``des:``;
* answers are synchronous: ``resultCode`` 0 = stored, anything else failed, ``resultDesc``
  says why.  There is no query: an in-doubt write is sent again, and the platform's duplicate
  answer counts as delivered.
"""
from __future__ import annotations

import datetime as dt
import hashlib

from Cryptodome.Cipher import DES
from Cryptodome.Util.Padding import pad, unpad

from .profile import (CLOCK, DONE, DUPLICATE, PARK, RETRY, Credentials, Request, Verdict,
                      canonical, date_ms, form_encode, http_verdict, json_reply)

CN = dt.timezone(dt.timedelta(hours=8))
SENSITIVE = {"idCardNumber", "payRollBankCardNumber", "payBankCardNumber", "pmIDCardNumber",
             "teamLeaderIDNumber", "responsiblePersonIDNumber", "laborManagerIDCardNumber",
             "teamSysNo", "idCardImagePath", "socialSecurityNumber"}
PATHS = {"attendance": "/attendance/attendance/saves"}
DUPLICATE_WORDS = ("重复", "已存在", "duplicate")


def timestamp(now_ms: int) -> str:
    t = dt.datetime.fromtimestamp(now_ms / 1000, CN)
    return t.strftime("%Y%m%d%H%M%S") + f"{now_ms % 1000:03d}"


def sign(params: dict[str, str], key: str) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params)
                    if k not in ("sign", "dataList")) + f"&key={key}"
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


class DesSeal:
    def __init__(self, key: str) -> None:
        if len(key.encode()) < 8:
            raise ValueError("the access key must be at least 8 bytes (a DES key)")
        self._key = key.encode()[:8]

    def seal(self, value) -> str:
        c = DES.new(self._key, DES.MODE_ECB)
        return "des:" + c.encrypt(pad(str(value).encode("utf-8"), 8)).hex().upper()

    def open(self, value: str) -> str:
        if not isinstance(value, str) or not value.startswith("des:"):
            raise ValueError("not a des: field")
        try:
            c = DES.new(self._key, DES.MODE_ECB)
            return unpad(c.decrypt(bytes.fromhex(value[4:])), 8).decode("utf-8")
        except ValueError as exc:
            raise ValueError("not a des: field") from exc


def seal_fields(data, seal):
    if isinstance(data, dict):
        return {k: (seal(v) if k in SENSITIVE and v not in (None, "")
                    and not isinstance(v, (dict, list)) else seal_fields(v, seal))
                for k, v in data.items()}
    if isinstance(data, list):
        return [seal_fields(v, seal) for v in data]
    return data


class GuangzhouProfile:
    name = "guangzhou"
    asynchronous = False
    can_query = False

    def __init__(self, url: str, paths: dict[str, str] | None = None, clock_codes=(2,),
                 retry_codes=(9,), duplicate_words=DUPLICATE_WORDS) -> None:
        self.base = url.rstrip("/")
        self.paths = dict(PATHS, **(paths or {}))
        self.kinds = tuple(k for k in self.paths)
        self.clock_codes = {str(c) for c in clock_codes}
        self.retry_codes = {str(c) for c in retry_codes}
        self.duplicate_words = tuple(duplicate_words)

    def method(self, kind: str, update: bool) -> str:
        return self.paths[kind]

    def envelope(self, data: dict, cred: Credentials, now_ms: int) -> dict[str, str]:
        params = {"accessNo": cred.appid, "timestamp": timestamp(now_ms),
                  "dataList": canonical(data)}
        params["sign"] = sign(params, cred.secret)
        return params

    def write(self, kind, data, update, cred, now_ms, nonce) -> Request:
        sealed = seal_fields(data, DesSeal(cred.secret).seal)
        body = form_encode(self.envelope(sealed, cred, now_ms))
        return Request(self.base + self.paths[kind],
                       {"Content-Type": "application/x-www-form-urlencoded"}, body)

    def read_write(self, status, headers, body) -> Verdict:
        bad = http_verdict(status, headers)
        if bad:
            return bad
        reply = json_reply(body)
        if reply is None or "resultCode" not in reply:
            return Verdict(RETRY, "the platform's answer is not the expected JSON")
        code = str(reply.get("resultCode"))
        desc = str(reply.get("resultDesc") or "")[:300]
        server = date_ms(headers)
        if code == "0":
            return Verdict(DONE, desc, server_ms=server)
        msg = f"resultCode {code}: {desc}"
        if code in self.clock_codes:
            return Verdict(CLOCK, msg, server_ms=server)
        if code in self.retry_codes:
            return Verdict(RETRY, msg, server_ms=server)
        if any(w in desc for w in self.duplicate_words):
            return Verdict(DUPLICATE, msg, server_ms=server)
        return Verdict(PARK, msg, server_ms=server)

    def poll(self, serial, cred, now_ms, nonce) -> Request:      # pragma: no cover
        raise NotImplementedError("synchronous profile: nothing to poll")

    def read_poll(self, status, headers, body) -> Verdict:       # pragma: no cover
        raise NotImplementedError("synchronous profile: nothing to poll")
