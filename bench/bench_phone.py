"""Phone clock-in page under 1,000 idle connections: requests/s of honest phones with no attack
and while an attacker holds 1,000 idle TLS connections (one byte of a ClientHello each, one more
every 10 s), in one run; the ratio is the figure.

Usage: PYTHONPATH=. python bench/bench_phone.py [--json] [--seconds 10] [--clients 4] [--nofile 1024]

Phases of ``--seconds`` each: no attack, the attack, no attack again (the attacker's sockets
closed); the ratio is the attack phase over the mean of the two others, which keeps a shared
machine's drift out of it.

The page is served by a real `sitegate phone serve` process (uvicorn behind the connection gate,
TLS, the site's certificate), started with the descriptor soft limit ``--nofile`` (1,024: a unit
without LimitNOFILE; the shipped unit sets 8,192).  Honest phones: ``--clients`` threads in this
process, each on its own keep-alive HTTPS connection, alternating the page (``GET /``) and a
signed-in API call (``POST /api/attempt``: a server nonce).  Clock-ins themselves are not in the
loop (their cost is the face check, see bench_faces.py).  Traffic goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ID, PIN = "110101199003074477", "2468"
ROAD = [[108.30, 22.80], [108.35, 22.82], [108.40, 22.81]]


def setup(home: Path) -> tuple[int, Path]:
    sys.path.insert(0, str(ROOT))
    from gateway import keys
    from gateway.config import load
    from gateway.fences.store import add as add_fence
    from gateway.phone.credentials import PhoneStore
    from gateway.tls import make_cert
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (home / "site.toml").write_text(f'[gateway]\nid = "gw-bench-phone"\n'
                                    f'[phone]\nlisten = "127.0.0.1"\nport = {port}\n')
    cfg = load(home / "site.toml", home=home)
    keys.generate(cfg.key_file)
    make_cert(cfg.phone_cert, cfg.phone_key)
    road = home / "road.geojson"
    road.write_text(json.dumps({"type": "Feature", "properties": {
        "id": "G75", "crs": "wgs84", "half_width_m": 100},
        "geometry": {"type": "LineString", "coordinates": ROAD}}))
    add_fence(road, home=home)
    PhoneStore(cfg.phone_db).enrol("W000001", ID, PIN)
    return port, cfg.phone_cert


class Phone:
    def __init__(self, port: int, ctx: ssl.SSLContext, cookie: str | None = None) -> None:
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        self.cookie = cookie

    def call(self, method: str, path: str, body: dict | None = None) -> int:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.conn.request(method, path, json.dumps(body).encode() if body is not None else None,
                          headers)
        r = self.conn.getresponse()
        r.read()
        if r.getheader("Set-Cookie"):
            self.cookie = r.getheader("Set-Cookie").split(";")[0]
        return r.status


def load_phase(port: int, ctx: ssl.SSLContext, cookie: str, clients: int,
               seconds: float) -> tuple[float, int]:
    """(requests/s of all phones together, failed requests)."""
    counts, errors, stop = [0] * clients, [0] * clients, threading.Event()

    def phone(i: int) -> None:
        p = Phone(port, ctx, cookie)
        while not stop.is_set():
            try:
                a = p.call("GET", "/?lang=en")
                b = p.call("POST", "/api/attempt", {})
                if (a, b) == (200, 200):
                    counts[i] += 2
                else:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                p = Phone(port, ctx, cookie)
    threads = [threading.Thread(target=phone, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1.0)                                   # warm up
    c0, t0 = sum(counts), time.perf_counter()
    time.sleep(seconds)
    c1, t1 = sum(counts), time.perf_counter()
    stop.set()
    for t in threads:
        t.join(30)
    return (c1 - c0) / (t1 - t0), sum(errors)


def _open(s: socket.socket) -> bool:
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--nofile", type=int, default=1024)
    args = ap.parse_args()
    import psutil
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.idle + 256)), hard))

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        port, cert = setup(home)

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))
        env = dict(os.environ, SITEGATE_HOME=str(home), PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "phone", "serve", "-c",
                                 str(home / "site.toml")], env=env, preexec_fn=limit,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ctx = ssl.create_default_context(cafile=str(cert))
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if Phone(port, ctx).call("GET", "/") == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the phone page did not start")
                time.sleep(0.2)
            server = psutil.Process(proc.pid)
            signer = Phone(port, ctx)
            assert signer.call("POST", "/api/login", {"id_number": ID, "pin": PIN}) == 200
            cookie = signer.cookie

            base_rps, base_err = load_phase(port, ctx, cookie, args.clients, args.seconds)
            fds_before = server.num_fds()

            idle, stop = [], threading.Event()
            for _ in range(args.idle):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.setblocking(False)
                s.send(b"\x16\x03\x01\x02\x00\x01")
                idle.append(s)
                time.sleep(0.002)

            def trickle():
                while not stop.wait(10):
                    for s in idle:
                        try:
                            s.send(b"\x00")
                        except OSError:
                            pass
            threading.Thread(target=trickle, daemon=True).start()
            fds_attack = [0]

            def watch():
                while not stop.wait(0.2):
                    fds_attack[0] = max(fds_attack[0], server.num_fds())
            threading.Thread(target=watch, daemon=True).start()
            attack_rps, attack_err = load_phase(port, ctx, cookie, args.clients, args.seconds)
            stop.set()
            held = sum(1 for s in idle if _open(s))
            for s in idle:
                s.close()
            time.sleep(1.0)
            after_rps, after_err = load_phase(port, ctx, cookie, args.clients, args.seconds)
        finally:
            proc.terminate()
            proc.wait(30)

    baseline = (base_rps + after_rps) / 2          # before and after: the machine drifts
    ratio = attack_rps / baseline if baseline else 0.0
    base_err += after_err
    out = {"machine": f"{platform.machine()} {os.cpu_count()} CPU, Python {platform.python_version()}",
           "clients": args.clients, "seconds": args.seconds, "server_nofile": args.nofile,
           "idle_connections": args.idle,
           "rps_no_attack_before": round(base_rps, 1), "rps_under_idle": round(attack_rps, 1),
           "rps_no_attack_after": round(after_rps, 1), "idle_still_open_at_end": held,
           "ratio": round(ratio, 2), "errors_no_attack": base_err, "errors_under_idle": attack_err,
           "server_fds_before": fds_before, "server_fds_peak_under_idle": fds_attack[0]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"phone page, {args.clients} keep-alive phones, {args.seconds:.0f} s each, "
              f"server soft limit {args.nofile} descriptors")
        print(f"  no attack (before):            {base_rps:8.1f} requests/s")
        print(f"  {args.idle} idle TLS connections: {attack_rps:8.1f} requests/s ({attack_err} failed)"
              f"  -> ratio {ratio:.2f} to the mean of before and after")
        print(f"  no attack (after):             {after_rps:8.1f} requests/s ({base_err} failed "
              f"without attack)")
        print(f"  server descriptors: {fds_before} before, peak {fds_attack[0]} under attack; "
              f"{held} of the {args.idle} idle connections still open at the end of the phase")
    # an attack that takes the page away is a failure; a slower page is a number
    return 0 if attack_err == 0 and ratio > 0.25 else 1


if __name__ == "__main__":
    sys.exit(main())
