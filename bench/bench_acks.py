"""Signed acks vs unsigned acks, end to end, side by side in one run.

Both variants run the same pipeline as bench_e2e.py (N clock-ins committed to the outbox in
batches of 50, sealed, SM2-signed, published with the bounded window through a fresh
Mosquitto, verified and committed by central in its own process on SQLite, acknowledged) and
differ only in the ack:

* unsigned (the protocol before signed acks): central publishes the ack's canonical bytes, the
  gateway parses them and releases -- bench-only subclasses below, never shipped;
* signed (the product): central signs every ack with its key (libcrypto), the gateway verifies
  the signature (libcrypto) before releasing anything.

Rounds alternate unsigned / signed so drift on a shared machine hits both; the median of each
is reported, and the ratio signed / unsigned (target >= 0.9).

``--block-records 1`` is the worst case for signed acks: one block, so one signature and one
verification, per record (a quiet site whose clock-ins trickle in).

Run: .venv/bin/python bench/bench_acks.py [--records N] [--rounds R] [--block-records B] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from brokers import Mosquitto  # noqa: E402
from gateway.clockin.simulate import clock_in  # noqa: E402
from uplink.broker import BrokerConfig  # noqa: E402
from uplink.outbox import Limits, Outbox  # noqa: E402
from uplink.publisher import Uplink  # noqa: E402
from uplink.sm2 import Signer, generate_private_key  # noqa: E402
from uplink.wire import decode_ack  # noqa: E402

# central's side, run as its own process; "unsigned" publishes acks as the protocol did before
CENTRAL = r"""
import signal, sys, threading
from pathlib import Path
from central.ingest import Ingest
from central.receiver import Receiver
from central.roster import load_signer
from central.store import Store
from uplink.broker import BrokerConfig

mode, db, url, ready, home = sys.argv[1:]


class UnsignedReceiver(Receiver):
    def _on_message(self, client, userdata, message):
        verdict = self.ingest.handle(message.topic, bytes(message.payload))
        if verdict.ack is not None and verdict.ack_topic is not None:
            client.publish(verdict.ack_topic, verdict.ack, qos=1)


cls = UnsignedReceiver if mode == "unsigned" else Receiver
receiver = cls(Ingest(Store(db)), BrokerConfig(url), signer=load_signer(Path(home)),
               client_id=f"bench-central-{mode}")
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())


def mark():
    if receiver.connected.wait(30):
        Path(ready).write_text("ready")


threading.Thread(target=mark, daemon=True).start()
receiver.run(stop)
"""


class UnsignedUplink(Uplink):
    """The gateway before signed acks: parse and release."""

    def _open_ack(self, payload: bytes) -> dict:
        ack = decode_ack(payload)
        if ack["gw"] != self.gw:
            raise ValueError("another gateway's ack")
        return ack


def one_round(mode: str, port: int, n: int, workdir: Path, central_pub: str,
              block_records: int) -> dict:
    workdir.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    gw = "gw-bench-acks"
    signer = Signer(generate_private_key())
    db = f"sqlite:///{workdir / 'central.db'}"
    from central.store import Store
    store = Store(db)
    store.add_gateway(gw, signer.public_hex)
    store.close()
    ready = workdir / "ready"
    central = subprocess.Popen([sys.executable, "-c", CENTRAL, mode, db,
                                f"mqtt://127.0.0.1:{port}", str(ready), str(workdir.parent)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if central.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("central did not start")
            time.sleep(0.05)
        outbox = Outbox(workdir / "outbox.db", gw, signer, Limits(max_block_records=block_records))
        cls = UnsignedUplink if mode == "unsigned" else Uplink
        uplink = cls(outbox, BrokerConfig(f"mqtt://127.0.0.1:{port}"), linger=0.05,
                     central_key=central_pub)
        stop = threading.Event()
        t = threading.Thread(target=uplink.run, args=(stop,), daemon=True)
        t.start()
        time.sleep(0.5)
        start = time.perf_counter()
        while outbox.head_seq < n:
            k = min(50, n - outbox.head_seq)
            outbox.append_many([clock_in(outbox.head_seq + 1 + i, 500) for i in range(k)])
        while outbox.acked_seq < n and time.perf_counter() - start < 600:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        stop.set()
        t.join(10)
        if outbox.acked_seq < n:
            raise RuntimeError(f"{mode}: only {outbox.acked_seq} of {n} acknowledged")
        out = {"records_per_s": n / elapsed, "acks": uplink.counters["acks"],
               "forged": uplink.counters["acks_forged"], "blocks": uplink.counters["published"]}
        outbox.close()
        return out
    finally:
        central.terminate()
        central.wait(15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--block-records", type=int, default=256)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"unsigned": [], "signed": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "broker").mkdir()
        broker = Mosquitto(tmp / "broker")
        try:
            from central.roster import load_signer
            central_pub = load_signer(tmp).public_hex     # the key the launcher loads too
            for r in range(args.rounds):
                for mode in ("unsigned", "signed"):
                    runs[mode].append(one_round(mode, broker.port, args.records,
                                                tmp / f"{mode}-{r}", central_pub,
                                                args.block_records))
        finally:
            broker.stop()
    med = {m: statistics.median(x["records_per_s"] for x in rs) for m, rs in runs.items()}
    from uplink import sm2_openssl
    report = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
                   f"Python {platform.python_version()}",
        "records": args.records, "rounds": args.rounds, "block_records": args.block_records,
        "sm2_backend": "libcrypto" if sm2_openssl.available() else "gmssl",
        "unsigned_records_per_s": [round(x["records_per_s"]) for x in runs["unsigned"]],
        "signed_records_per_s": [round(x["records_per_s"]) for x in runs["signed"]],
        "unsigned_median": round(med["unsigned"]), "signed_median": round(med["signed"]),
        "ratio_signed_vs_unsigned": round(med["signed"] / med["unsigned"], 3),
        "acks_per_round": [x["acks"] for x in runs["signed"]],
        "forged_acks_seen": sum(x["forged"] for x in runs["signed"]),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:28} {v}")


if __name__ == "__main__":
    main()
