"""SM2 public-key encryption (GB/T 32918.4) for small messages, e.g. personal fields that only
central may read.  Ciphertext = the GM/T 0009 DER structure OpenSSL reads and writes::

    SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING (32), ciphertext OCTET STRING }

with C1 = (x, y) = k*G, (x2, y2) = k*P, t = KDF(x2 || y2, len(M)) (SM3, 32-bit counter from 1),
C2 = M xor t, C3 = SM3(x2 || M || y2).

Not gmssl's ``CryptSM2.encrypt``/``decrypt``: its nonce comes from ``random`` (predictable, so a
ciphertext could be opened by anyone who predicts it), and its decrypt never compares C3, so a
tampered ciphertext "decrypts" to garbage instead of failing.  Here k comes from ``secrets``,
decryption checks C1 is on the curve and C3 in constant time, and every failure is one
``SM2Error`` that says nothing about the plaintext.
"""
from __future__ import annotations

import hmac
import secrets

from .sm2 import (_GM, _G, _N, SM2Error, _check_private, _der_int, _der_sequence, sm3,
                  validate_public_key)

MAX_PLAINTEXT = 4096


def _kdf(z: bytes, klen: int) -> bytes:
    out, ct = b"", 1
    while len(out) < klen:
        out += sm3(z + ct.to_bytes(4, "big"))
        ct += 1
    return out[:klen]


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return b"\x81" + bytes([n])
    return b"\x82" + n.to_bytes(2, "big")


def _octets(data: bytes) -> bytes:
    return b"\x04" + _der_len(len(data)) + data


def encrypt(public_hex: str, plaintext: bytes, k: int | None = None) -> bytes:
    """Encrypt ``plaintext`` (1..4096 bytes) to ``public_hex`` (128 hex X||Y); DER out.

    ``k`` is for test vectors only; real ciphertexts MUST use the default (from ``secrets``)."""
    pub = validate_public_key(public_hex)
    if not isinstance(plaintext, (bytes, bytearray)) or not 1 <= len(plaintext) <= MAX_PLAINTEXT:
        raise SM2Error(f"plaintext must be 1..{MAX_PLAINTEXT} bytes")
    msg = bytes(plaintext)
    while True:
        kk = k if k is not None else secrets.randbelow(_N - 1) + 1
        if not 1 <= kk < _N:
            raise SM2Error("k out of range [1, n-1]")
        c1 = _GM._kg(kk, _G)
        x2y2 = bytes.fromhex(_GM._kg(kk, pub))
        t = _kdf(x2y2, len(msg))
        if any(t):
            break
        if k is not None:                       # a fixed k that gives t = 0 cannot be used
            raise SM2Error("KDF output is all zero for this k")
    c2 = bytes(a ^ b for a, b in zip(msg, t))
    c3 = sm3(x2y2[:32] + msg + x2y2[32:])
    body = (_der_int(int(c1[:64], 16)) + _der_int(int(c1[64:], 16)) + _octets(c3) + _octets(c2))
    return b"\x30" + _der_len(len(body)) + body


def decrypt(private_hex: str, ciphertext: bytes) -> bytes:
    """Open a DER SM2 ciphertext with the private key (64 hex); SM2Error on any failure."""
    d = int(_check_private(private_hex), 16)
    if not isinstance(ciphertext, (bytes, bytearray)):
        raise SM2Error("ciphertext must be bytes")
    items = _der_sequence(bytes(ciphertext), "SM2 ciphertext")
    if [tag for tag, _ in items] != [0x02, 0x02, 0x04, 0x04]:
        raise SM2Error("SM2 ciphertext: expected SEQUENCE { INTEGER, INTEGER, OCTET STRING, OCTET STRING }")
    (_, xb), (_, yb), (_, c3), (_, c2) = items
    for v in (xb, yb):
        if not v or v[0] & 0x80 or (len(v) > 1 and v[0] == 0 and not v[1] & 0x80):
            raise SM2Error("SM2 ciphertext: bad INTEGER")
    x, y = int.from_bytes(xb, "big"), int.from_bytes(yb, "big")
    if x >= 2 ** 256 or y >= 2 ** 256:
        raise SM2Error("SM2 ciphertext: coordinate too large")
    c1 = validate_public_key("%064x%064x" % (x, y))        # on the curve, not infinity
    if len(c3) != 32 or not 1 <= len(c2) <= MAX_PLAINTEXT:
        raise SM2Error("SM2 ciphertext: bad hash or ciphertext length")
    x2y2 = bytes.fromhex(_GM._kg(d, c1))
    t = _kdf(x2y2, len(c2))
    if not any(t):
        raise SM2Error("SM2 ciphertext does not decrypt")
    msg = bytes(a ^ b for a, b in zip(c2, t))
    if not hmac.compare_digest(sm3(x2y2[:32] + msg + x2y2[32:]), c3):
        raise SM2Error("SM2 ciphertext does not decrypt (wrong key or tampered)")
    return msg
