"""Tests for uplink.sm2: published vectors, OpenSSL CLI interop, nonce source, strictness."""

import random
import shutil
import subprocess

import pytest
from gmssl.sm2 import CryptSM2

from uplink import sm2

N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

# GM/T 0003.5-2012 / GB/T 32918.5-2016 Annex A (recommended curve), as in OpenSSL test/sm2_internal_test.c
GM_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
GM_PUB = ("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
          "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
GM_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
GM_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
GM_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"

# d = 11: X starts with 04, so gmssl's lstrip("04") (bug B1) mangles even the correct 128-hex key
KEY04_D = "%064x" % 11
KEY04_PUB = ("04b3cb10c9c6d8e27c1aab770f67f543125dcdd589c2ff82668c74d78ce20ace"
             "63516355287e39fe4918e5c02e2b0b930c94816e63c4bc72739a8fd805174a4b")

DISTID = "distid:1234567812345678"


@pytest.fixture(scope="module")
def signer():
    return sm2.Signer(sm2.generate_private_key())


# ---------------------------------------------------------------- vectors

def test_sm3_vectors():
    abc = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    abcd16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    assert sm2.sm3(b"abc").hex() == abc
    assert sm2.sm3(b"abcd" * 16).hex() == abcd16
    # the pure-Python fallback gives the same digests, also when called twice on the same input
    data = b"abc"
    assert sm2._sm3_gmssl(data).hex() == abc
    assert sm2._sm3_gmssl(data).hex() == abc
    assert sm2._sm3_gmssl(b"abcd" * 16).hex() == abcd16
    with pytest.raises(sm2.SM2Error):
        sm2.sm3("abc")


def test_recommended_curve_vector():
    assert sm2.public_key_of(GM_D) == GM_PUB.lower()
    signer = sm2.Signer(GM_D, GM_PUB)
    # Z_A and e as printed in GM/T 0003.5 Annex A
    assert sm2.z_value(GM_PUB).hex().upper() == \
        "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
    assert signer._digest(b"message digest").hex().upper() == \
        "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
    sig = signer._sign_with_k(b"message digest", GM_K)
    assert sig.hex().upper() == GM_R + GM_S
    assert sm2.Verifier(GM_PUB).verify(b"message digest", sig)
    assert not sm2.Verifier(GM_PUB).verify(b"message digest.", sig)


def test_example_curve_vector_gbt32918_2_annex_a():
    """GB/T 32918.2 Annex A / draft-shen-sm2-ecdsa-02: custom 256-bit curve, ID ALICE123@YAHOO.COM."""
    table = {
        "p": "8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3",
        "a": "787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498",
        "b": "63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A",
        "g": "421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D"
             "0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2",
        "n": "8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7",
    }
    d = "128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263"
    k = "6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F"
    uid = b"ALICE123@YAHOO.COM"
    pub = CryptSM2(private_key=d, public_key="", ecc_table=table)._kg(int(d, 16), table["g"])
    assert pub.upper() == ("0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A"
                           "7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857")
    z = sm2.sm3((8 * len(uid)).to_bytes(2, "big") + uid
                + bytes.fromhex(table["a"] + table["b"] + table["g"] + pub))
    assert z.hex().upper().startswith("F4A38489E32B45B6")
    e = sm2.sm3(z + b"message digest")
    assert e.hex().upper() == "B524F552CD82B8B028476E005C377FB19A87E6FC682D48BB5D42E3D9B9EFFE76"
    crypt = CryptSM2(private_key=d, public_key=pub, ecc_table=table)
    sig = crypt.sign(e, k)
    assert sig.upper() == ("40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1"
                           "6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7")
    assert crypt.verify(sig, e) is True


# ---------------------------------------------------------------- keys and the 04 bug

def test_generate_private_key():
    keys = {sm2.generate_private_key() for _ in range(20)}
    assert len(keys) == 20
    for d in keys:
        assert len(d) == 64 and d == d.lower() and 1 <= int(d, 16) <= N - 2
        assert len(sm2.public_key_of(d)) == 128


def test_key_whose_x_starts_with_04():
    assert sm2.public_key_of(KEY04_D) == KEY04_PUB
    assert CryptSM2(private_key=None, public_key=KEY04_PUB).public_key != KEY04_PUB  # bug B1 is real
    s = sm2.Signer(KEY04_D, KEY04_PUB)
    sig = s.sign(b"record")
    assert sm2.Verifier(KEY04_PUB).verify(b"record", sig)
    assert sm2.Verifier(KEY04_PUB).verify(b"record", s.sign(b"record"))


@pytest.mark.parametrize("bad", [
    "", "00" * 32, "%064x" % (N - 1), "%064x" % N, "ff" * 32, "0x" + "1" * 62, "1" * 63, "1" * 65,
    " " + "1" * 63, "g" * 64, 12345, b"1" * 64,
])
def test_bad_private_keys_rejected(bad):
    with pytest.raises(sm2.SM2Error):
        sm2.Signer(bad)
    with pytest.raises(sm2.SM2Error):
        sm2.public_key_of(bad)


def test_signer_rejects_mismatched_public_key(signer):
    other = sm2.public_key_of(sm2.generate_private_key())
    with pytest.raises(sm2.SM2Error, match="does not match"):
        sm2.Signer(GM_D, other)
    assert sm2.Signer(GM_D, GM_PUB.upper()).public_hex == GM_PUB.lower()


def test_private_key_not_in_repr_or_errors():
    s = sm2.Signer(GM_D)
    assert GM_D.lower() not in repr(s).lower()
    try:
        sm2.Signer(GM_D, KEY04_PUB)
    except sm2.SM2Error as exc:
        assert GM_D.lower() not in str(exc).lower()


def test_validate_public_key():
    assert sm2.validate_public_key(GM_PUB) == GM_PUB.lower()
    off_curve = GM_PUB[:-1] + ("4" if GM_PUB[-1] != "4" else "5")
    x_too_big = "%064x" % (int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16) + 9)
    for bad, why in [
        ("04" + GM_PUB, "04"),
        ("04" + KEY04_PUB, "04"),
        (off_curve, "not a point"),
        ("00" * 64, "infinity"),
        (x_too_big + GM_PUB[64:], "not a point"),
        ("zz" + GM_PUB[2:], "hex"),
        (GM_PUB[:-2], "128"),
        (GM_PUB + "00", "128"),
        ("", "128"),
        (" " + GM_PUB[1:], "hex"),
        (bytes.fromhex(GM_PUB), "str"),
    ]:
        with pytest.raises(sm2.SM2Error, match=why):
            sm2.validate_public_key(bad)
        with pytest.raises(sm2.SM2Error):
            sm2.Verifier(bad)


def test_z_value_depends_on_id_and_key():
    z = sm2.z_value(GM_PUB)
    assert len(z) == 32
    assert sm2.z_value(GM_PUB, b"1234567812345678") == z
    assert sm2.z_value(GM_PUB, b"") != z
    assert sm2.z_value(KEY04_PUB) != z
    with pytest.raises(sm2.SM2Error):
        sm2.z_value(GM_PUB, "1234567812345678")
    with pytest.raises(sm2.SM2Error):
        sm2.z_value(GM_PUB, b"x" * 8192)


# ---------------------------------------------------------------- nonce

def test_nonce_not_from_random_module(signer):
    random.seed(0)
    a = signer.sign(b"same message")
    random.seed(0)
    b = signer.sign(b"same message")
    assert a != b and a[:32] != b[:32]  # different r -> different k
    v = sm2.Verifier(signer.public_hex)
    assert v.verify(b"same message", a) and v.verify(b"same message", b)
    # contrast: gmssl's default nonce repeats after reseeding
    gm = CryptSM2(private_key=GM_D, public_key=GM_PUB)
    random.seed(0)
    x = gm.sign_with_sm3(b"m")
    random.seed(0)
    assert gm.sign_with_sm3(b"m") == x


# ---------------------------------------------------------------- strict verify

def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_verify_is_strict(signer):
    msg = b"attendance record 42"
    sig = signer.sign(msg)
    v = sm2.Verifier(signer.public_hex)
    assert v.verify(msg, sig)
    assert v.verify(bytearray(msg), bytearray(sig))
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    # gmssl alone accepts trailing bytes (bug B3); we must not
    assert CryptSM2(private_key=None, public_key=signer.public_hex).verify(sig.hex() + "deadbeef",
                                                                            signer._digest(msg))
    bad_sigs = {
        "appended": sig + b"\x00",
        "appended4": sig + bytes.fromhex("deadbeef"),
        "63 bytes": sig[:63],
        "empty": b"",
        "r=0": _raw(0, s),
        "s=0": _raw(r, 0),
        "r=n": _raw(N, s),
        "s=n": _raw(r, N),
        "r+n": _raw(r + N, s) if r + N < 2 ** 256 else _raw(2 ** 256 - 1, s),
        "s+n": _raw(r, s + N) if s + N < 2 ** 256 else _raw(r, 2 ** 256 - 1),
        "r+s=n": _raw(r, N - r),
        "flipped sig bit": sig[:40] + bytes([sig[40] ^ 0x01]) + sig[41:],
        "flipped r bit": bytes([sig[0] ^ 0x80]) + sig[1:],
        "str": sig.hex(),
        "none": None,
        "der": sm2.sig_to_der(sig),
    }
    for name, bad in bad_sigs.items():
        assert v.verify(msg, bad) is False, name
    assert v.verify(msg[:-1] + bytes([msg[-1] ^ 0x01]), sig) is False
    assert v.verify(msg + b"\x00", sig) is False
    assert sm2.Verifier(sm2.public_key_of(sm2.generate_private_key())).verify(msg, sig) is False
    with pytest.raises(sm2.SM2Error):
        v.verify("attendance record 42", sig)


def test_verify_returns_false_where_gmssl_crashes():
    """s*G + t*Q = infinity (t = r + s): gmssl raises TypeError; Verifier must say False."""
    d = int(GM_D, 16)
    t = 123456789
    s = (-t * d) % N
    r = (t - s) % N
    sig = _raw(r, s)
    signer = sm2.Signer(GM_D)
    with pytest.raises(TypeError):
        CryptSM2(private_key=None, public_key=GM_PUB.lower()).verify(sig.hex(), signer._digest(b"x"))
    assert sm2.Verifier(GM_PUB).verify(b"x", sig) is False


def test_verify_rejects_s_plus_n_which_gmssl_accepts():
    """(r, s + n) is the same signature to gmssl (no range check, bug B3); it must be rejected.

    Signatures with s < 2^256 - n are too rare to find by signing, so build one for a chosen digest
    with the known key: s = 1, k random, r = (k - (1 + d)) / d, e = r - x(kG)."""
    d = int(GM_D, 16)
    gm = CryptSM2(private_key=None, public_key=GM_PUB)
    k = random.randrange(1, N)
    r = (k - (1 + d)) * pow(d, -1, N) % N
    x1 = int(gm._kg(k, gm.ecc_table["g"])[:64], 16)
    e = ((r - x1) % N).to_bytes(32, "big")
    v = sm2.Verifier(GM_PUB)
    assert v._verify_digest(e, _raw(r, 1))
    assert gm.verify(_raw(r, 1 + N).hex(), e) is True
    assert v._verify_digest(e, _raw(r, 1 + N)) is False


# ---------------------------------------------------------------- DER

def test_der_round_trip_and_minimal_encoding():
    sig = bytes.fromhex(GM_R + GM_S)  # both have the top bit set -> 0x00 pad
    der = sm2.sig_to_der(sig)
    assert der.hex().upper() == "3046" + "022100" + GM_R + "022100" + GM_S
    assert sm2.der_to_sig(der) == sig
    small = _raw(1, 0x7F)
    assert sm2.sig_to_der(small) == bytes.fromhex("300602010102017f")
    assert sm2.der_to_sig(bytes.fromhex("300602010102017f")) == small
    for _ in range(20):
        raw = _raw(random.randrange(1, N), random.randrange(1, 2 ** 200))
        assert sm2.der_to_sig(sm2.sig_to_der(raw)) == raw
    with pytest.raises(sm2.SM2Error):
        sm2.sig_to_der(sig[:63])
    with pytest.raises(sm2.SM2Error):
        sm2.sig_to_der(_raw(0, 1))


@pytest.mark.parametrize("bad_hex, why", [
    ("3006020101020101" + "00", "trailing"),                    # trailing garbage after SEQUENCE
    ("3009020101020101020101", "two INTEGERs"),                 # three integers
    ("300702020001020101", "non-minimal"),                       # r = 00 01
    ("30070201010202007f", "non-minimal"),                       # s = 00 7f
    ("3006020181020101", "negative"),                            # r = 0x81 -> negative
    ("300602010002010" + "1", "\\[1, n-1\\]"),                   # r = 0
    ("308106020101020101", "non-minimal DER length"),            # long-form length for 6
    ("3007020101020101", "truncated"),                           # length too long
    ("3005020101020101", "trailing"),                            # length too short
    ("3106020101020101", "SEQUENCE"),                            # SET, not SEQUENCE
    ("3006040101020101", "INTEGER"),                             # OCTET STRING
    ("3003020101", "two INTEGERs"),                              # one integer
    ("", "truncated"),
    ("30260221" + "01" + "00" * 32 + "020101", "\\[1, n-1\\]"),  # r >= 2^256
])
def test_der_to_sig_rejects(bad_hex, why):
    with pytest.raises(sm2.SM2Error, match=why):
        sm2.der_to_sig(bytes.fromhex(bad_hex))


def test_der_to_sig_rejects_r_equal_n():
    n = N.to_bytes(33, "big")
    with pytest.raises(sm2.SM2Error):
        sm2.der_to_sig(bytes([0x30, 2 + 33 + 3, 0x02, 33]) + n + bytes.fromhex("020101"))


# ---------------------------------------------------------------- PEM (no CLI)

def test_pem_round_trips():
    d = sm2.generate_private_key()
    pub = sm2.public_key_of(d)
    assert sm2.public_key_from_pem(sm2.public_key_pem(pub)) == pub
    assert sm2.public_key_from_pem(sm2.public_key_pem(pub).encode()) == pub
    assert sm2.private_key_from_pem(sm2.private_key_pem(d)) == d
    assert sm2.private_key_pem(GM_D).startswith("-----BEGIN EC PRIVATE KEY-----\n")
    with pytest.raises(sm2.SM2Error):
        sm2.public_key_from_pem(sm2.private_key_pem(d))
    with pytest.raises(sm2.SM2Error):
        sm2.private_key_from_pem(sm2.public_key_pem(pub))
    with pytest.raises(sm2.SM2Error):
        sm2.public_key_from_pem("garbage")


def test_pem_rejects_tampered_keys():
    pem = sm2.private_key_pem(GM_D)
    der = sm2._pem_decode(pem, ("EC PRIVATE KEY",))[1]
    wrong_pub = der[:-64] + bytes.fromhex(KEY04_PUB)            # embedded public key of another d
    with pytest.raises(sm2.SM2Error, match="does not match"):
        sm2.private_key_from_pem(sm2._pem_encode("EC PRIVATE KEY", wrong_pub))
    off_curve = sm2._SPKI_PREFIX + bytes.fromhex(GM_PUB[:-1] + "0")
    with pytest.raises(sm2.SM2Error, match="not a point"):
        sm2.public_key_from_pem(sm2._pem_encode("PUBLIC KEY", off_curve))


# ---------------------------------------------------------------- OpenSSL CLI interop

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


def _openssl(*args, check=True):
    p = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed: {p.stderr.decode()}")
    return p


@pytest.fixture()
def files(tmp_path, signer):
    msg = tmp_path / "msg.bin"
    msg.write_bytes(b'{"worker":"W0001","site":"S17","ts":"2024-05-01T07:58:00+08:00"}')
    pub = tmp_path / "pub.pem"
    pub.write_text(sm2.public_key_pem(signer.public_hex))
    sig = tmp_path / "sig.der"
    sig.write_bytes(sm2.sig_to_der(signer.sign(msg.read_bytes())))
    return tmp_path, msg, pub, sig


@needs_openssl
def test_openssl_verifies_our_signature_with_distid(files):
    _, msg, pub, sig = files
    p = _openssl("dgst", "-sm3", "-sigopt", DISTID, "-verify", pub, "-signature", sig, msg, check=False)
    assert p.returncode == 0 and b"Verified OK" in p.stdout, p.stderr
    p = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
                 "-pkeyopt", DISTID, "-in", msg, "-sigfile", sig, check=False)
    assert p.returncode == 0 and b"Signature Verified Successfully" in p.stdout, p.stderr


@needs_openssl
def test_openssl_without_distid_fails(files):
    """The distid trap: OpenSSL 3.0's CLI uses an empty ID unless told otherwise."""
    _, msg, pub, sig = files
    p = _openssl("dgst", "-sm3", "-verify", pub, "-signature", sig, msg, check=False)
    assert p.returncode != 0 and b"Verified OK" not in p.stdout
    p = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
                 "-in", msg, "-sigfile", sig, check=False)
    assert p.returncode != 0 and b"Verified Successfully" not in p.stdout


@needs_openssl
def test_openssl_key_and_signature_work_with_us(tmp_path):
    key, pub, msg, sig = (tmp_path / n for n in ("key.pem", "pub.pem", "msg.bin", "sig.der"))
    _openssl("genpkey", "-algorithm", "SM2", "-out", key)
    _openssl("pkey", "-in", key, "-pubout", "-out", pub)
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    d = sm2.private_key_from_pem(key.read_text())
    assert sm2.public_key_from_pem(pub.read_bytes()) == sm2.public_key_of(d)
    msg.write_bytes(b"clock-in W0002")
    _openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
             "-in", msg, "-out", sig)
    v = sm2.Verifier(sm2.public_key_from_pem(pub.read_text()))
    assert v.verify(msg.read_bytes(), sm2.der_to_sig(sig.read_bytes()))
    assert not v.verify(b"clock-in W0003", sm2.der_to_sig(sig.read_bytes()))
    # signed without distid (empty ID) -> not valid under our wire format
    _openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-digest", "sm3", "-in", msg, "-out", sig)
    assert not v.verify(msg.read_bytes(), sm2.der_to_sig(sig.read_bytes()))
    # and our signer with the same key is accepted by OpenSSL
    sig.write_bytes(sm2.sig_to_der(sm2.Signer(d).sign(msg.read_bytes())))
    _openssl("dgst", "-sm3", "-sigopt", DISTID, "-verify", pub, "-signature", sig, msg)


@needs_openssl
@pytest.mark.parametrize("d", [GM_D, KEY04_D])
def test_our_private_key_pem_loads_in_openssl(tmp_path, d):
    key, msg, sig = tmp_path / "key.pem", tmp_path / "msg.bin", tmp_path / "sig.der"
    key.write_text(sm2.private_key_pem(d))
    text = _openssl("pkey", "-in", key, "-noout", "-text").stdout.decode()
    assert "ASN1 OID: SM2" in text
    pub_pem = _openssl("pkey", "-in", key, "-pubout").stdout.decode()
    pub = sm2.public_key_of(d)
    assert sm2.public_key_from_pem(pub_pem) == pub
    assert pub_pem.strip() == sm2.public_key_pem(pub).strip()
    # OpenSSL signs with our key file; we verify (same d, same Z)
    msg.write_bytes(b"clock-out W0001")
    _openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
             "-in", msg, "-out", sig)
    assert sm2.Verifier(pub).verify(msg.read_bytes(), sm2.der_to_sig(sig.read_bytes()))
    # and OpenSSL re-exports the same key: SEC1 and PKCS#8 both load back to d
    sec1 = _openssl("ec", "-in", key).stdout.decode()
    assert sec1.startswith("-----BEGIN SM2 PRIVATE KEY-----")  # OpenSSL 3.0's label for SEC1 SM2 keys
    assert sm2.private_key_from_pem(sec1) == d.lower()
    pkcs8 = _openssl("pkey", "-in", key).stdout.decode()
    assert pkcs8.startswith("-----BEGIN PRIVATE KEY-----")
    assert sm2.private_key_from_pem(pkcs8) == d.lower()


@needs_openssl
def test_other_curves_and_algorithms_rejected(tmp_path):
    p256, pub = tmp_path / "p256.pem", tmp_path / "p256pub.pem"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p256)
    _openssl("pkey", "-in", p256, "-pubout", "-out", pub)
    with pytest.raises(sm2.SM2Error, match="curve"):
        sm2.private_key_from_pem(p256.read_text())
    with pytest.raises(sm2.SM2Error, match="not an SM2"):
        sm2.public_key_from_pem(pub.read_text())
    sec1 = _openssl("ec", "-in", p256).stdout.decode()
    with pytest.raises(sm2.SM2Error, match="curve"):
        sm2.private_key_from_pem(sec1)
    ed = tmp_path / "ed.pem"
    _openssl("genpkey", "-algorithm", "ED25519", "-out", ed)
    with pytest.raises(sm2.SM2Error, match="algorithm"):
        sm2.private_key_from_pem(ed.read_text())
    enc = _openssl("pkey", "-in", p256, "-aes256", "-passout", "pass:x").stdout.decode()
    with pytest.raises(sm2.SM2Error, match="encrypted"):
        sm2.private_key_from_pem(enc)
