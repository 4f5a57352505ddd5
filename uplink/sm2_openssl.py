"""Optional SM2 through the system's OpenSSL 3 libcrypto (ctypes, no build step).

gmssl's pure-Python verification costs tens of milliseconds per signature; central verifies
every block of every gateway in a province and signs every ack, and each gateway verifies
every ack, so both sides use OpenSSL's C code when the system has libcrypto >= 3.0 with SM2
(Debian, Ubuntu, most ARM images do), and gmssl otherwise.
The caller (``uplink.sm2.Verifier``) has already enforced the strict rules (64-byte r || s,
r and s in [1, n-1], a validated on-curve key); this module only does the EC check, with the
GM/T 0009 default ID set explicitly (OpenSSL's own default is an empty ID).

Signing (``OpenSSLSigner``) loads the private key into libcrypto once; libcrypto draws each
nonce from its own DRBG (never gmssl's ``random``-based one).  The key's DER passes through a
Python bytes object, as the hex key already does on the gmssl path.

Set ``SITEGATE_SM2_BACKEND=gmssl`` to force the pure-Python path.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

_lib = None
_lock = threading.Lock()


def _load():
    global _lib
    if _lib is not None or os.environ.get("SITEGATE_SM2_BACKEND", "").lower() == "gmssl":
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                if lib.OpenSSL_version_num() < 0x30000000:
                    continue
                _declare(lib)
                if not lib.EVP_sm3():
                    continue
                _lib = lib
                break
            except (OSError, AttributeError):
                continue
    return _lib


def _declare(lib) -> None:
    vp, cp, i, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
    lib.OpenSSL_version_num.restype = ctypes.c_ulong
    lib.EVP_sm3.restype = vp
    lib.d2i_PUBKEY.restype = vp
    lib.d2i_PUBKEY.argtypes = [vp, ctypes.POINTER(cp), ctypes.c_long]
    lib.EVP_PKEY_free.argtypes = [vp]
    lib.EVP_MD_CTX_new.restype = vp
    lib.EVP_MD_CTX_free.argtypes = [vp]
    lib.EVP_PKEY_CTX_new.restype = vp
    lib.EVP_PKEY_CTX_new.argtypes = [vp, vp]
    lib.EVP_PKEY_CTX_free.argtypes = [vp]
    lib.EVP_PKEY_CTX_set1_id.argtypes = [vp, cp, i]
    lib.EVP_MD_CTX_set_pkey_ctx.argtypes = [vp, vp]
    lib.EVP_DigestVerifyInit.argtypes = [vp, vp, vp, vp, vp]
    lib.EVP_DigestVerify.argtypes = [vp, cp, sz, cp, sz]
    lib.d2i_AutoPrivateKey.restype = vp
    lib.d2i_AutoPrivateKey.argtypes = [vp, ctypes.POINTER(cp), ctypes.c_long]
    lib.EVP_DigestSignInit.argtypes = [vp, vp, vp, vp, vp]
    lib.EVP_DigestSign.argtypes = [vp, cp, ctypes.POINTER(sz), cp, sz]
    lib.ERR_clear_error.argtypes = []


def available() -> bool:
    return _load() is not None


class OpenSSLVerifier:
    """One SM2 public key loaded into libcrypto; ``verify_der`` is thread-safe."""

    def __init__(self, spki_der: bytes, uid: bytes) -> None:
        lib = _load()
        if lib is None:
            raise RuntimeError("libcrypto with SM2 is not available")
        self._lib = lib
        self._uid = uid
        buf = ctypes.c_char_p(spki_der)
        self._pkey = lib.d2i_PUBKEY(None, ctypes.byref(buf), len(spki_der))
        if not self._pkey:
            lib.ERR_clear_error()
            raise ValueError("libcrypto refused the SM2 public key")

    def verify_der(self, message: bytes, der: bytes) -> bool:
        lib = self._lib
        mctx = lib.EVP_MD_CTX_new()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, None)
        try:
            if not mctx or not pctx:
                raise MemoryError("libcrypto could not allocate a context")
            if lib.EVP_PKEY_CTX_set1_id(pctx, self._uid, len(self._uid)) != 1:
                raise RuntimeError("libcrypto refused the SM2 distinguishing ID")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            if lib.EVP_DigestVerifyInit(mctx, None, lib.EVP_sm3(), None, self._pkey) != 1:
                raise RuntimeError("libcrypto could not start an SM2/SM3 verification")
            ok = lib.EVP_DigestVerify(mctx, der, len(der), message, len(message)) == 1
            lib.ERR_clear_error()
            return ok
        finally:
            if mctx:
                lib.EVP_MD_CTX_free(mctx)      # does not free a pkey ctx it did not create
            if pctx:
                lib.EVP_PKEY_CTX_free(pctx)

    def __del__(self) -> None:
        pkey, self._pkey = getattr(self, "_pkey", None), None
        if pkey:
            self._lib.EVP_PKEY_free(pkey)


class OpenSSLSigner:
    """One SM2 private key loaded into libcrypto; ``sign_der`` is thread-safe and returns
    OpenSSL's DER signature (the caller converts it to r || s)."""

    def __init__(self, sec1_der: bytes, uid: bytes) -> None:
        lib = _load()
        if lib is None:
            raise RuntimeError("libcrypto with SM2 is not available")
        self._lib = lib
        self._uid = uid
        buf = ctypes.c_char_p(sec1_der)
        self._pkey = lib.d2i_AutoPrivateKey(None, ctypes.byref(buf), len(sec1_der))
        if not self._pkey:
            lib.ERR_clear_error()
            raise ValueError("libcrypto refused the SM2 private key")

    def sign_der(self, message: bytes) -> bytes:
        lib = self._lib
        mctx = lib.EVP_MD_CTX_new()
        pctx = lib.EVP_PKEY_CTX_new(self._pkey, None)
        try:
            if not mctx or not pctx:
                raise MemoryError("libcrypto could not allocate a context")
            if lib.EVP_PKEY_CTX_set1_id(pctx, self._uid, len(self._uid)) != 1:
                raise RuntimeError("libcrypto refused the SM2 distinguishing ID")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            if lib.EVP_DigestSignInit(mctx, None, lib.EVP_sm3(), None, self._pkey) != 1:
                raise RuntimeError("libcrypto could not start an SM2/SM3 signature")
            out = ctypes.create_string_buffer(80)          # DER of two 33-byte INTEGERs <= 72
            n = ctypes.c_size_t(len(out))
            if lib.EVP_DigestSign(mctx, out, ctypes.byref(n), message, len(message)) != 1:
                lib.ERR_clear_error()
                raise RuntimeError("libcrypto could not sign")
            return out.raw[:n.value]
        finally:
            if mctx:
                lib.EVP_MD_CTX_free(mctx)
            if pctx:
                lib.EVP_PKEY_CTX_free(pctx)

    def __del__(self) -> None:
        pkey, self._pkey = getattr(self, "_pkey", None), None
        if pkey:
            self._lib.EVP_PKEY_free(pkey)
