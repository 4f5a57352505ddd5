"""Self-signed TLS certificates for the gateway's own HTTPS pages (phone page, web app)."""
from __future__ import annotations

import subprocess
from pathlib import Path


def make_cert(cert: Path, key: Path, hosts: list[str] | None = None, days: int = 825) -> None:
    """Self-signed ECDSA P-256 certificate for the phone page (made once at provisioning)."""
    hosts = hosts or []
    san = ["DNS:localhost", "IP:127.0.0.1"]
    for h in hosts:
        entry = f"IP:{h}" if h.replace(".", "").isdigit() or ":" in h else f"DNS:{h}"
        if entry not in san:
            san.append(entry)
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", str(days), "-subj", "/CN=sitegate phone clock-in",
                    "-addext", "subjectAltName=" + ",".join(san)],
                   check=True, capture_output=True)
    key.chmod(0o600)
