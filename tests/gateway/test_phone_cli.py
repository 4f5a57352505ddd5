"""`sitegate phone cert|enrol|qr`: provisioning commands (secrets never echoed)."""
from __future__ import annotations

import stat
import subprocess

from phone_fixtures import ENROL_A, ID_A
from procs import sitegate_cmd


def run(home, *args, input=None, check=True):
    p = subprocess.run(sitegate_cmd(*args[:2], "-c", str(home / "site.toml"), *args[2:]),
                       capture_output=True, text=True, timeout=120, input=input)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_cert_enrol_qr(home):
    (home / "site.toml").write_text('[gateway]\nid = "gw-1"\n[phone]\nlisten = "192.168.1.20"\n')
    run(home, "phone", "cert", "--host", "192.168.1.20")
    key = home / "phone" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = subprocess.run(["openssl", "x509", "-in", str(home / "phone" / "cert.pem"), "-noout",
                           "-text"], capture_output=True, text=True).stdout
    assert "IP Address:192.168.1.20" in text and "IP Address:127.0.0.1" in text
    assert run(home, "phone", "cert", check=False).returncode != 0      # no silent overwrite
    p = run(home, "phone", "qr", "--worker", "W000001", check=False)
    assert p.returncode != 0 and "not enrolled" in p.stderr
    p = run(home, "phone", "enrol", "--worker", "W000001", "--photo", str(ENROL_A),
            input=f"{ID_A}\n2468\n2468\n")
    assert "1101**********4477" in p.stdout and ID_A not in p.stdout + p.stderr
    assert (home / "faces" / "templates.db").exists()
    p = run(home, "phone", "enrol", "--worker", "W000002", input="110101199003074470\n1234\n1234\n",
            check=False)
    assert p.returncode != 0 and "check digit" in p.stderr
    # secrets are never accepted on the command line (shell history, process list)
    p = run(home, "phone", "enrol", "--worker", "W000003", "--id-number", ID_A, "--pin", "2468",
            input=f"{ID_A}\n2468\n2468\n", check=False)
    assert p.returncode == 2 and "No such option" in p.stderr
    url = run(home, "phone", "qr", "--worker", "W000001").stdout.strip()
    assert url.startswith("https://192.168.1.20:8443/?t=") and len(url) > 50
    run(home, "phone", "qr", "--worker", "W000001", "-o", str(home / "qr.svg"))
    assert b"<svg" in (home / "qr.svg").read_bytes()[:400]
