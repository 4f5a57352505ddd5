"""A fake platform to rehearse against: ``sitegate-central platform fake``.

Built from the documented conventions (standards.md §1.3-§1.5, docs/platform.md) and nothing
of the client: it imports no adapter, and checks signatures and opens sealed fields with
``hashlib`` and ``cryptography`` where the client uses ``pycryptodomex``.

National profile (``POST /open.api``): checks ``appid``, ``sign`` (SHA-256 of the sorted,
lower-cased ``k=v&…&appsecret=`` string), the timestamp (± ``tolerance_s``, default 6 min),
``format``/``version`` and that a ``nonce`` is not reused; opens AES fields; answers a write
with ``code`` 0 and a ``requestSerialCode``, then judges the data (fields, code tables, the
project/team/worker it refers to, duplicates) and reports ``status`` 0 → 20 or 10 (with the
reasons) through ``AsyncHandleResult.Query`` after ``process_ms``.  ``<Object>.Query`` lists
what it holds.  Wrong signature ``1001``, timestamp ``1002``, unknown appid ``1003``, bad
parameters ``1004``, reused nonce ``1006``.

Guangzhou profile (``POST /attendance/attendance/saves``, ``/<object>/saves``): ``accessNo``,
``timestamp`` (ms), ``sign`` (MD5, upper case, ``dataList`` not signed), ``des:`` fields;
synchronous ``resultCode`` 0, 1 signature, 2 timestamp, 3 bad data, 4 duplicate.

Told to fail (``--inject`` or ``POST /_fake/inject`` with ``{"mode", "count", ...}``):
``5xx`` (HTTP 500, nothing processed), ``timeout`` (processed, answered after ``delay_s``),
``status10`` (accepted, then fails with ``reason``), ``skew`` (its clock off by ``skew_s``
until told ``skew_s`` 0), ``duplicate`` (stored, answered as a duplicate).  ``GET /_fake/state`` says what it holds and
how often each attendance record was submitted (keys are SHA-256 of
``idCardNumber|date|direction``, never the numbers).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import Counter, deque
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import fakecheck

CN = dt.timezone(dt.timedelta(hours=8))
MAX_BODY = 16 * 1024 * 1024
MODES = ("5xx", "timeout", "status10", "skew", "duplicate")
NATIONAL_SEALED = {"idCardNumber", "payRollBankCardNumber", "payBankCardNumber",
                   "pmIDCardNumber", "teamLeaderIDNumber", "responsiblePersonIDNumber",
                   "laborManagerIDCardNumber"}
GZ_SEALED = NATIONAL_SEALED | {"teamSysNo", "idCardImagePath", "socialSecurityNumber"}
WRITES = {"Project.Add": ("project", "add"), "Project.PartUpdate": ("project", "update"),
          "ProjectSubContractor.Add": ("company", "add"),
          "ProjectSubContractor.Update": ("company", "update"),
          "Team.Add": ("team", "add"), "Team.Update": ("team", "update"),
          "ProjectWorker.Add": ("worker", "add"), "ProjectWorker.Update": ("worker", "update"),
          "WorkerEntryExit.Add": ("entry_exit", "add"),
          "WorkerContract.Add": ("contract", "add"),
          "WorkerAttendance.Add": ("attendance", "add"), "Payroll.Add": ("payroll", "add")}
QUERIES = {"Project.Query": "project", "ProjectSubContractor.Query": "company",
           "Team.Query": "team", "ProjectWorker.Query": "worker",
           "WorkerEntryExit.Query": "entry_exit", "WorkerContract.Query": "contract",
           "WorkerAttendance.Query": "attendance", "Payroll.Query": "payroll"}
GZ_PATHS = {"/attendance/attendance/saves": "attendance"} | {
    f"/{k}/saves": k for k in fakecheck.OBJECTS}


class Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------- sealed fields
class AesField:
    """AES/CBC/PKCS7, key = the secret, IV = its first 16 characters, Base64."""

    def __init__(self, secret: str) -> None:
        self.key, self.iv = secret.encode(), secret[:16].encode()

    def open(self, value: str) -> str:
        raw = base64.b64decode(value, validate=True)
        d = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        u = padding.PKCS7(128).unpadder()
        return (u.update(d.update(raw) + d.finalize()) + u.finalize()).decode("utf-8")

    def seal(self, value: str) -> str:
        p = padding.PKCS7(128).padder()
        e = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        data = p.update(value.encode("utf-8")) + p.finalize()
        return base64.b64encode(e.update(data) + e.finalize()).decode()


class DesField:
    """``des:`` + hex of DES/ECB/PKCS5 under the key's first 8 bytes (TripleDES with the key
    three times is DES)."""

    def __init__(self, secret: str) -> None:
        self.key = secret.encode()[:8] * 3

    def open(self, value: str) -> str:
        if not value.startswith("des:"):
            raise ValueError("no des: prefix")
        d = Cipher(TripleDES(self.key), modes.ECB()).decryptor()
        u = padding.PKCS7(64).unpadder()
        raw = bytes.fromhex(value[4:])
        return (u.update(d.update(raw) + d.finalize()) + u.finalize()).decode("utf-8")


def open_fields(data, opener, sealed):
    """Opened copy of ``data``; raises ValueError naming the field that does not open."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k in sealed and isinstance(v, str) and v:
                try:
                    out[k] = opener(v)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"{k}: does not decrypt with the app secret") from exc
            else:
                out[k] = open_fields(v, opener, sealed)
        return out
    if isinstance(data, list):
        return [open_fields(v, opener, sealed) for v in data]
    return data


def record_key(id_number: str, date: str, direction: str) -> str:
    return hashlib.sha256(f"{id_number}|{date}|{direction}".encode()).hexdigest()[:32]


# ---------------------------------------------------------------------- state
class Fake:
    def __init__(self, profile: str, appid: str, secret: str, process_ms: int = 200,
                 tolerance_s: int = 360, clock=time.time) -> None:
        if profile not in ("national", "guangzhou"):
            raise ValueError("profile: national or guangzhou")
        self.profile, self.appid, self.secret = profile, appid, secret
        self.process_ms, self.tolerance_s, self.clock = process_ms, tolerance_s, clock
        self.lock = threading.Lock()
        self.held: dict[str, dict] = {k: {} for k in fakecheck.OBJECTS}
        self.serials: dict[str, tuple[float, str, object]] = {}
        self.submitted: Counter = Counter()      # attendance record -> write requests with it
        self.nonces: dict[str, float] = {}
        self.expiry: deque = deque()
        self.injections: list[dict] = []
        self.skew_s = 0.0
        self.next_team = 1000
        self.stats = Counter()
        self.first_at = self.last_at = None

    # ------------------------------------------------------------------ control
    def inject(self, mode: str, count: int = 1, **params) -> None:
        if mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}")
        with self.lock:
            if mode == "skew":                 # the platform's clock is off until reset
                self.skew_s = float(params.get("skew_s", 900))
                self.stats["injected_skew"] += 1
                return
            self.injections.append(dict(params, mode=mode, count=int(count)))

    def _take(self, kinds: tuple[str, ...]) -> dict | None:
        with self.lock:
            for inj in self.injections:
                if inj["mode"] in kinds and inj["count"] > 0:
                    inj["count"] -= 1
                    self.stats[f"injected_{inj['mode']}"] += 1
                    return dict(inj)
            self.injections = [i for i in self.injections if i["count"] > 0]
        return None

    def now(self) -> float:
        return self.clock() + self.skew_s

    def state(self) -> dict:
        with self.lock:
            t = self.clock()
            held = {k: sum(1 for v in rows.values() if v[0] <= t) for k, rows in self.held.items()}
            return {"profile": self.profile, "held": held, "stats": dict(self.stats),
                    "submitted": dict(self.submitted),
                    "attendanceHeld": sorted(k for k, v in self.held["attendance"].items()
                                             if v[0] <= t),
                    "firstAt": self.first_at, "lastAt": self.last_at}

    # ------------------------------------------------------------------ national
    def national(self, params: dict[str, str]) -> tuple[int, dict, float]:
        """(HTTP status, JSON answer, seconds to hold the answer back)."""
        try:
            method, data = self._national_envelope(params)
        except Refused as exc:
            self.stats[f"refused_{exc.code}"] += 1
            return 200, {"code": exc.code, "message": str(exc), "data": None}, 0.0
        if method == "AsyncHandleResult.Query":
            return 200, self._async_result(data), 0.0
        if method in QUERIES:
            return 200, self._query(QUERIES[method], data), 0.0
        if method not in WRITES:
            return 200, {"code": 1004, "message": f"unknown method {method}", "data": None}, 0.0
        inj = self._take(("5xx", "timeout", "status10", "duplicate"))
        if inj and inj["mode"] == "5xx":
            return 500, {"code": -1, "message": "internal error (injected)"}, 0.0
        kind, op = WRITES[method]
        serial = secrets.token_hex(12)
        try:
            data = open_fields(data, AesField(self.secret).open, NATIONAL_SEALED)
            status, result = self._judge(kind, op, data, inj)
        except ValueError as exc:
            status, result = "10", str(exc)
        with self.lock:
            self.serials[serial] = (self.clock() + self.process_ms / 1000, status, result)
        delay = float(inj.get("delay_s", 5.0)) if inj and inj["mode"] == "timeout" else 0.0
        return 200, {"code": 0, "message": "accepted",
                     "data": {"requestSerialCode": serial}}, delay

    def _national_envelope(self, params) -> tuple[str, dict]:
        need = ("appid", "data", "format", "method", "nonce", "timestamp", "version", "sign")
        missing = [k for k in need if not params.get(k)]
        if missing:
            raise Refused(1004, f"missing parameters: {', '.join(missing)}")
        if params["appid"] != self.appid:
            raise Refused(1003, "unknown appid")
        text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign")
        text = (text + f"&appsecret={self.secret}").lower()
        want = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if not hmac.compare_digest(want, params["sign"].lower()):
            raise Refused(1001, "sign error: signature does not match")
        self._check_time(params["timestamp"], "%Y%m%d%H%M%S", 1002)
        if params["format"] != "json" or params["version"] != "1.0":
            raise Refused(1004, "format must be json and version 1.0")
        with self.lock:
            t = self.clock()
            while self.expiry and self.expiry[0][0] <= t:      # forget nonces past the window
                self.nonces.pop(self.expiry.popleft()[1], None)
            if params["nonce"] in self.nonces:
                raise Refused(1006, "nonce already used")
            self.nonces[params["nonce"]] = t + 2 * self.tolerance_s
            self.expiry.append((t + 2 * self.tolerance_s, params["nonce"]))
        try:
            data = json.loads(params["data"])
        except ValueError:
            raise Refused(1004, "data is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(1004, "data must be a JSON object")
        return params["method"], data

    def _check_time(self, value: str, fmt: str, code: int) -> None:
        try:
            t = dt.datetime.strptime(value[:14], fmt).replace(tzinfo=CN).timestamp()
        except ValueError:
            raise Refused(code, "timestamp: bad format") from None
        if abs(t - self.now()) > self.tolerance_s:
            raise Refused(code, f"timestamp out of range (±{self.tolerance_s} s of the "
                                "platform's clock)")

    def _async_result(self, data: dict) -> dict:
        with self.lock:
            hit = self.serials.get(str(data.get("requestSerialCode")))
        if hit is None:
            return {"code": 1004, "message": "unknown requestSerialCode", "data": None}
        ready, status, result = hit
        if self.clock() < ready:
            return {"code": 0, "message": "success", "data": {"status": "0", "result": None}}
        return {"code": 0, "message": "success", "data": {"status": status, "result": result}}

    # ------------------------------------------------------------------ the data itself
    def _keys(self, kind: str, data: dict) -> list[tuple[str, dict]]:
        """(natural key, row) for each thing the write carries."""
        p = data.get("projectCode")
        if kind == "project":
            return [(p, data)]
        if kind == "company":
            return [(f"{p}|{data.get('corpCode')}", data)]
        if kind == "team":
            return [(f"{p}|{data.get('teamName')}", data)]
        env = {k: v for k, v in data.items() if not isinstance(v, list)}
        field = fakecheck.OBJECTS[kind][2]
        out = []
        for item in data.get(field) or []:
            row = dict(env, **item)
            idn = item.get("idCardNumber")
            if kind == "attendance":
                key = record_key(idn, item.get("date"), item.get("direction"))
            elif kind == "worker":
                key = f"{p}|{idn}"
            elif kind == "entry_exit":
                key = f"{p}|{idn}|{item.get('date')}|{item.get('type')}"
            elif kind == "contract":
                key = f"{p}|{idn}|{item.get('corpCode')}|{item.get('startDate')}"
            else:
                key = f"{p}|{data.get('payMonth')}|{idn}|{item.get('thirdPayRollCode')}"
            out.append((key, row))
        return out

    def _judge(self, kind: str, op: str, data: dict, inj: dict | None) -> tuple[str, object]:
        """Decide and store (visible after process_ms): ("20", result) or ("10", reasons)."""
        keys = self._keys(kind, data)
        with self.lock:
            if kind == "attendance":
                for key, _ in keys:
                    self.submitted[key] += 1
            self.stats["writes"] += 1
            reasons = fakecheck.problems(kind, data) + self._references(kind, data)
            if reasons:
                self.stats["invalid"] += 1
                return "10", "; ".join(reasons)[:2000]
            if inj and inj["mode"] == "status10":
                return "10", str(inj.get("reason", "数据校验失败 (injected)"))
            held = self.held[kind]
            t = self.clock() + (self.process_ms / 1000 if self.profile == "national" else 0)
            fresh = [(k, r) for k, r in keys if k not in held]
            if op == "update":
                if len(fresh) == len(keys):
                    return "10", "no such object to update"
                fresh = keys
            elif not fresh:
                self.stats["duplicates"] += 1
                return "10", "数据重复: the platform already holds this data"
            result: dict = {}
            for k, r in fresh:
                if kind == "team":
                    no = held[k][1]["teamSysNo"] if k in held else self._team_no()
                    r = dict(r, teamSysNo=no)
                    result["teamSysNo"] = no
                held[k] = (t, r)
            n = len(fresh)
            self.stats["records_held"] += n
            self.first_at = self.first_at or time.time()
            self.last_at = time.time()
            if inj and inj["mode"] == "duplicate":
                return "10", "数据重复 (injected): already held"
            result["stored"] = n
            if len(fresh) < len(keys):
                result["duplicates"] = len(keys) - len(fresh)
            return "20", result

    def _team_no(self) -> int:
        self.next_team += 1
        return self.next_team

    def _references(self, kind: str, data: dict) -> list[str]:
        if self.profile != "national" or kind == "project":
            return []
        p = data.get("projectCode")
        if p not in self.held["project"]:
            return [f"projectCode: project {p} is not on the platform"]
        out = []
        team = data.get("teamSysNo")
        if team not in (None, "") and not any(str(r["teamSysNo"]) == str(team) and
                                              r["projectCode"] == p
                                              for _, r in self.held["team"].values()):
            out.append(f"teamSysNo: no team {team} on project {p}")
        if kind in ("entry_exit", "contract", "attendance", "payroll"):
            field = fakecheck.OBJECTS[kind][2]
            for i, item in enumerate(data.get(field) or []):
                if f"{p}|{item.get('idCardNumber')}" not in self.held["worker"]:
                    out.append(f"{field}[{i}]: worker not on project {p}")
        return out[:20]

    def _query(self, kind: str, data: dict) -> dict:
        seal = AesField(self.secret)
        try:
            want = open_fields(data, seal.open, NATIONAL_SEALED)
        except ValueError as exc:
            return {"code": 1004, "message": str(exc), "data": None}
        page, size = int(data.get("pageIndex", 0)), min(int(data.get("pageSize", 100)), 1000)
        t = self.clock()
        with self.lock:
            rows = [r for v, r in self.held[kind].values() if v <= t]
        for f in ("projectCode", "corpCode", "teamName", "idCardNumber", "payMonth"):
            if want.get(f):
                rows = [r for r in rows if str(r.get(f)) == str(want[f])]
        if want.get("date"):
            rows = [r for r in rows if str(r.get("date", "")).startswith(want["date"])]
        out = [{k: (seal.seal(v) if k in NATIONAL_SEALED and isinstance(v, str) else v)
                for k, v in r.items() if not isinstance(v, list)}
               for r in rows[page * size:(page + 1) * size]]
        return {"code": 0, "message": "success",
                "data": {"pageIndex": page, "pageSize": size, "total": len(rows), "rows": out}}

    # ------------------------------------------------------------------ guangzhou
    def guangzhou(self, path: str, params: dict[str, str]) -> tuple[int, dict, float]:
        kind = GZ_PATHS.get(path)
        if kind is None:
            return 404, {"resultCode": 3, "resultDesc": "no such interface"}, 0.0
        inj = self._take(("5xx", "timeout", "status10", "duplicate"))
        if inj and inj["mode"] == "5xx":
            return 500, {"resultCode": 9, "resultDesc": "internal error (injected)"}, 0.0
        need = ("accessNo", "timestamp", "dataList", "sign")
        missing = [k for k in need if not params.get(k)]
        if missing:
            return 200, {"resultCode": 3, "resultDesc": f"missing {', '.join(missing)}"}, 0.0
        if params["accessNo"] != self.appid:
            return 200, {"resultCode": 1, "resultDesc": "unknown accessNo"}, 0.0
        text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign",
                                                                                "dataList"))
        want = hashlib.md5(f"{text}&key={self.secret}".encode("utf-8")).hexdigest().upper()
        if not hmac.compare_digest(want, params["sign"]):
            return 200, {"resultCode": 1, "resultDesc": "签名错误"}, 0.0
        try:
            self._check_time(params["timestamp"], "%Y%m%d%H%M%S", 2)
        except Refused as exc:
            return 200, {"resultCode": 2, "resultDesc": str(exc)}, 0.0
        try:
            data = json.loads(params["dataList"])
            data = open_fields(data, DesField(self.secret).open, GZ_SEALED)
            if isinstance(data, dict) and isinstance(data.get("teamSysNo"), str) and \
                    data["teamSysNo"].isdigit():
                data["teamSysNo"] = int(data["teamSysNo"])
            if not isinstance(data, dict):
                raise ValueError("dataList must be a JSON object")
        except ValueError as exc:
            return 200, {"resultCode": 3, "resultDesc": str(exc)}, 0.0
        status, result = self._judge(kind, "add", data, inj)
        delay = float(inj.get("delay_s", 5.0)) if inj and inj["mode"] == "timeout" else 0.0
        if status == "20":
            return 200, {"resultCode": 0, "resultDesc": "处理成功"}, delay
        code = 4 if "重复" in str(result) else 3
        return 200, {"resultCode": code, "resultDesc": str(result)[:500]}, delay


# ---------------------------------------------------------------------- HTTP
def make_server(fake: Fake, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sitegate-fake-platform/1"
        disable_nagle_algorithm = True       # headers and body go out without a delayed ACK

        def log_message(self, fmt, *args):      # quiet: the body may carry personal data
            pass

        def date_time_string(self, timestamp=None):
            return formatdate(fake.now(), usegmt=True)

        def _send(self, status: int, obj: dict) -> None:
            body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes | None:
            try:
                n = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                n = -1
            if not 0 <= n <= MAX_BODY:
                self._send(413, {"code": 1004, "message": "body too large or no length"})
                self.close_connection = True
                return None
            return self.rfile.read(n)

        def do_GET(self):
            if urlsplit(self.path).path == "/_fake/state":
                self._send(200, fake.state())
            else:
                self._send(404, {"code": 404, "message": "not found"})

        def do_POST(self):
            path = urlsplit(self.path).path
            body = self._body()
            if body is None:
                return
            if path == "/_fake/inject":
                try:
                    req = json.loads(body or b"{}")
                    fake.inject(**req)
                except (ValueError, TypeError) as exc:
                    self._send(400, {"error": str(exc)})
                    return
                self._send(200, {"ok": True})
                return
            try:
                params = {k: v[0] for k, v in parse_qs(body.decode("utf-8"),
                                                       keep_blank_values=True).items()}
            except UnicodeDecodeError:
                self._send(400, {"code": 1004, "message": "not UTF-8"})
                return
            if fake.profile == "national":
                if path != "/open.api":
                    self._send(404, {"code": 404, "message": "the endpoint is /open.api"})
                    return
                status, answer, delay = fake.national(params)
            else:
                status, answer, delay = fake.guangzhou(path, params)
            if delay:
                time.sleep(delay)
            self._send(status, answer)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def endpoint(fake: Fake, server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}" + ("/open.api" if fake.profile == "national" else "")
