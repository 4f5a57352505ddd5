"""docs/wire.md §5 and §8 are normative: the signed ack and roster update vectors must match
the code, and check out with independent tools (OpenSSL for SM2 signatures and decryption,
the `cryptography` package's SM4-GCM)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from downlink_vectors import build
from uplink.roster import decide, decode_update, open_private, parse_request
from uplink.sm2 import Signer, Verifier, private_key_pem, public_key_pem
from uplink.wire import BadSignature, WireError, ack_kind, canonical, decode_ack, open_ack

DOC = Path(__file__).resolve().parents[2] / "docs" / "wire.md"


def doc_vectors() -> dict:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- BEGIN DOWNLINK VECTORS -->\s*```json\n(.*?)```\s*<!-- END DOWNLINK VECTORS -->",
                  text, re.S)
    assert m, "docs/wire.md lost its downlink vector block"
    return json.loads(m.group(1))


def test_doc_vectors_match_the_code():
    assert doc_vectors() == build()


def _openssl_verify(tmp_path: Path, pub_hex: str, message: bytes, der: bytes) -> bool:
    (tmp_path / "pub.pem").write_text(public_key_pem(pub_hex))
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(der)
    r = subprocess.run(["openssl", "dgst", "-sm3", "-sigopt", "distid:1234567812345678",
                        "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "sig"),
                        str(tmp_path / "msg")], capture_output=True, text=True)
    return r.returncode == 0 and "Verified OK" in r.stdout


def test_signed_ack_checks_out_with_openssl(tmp_path):
    v = doc_vectors()
    a = v["ack"]
    signed = bytes.fromhex(a["signed_hex"])
    assert bytes.fromhex(a["payload_hex"]) == signed + bytes.fromhex(a["signature_hex"])
    assert _openssl_verify(tmp_path, v["central_public_key"], signed, bytes.fromhex(a["signature_der_hex"]))
    ack = open_ack(bytes.fromhex(a["payload_hex"]), Verifier(v["central_public_key"]), v["gateway"])
    assert (ack["status"], ack["seq"], ack["ref"], ack_kind(ack)) == ("ok", 2, 1, "")
    rej = open_ack(bytes.fromhex(v["ack_rejected"]["payload_hex"]), Verifier(v["central_public_key"]),
                   v["gateway"])
    assert rej["status"] == "rejected" and ack_kind(rej) == "broken_chain"
    assert rej["reason"] == "broken_chain: block does not link to stored seq 0"
    busy = open_ack(bytes.fromhex(v["ack_busy"]["payload_hex"]), Verifier(v["central_public_key"]),
                    v["gateway"])
    assert (busy["status"], busy["retry_after_ms"], busy["seq"], ack_kind(busy)) == ("busy", 2000, 2, "busy")


@pytest.mark.parametrize("fields", [
    {"status": "busy"},                                   # busy without its wait
    {"status": "ok", "retry_after_ms": 2000},             # a wait on another status
    {"status": "busy", "retry_after_ms": 99},             # below the floor
    {"status": "busy", "retry_after_ms": 600_001},        # above the ceiling
    {"status": "busy", "retry_after_ms": 2000.0},         # not an integer
    {"status": "busy", "retry_after_ms": True},
])
def test_a_busy_ack_must_carry_exactly_its_wait(fields):
    """§5: ``retry_after_ms`` (100..600000) is present on a busy ack and on no other."""
    ack = dict({"gw": "gw-vector-01", "head": "0" * 64, "ref": 3, "reason": "busy", "seq": 0,
                "v": 1}, **fields)
    with pytest.raises(WireError):
        decode_ack(canonical(ack) if not isinstance(ack.get("retry_after_ms"), float)
                   else json.dumps(ack, sort_keys=True, separators=(",", ":")).encode())
    good = dict(ack, status="busy", retry_after_ms=100)
    assert decode_ack(canonical(good))["retry_after_ms"] == 100


def test_acks_not_from_central_are_refused():
    v = doc_vectors()
    payload = bytes.fromhex(v["ack"]["payload_hex"])
    central = Verifier(v["central_public_key"])
    other = Verifier(Signer(v["gateway_private_key"]).public_hex)
    flipped = bytearray(payload)
    flipped[10] ^= 1
    for bad, key in ((payload, other), (payload[:-64], central), (bytes(flipped), central),
                     (payload, None), (payload[:-1], central)):
        with pytest.raises(BadSignature):
            open_ack(bad, key, v["gateway"])
    with pytest.raises(WireError):                    # signed, but for another gateway
        open_ack(payload, central, "gw-other")


def test_roster_update_checks_out_with_openssl(tmp_path):
    v = doc_vectors()
    r = v["roster"]
    signed = bytes.fromhex(r["signed_hex"])
    from uplink.sm2 import sig_to_der
    assert _openssl_verify(tmp_path, v["central_public_key"], signed,
                           sig_to_der(bytes.fromhex(r["signature_hex"])))
    update = json.loads(signed)
    # the update's key opens with the gateway's private key in OpenSSL, the entry with SM4-GCM
    (tmp_path / "gw.pem").write_text(private_key_pem(v["gateway_private_key"]))
    (tmp_path / "key.der").write_bytes(bytes.fromhex(update["key"]))
    out = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", str(tmp_path / "gw.pem"),
                          "-in", str(tmp_path / "key.der")], capture_output=True, check=True)
    assert out.stdout.hex() == r["message_key"]
    blob = bytes.fromhex(update["entries"][0]["private"])
    assert blob[:12].hex() == r["nonce"]
    dec = Cipher(algorithms.SM4(out.stdout), modes.GCM(blob[:12], blob[-16:])).decryptor()
    dec.authenticate_additional_data(bytes.fromhex(r["aad_hex"]))
    plain = dec.update(blob[12:-16]) + dec.finalize()
    assert plain.hex() == r["private_plain_hex"]
    assert json.loads(plain)["idCardNumber"] == "450103198503070030"
    # and through the gateway's own code
    u = decode_update(bytes.fromhex(r["payload_hex"]), v["central_public_key"], v["gateway"])
    assert open_private(u, Signer(v["gateway_private_key"]).decrypt) == {
        u["entries"][0]["worker"]: json.loads(plain)}
    assert decide(u, 0, None) == "apply" and decide(u, 18, u["project"]) == "rollback"
    assert parse_request(bytes.fromhex(v["roster_request_hex"])) == 0


def test_roster_updates_not_from_central_are_refused():
    v = doc_vectors()
    payload = bytes.fromhex(v["roster"]["payload_hex"])
    with pytest.raises(BadSignature):
        decode_update(payload, Signer(v["gateway_private_key"]).public_hex, v["gateway"])
    with pytest.raises(BadSignature):
        decode_update(payload[:-64] + bytes(64), v["central_public_key"], v["gateway"])
    with pytest.raises(WireError):
        decode_update(payload, v["central_public_key"], "gw-other")
