"""SM2 encryption (uplink/sm2_cipher.py) checked against OpenSSL both ways, against tampering,
and the registration vector in docs/wire.md against the gateway's encoder and central's intake."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from uplink.sm2 import SM2Error, generate_private_key, private_key_pem, public_key_of, public_key_pem
from uplink.sm2_cipher import decrypt, encrypt

ROOT = Path(__file__).resolve().parents[2]
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@pytest.fixture
def keypair(tmp_path):
    d = generate_private_key()
    (tmp_path / "k.pem").write_text(private_key_pem(d))
    (tmp_path / "p.pem").write_text(public_key_pem(public_key_of(d)))
    return d, public_key_of(d), tmp_path


def test_openssl_opens_ours_and_we_open_openssls(keypair):
    d, pub, tmp = keypair
    for n in (1, 31, 32, 33, 200, 4096):                  # around the KDF block and DER length steps
        msg = ("陈" * n).encode()[:n]
        (tmp / "c.der").write_bytes(encrypt(pub, msg))
        out = subprocess.run([OPENSSL, "pkeyutl", "-decrypt", "-inkey", str(tmp / "k.pem"),
                              "-in", str(tmp / "c.der")], capture_output=True, check=True).stdout
        assert out == msg
        (tmp / "m").write_bytes(msg)
        subprocess.run([OPENSSL, "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp / "p.pem"),
                        "-in", str(tmp / "m"), "-out", str(tmp / "o.der")], check=True, capture_output=True)
        assert decrypt(d, (tmp / "o.der").read_bytes()) == msg


def test_every_ciphertext_is_fresh_and_tampering_fails(keypair):
    d, pub, _ = keypair
    a, b = encrypt(pub, b"same"), encrypt(pub, b"same")
    assert a != b                                              # a new k each time
    for i in range(len(a)):                                   # any flipped byte: one clean error
        bad = bytearray(a)
        bad[i] ^= 0x01
        with pytest.raises(SM2Error):
            decrypt(d, bytes(bad))
    with pytest.raises(SM2Error, match="wrong key or tampered"):
        decrypt(generate_private_key(), a)
    with pytest.raises(SM2Error):
        decrypt(d, a + b"\x00")
    with pytest.raises(SM2Error, match="plaintext must be"):
        encrypt(pub, b"")


def vector() -> dict:
    text = (ROOT / "docs" / "wire.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- BEGIN REGISTRATION VECTOR -->\s*```json\n(.*?)```\s*<!-- END REGISTRATION VECTOR -->",
                  text, re.S)
    assert m, "docs/wire.md lost its registration vector"
    return json.loads(m.group(1))


def test_registration_vector_matches_the_gateway_and_central():
    from central.crypto import FieldCipher
    from central.intake import Intake
    from gateway.roster.report import person_plaintext, registration_body
    from gateway.roster.worker import Worker
    v = vector()
    d, k, gw = v["intake_private_key"], int(v["k"], 16), v["gateway"]
    r = v["roster"]
    worker = Worker(r["worker"], team=r["team"], trade=r["trade"],
                    contract_end=dt.date.fromisoformat(r["contract_end"]))
    assert person_plaintext(gw, r["worker"], v["card"]).decode() == v["person_plaintext"]
    body = registration_body(gw, worker, v["card"], public_key_of(d), k=k)
    assert body == v["body"]
    assert base64.b64decode(body["person"]).hex() == v["person_ciphertext_hex"]
    assert decrypt(d, bytes.fromhex(v["person_ciphertext_hex"])).decode() == v["person_plaintext"]
    assert v["card"]["id_number"] not in json.dumps(body) and v["card"]["name"] not in json.dumps(body,
                                                                                            ensure_ascii=False)
    intake = Intake(FieldCipher(b"\x01" * 32), d)
    row = intake.read(gw, "P-1", {"seq": 9, "ts": 1, "type": "registration", "body": body})
    assert (row["gatewayWorker"], row["cardType"], row["idCardMasked"], row["workType"]) == \
        ("W000007", "hmt_residence", "8100**********0019", "020")
    with pytest.raises(Exception, match="another gateway or worker"):   # copied into another record
        intake.read(gw, "P-1", {"seq": 9, "ts": 1, "type": "registration", "body": body | {"worker": "W9"}})
