"""The OpenSSL (libcrypto) and gmssl verification paths must agree, strictness included."""
from __future__ import annotations

import os
import secrets

import pytest

from uplink import sm2_openssl
from uplink.sm2 import SM2Error, Signer, Verifier, generate_private_key

N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
VECTOR_D = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
VECTOR_SIG = bytes.fromhex(
    "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
    "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa")

needs_openssl = pytest.mark.skipif(not sm2_openssl.available(),
                                   reason="libcrypto >= 3.0 with SM2 is not on this machine")


@needs_openssl
def test_both_backends_accept_the_standard_vector():
    pub = Signer(VECTOR_D).public_hex
    for backend in ("openssl", "gmssl"):
        v = Verifier(pub, backend=backend)
        assert v.backend == backend
        assert v.verify(b"message digest", VECTOR_SIG)
        assert not v.verify(b"message digesT", VECTOR_SIG)


@needs_openssl
def test_backends_agree_on_random_and_tampered_signatures():
    signer = Signer(generate_private_key())
    fast, slow = (Verifier(signer.public_hex, backend=b) for b in ("openssl", "gmssl"))
    other = Signer(generate_private_key())
    for i in range(25):
        msg = secrets.token_bytes(i * 37 + 1)
        sig = signer.sign(msg)
        flipped = bytearray(sig)
        flipped[i % 64] ^= 1 << (i % 8)
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        cases = [(msg, sig, True), (msg + b"x", sig, False), (msg, bytes(flipped), False),
                 (msg, other.sign(msg), False), (msg, sig + b"\x00", False), (msg, sig[:63], False),
                 (msg, bytes(32) + sig[32:], False),
                 (msg, r.to_bytes(32, "big") + N.to_bytes(32, "big"), False)]
        if s + N < 2**256:                       # (r, s + n) is the same point: must fail
            cases.append((msg, sig[:32] + (s + N).to_bytes(32, "big"), False))
        for m, sg, expected in cases:
            assert fast.verify(m, sg) is expected
            assert slow.verify(m, sg) is expected


def test_backend_choice_is_explicit():
    pub = Signer(generate_private_key()).public_hex
    with pytest.raises(SM2Error):
        Verifier(pub, backend="fastest")
    assert Verifier(pub, backend="gmssl").backend == "gmssl"
    if sm2_openssl.available() and not os.environ.get("SITEGATE_SM2_BACKEND"):
        assert Verifier(pub).backend == "openssl"


@needs_openssl
def test_libcrypto_signer_is_verified_by_gmssl_and_by_the_openssl_command(tmp_path):
    """Central signs every ack through libcrypto: the signatures must be plain SM2 with the
    GM/T 0009 ID, whichever side checks them."""
    import subprocess

    from uplink.sm2 import public_key_pem, sig_to_der
    d = generate_private_key()
    fast, slow = Signer(d), Signer(d, backend="gmssl")
    assert (fast.backend, slow.backend) == ("openssl", "gmssl")
    check = Verifier(fast.public_hex, backend="gmssl")
    (tmp_path / "pub.pem").write_text(public_key_pem(fast.public_hex))
    sigs = set()
    for i in range(5):
        msg = secrets.token_bytes(100 + i)
        sig = fast.sign(msg)
        sigs.add(sig)
        assert len(sig) == 64 and check.verify(msg, sig) and check.verify(msg, slow.sign(msg))
        (tmp_path / "m").write_bytes(msg)
        (tmp_path / "s").write_bytes(sig_to_der(sig))
        r = subprocess.run(["openssl", "dgst", "-sm3", "-sigopt", "distid:1234567812345678",
                            "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "s"),
                            str(tmp_path / "m")], capture_output=True, text=True)
        assert "Verified OK" in r.stdout, r.stdout + r.stderr
    assert len(sigs) == 5                       # a fresh nonce every time
    with pytest.raises(SM2Error):
        Signer(d, backend="fastest")


def test_sm2_encryption_interoperates_with_openssl_both_ways(tmp_path):
    """The roster's sealed fields: our ciphertext opens with `openssl pkeyutl -decrypt`, and
    OpenSSL's with ours; altered or foreign ciphertexts are refused."""
    import subprocess

    from uplink.sm2 import decrypt, encrypt, private_key_pem, public_key_pem
    d = generate_private_key()
    pub = Signer(d).public_hex
    (tmp_path / "k.pem").write_text(private_key_pem(d))
    (tmp_path / "pub.pem").write_text(public_key_pem(pub))
    for size in (1, 16, 200):
        msg = secrets.token_bytes(size)
        ct = encrypt(pub, msg)
        assert encrypt(pub, msg) != ct           # fresh k
        (tmp_path / "ct").write_bytes(ct)
        out = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", str(tmp_path / "k.pem"),
                              "-in", str(tmp_path / "ct")], capture_output=True)
        assert out.returncode == 0 and out.stdout == msg, out.stderr
        (tmp_path / "m").write_bytes(msg)
        subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
                        "-in", str(tmp_path / "m"), "-out", str(tmp_path / "c2")], check=True,
                       capture_output=True)
        assert decrypt(d, (tmp_path / "c2").read_bytes()) == msg
        assert Signer(d).decrypt(ct) == msg
        bad = bytearray(ct)
        bad[-1] ^= 1
        for wrong in (bytes(bad), ct[:-1], ct + b"\x00"):
            with pytest.raises(SM2Error):
                decrypt(d, wrong)
        with pytest.raises(SM2Error):
            decrypt(generate_private_key(), ct)
