"""docs/wire.md is normative: its vectors must match the code and independent checks."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from uplink.sm2 import Verifier, der_to_sig, public_key_of
from uplink.wire import WireError, canonical, decode_ack, decode_block, parse_canonical
from wire_vectors import build

DOC = Path(__file__).resolve().parents[2] / "docs" / "wire.md"


def doc_vectors() -> dict:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- BEGIN VECTORS -->\s*```json\n(.*?)```\s*<!-- END VECTORS -->", text, re.S)
    assert m, "docs/wire.md lost its vector block"
    return json.loads(m.group(1))


def test_doc_vectors_match_the_code():
    assert doc_vectors() == build()


def test_doc_vectors_check_out_independently():
    v = doc_vectors()
    assert public_key_of(v["private_key"]) == v["public_key"]
    prev = "0" * 64
    for item in v["records"]:
        data = bytes.fromhex(item["canonical_hex"])
        assert json.loads(data) == item["record"]
        assert item["record"]["prev"] == prev
        prev = hashlib.new("sm3", data).hexdigest()        # OpenSSL's SM3, not ours
        assert prev == item["hash"]
    signed = bytes.fromhex(v["block_signed_hex"])
    sig = bytes.fromhex(v["signature_hex"])
    assert der_to_sig(bytes.fromhex(v["signature_der_hex"])) == sig
    assert Verifier(v["public_key"]).verify(signed, sig)
    block = decode_block(signed + sig)
    assert block.head == prev and (block.first, block.last) == (1, 2)
    ack = decode_ack(bytes.fromhex(v["ack_hex"]))
    assert ack["seq"] == 2 and ack["head"] == prev and ack["status"] == "ok"


@pytest.mark.parametrize("text", ['{"b":1,"a":2}', '{"a": 1}', '{"a":1.0}', '{"a":1,"a":2}',
                                  '{"a":"\\u00e9"}', '[1,2] '])
def test_non_canonical_json_is_refused(text):
    with pytest.raises(WireError):
        parse_canonical(text.encode(), "test")


def test_canonical_refuses_values_outside_the_wire_set():
    for bad in (1.5, {1: "x"}, 2**53, b"bytes", float("nan")):
        with pytest.raises(WireError):
            canonical({"x": bad})
    assert canonical({"b": [True, None], "a": "中"}) == '{"a":"中","b":[true,null]}'.encode()


def test_block_assembled_from_stored_bytes_equals_canonical_block():
    from uplink.wire import block_body, block_body_from_stored, record_hash
    recs = build()["records"]
    records = [x["record"] for x in recs]
    stored = [bytes.fromhex(x["canonical_hex"]) for x in recs]
    fast = block_body_from_stored("gw-vector-01", 1, 2, records[0]["prev"],
                                  record_hash(stored[-1]), stored, 1_767_225_605_000)
    assert fast == block_body("gw-vector-01", records, 1_767_225_605_000)
