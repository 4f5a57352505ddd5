"""SM2 signatures with SM3 (GB/T 32918.2, GM/T 0009) on top of gmssl 3.2.2.

Wire format: SM2 over the recommended curve, e = SM3(Z_A || M) with Z_A computed for the user ID
``1234567812345678`` (GM/T 0009 default), signature = raw r || s, 64 bytes.  OpenSSL 3.0 users must pass
the ID explicitly (``-pkeyopt distid:1234567812345678`` / ``-sigopt distid:...``): the CLI otherwise
uses an EMPTY ID and every signature fails (see docs/audit.md).

gmssl does the elliptic-curve work; this module exists because gmssl 3.2.2 must not be used directly:

* Nonce: ``sign_with_sm3`` without a nonce draws k with ``random.choice`` (Mersenne Twister, shared with
  the whole process).  Anyone who predicts or reseeds ``random`` recovers the private key from a single
  signature: d = (k - s) / (s + r) mod n.  We always draw k = secrets.randbelow(n - 1) + 1 and pass it
  to the EC-only ``sign(e, k)``.  ``sign`` returns None for r = 0, r + k = n or s = 0; we retry.
* Public key: ``CryptSM2.__init__`` does ``public_key.lstrip("04")`` whenever the key starts with "04"
  (bug B1), which strips every leading 0/4 digit -- this also hits correct 128-hex X||Y keys whose X
  begins with 0x04.  So keys are exactly 128 hex chars (a '04'-prefixed 130-char key is rejected, never
  guessed at), and after constructing ``CryptSM2`` we overwrite its ``public_key`` attribute.
  A CryptSM2 built without its public key signs with a Z over an empty key (bug B2): Signer always
  derives the public key from d and checks a supplied one against it.
* Verify: gmssl checks neither the signature length (appended bytes are ignored) nor the range of r and
  s, and it crashes (TypeError) when s*G + t*Q is the point at infinity.  Verifier.verify demands exactly
  64 bytes with r, s in [1, n-1] (without it (r, s + n) also verifies) and turns any gmssl failure
  into False.  (gmssl's s*G == t*Q branch uses an unconverted Jacobian x; reaching it needs d, so it
  is left alone.)  gmssl also accepts off-curve
  public keys, so keys are validated (on the curve; the cofactor is 1, so that is the whole check).
* Speed: gmssl recomputes Z_A and runs SM3 twice in pure Python per signature (~1/3 of its time).  We
  cache Z_A per key and hash with OpenSSL's SM3 via hashlib when available.  (gmssl's own sm3_hash appends
  its padding to the list passed in, so the fallback always builds a fresh list.)
* gmssl's scalar multiplication is not constant time (the nonce length leaks through timing); acceptable
  for an isolated gateway, a reason to prefer an OpenSSL-backed verifier on shared hosts.

Private keys never appear in exceptions or reprs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from gmssl import sm3 as _gm_sm3

from . import sm2_openssl as _sm2_openssl
from gmssl.sm2 import CryptSM2, default_ecc_table as _CURVE

DEFAULT_ID: bytes = b"1234567812345678"

_P = int(_CURVE["p"], 16)
_A = int(_CURVE["a"], 16)
_B = int(_CURVE["b"], 16)
_N = int(_CURVE["n"], 16)
_G = _CURVE["g"].lower()  # 128 hex X||Y
_CURVE_BYTES = bytes.fromhex(_CURVE["a"] + _CURVE["b"] + _CURVE["g"])  # a || b || xG || yG, for Z_A

# DER pieces (sm2.md 2.2): id-ecPublicKey 1.2.840.10045.2.1 and the SM2 curve 1.2.156.10197.1.301
_OID_EC = bytes.fromhex("06072a8648ce3d0201")
_OID_SM2 = bytes.fromhex("06082a811ccf5501822d")
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX128 = re.compile(r"[0-9a-fA-F]{128}")


class SM2Error(ValueError):
    """Bad key, signature, PEM/DER or argument."""


def _as_bytes(value, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise SM2Error(f"{what} must be bytes, not {type(value).__name__}")


# ---------------------------------------------------------------- SM3

def _sm3_gmssl(data: bytes) -> bytes:
    return bytes.fromhex(_gm_sm3.sm3_hash(list(data)))  # fresh list: sm3_hash mutates its argument


try:
    hashlib.new("sm3")
    _sm3_raw = lambda data: hashlib.new("sm3", data).digest()  # noqa: E731
    SM3_BACKEND = "hashlib"
except ValueError:  # OpenSSL built without SM3
    _sm3_raw = _sm3_gmssl
    SM3_BACKEND = "gmssl"


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes)."""
    return _sm3_raw(_as_bytes(data, "data"))


# ---------------------------------------------------------------- keys

_GM = CryptSM2(private_key=None, public_key="")  # curve arithmetic only (_kg)


def _gmssl(private_hex: str | None, public_hex: str) -> CryptSM2:
    c = CryptSM2(private_key=private_hex, public_key=public_hex)
    c.public_key = public_hex  # undo bug B1 (lstrip("04")) for keys whose X starts with 04
    return c


def _check_private(private_hex) -> str:
    if not isinstance(private_hex, str) or not _HEX64.fullmatch(private_hex):
        raise SM2Error("private key must be exactly 64 hex characters")
    if not 1 <= int(private_hex, 16) <= _N - 2:
        raise SM2Error("private key out of range [1, n-2]")
    return private_hex.lower()


def generate_private_key() -> str:
    """New private key: 64 lowercase hex, d uniform in [1, n-2] (from `secrets`)."""
    return "%064x" % (secrets.randbelow(_N - 2) + 1)


def public_key_of(private_hex: str) -> str:
    """Public key d*G as 128 lowercase hex X||Y."""
    return _GM._kg(int(_check_private(private_hex), 16), _G)


def validate_public_key(pub_hex: str) -> str:
    """Check a public key (exactly 128 hex X||Y, on the curve, not infinity); return it lowercase."""
    if not isinstance(pub_hex, str):
        raise SM2Error(f"public key must be a hex str, not {type(pub_hex).__name__}")
    if len(pub_hex) == 130 and pub_hex[:2] == "04":
        raise SM2Error("public key must be 128 hex chars X||Y without the '04' prefix (got 130 chars)")
    if not _HEX128.fullmatch(pub_hex):
        raise SM2Error(f"public key must be exactly 128 hex characters (got {len(pub_hex)} chars"
                       f"{'' if len(pub_hex) != 128 else ', not all hex'})")
    x, y = int(pub_hex[:64], 16), int(pub_hex[64:], 16)
    if x == 0 and y == 0:
        raise SM2Error("public key is the point at infinity")
    if x >= _P or y >= _P or (y * y - (x * x * x + _A * x + _B)) % _P:
        raise SM2Error("public key is not a point on the SM2 curve")
    return pub_hex.lower()


def z_value(pub_hex: str, uid: bytes = DEFAULT_ID) -> bytes:
    """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 5.5)."""
    uid = _as_bytes(uid, "uid")
    if len(uid) >= 8192:
        raise SM2Error("uid too long (ENTL is a 16-bit bit count)")
    pub = bytes.fromhex(validate_public_key(pub_hex))
    return _sm3_raw((8 * len(uid)).to_bytes(2, "big") + uid + _CURVE_BYTES + pub)


# ---------------------------------------------------------------- sign / verify

class Signer:
    """Signs with one private key; Z_A and the gmssl object are built once."""

    def __init__(self, private_hex: str, public_hex: str | None = None,
                 backend: str | None = None):
        """``backend``: "openssl" (libcrypto via ctypes, ~15x faster, its DRBG draws k),
        "gmssl" (k from `secrets`), or None = the fastest available."""
        d_hex = _check_private(private_hex)
        derived = public_key_of(d_hex)
        if public_hex is not None and validate_public_key(public_hex) != derived:
            raise SM2Error("public key does not match the private key")
        if backend not in (None, "openssl", "gmssl"):
            raise SM2Error(f"unknown SM2 backend {backend!r}")
        self.public_hex = derived
        self._d = int(d_hex, 16)
        self._z = z_value(derived)
        self._gm = _gmssl(d_hex, derived)
        self._ossl = None
        if backend != "gmssl" and _sm2_openssl.available():
            self._ossl = _sm2_openssl.OpenSSLSigner(_sec1_der(d_hex, derived), DEFAULT_ID)
        elif backend == "openssl":
            raise SM2Error("the OpenSSL SM2 backend is not available (libcrypto >= 3.0 needed)")
        self.backend = "openssl" if self._ossl else "gmssl"

    def __repr__(self) -> str:
        return f"Signer(public_hex={self.public_hex[:16]}..., backend={self.backend})"

    def _digest(self, message) -> bytes:
        return _sm3_raw(self._z + _as_bytes(message, "message"))

    def sign(self, message: bytes) -> bytes:
        """Raw r || s (64 bytes) over SM3(Z_A || message) with a fresh random nonce."""
        if self._ossl is not None:
            return der_to_sig(self._ossl.sign_der(_as_bytes(message, "message")))
        e = self._digest(message)
        while True:
            sig = self._gm.sign(e, "%064x" % (secrets.randbelow(_N - 1) + 1))
            if sig is not None:  # None: r = 0, r + k = n or s = 0 -- draw another k
                return bytes.fromhex(sig)

    def _sign_with_k(self, message: bytes, k_hex: str) -> bytes:
        """Deterministic signature with a given nonce: for published test vectors ONLY."""
        if not isinstance(k_hex, str) or not _HEX64.fullmatch(k_hex) or not 1 <= int(k_hex, 16) < _N:
            raise SM2Error("k must be 64 hex characters in [1, n-1]")
        sig = self._gm.sign(self._digest(message), k_hex)
        if sig is None:
            raise SM2Error("this k gives r = 0, r + k = n or s = 0")
        return bytes.fromhex(sig)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """SM2 decryption (GB/T 32918.4) of a GM/T 0009 DER ciphertext made for this key."""
        return _decrypt(self._d, ciphertext)


class Verifier:
    """Verifies raw r || s signatures for one public key."""

    def __init__(self, public_hex: str, backend: str | None = None):
        """``backend``: "openssl" (libcrypto via ctypes, ~30x faster), "gmssl", or None = the
        fastest available.  Both apply the same strict checks before the EC work."""
        self.public_hex = validate_public_key(public_hex)
        self._z = z_value(self.public_hex)
        self._gm = _gmssl(None, self.public_hex)
        self._ossl = None
        if backend not in (None, "openssl", "gmssl"):
            raise SM2Error(f"unknown SM2 backend {backend!r}")
        if backend != "gmssl" and _sm2_openssl.available():
            self._ossl = _sm2_openssl.OpenSSLVerifier(_SPKI_PREFIX + bytes.fromhex(self.public_hex),
                                                      DEFAULT_ID)
        elif backend == "openssl":
            raise SM2Error("the OpenSSL SM2 backend is not available (libcrypto >= 3.0 needed)")
        self.backend = "openssl" if self._ossl else "gmssl"

    def __repr__(self) -> str:
        return f"Verifier(public_hex={self.public_hex[:16]}..., backend={self.backend})"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True iff `signature` is exactly 64 bytes r || s, r and s in [1, n-1], and valid."""
        message = _as_bytes(message, "message")
        if self._ossl is not None:
            sig = _strict_signature(signature)
            return sig is not None and self._ossl.verify_der(message, sig_to_der(sig))
        return self._verify_digest(_sm3_raw(self._z + message), signature)

    def _verify_digest(self, e: bytes, signature) -> bool:
        """gmssl's EC check on a precomputed digest e (the pure-Python path)."""
        sig = _strict_signature(signature)
        if sig is None:
            return False
        try:
            return self._gm.verify(sig.hex(), e) is True  # gmssl returns 0 when r + s = n
        except (TypeError, ValueError):  # gmssl crashes on s*G + t*Q = infinity
            return False


def _strict_signature(signature) -> bytes | None:
    """The signature as 64 bytes if it is exactly r || s with r, s in [1, n-1], else None."""
    if not isinstance(signature, (bytes, bytearray, memoryview)) or len(signature) != 64:
        return None
    sig = bytes(signature)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    return sig if 1 <= r < _N and 1 <= s < _N else None


# ---------------------------------------------------------------- encryption (GB/T 32918.4)

def _kdf(z: bytes, klen: int) -> bytes:
    """KDF of GB/T 32918.4 5.4.3: SM3(Z || ct) for ct = 1, 2, ... (32-bit big endian)."""
    out = b"".join(_sm3_raw(z + ct.to_bytes(4, "big")) for ct in range(1, klen // 32 + 2))
    return out[:klen]


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def encrypt(public_hex: str, plaintext: bytes, _k: int | None = None) -> bytes:
    """SM2 public-key encryption (GB/T 32918.4) with k from `secrets` (never gmssl's
    ``random``-based draw).  Output: GM/T 0009 DER ``SEQUENCE { INTEGER x1, INTEGER y1,
    OCTET STRING C3 (SM3 hash), OCTET STRING C2 (ciphertext) }`` -- what
    ``openssl pkeyutl -decrypt`` reads.  ``_k`` is for published test vectors only."""
    pub = validate_public_key(public_hex)
    msg = _as_bytes(plaintext, "plaintext")
    if not msg:
        raise SM2Error("nothing to encrypt")
    while True:
        k = _k if _k is not None else secrets.randbelow(_N - 1) + 1
        c1 = _GM._kg(k, _G)
        xy = bytes.fromhex(_GM._kg(k, pub))
        t = _kdf(xy, len(msg))
        if any(t):
            break
        if _k is not None:
            raise SM2Error("this k gives an all-zero key stream")
    c2 = bytes(a ^ b for a, b in zip(msg, t))
    c3 = _sm3_raw(xy[:32] + msg + xy[32:])
    return _der(0x30, _der_int_long(int(c1[:64], 16)) + _der_int_long(int(c1[64:], 16)) +
                _der(0x04, c3) + _der(0x04, c2))


def _der_int_long(v: int) -> bytes:
    return _der(0x02, v.to_bytes((v.bit_length() + 8) // 8, "big"))


def _decrypt(d: int, ciphertext: bytes) -> bytes:
    items = _der_sequence(_as_bytes(ciphertext, "ciphertext"), "SM2 ciphertext")
    if [t for t, _ in items] != [0x02, 0x02, 0x04, 0x04] or len(items[2][1]) != 32 or \
            not items[3][1]:
        raise SM2Error("SM2 ciphertext: expected SEQUENCE { x, y, C3 (32 bytes), C2 }")
    x1, y1 = (int.from_bytes(v, "big") for _, v in items[:2])
    if x1 >= _P or y1 >= _P:
        raise SM2Error("SM2 ciphertext: C1 is not a point on the curve")
    c1 = validate_public_key("%064x%064x" % (x1, y1))      # on the curve, not infinity
    c3, c2 = items[2][1], items[3][1]
    xy = bytes.fromhex(_GM._kg(d, c1))
    t = _kdf(xy, len(c2))
    if not any(t):
        raise SM2Error("SM2 ciphertext: all-zero key stream")
    msg = bytes(a ^ b for a, b in zip(c2, t))
    if not hmac.compare_digest(_sm3_raw(xy[:32] + msg + xy[32:]), c3):
        raise SM2Error("SM2 ciphertext does not decrypt with this key (or was altered)")
    return msg


def decrypt(private_hex: str, ciphertext: bytes) -> bytes:
    """Inverse of ``encrypt``; SM2Error when the ciphertext is malformed, altered or not for
    this key (the C3 hash is checked in constant time)."""
    return _decrypt(int(_check_private(private_hex), 16), ciphertext)


# ---------------------------------------------------------------- DER signatures

def _tlv(buf: bytes, pos: int, what: str):
    """One DER TLV at buf[pos:] -> (tag, value, end).  Definite, minimal lengths only."""
    if pos + 2 > len(buf):
        raise SM2Error(f"{what}: truncated DER")
    tag, length, pos = buf[pos], buf[pos + 1], pos + 2
    if length & 0x80:
        nbytes = length & 0x7F
        if nbytes not in (1, 2) or pos + nbytes > len(buf):
            raise SM2Error(f"{what}: bad DER length")
        length = int.from_bytes(buf[pos:pos + nbytes], "big")
        pos += nbytes
        if length < 0x80 or (nbytes == 2 and length < 0x100):
            raise SM2Error(f"{what}: non-minimal DER length")
    if pos + length > len(buf):
        raise SM2Error(f"{what}: truncated DER")
    return tag, buf[pos:pos + length], pos + length


def _der_sequence(buf: bytes, what: str) -> list:
    """Parse buf as exactly one SEQUENCE; return its children as (tag, value) pairs."""
    tag, body, end = _tlv(buf, 0, what)
    if tag != 0x30 or end != len(buf):
        raise SM2Error(f"{what}: expected one DER SEQUENCE and no trailing bytes")
    items, pos = [], 0
    while pos < len(body):
        t, v, pos = _tlv(body, pos, what)
        items.append((t, v))
    return items


def _split_rs(raw) -> tuple[int, int]:
    raw = _as_bytes(raw, "signature")
    if len(raw) != 64:
        raise SM2Error(f"raw signature must be 64 bytes r||s (got {len(raw)})")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (1 <= r < _N and 1 <= s < _N):
        raise SM2Error("signature r and s must be in [1, n-1]")
    return r, s


def _der_int(v: int) -> bytes:
    body = v.to_bytes((v.bit_length() + 8) // 8, "big")  # room for the sign bit, minimal
    return b"\x02" + bytes([len(body)]) + body


def sig_to_der(raw: bytes) -> bytes:
    """64-byte r || s -> DER SEQUENCE { INTEGER r, INTEGER s } (what OpenSSL reads and writes)."""
    r, s = _split_rs(raw)
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def der_to_sig(der: bytes) -> bytes:
    """Strict DER SEQUENCE { INTEGER r, INTEGER s } -> 64-byte r || s; r, s must be in [1, n-1]."""
    items = _der_sequence(_as_bytes(der, "DER signature"), "DER signature")
    if len(items) != 2 or any(tag != 0x02 for tag, _ in items):
        raise SM2Error("DER signature: expected SEQUENCE of exactly two INTEGERs")
    ints = []
    for _, v in items:
        if not v or v[0] & 0x80:
            raise SM2Error("DER signature: empty or negative INTEGER")
        if len(v) > 1 and v[0] == 0 and not v[1] & 0x80:
            raise SM2Error("DER signature: non-minimal INTEGER encoding")
        ints.append(int.from_bytes(v, "big"))
    if not all(1 <= i < _N for i in ints):
        raise SM2Error("DER signature: r and s must be in [1, n-1]")
    return ints[0].to_bytes(32, "big") + ints[1].to_bytes(32, "big")


# ---------------------------------------------------------------- PEM keys

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def _pem_decode(pem, labels: tuple[str, ...]) -> tuple[str, bytes]:
    """First PEM block whose label is in `labels` -> (label, DER)."""
    if isinstance(pem, (bytes, bytearray)):
        try:
            pem = bytes(pem).decode("ascii")
        except UnicodeDecodeError:
            raise SM2Error("PEM must be ASCII") from None
    if not isinstance(pem, str):
        raise SM2Error(f"PEM must be str or bytes, not {type(pem).__name__}")
    found = _PEM_BLOCK.findall(pem)
    for label, body in found:
        if label == "ENCRYPTED PRIVATE KEY" or "Proc-Type:" in body:
            raise SM2Error("encrypted PEM keys are not supported")
        if label in labels:
            try:
                return label, base64.b64decode("".join(body.split()), validate=True)
            except ValueError:
                raise SM2Error(f"bad base64 in PEM block {label!r}") from None
    raise SM2Error(f"no PEM block labelled {' or '.join(labels)} (found: {[f[0] for f in found]})")


def _pem_encode(label: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def public_key_pem(pub_hex: str) -> str:
    """SubjectPublicKeyInfo PEM (id-ecPublicKey, curve 1.2.156.10197.1.301, uncompressed point)."""
    return _pem_encode("PUBLIC KEY", _SPKI_PREFIX + bytes.fromhex(validate_public_key(pub_hex)))


def public_key_from_pem(pem: str | bytes) -> str:
    """SM2 public key PEM (as written by `openssl pkey -pubout`) -> validated 128 hex X||Y."""
    _, der = _pem_decode(pem, ("PUBLIC KEY",))
    if len(der) != len(_SPKI_PREFIX) + 64 or not der.startswith(_SPKI_PREFIX):
        if _OID_SM2 not in der:
            raise SM2Error("not an SM2 public key (curve OID 1.2.156.10197.1.301 not found)")
        raise SM2Error("unsupported SM2 public key encoding (need named curve, uncompressed point)")
    return validate_public_key(der[len(_SPKI_PREFIX):].hex())


def _sec1_der(d_hex: str, pub_hex: str) -> bytes:
    # ECPrivateKey { version 1, privateKey OCTET STRING, [0] curve OID, [1] BIT STRING 04||X||Y }
    return bytes.fromhex("30770201010420" + d_hex + "a00a" + _OID_SM2.hex() + "a14403420004" + pub_hex)


def private_key_pem(private_hex: str) -> str:
    """SEC1 'EC PRIVATE KEY' PEM with the SM2 curve and public key; OpenSSL 3 loads it as SM2."""
    d_hex = _check_private(private_hex)
    return _pem_encode("EC PRIVATE KEY", _sec1_der(d_hex, public_key_of(d_hex)))


def _parse_sec1(der: bytes, need_curve: bool) -> str:
    items = _der_sequence(der, "EC private key")
    if len(items) < 2 or items[0] != (0x02, b"\x01") or items[1][0] != 0x04 or not 1 <= len(items[1][1]) <= 32:
        raise SM2Error("EC private key: not a SEC1 ECPrivateKey (version 1, 32-byte key)")
    d_hex = "%064x" % int.from_bytes(items[1][1], "big")
    d_hex = _check_private(d_hex)
    optional = dict(items[2:])
    if set(optional) - {0xA0, 0xA1} or len(optional) != len(items) - 2:
        raise SM2Error("EC private key: unexpected fields")
    if 0xA0 in optional:
        if optional[0xA0] != _OID_SM2:
            raise SM2Error("EC private key: curve is not SM2 (1.2.156.10197.1.301)")
    elif need_curve:
        raise SM2Error("EC private key: no curve parameters")
    if 0xA1 in optional and optional[0xA1] != bytes.fromhex("03420004" + public_key_of(d_hex)):
        raise SM2Error("EC private key: embedded public key does not match the private key")
    return d_hex


def private_key_from_pem(pem: str | bytes) -> str:
    """SEC1 ('EC PRIVATE KEY'/'SM2 PRIVATE KEY') or PKCS#8 'PRIVATE KEY' (openssl genpkey) -> 64 hex."""
    label, der = _pem_decode(pem, ("EC PRIVATE KEY", "SM2 PRIVATE KEY", "PRIVATE KEY"))
    if label != "PRIVATE KEY":  # SEC1; `openssl ec` (3.0) labels it "SM2 PRIVATE KEY"
        return _parse_sec1(der, need_curve=True)
    # PrivateKeyInfo { version, AlgorithmIdentifier { id-ecPublicKey, SM2 }, OCTET STRING ECPrivateKey, ... }
    items = _der_sequence(der, "PKCS#8 key")
    if len(items) < 3 or items[0][0] != 0x02 or items[1][0] != 0x30 or items[2][0] != 0x04:
        raise SM2Error("PKCS#8 key: malformed PrivateKeyInfo")
    if items[1][1] != _OID_EC + _OID_SM2:
        what = "curve" if items[1][1].startswith(_OID_EC) else "algorithm"
        raise SM2Error(f"PKCS#8 key: {what} is not SM2 (need id-ecPublicKey with 1.2.156.10197.1.301)")
    return _parse_sec1(items[2][1], need_curve=False)
