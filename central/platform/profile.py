"""What every platform adapter speaks (sans-I/O): a request to send, a verdict on a reply.

An adapter turns business data (plain, national field names, standards.md §1.3) into the bytes
its platform expects -- signature, sealed fields, envelope -- and turns the platform's answer
into a :class:`Verdict` that the delivery loop acts on.  No sockets, no clocks, no randomness
in here: the caller passes the time and the nonce, so each adapter is testable byte for byte
(docs/platform.md has one vector per profile).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

# The objects central pushes, in the order a platform needs them (a team before its workers).
KINDS = ("project", "company", "team", "worker", "entry_exit", "contract", "attendance",
         "payroll")
RANK = {k: i for i, k in enumerate(KINDS)}

# Verdicts (what the delivery loop does next)
ACCEPTED = "accepted"      # an asynchronous write was taken: poll its serial
DONE = "done"              # the platform holds it (synchronous success, or async status 20)
PENDING = "pending"        # async result not ready yet: poll again later
RETRY = "retry"            # transient (5xx, busy, connection): try again with backoff
CLOCK = "clock"            # the platform refused our timestamp: correct the offset, retry
PARK = "park"              # permanent (validation, signature, credentials): an operator acts
DUPLICATE = "duplicate"    # the platform already holds this data: delivered


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"

    def __repr__(self) -> str:       # bodies carry sealed personal data and signatures
        return f"Request({self.method} {self.url}, {len(self.body)} bytes)"


@dataclass(frozen=True)
class Verdict:
    kind: str
    reason: str = ""
    serial: str | None = None
    remote: dict[str, Any] = field(default_factory=dict)     # ids the platform assigned
    server_ms: int | None = None                            # the platform's clock, if told


@dataclass(frozen=True)
class Credentials:
    appid: str
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(appid={self.appid!r}, secret=***)"


class Profile(Protocol):
    name: str
    asynchronous: bool          # writes answer with a serial to poll
    can_query: bool             # the platform can say whether it holds an object
    kinds: tuple[str, ...]      # objects this profile carries

    def write(self, kind: str, data: dict, update: bool, cred: Credentials, now_ms: int,
              nonce: str) -> Request: ...

    def read_write(self, status: int, headers: dict, body: bytes) -> Verdict: ...

    def poll(self, serial: str, cred: Credentials, now_ms: int, nonce: str) -> Request: ...

    def read_poll(self, status: int, headers: dict, body: bytes) -> Verdict: ...

    def method(self, kind: str, update: bool) -> str: ...

    # only when ``can_query``: ask whether the platform holds what a job carries
    def query(self, kind: str, data: dict, page: int, cred: Credentials, now_ms: int,
              nonce: str) -> Request: ...

    def read_query(self, status: int, headers: dict,
                   body: bytes) -> tuple[list[dict] | None, bool, Verdict | None]: ...

    def present(self, kind: str, data: dict, rows: list[dict], cred: Credentials) -> bool: ...


def http_verdict(status: int, headers: dict) -> Verdict | None:
    """Transport-level answers every profile shares: 5xx and 429 are transient."""
    if status >= 500 or status in (408, 429):
        return Verdict(RETRY, f"HTTP {status}", server_ms=date_ms(headers))
    if status >= 400:
        return Verdict(PARK, f"HTTP {status} from the platform", server_ms=date_ms(headers))
    return None


def date_ms(headers: dict) -> int | None:
    """The platform's clock from its HTTP ``Date`` header (RFC 9110 §6.6.1), if any."""
    from email.utils import parsedate_to_datetime
    value = next((v for k, v in headers.items() if k.lower() == "date"), None)
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM = {b: (chr(b) if b in _SAFE else "+" if b == 0x20 else f"%{b:02X}") for b in range(256)}
_SAFE_BYTES = bytes(sorted(_SAFE))
_ESCAPE = {b: _FORM[b].encode("ascii") for b in range(256) if b not in _SAFE}
_FEW = 32


def _form_quote(v: str) -> bytes:
    """One value percent-encoded.  A batch's ``data`` is large but uses few distinct unsafe
    bytes (JSON punctuation, Base64's ``+/=``): each is replaced in one pass of ``bytes.replace``
    (``%`` first, as every other replacement brings one; space last, as ``+`` must be
    escaped before spaces become ``+``); text with many distinct ones (CJK) goes through
    the byte table in one ``translate``."""
    raw = v.encode("utf-8")
    rest, unsafe = raw.translate(None, _SAFE_BYTES), set()
    while rest:                           # the distinct unsafe bytes, one pass each
        if len(unsafe) == _FEW:
            return raw.decode("latin-1").translate(_FORM).encode("ascii")
        unsafe.add(rest[0])
        rest = rest.replace(rest[:1], b"")
    if not unsafe:
        return raw
    if 0x25 in unsafe:
        raw = raw.replace(b"%", b"%25")
    for b in unsafe - {0x25, 0x20}:
        raw = raw.replace(bytes((b,)), _ESCAPE[b])
    return raw.replace(b" ", b"+") if 0x20 in unsafe else raw


def form_encode(params: dict[str, str]) -> bytes:
    """``application/x-www-form-urlencoded`` exactly as ``urlencode`` writes it (UTF-8, space
    as ``+``), done in C (``bytes.replace``/``translate``): a batch's ``data`` is large."""
    return b"&".join(_form_quote(k) + b"=" + _form_quote(v) for k, v in params.items())


def canonical(data: Any) -> str:
    """The JSON text sent as ``data``: compact, keys sorted, UTF-8 kept."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def json_reply(body: bytes) -> dict | None:
    try:
        out = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return out if isinstance(out, dict) else None


def matches(sent: dict, row: dict, sensitive: set[str], open_) -> bool:
    """Does a row the platform returned hold everything we sent (the scalars it echoes
    compared, sealed fields opened with ``open_``)?"""
    for k, v in sent.items():
        if isinstance(v, (list, dict)) or v is None or k not in row:
            continue
        got = row.get(k)
        if k in sensitive and isinstance(got, str):
            try:
                got = open_(got)
            except ValueError:
                return False
        if str(got) != str(v):
            return False
    return True
