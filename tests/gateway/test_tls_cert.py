"""The pages' TLS certificate, made with `cryptography` (gateway/tls.py): made where no `openssl`
program exists, read by `openssl x509` as a P-256 / SHA-256 certificate with the right names,
verified by `openssl verify -x509_strict`, and accepted -- hostname checked -- by real TLS
clients (Python's ssl and `openssl s_client`) talking to the product's HTTPS server."""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.request

import pytest
from fastapi import FastAPI

from gateway.https import HTTPSServer

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl program checks the result")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """Made in a process whose PATH has no openssl: the gateway needs no such program."""
    root = tmp_path_factory.mktemp("tls")
    code = ("import sys; from pathlib import Path; from gateway.tls import make_cert; "
            "make_cert(Path(sys.argv[1]), Path(sys.argv[2]), ['10.20.30.40', 'gw.site.local'])")
    env = dict(os.environ, PATH=str(root / "empty-bin"))
    out = subprocess.run([sys.executable, "-c", code, str(root / "cert.pem"), str(root / "key.pem")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return root / "cert.pem", root / "key.pem"


def test_key_is_private_and_pem(cert):
    crt, key = cert
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert crt.read_text().startswith("-----BEGIN CERTIFICATE-----")


@needs_openssl
def test_openssl_reads_and_verifies_it(cert):
    crt, key = cert
    text = subprocess.run([OPENSSL, "x509", "-in", str(crt), "-noout", "-text"], capture_output=True,
                          text=True, timeout=30, check=True).stdout
    assert "ecdsa-with-SHA256" in text and "prime256v1" in text
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert "IP Address:10.20.30.40" in text and "DNS:gw.site.local" in text
    assert "TLS Web Server Authentication" in text
    days = subprocess.run([OPENSSL, "x509", "-in", str(crt), "-noout", "-checkend",
                           str(800 * 86400)], capture_output=True, text=True, timeout=30)
    assert days.returncode == 0                          # valid for 825 days, not 30
    ok = subprocess.run([OPENSSL, "verify", "-x509_strict", "-CAfile", str(crt), str(crt)],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
    pub_cert = subprocess.run([OPENSSL, "x509", "-in", str(crt), "-noout", "-pubkey"],
                              capture_output=True, text=True, timeout=30, check=True).stdout
    pub_key = subprocess.run([OPENSSL, "pkey", "-in", str(key), "-pubout"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    assert pub_cert == pub_key                           # the key is the certificate's


@pytest.fixture(scope="module")
def server(cert):
    api = FastAPI()

    @api.get("/hello")
    async def hello():
        return {"hello": "你好"}

    srv = HTTPSServer(api, "127.0.0.1", 0, *cert).start()
    yield srv
    srv.close()


def test_python_tls_client_accepts_it_by_name_and_by_address(cert, server):
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    for host in ("localhost", "127.0.0.1"):
        with urllib.request.urlopen(f"https://{host}:{server.port}/hello", context=ctx,
                                    timeout=10) as r:
            assert r.status == 200 and r.read().decode() == '{"hello":"你好"}'
    # a name the certificate does not carry is refused
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="elsewhere.example")


@needs_openssl
def test_openssl_s_client_verifies_the_server(cert, server):
    out = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{server.port}",
                          "-CAfile", str(cert[0]), "-verify_return_error",
                          "-verify_hostname", "localhost", "-servername", "localhost"],
                         input="", capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Verify return code: 0 (ok)" in out.stdout
