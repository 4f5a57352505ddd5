"""docs/wire.md is normative: its vectors must match the code and independent checks."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from uplink import bundle
from uplink.sm2 import Verifier, der_to_sig, public_key_of
from uplink.wire import Damage, WireError, canonical, decode_ack, decode_block, decode_upload, \
    make_record, parse_canonical
from wire_vectors import build, build_more

DOC = Path(__file__).resolve().parents[2] / "docs" / "wire.md"


def doc_vectors(name: str = "VECTORS") -> dict:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"<!-- BEGIN {name} -->\s*```json\n(.*?)```\s*<!-- END {name} -->", text, re.S)
    assert m, f"docs/wire.md lost its {name} block"
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


# ---------------------------------------------------------------- §2, §4, §4.3, §4.5 vectors

# GB/T 32918.5 recommended curve parameters, written out here (not taken from our code)
SM2_A = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
SM2_B = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
SM2_GX = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
SM2_GY = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"


def test_more_doc_vectors_match_the_code():
    assert doc_vectors("MORE VECTORS") == build_more()


def test_more_doc_vectors_check_out_independently():
    v, base = doc_vectors("MORE VECTORS"), doc_vectors()
    text = v["canonical"]["value"]
    assert json.dumps(text, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode().hex() == v["canonical"]["canonical_hex"]
    # Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), e = SM3(Z_A || M)
    za = hashlib.new("sm3", bytes.fromhex("0080") + b"1234567812345678" + bytes.fromhex(
        SM2_A + SM2_B + SM2_GX + SM2_GY + base["public_key"])).hexdigest()
    assert za == v["z_a_hex"]
    signed = bytes.fromhex(base["block_signed_hex"])
    assert hashlib.new("sm3", bytes.fromhex(za) + signed).hexdigest() == v["block_e_hex"]
    damage = decode_upload(bytes.fromhex(v["damage"]["signed_hex"] + v["damage"]["signature_hex"]))
    assert isinstance(damage, Damage) and (damage.first, damage.last) == (3, 4)
    assert damage.prev == base["records"][-1]["hash"] and damage.head == damage.hashes[-1]
    assert Verifier(base["public_key"]).verify(damage.signed, damage.signature)
    proof_signed = bytes.fromhex(v["bundle_proof_signed_hex"])
    assert json.loads(proof_signed) == {k: x for k, x in v["bundle"].items() if k != "proof"}
    assert Verifier(base["public_key"]).verify(proof_signed, bytes.fromhex(v["bundle"]["proof"]))
    assert bundle.check(dict(v["bundle"]))["gateway_id"] == "gw-vector-01"


JQ = shutil.which("jq")


def test_jq_prints_the_canonical_bytes_of_every_acceptable_record():
    """audit.md's recipe re-hashes records as `jq -c` prints them: true for every record the
    wire accepts (every C0 control but NUL, any non-ASCII), and DEL -- which jq would print
    escaped -- is refused in records."""
    assert JQ, "jq is needed for the audit recipe (apt-get install jq)"
    body = {"s": "".join(chr(c) for c in range(1, 0x20)) + "\"\\/é\u2028中😀\ufeff",
            "n": [-(2**53 - 1), 2**53 - 1, 0], "t": True, "z": None}
    rec = make_record("gw-jq", 1, "0" * 64, 1_767_225_600_000, "attendance", body)
    data = canonical(rec)
    out = subprocess.run([JQ, "-c", "."], input=data, capture_output=True, check=True).stdout
    assert out.rstrip(b"\n") == data
    for bad in ("a\x7fb", "a\x00b"):
        with pytest.raises(WireError) as exc:
            make_record("gw-jq", 1, "0" * 64, 1, "attendance", {"s": bad})
        assert exc.value.kind == "limit"
    with pytest.raises(WireError):
        make_record("gw-jq", 1, "0" * 64, 1, "attendance", {"s\x7f": 1})
