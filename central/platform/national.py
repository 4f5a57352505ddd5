"""The national OpenAPI profile (standards.md §1.4), sans-I/O.

* one endpoint, HTTP POST ``application/x-www-form-urlencoded`` with the public parameters
  ``appid, data, format=json, method, nonce, timestamp (yyyyMMddHHmmss), version=1.0, sign``;
* ``sign``: the parameters sorted by key, joined ``k=v&…``, then ``&appsecret=<secret>``
  appended, the whole string lower-cased, SHA-256 as hex;
* ID and bank-card numbers (``SENSITIVE``) AES/CBC/PKCS7, key = the secret's bytes (32
  characters: AES-256), IV = its first 16 characters, Base64;
* writes are asynchronous: ``code`` 0 and a ``requestSerialCode``; ``AsyncHandleResult.Query``
  answers ``status`` 0 (pending), 10 (failed, with the reason) or 20 (done, with the ids the
  platform assigned, e.g. ``teamSysNo``);
* ``<Object>.Query`` (``pageIndex`` from 0, ``pageSize``) says whether the platform holds an
  object: how an in-doubt write is resolved without sending it twice.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

from Cryptodome.Cipher import AES
from Cryptodome.Util.Padding import pad, unpad

from .profile import (ACCEPTED, CLOCK, DONE, DUPLICATE, PARK, PENDING, RETRY, Credentials,
                      Request, Verdict, canonical, date_ms, form_encode, http_verdict,
                      json_reply, matches)

CN = dt.timezone(dt.timedelta(hours=8))
SENSITIVE = {"idCardNumber", "payRollBankCardNumber", "payBankCardNumber", "pmIDCardNumber",
             "teamLeaderIDNumber", "responsiblePersonIDNumber", "laborManagerIDCardNumber"}
LISTS = {"worker": "workerList", "entry_exit": "workerList", "contract": "contractList",
         "attendance": "dataList", "payroll": "detailList"}
METHODS = {   # kind -> (first version, later versions, query)
    "project": ("Project.Add", "Project.PartUpdate", "Project.Query"),
    "company": ("ProjectSubContractor.Add", "ProjectSubContractor.Update",
                "ProjectSubContractor.Query"),
    "team": ("Team.Add", "Team.Update", "Team.Query"),
    "worker": ("ProjectWorker.Add", "ProjectWorker.Update", "ProjectWorker.Query"),
    "entry_exit": ("WorkerEntryExit.Add", "WorkerEntryExit.Add", "WorkerEntryExit.Query"),
    "contract": ("WorkerContract.Add", "WorkerContract.Add", "WorkerContract.Query"),
    "attendance": ("WorkerAttendance.Add", "WorkerAttendance.Add", "WorkerAttendance.Query"),
    "payroll": ("Payroll.Add", "Payroll.Add", "Payroll.Query"),
}
POLL = "AsyncHandleResult.Query"
DUPLICATE_WORDS = ("重复", "已存在", "duplicate")


def timestamp(now_ms: int) -> str:
    return dt.datetime.fromtimestamp(now_ms / 1000, CN).strftime("%Y%m%d%H%M%S")


def sign(params: dict[str, str], secret: str) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params)) + f"&appsecret={secret}"
    return hashlib.sha256(text.lower().encode("utf-8")).hexdigest()


class FieldSeal:
    """AES/CBC/PKCS7 with the app secret (key = its bytes, IV = its first 16), Base64."""

    def __init__(self, secret: str) -> None:
        if len(secret) not in (16, 24, 32):
            raise ValueError("the app secret must be 16, 24 or 32 characters (an AES key)")
        self._key, self._iv = secret.encode(), secret[:16].encode()
        self._memo: dict[str, str] = {}      # fixed IV: the same value seals the same way

    def seal(self, value: str) -> str:
        hit = self._memo.get(value)
        if hit is None:
            c = AES.new(self._key, AES.MODE_CBC, self._iv)
            hit = base64.b64encode(c.encrypt(pad(value.encode("utf-8"), 16))).decode()
            if len(self._memo) < 10_000:
                self._memo[value] = hit
        return hit

    def open(self, value: str) -> str:
        try:
            c = AES.new(self._key, AES.MODE_CBC, self._iv)
            return unpad(c.decrypt(base64.b64decode(value, validate=True)), 16).decode("utf-8")
        except (ValueError, KeyError) as exc:
            raise ValueError("not a sealed field") from exc


def seal_fields(data, seal, sensitive=SENSITIVE):
    """A copy of ``data`` with every sensitive field (at any depth) sealed."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k in sensitive and isinstance(v, str) and v:
                out[k] = seal(v)
            elif isinstance(v, (dict, list)):
                out[k] = seal_fields(v, seal, sensitive)
            else:
                out[k] = v
        return out
    if isinstance(data, list):
        return [seal_fields(v, seal, sensitive) if isinstance(v, (dict, list)) else v
                for v in data]
    return data


class NationalProfile:
    name = "national"
    asynchronous = True
    can_query = True
    kinds = tuple(METHODS)

    def __init__(self, url: str, clock_codes=(1002,), retry_codes=(1005,),
                 duplicate_words=DUPLICATE_WORDS, page_size: int = 500) -> None:
        self.url = url
        self.clock_codes = {str(c) for c in clock_codes}
        self.retry_codes = {str(c) for c in retry_codes}
        self.duplicate_words = tuple(duplicate_words)
        self.page_size = page_size

    # ------------------------------------------------------------------ envelope
    def envelope(self, method: str, data: dict, cred: Credentials, now_ms: int,
                 nonce: str) -> dict[str, str]:
        params = {"appid": cred.appid, "data": canonical(data), "format": "json",
                  "method": method, "nonce": nonce, "timestamp": timestamp(now_ms),
                  "version": "1.0"}
        params["sign"] = sign(params, cred.secret)
        return params

    def _request(self, method, data, cred, now_ms, nonce) -> Request:
        body = form_encode(self.envelope(method, data, cred, now_ms, nonce))
        return Request(self.url, {"Content-Type": "application/x-www-form-urlencoded"}, body)

    def method(self, kind: str, update: bool) -> str:
        return METHODS[kind][1 if update else 0]

    # ------------------------------------------------------------------ writes
    def _seal(self, cred: Credentials) -> FieldSeal:
        held = getattr(self, "_sealer", None)
        if held is None or held[0] != cred.secret:
            held = self._sealer = (cred.secret, FieldSeal(cred.secret))
        return held[1]

    def write(self, kind, data, update, cred, now_ms, nonce) -> Request:
        sealed = seal_fields(data, self._seal(cred).seal)
        return self._request(self.method(kind, update), sealed, cred, now_ms, nonce)

    def _code_verdict(self, reply: dict, headers: dict) -> Verdict | None:
        code = str(reply.get("code"))
        if code == "0":
            return None
        msg = f"code {code}: {str(reply.get('message') or '')[:300]}"
        server = date_ms(headers)
        if code in self.clock_codes:
            return Verdict(CLOCK, msg, server_ms=server)
        if code in self.retry_codes:
            return Verdict(RETRY, msg, server_ms=server)
        if any(w in msg for w in self.duplicate_words):
            return Verdict(DUPLICATE, msg, server_ms=server)
        return Verdict(PARK, msg, server_ms=server)

    def read_write(self, status, headers, body) -> Verdict:
        bad = http_verdict(status, headers)
        if bad:
            return bad
        reply = json_reply(body)
        if reply is None or "code" not in reply:
            return Verdict(RETRY, "the platform's answer is not the expected JSON")
        v = self._code_verdict(reply, headers)
        if v:
            return v
        data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
        serial = data.get("requestSerialCode") or reply.get("requestSerialCode")
        if not serial:
            return Verdict(DONE, "accepted without a serial code")
        return Verdict(ACCEPTED, serial=str(serial), server_ms=date_ms(headers))

    # ------------------------------------------------------------------ async results
    def poll(self, serial, cred, now_ms, nonce) -> Request:
        return self._request(POLL, {"requestSerialCode": serial}, cred, now_ms, nonce)

    def read_poll(self, status, headers, body) -> Verdict:
        bad = http_verdict(status, headers)
        if bad:
            return bad
        reply = json_reply(body)
        if reply is None or "code" not in reply:
            return Verdict(RETRY, "the platform's answer is not the expected JSON")
        v = self._code_verdict(reply, headers)
        if v:
            return v
        data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
        state = str(data.get("status"))
        result = data.get("result")
        if state == "20":
            remote = result if isinstance(result, dict) else _json_obj(result)
            return Verdict(DONE, "status 20", remote=remote)
        if state == "10":
            reason = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            reason = f"status 10: {reason}"[:400]
            if any(w in reason for w in self.duplicate_words):
                return Verdict(DUPLICATE, reason)
            return Verdict(PARK, reason)
        return Verdict(PENDING, f"status {state}")

    # ------------------------------------------------------------------ queries
    def query_params(self, kind: str, data: dict, seal) -> dict:
        items = data.get(LISTS.get(kind, ""), [])
        first = items[0] if items else {}
        q = {"projectCode": data["projectCode"]}
        if kind == "company":
            q["corpCode"] = data["corpCode"]
        elif kind == "team":
            q["teamName"] = data["teamName"]
        elif kind in ("worker", "entry_exit", "contract") and first.get("idCardNumber"):
            q["idCardNumber"] = seal(first["idCardNumber"])
        elif kind == "attendance":
            q["date"] = str(first.get("date", ""))[:10]
        elif kind == "payroll":
            q["payMonth"] = data["payMonth"]
        return q

    def query(self, kind, data, page, cred, now_ms, nonce) -> Request:
        q = self.query_params(kind, data, self._seal(cred).seal)
        q.update(pageIndex=page, pageSize=self.page_size)
        return self._request(METHODS[kind][2], q, cred, now_ms, nonce)

    def read_query(self, status, headers, body) -> tuple[list[dict] | None, bool, Verdict | None]:
        """(rows, more pages?, a verdict when the query itself failed)."""
        bad = http_verdict(status, headers)
        if bad:
            return None, False, bad
        reply = json_reply(body)
        if reply is None or "code" not in reply:
            return None, False, Verdict(RETRY, "the platform's answer is not the expected JSON")
        v = self._code_verdict(reply, headers)
        if v:
            return None, False, v
        data = reply.get("data") if isinstance(reply.get("data"), dict) else {}
        rows = data.get("rows") or data.get("list") or []
        rows = [r for r in rows if isinstance(r, dict)]
        total = data.get("total")
        more = isinstance(total, int) and len(rows) == self.page_size and total > \
            (int(data.get("pageIndex", 0)) + 1) * self.page_size
        return rows, more, None

    def present(self, kind: str, data: dict, rows: list[dict], cred: Credentials) -> bool:
        """Does the platform hold everything this job carries?"""
        opener = FieldSeal(cred.secret).open
        list_field = LISTS.get(kind)
        if list_field is None:
            flat = {k: v for k, v in data.items() if not isinstance(v, (list, dict))}
            return any(matches(flat, r, SENSITIVE, opener) for r in rows)
        want = data.get(list_field, [])
        keyed = _index(rows, opener)
        for item in want:
            key = (item.get("idCardNumber"), str(item.get("date", "")))
            cands = keyed.get(key, rows if key == (None, "") else [])
            if not any(matches(item, r, SENSITIVE, opener) for r in cands):
                return False
        return True


def _index(rows: list[dict], opener) -> dict:
    out: dict = {}
    for r in rows:
        idn = r.get("idCardNumber")
        if isinstance(idn, str):
            try:
                idn = opener(idn)
            except ValueError:
                pass
        out.setdefault((idn, str(r.get("date", ""))), []).append(r)
    return out


def _json_obj(value) -> dict:
    if isinstance(value, str):
        try:
            out = json.loads(value)
            return out if isinstance(out, dict) else {}
        except ValueError:
            return {}
    return {}
