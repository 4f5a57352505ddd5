"""The SHIPPED broker configuration in a real Mosquitto: config/mosquitto.conf with its ports,
certificate paths and the plugin's file moved into the test's folder (every other line as
shipped), the dynamic-security policy config/mosquitto-dynsec.json, and accounts made the way
docs/central.md tells the operator to (`sitegate-central broker init`, `add-central`,
`add-gateway`, as real processes)."""
from __future__ import annotations

import glob
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from brokers import MOSQUITTO, ROOT, free_port, wait_port
from procs import central_cmd
from uplink.broker import BrokerConfig

SHIPPED_CONF = ROOT / "config" / "mosquitto.conf"
ADMIN_PASSWORD = "admin-secret-for-tests"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> Path:
    """A test CA and a server certificate for 127.0.0.1 / localhost."""
    pki.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sitegate test CA", cwd=pki)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
            cwd=pki)
    (pki / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=pki)
    return pki


def render(text: str, *, tls_port: int, admin_port: int, pki: Path, dynsec: Path,
           workdir: Path) -> str:
    """The shipped file with only its host-specific lines moved; each must be found once, so a
    reshaped shipped file fails here instead of being silently replaced by test settings."""
    plugin = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
    if not os.path.exists(plugin):      # another architecture: the same plugin, its own dir
        plugin = (glob.glob("/usr/lib/*/mosquitto_dynamic_security.so") or [plugin])[0]
    moves = {"listener 8883": f"listener {tls_port} 127.0.0.1",
             "listener 1883 127.0.0.1": f"listener {admin_port} 127.0.0.1",
             "cafile /etc/mosquitto/certs/ca.pem": f"cafile {pki / 'ca.pem'}",
             "certfile /etc/mosquitto/certs/server.pem": f"certfile {pki / 'server.pem'}",
             "keyfile /etc/mosquitto/certs/server.key": f"keyfile {pki / 'server.key'}",
             "plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so": f"plugin {plugin}",
             "plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json":
                 f"plugin_opt_config_file {dynsec}"}
    lines, found = [], set()
    for line in text.splitlines():
        key = line.strip()
        if key in moves:
            assert key not in found, f"{key!r} twice in the shipped mosquitto.conf"
            found.add(key)
            line = moves[key]
        lines.append(line)
    missing = set(moves) - found
    assert not missing, f"the shipped mosquitto.conf lost {sorted(missing)}"
    lines += ["persistence false", f"log_dest file {workdir / 'mosquitto.log'}",
              "log_type error", "log_type warning"]
    if os.geteuid() == 0:
        lines.append("user root")            # keep access to the test's private tmp files
    return "\n".join(lines) + "\n"


@dataclass
class ShippedBroker:
    workdir: Path
    tls_port: int
    admin_port: int
    pki: Path
    passwords: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    @property
    def admin_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.admin_port}"

    def cfg(self, user: str, password: str | None = None) -> BrokerConfig:
        return BrokerConfig(self.url, username=user,
                            password=self.passwords[user] if password is None else password,
                            ca_file=str(self.pki / "ca.pem"))

    def admin_args(self) -> list[str]:
        return ["--admin-url", self.admin_url, "--admin-password-file",
                str(self.workdir / "admin.password")]

    def add(self, kind: str, *names: str, env: dict | None = None) -> None:
        """`sitegate-central broker add-gateway|add-central NAMES` as an operator runs it."""
        out = self.workdir / "passwords"
        r = subprocess.run(central_cmd("broker", f"add-{kind}", *names, "--out", str(out),
                                       *self.admin_args()),
                           env=env or os.environ.copy(), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        for name in names:
            self.passwords[name] = (out / f"{name}.broker.password").read_text().strip()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_shipped_broker(workdir: Path, gateways: list[str] = (), centrals: list[str] = ()) \
        -> ShippedBroker:
    workdir.mkdir(parents=True, exist_ok=True)
    b = ShippedBroker(workdir, free_port(), free_port(), make_pki(workdir / "pki"))
    (workdir / "admin.password").write_text(ADMIN_PASSWORD + "\n")
    dynsec = workdir / "dynamic-security.json"
    r = subprocess.run(central_cmd("broker", "init", str(dynsec), "--admin", "admin",
                                   "--admin-password-file", str(workdir / "admin.password")),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    conf = workdir / "mosquitto.conf"
    conf.write_text(render(SHIPPED_CONF.read_text(), tls_port=b.tls_port, admin_port=b.admin_port,
                           pki=b.pki, dynsec=dynsec, workdir=workdir))
    b.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        wait_port(b.tls_port)
        wait_port(b.admin_port)
    except TimeoutError:
        err = b.proc.stderr.read().decode() if b.proc.poll() is not None else ""
        raise RuntimeError(f"mosquitto did not start with the shipped config: {err}")
    if centrals:
        b.add("central", *centrals)
    if gateways:
        b.add("gateway", *gateways)
    return b
