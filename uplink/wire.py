"""The gateway <-> central wire format, version 1 (normative text: docs/wire.md).

Pure functions only: bytes in, typed values out.  No sockets, no clocks, no database.

* Canonical bytes: JSON of a restricted value set (objects with string keys, arrays, strings,
  integers within +-(2**53-1), true, false, null -- no floats), keys sorted, no whitespace,
  UTF-8 without escaping non-ASCII.  Anything else is refused, so every value has exactly one
  encoding and central can insist that what it received *is* the canonical form.
* Record: ``{"body", "gw", "prev", "seq", "ts", "type", "v"}``; its hash is SM3 over its canonical
  bytes; ``prev`` is the hash of record ``seq - 1`` (64 zeros before seq 1).
* Block: ``{"first", "gw", "head", "last", "prev", "records", "sealed", "type": "block", "v"}``;
  the MQTT payload is the block's canonical bytes followed by the 64-byte raw SM2 signature
  ``r || s`` over exactly those bytes (SM3 with Z, ID 1234567812345678).
* Damage report: ``{"first", "gw", "hashes", "head", "last", "prev", "sealed", "type": "damage",
  "v"}`` + signature, the same envelope as a block: records ``first..last`` were damaged on the
  gateway's disk before they could be sealed; only their chain hashes survive.
* Ack: ``{"gw", "head", "ref", "reason", "seq", "status", "v"}`` from central after its commit;
  the MQTT payload is its canonical bytes followed by central's 64-byte SM2 signature, and the
  gateway releases nothing on an ack that does not verify against central's key.
* Limits (§3, §4): a block holds 1..256 records in at most 128 KiB of signed bytes; a record is
  at most 16 KiB, its ``type`` 1..32 of ``[a-z0-9_]``, ``ts`` below 10**13, its strings without
  U+0000 and U+007F.  ``WireError.kind`` names the rule a refused input broke.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .sm2 import sm3

VERSION = 1
SIG_LEN = 64
ZERO_HASH = "0" * 64
MAX_INT = 2**53 - 1
TOPIC_ROOT = "sitegate/v1"
GATEWAY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
ACK_STATUSES = ("ok", "duplicate", "gap", "rejected", "busy")
# a busy ack asks the gateway to wait this long (ms) before sending again (docs/wire.md §5)
RETRY_AFTER_MS = (100, 600_000)


# the limits of docs/wire.md §3/§4 (our defaults; each is a rejection of kind "limit")
MAX_BLOCK_RECORDS = 256
MAX_BLOCK_BYTES = 128 * 1024         # the signed bytes; the 64-byte signature is not counted
MAX_RECORD_BYTES = 16 * 1024         # one record's canonical bytes
MAX_TS = 10**13 - 1                  # ms: 2286-11-20, far from any clock yet inside every date type
MAX_STRING_CHARS = 1024              # any string in a body
MAX_KEY_CHARS = 64                   # any object key in a body
MAX_DEPTH = 8                        # objects/arrays nested in a body (the body itself is 1)
MAX_WORKER_CHARS = 32                # attendance ``worker`` (central's registry id column)
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FORBIDDEN = re.compile("[\x00\x7f]")  # NUL: no database text type holds it; DEL: see §2


class WireError(ValueError):
    """Input that does not follow the wire format.  ``kind`` is the rule broken, one word of
    the rejection vocabulary (docs/wire.md §4): ``malformed`` (not the structure), ``limit``
    (a value beyond a limit), ``broken_chain``, ``oversized``; the message says how."""

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


class BadSignature(WireError):
    """A message that must be signed by central (ack, roster update) is not."""


# ---------------------------------------------------------------- canonical bytes

def _check(value: Any, path: str = "$") -> None:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise WireError(f"{path}: string is not valid UTF-8") from exc
        return
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise WireError(f"{path}: integer {value} outside +-(2**53-1)")
        return
    if isinstance(value, float):
        raise WireError(f"{path}: floats are not allowed (use integers, e.g. milli-units)")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise WireError(f"{path}: object key {key!r} is not a string")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise WireError(f"{path}: {type(value).__name__} is not a wire value")


def canonical(value: Any) -> bytes:
    """The one encoding of ``value``; raises WireError for values outside the wire set."""
    try:
        _check(value)
    except RecursionError as exc:
        raise WireError("value nested too deeply") from exc
    return _encode(value)


def _encode(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def parse_canonical(data: bytes, what: str) -> Any:
    """Parse bytes that must be canonical; non-canonical input is refused (no malleability).

    The parse hooks already confine values to the wire set (no floats, no NaN, integers in
    range, no duplicate keys), so re-encoding needs no second walk over the value."""
    try:
        value = json.loads(data.decode("utf-8"), parse_float=_no_float, parse_int=_int,
                           parse_constant=_no_float, object_pairs_hook=_no_dup_keys)
        again = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if again.encode("utf-8") != data:
            raise WireError(f"{what}: not in canonical form")
    except WireError:
        raise
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise WireError(f"{what}: not JSON ({exc.__class__.__name__})") from exc
    return value


def _no_float(text: str) -> Any:
    raise WireError(f"floats are not allowed ({text})")


def _int(text: str) -> int:
    value = int(text)
    if not -MAX_INT <= value <= MAX_INT:
        raise WireError(f"integer {text} outside +-(2**53-1)")
    return value


def _no_dup_keys(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise WireError("duplicate object key")
    return out


# ---------------------------------------------------------------- records and the chain

def record_hash(record_bytes: bytes) -> str:
    return sm3(record_bytes).hex()


def make_record(gw: str, seq: int, prev: str, ts_ms: int, type_: str, body: dict) -> dict:
    """A checked record: the gateway refuses to make what central would refuse to store."""
    record = {"body": body, "gw": gw, "prev": prev, "seq": seq, "ts": ts_ms, "type": type_,
              "v": VERSION}
    check_record(record)
    size = len(canonical(record))
    if size > MAX_RECORD_BYTES:
        raise WireError(f"record {seq}: {size} bytes > {MAX_RECORD_BYTES}", "limit")
    return record


_RECORD_KEYS = {"body", "gw", "prev", "seq", "ts", "type", "v"}


def check_record(record: Any, gw: str | None = None, *, limits: bool = True) -> None:
    """Structure of a record (kind ``malformed``) and, with ``limits``, the limits of §3
    (kind ``limit``)."""
    if not isinstance(record, dict) or set(record) != _RECORD_KEYS:
        raise WireError("record: wrong fields")
    if record["v"] != VERSION:
        raise WireError(f"record: unsupported version {record['v']!r}")
    check_gateway_id(record["gw"])
    if gw is not None and record["gw"] != gw:
        raise WireError("record: belongs to another gateway")
    if not _is_int(record["seq"]) or record["seq"] < 1:
        raise WireError("record: seq must be an integer >= 1")
    if not isinstance(record["prev"], str) or not HASH_RE.match(record["prev"]):
        raise WireError("record: prev must be 64 lowercase hex")
    if not _is_int(record["ts"]) or record["ts"] < 0:
        raise WireError("record: ts must be milliseconds since the epoch")
    if not isinstance(record["type"], str) or not record["type"]:
        raise WireError("record: type must be a non-empty string")
    if not isinstance(record["body"], dict):
        raise WireError("record: body must be an object")
    if limits:
        check_record_limits(record)


def check_record_limits(record: dict, size: int | None = None) -> None:
    """The limits of §3 on a structurally valid record; ``size`` = its canonical length."""
    seq = record["seq"]
    if record["ts"] > MAX_TS:
        raise WireError(f"record {seq}: ts {record['ts']} beyond {MAX_TS}", "limit")
    if not TYPE_RE.match(record["type"]):
        raise WireError(f"record {seq}: type must be 1-32 of [a-z0-9_] starting with a letter "
                        f"(got {len(record['type'])} characters)", "limit")
    _check_body(record["body"], seq, 1)
    body = record["body"]
    if record["type"] == "attendance" and isinstance(body.get("worker"), str) and \
            not 1 <= len(body["worker"]) <= MAX_WORKER_CHARS:
        raise WireError(f"record {seq}: attendance worker must be 1-{MAX_WORKER_CHARS} "
                        f"characters (got {len(body['worker'])})", "limit")
    if size is not None and size > MAX_RECORD_BYTES:
        raise WireError(f"record {seq}: {size} bytes > {MAX_RECORD_BYTES}", "limit")


def _check_body(value: Any, seq: int, depth: int) -> None:
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise WireError(f"record {seq}: a string of {len(value)} characters > "
                            f"{MAX_STRING_CHARS}", "limit")
        if _FORBIDDEN.search(value):
            raise WireError(f"record {seq}: a string holds U+0000 or U+007F", "limit")
    elif isinstance(value, (dict, list)):
        if depth > MAX_DEPTH:
            raise WireError(f"record {seq}: body nested deeper than {MAX_DEPTH}", "limit")
        if isinstance(value, dict):
            for key, item in value.items():
                if len(key) > MAX_KEY_CHARS or _FORBIDDEN.search(key):
                    raise WireError(f"record {seq}: a key longer than {MAX_KEY_CHARS} characters "
                                    "or holding U+0000/U+007F", "limit")
                _check_body(item, seq, depth + 1)
        else:
            for item in value:
                _check_body(item, seq, depth + 1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_gateway_id(gw: Any) -> str:
    if not isinstance(gw, str) or not GATEWAY_ID_RE.match(gw):
        raise WireError(f"gateway id {gw!r} is not 1-64 of [A-Za-z0-9_.-]")
    return gw


# ---------------------------------------------------------------- blocks

@dataclass(frozen=True)
class Block:
    gw: str
    first: int
    last: int
    prev: str
    head: str
    sealed: int
    records: tuple[dict, ...]
    hashes: tuple[str, ...]       # hash of each record, in order
    encoded: tuple[bytes, ...]    # canonical bytes of each record, in order
    signed: bytes                 # the exact bytes the signature covers
    signature: bytes              # 64 bytes r || s

    @property
    def payload(self) -> bytes:
        return self.signed + self.signature


def block_body(gw: str, records: Sequence[dict], sealed_ms: int) -> bytes:
    """Canonical bytes of a block over already-chained records (to be signed)."""
    if not records:
        raise WireError("block: no records")
    hashes = [record_hash(canonical(r)) for r in records]
    return canonical({"first": records[0]["seq"], "gw": gw, "head": hashes[-1],
                      "last": records[-1]["seq"], "prev": records[0]["prev"],
                      "records": list(records), "sealed": sealed_ms, "type": "block",
                      "v": VERSION})


def block_body_from_stored(gw: str, first: int, last: int, prev: str, head: str,
                           record_bytes: Sequence[bytes], sealed_ms: int) -> bytes:
    """``block_body`` assembled from records already stored in canonical form: the same bytes
    (canonical JSON is a pure function of the value, so a canonical array of canonical members
    is their concatenation), without re-encoding or re-hashing every record."""
    return b"".join((
        b'{"first":', str(first).encode(), b',"gw":', _encode(check_gateway_id(gw)),
        b',"head":"', head.encode(), b'","last":', str(last).encode(), b',"prev":"',
        prev.encode(), b'","records":[', b",".join(record_bytes), b'],"sealed":',
        str(sealed_ms).encode(), b',"type":"block","v":', str(VERSION).encode(), b"}"))


_BLOCK_KEYS = {"first", "gw", "head", "last", "prev", "records", "sealed", "type", "v"}
_DAMAGE_KEYS = {"first", "gw", "hashes", "head", "last", "prev", "sealed", "type", "v"}


@dataclass(frozen=True)
class Damage:
    """A gateway's signed statement that records ``first..last`` were damaged on its disk before
    they were sealed: their content is lost, their chain hashes (``hashes``) are what survived,
    so the chain goes on from ``head`` (wire.md §4.3)."""
    gw: str
    first: int
    last: int
    prev: str
    head: str
    sealed: int
    hashes: tuple[str, ...]
    signed: bytes
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.signed + self.signature


def damage_body(gw: str, first: int, prev: str, hashes: Sequence[str], sealed_ms: int) -> bytes:
    """Canonical bytes of a damage report (to be signed)."""
    if not 1 <= len(hashes) <= MAX_BLOCK_RECORDS:
        raise WireError(f"damage: 1-{MAX_BLOCK_RECORDS} hashes", "limit")
    return canonical({"first": first, "gw": check_gateway_id(gw), "hashes": list(hashes),
                      "head": hashes[-1], "last": first + len(hashes) - 1, "prev": prev,
                      "sealed": sealed_ms, "type": "damage", "v": VERSION})


def _split(payload: bytes, max_bytes: int | None) -> tuple[bytes, bytes, dict]:
    if not isinstance(payload, (bytes, bytearray)):
        raise WireError("payload: not bytes")
    if max_bytes is not None and len(payload) > max_bytes:
        raise WireError(f"{len(payload)} bytes > limit {max_bytes}", "oversized")
    if len(payload) <= SIG_LEN + 2:
        raise WireError("payload too short")
    signed, signature = bytes(payload[:-SIG_LEN]), bytes(payload[-SIG_LEN:])
    message = parse_canonical(signed, "block")
    if not isinstance(message, dict) or message.get("type") not in ("block", "damage"):
        raise WireError("not a block: wrong fields or type")
    if set(message) != (_BLOCK_KEYS if message["type"] == "block" else _DAMAGE_KEYS):
        raise WireError(f"{message['type']} has the wrong fields")
    if message["v"] != VERSION:
        raise WireError(f"unsupported version {message['v']!r}")
    check_gateway_id(message["gw"])
    if not (_is_int(message["sealed"]) and message["sealed"] >= 0):
        raise WireError("sealed must be milliseconds")
    return signed, signature, message


def decode_upload(payload: bytes, max_bytes: int | None = None, *,
                  limits: bool = True) -> "Block | Damage":
    """A message on the blocks topic: a block or a damage report (signature not checked).
    ``limits=False`` leaves the §3/§4 limits to ``check_limits`` (central checks them after the
    signature, so what it refuses for a limit is known to come from the gateway)."""
    signed, signature, message = _split(payload, max_bytes)
    if message["type"] == "damage":
        return _damage(signed, signature, message, limits)
    return _block(signed, signature, message, limits)


def decode_block(payload: bytes, max_bytes: int | None = None, *, limits: bool = True) -> Block:
    """Split and check a block payload (everything except the signature's validity)."""
    out = decode_upload(payload, max_bytes, limits=limits)
    if not isinstance(out, Block):
        raise WireError("a damage report, not a block")
    return out


def _block(signed: bytes, signature: bytes, block: dict, limits: bool) -> Block:
    gw, records = block["gw"], block["records"]
    if not isinstance(records, list) or not records:
        raise WireError("block has no records")
    for r in records:
        check_record(r, gw, limits=False)
    # parse_canonical already confined the values to the wire set: plain encoding suffices
    hashes, encoded = _chain(records, block["prev"], _encode)
    if (block["first"], block["last"]) != (records[0]["seq"], records[-1]["seq"]):
        raise WireError("first/last do not match the records", "broken_chain")
    if block["head"] != hashes[-1]:
        raise WireError("head is not the hash of the last record", "broken_chain")
    out = Block(gw=gw, first=block["first"], last=block["last"], prev=block["prev"],
                head=block["head"], sealed=block["sealed"], records=tuple(records),
                hashes=tuple(hashes), encoded=tuple(encoded), signed=signed,
                signature=signature)
    if limits:
        check_limits(out)
    return out


def _damage(signed: bytes, signature: bytes, d: dict, limits: bool) -> Damage:
    hashes = d["hashes"]
    if not (_is_int(d["first"]) and _is_int(d["last"]) and 1 <= d["first"] <= d["last"]):
        raise WireError("damage: first/last must be integers, 1 <= first <= last")
    if not isinstance(hashes, list) or len(hashes) != d["last"] - d["first"] + 1 or \
            not all(isinstance(h, str) and HASH_RE.match(h) for h in hashes):
        raise WireError("damage: hashes must be one 64-hex hash per record first..last")
    if not (isinstance(d["prev"], str) and HASH_RE.match(d["prev"])):
        raise WireError("damage: prev must be 64 lowercase hex")
    if d["head"] != hashes[-1]:
        raise WireError("damage: head is not the last hash", "broken_chain")
    out = Damage(gw=d["gw"], first=d["first"], last=d["last"], prev=d["prev"], head=d["head"],
                 sealed=d["sealed"], hashes=tuple(hashes), signed=signed, signature=signature)
    if limits:
        check_limits(out)
    return out


def check_limits(message: "Block | Damage") -> None:
    """The limits of §3/§4 on a decoded block or damage report; raises WireError(kind="limit")."""
    if len(message.signed) > MAX_BLOCK_BYTES:
        raise WireError(f"{len(message.signed)} signed bytes > {MAX_BLOCK_BYTES}", "limit")
    n = message.last - message.first + 1
    if n > MAX_BLOCK_RECORDS:
        raise WireError(f"{n} records > {MAX_BLOCK_RECORDS}", "limit")
    if message.sealed > MAX_TS:
        raise WireError(f"sealed {message.sealed} beyond {MAX_TS}", "limit")
    if isinstance(message, Block):
        for r, data in zip(message.records, message.encoded):
            check_record_limits(r, len(data))


def chain_hashes(records: Iterable[dict], prev: str) -> list[str]:
    """Hashes of consecutive, correctly linked records starting after ``prev``."""
    return _chain(records, prev, canonical)[0]


def _chain(records: Iterable[dict], prev: str, encode) -> tuple[list[str], list[bytes]]:
    hashes: list[str] = []
    encoded: list[bytes] = []
    expected_seq = None
    for r in records:
        if expected_seq is not None and r["seq"] != expected_seq:
            raise WireError(f"seq {r['seq']} follows {expected_seq - 1}", "broken_chain")
        if r["prev"] != prev:
            raise WireError(f"record {r['seq']} does not link to its predecessor", "broken_chain")
        data = encode(r)
        prev = record_hash(data)
        hashes.append(prev)
        encoded.append(data)
        expected_seq = r["seq"] + 1
    return hashes, encoded


# ---------------------------------------------------------------- acks and topics

# Rejection kinds central names at the start of ``reason`` ("<kind>: <detail>"); a gateway
# treats a kind it does not know like any other rejection (docs/wire.md §5).
ACK_KINDS = ("malformed", "oversized", "broken_chain", "bad_signature", "gateway_mismatch",
             "conflict", "replay", "gap", "internal", "busy")
MAX_REASON = 200


def make_ack(gw: str, seq: int, head: str, status: str, ref: int | None = None,
             reason: str = "", kind: str = "", retry_after_ms: int | None = None) -> bytes:
    """The ack's canonical bytes (what central signs).  With ``kind``, ``reason`` becomes
    ``"<kind>: <detail>"`` (a detail already starting with the kind is not repeated).  A
    ``busy`` ack, and only a busy one, carries ``retry_after_ms``."""
    if status not in ACK_STATUSES:
        raise WireError(f"ack: unknown status {status!r}")
    if (status == "busy") != (retry_after_ms is not None):
        raise WireError("ack: retry_after_ms goes with status busy, and only with it")
    if retry_after_ms is not None and not RETRY_AFTER_MS[0] <= retry_after_ms <= RETRY_AFTER_MS[1]:
        raise WireError(f"ack: retry_after_ms must be {RETRY_AFTER_MS[0]}..{RETRY_AFTER_MS[1]}")
    if kind:
        detail = reason.strip()
        for prefix in (kind, kind.replace("_", " ")):
            if detail.lower().startswith(prefix + ":"):
                detail = detail[len(prefix) + 1:].strip()
        reason = f"{kind}: {detail}" if detail else kind
    ack = {"gw": gw, "head": head, "ref": ref, "reason": reason[:MAX_REASON],
           "seq": seq, "status": status, "v": VERSION}
    if retry_after_ms is not None:
        ack["retry_after_ms"] = retry_after_ms
    return canonical(ack)


_ACK_KEYS = {"gw", "head", "ref", "reason", "seq", "status", "v"}
_BUSY_KEYS = _ACK_KEYS | {"retry_after_ms"}


def decode_ack(body: bytes) -> dict:
    """Check an ack's canonical bytes (without the signature; see ``open_ack``)."""
    ack = parse_canonical(bytes(body), "ack")
    if not isinstance(ack, dict) or ack.get("v") != VERSION:
        raise WireError("ack: wrong fields")
    if ack.get("status") not in ACK_STATUSES:
        raise WireError(f"ack: unknown status {ack.get('status')!r}")
    if set(ack) != (_BUSY_KEYS if ack["status"] == "busy" else _ACK_KEYS):
        raise WireError("ack: wrong fields")
    if ack["status"] == "busy":
        ms = ack["retry_after_ms"]
        if not _is_int(ms) or not RETRY_AFTER_MS[0] <= ms <= RETRY_AFTER_MS[1]:
            raise WireError(f"ack: retry_after_ms must be an integer {RETRY_AFTER_MS[0]}.."
                            f"{RETRY_AFTER_MS[1]}")
    if not _is_int(ack["seq"]) or ack["seq"] < 0:
        raise WireError("ack: seq must be an integer >= 0")
    if not isinstance(ack["head"], str) or not HASH_RE.match(ack["head"]):
        raise WireError("ack: head must be 64 lowercase hex")
    if ack["ref"] is not None and not _is_int(ack["ref"]):
        raise WireError("ack: ref must be an integer or null")
    if not isinstance(ack["reason"], str):
        raise WireError("ack: reason must be a string")
    check_gateway_id(ack["gw"])
    return ack


def ack_kind(ack: dict) -> str:
    """The rejection kind named at the start of ``reason`` ("" for ok)."""
    if ack["status"] == "ok":
        return ""
    head = ack["reason"].split(":", 1)[0].strip()
    return head if re.fullmatch(r"[a-z_]{1,40}", head) else "unspecified"


def sign_ack(body: bytes, signer: Any) -> bytes:
    """The MQTT payload of an ack: its canonical bytes || central's 64-byte signature."""
    return body + signer.sign(body)


def open_ack(payload: bytes, verifier: Any, gw: str) -> dict:
    """Verify central's signature, then the ack.  ``BadSignature`` for anything central did
    not sign (no key configured: nothing verifies); ``WireError`` for a signed ack that is
    malformed or addressed to another gateway."""
    payload = bytes(payload)
    if len(payload) <= SIG_LEN:
        raise BadSignature("ack: too short to carry central's signature")
    body, sig = payload[:-SIG_LEN], payload[-SIG_LEN:]
    if verifier is None or not verifier.verify(body, sig):
        raise BadSignature("ack: not signed by central's key")
    ack = decode_ack(body)
    if ack["gw"] != gw:
        raise WireError(f"ack: addressed to gateway {ack['gw']!r}")
    return ack


TOPIC_KINDS = ("blocks", "ack", "state", "roster-req", "roster")


def topic(gw: str, kind: str) -> str:
    """``sitegate/v1/{gw}/{kind}`` with kind in blocks | ack | state | roster-req | roster."""
    if kind not in TOPIC_KINDS:
        raise WireError(f"unknown topic kind {kind!r}")
    return f"{TOPIC_ROOT}/{check_gateway_id(gw)}/{kind}"


def parse_topic(name: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise WireError(f"topic {name!r} is not {TOPIC_ROOT}/<gateway>/<kind>")
    return check_gateway_id(parts[2]), parts[3]


def seal_damage(signer: Any, gw: str, first: int, prev: str, hashes: Sequence[str],
                sealed_ms: int) -> bytes:
    """Sign a damage report; returns the MQTT payload (canonical bytes || r || s)."""
    body = damage_body(gw, first, prev, hashes, sealed_ms)
    return body + signer.sign(body)


def seal_block(signer: Any, gw: str, records: Sequence[dict], sealed_ms: int) -> bytes:
    """Sign a block; returns the MQTT payload (canonical block bytes || r || s)."""
    body = block_body(gw, records, sealed_ms)
    return body + signer.sign(body)
