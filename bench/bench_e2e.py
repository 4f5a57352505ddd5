"""End-to-end throughput and gateway memory, as ratios against baselines taken in the same run.

* raw: paho QoS 1 publishing of N payloads of one record's size through a fresh Mosquitto to a
  subscriber (messages/s received) -- the floor any MQTT pipeline of single records pays;
* ours: N clock-ins committed to the outbox (batches of 50, synchronous=FULL), sealed, signed,
  published, verified and committed by a ``sitegate-central run`` process, and acknowledged
  (records/s from the first commit to the last ack);
* memory: resident set of ``sitegate run`` idle and while making records at a high rate.

Run: .venv/bin/python bench/bench_e2e.py [--records N] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from brokers import Mosquitto  # noqa: E402
from gateway.clockin.simulate import clock_in  # noqa: E402
from uplink.broker import BrokerConfig  # noqa: E402
from uplink.outbox import Limits, Outbox  # noqa: E402
from uplink.publisher import Uplink  # noqa: E402
from uplink.sm2 import Signer, generate_private_key  # noqa: E402
from uplink.wire import ZERO_HASH, canonical, make_record  # noqa: E402


def record_size() -> int:
    r = make_record("gw-bench-0001", 123456, ZERO_HASH, 1_767_225_600_000, "attendance",
                    clock_in(123456, 500))
    return len(canonical(r))


def _connected(client_id: str, port: int) -> mqtt.Client:
    """A started paho client that has its CONNACK (publishing earlier trickles out slowly)."""
    up = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    c.on_connect = lambda *a: up.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    if not up.wait(10):
        raise RuntimeError("no CONNACK")
    return c


def raw_paho(port: int, n: int, size: int) -> float:
    got = threading.Event()
    count = [0]

    def on_message(c, u, m):
        count[0] += 1
        if count[0] == n:
            got.set()

    sub = _connected(f"bench-sub-{size}", port)
    sub.on_message = on_message
    sub.subscribe("bench/raw", 1)
    time.sleep(0.3)
    pub = _connected(f"bench-pub-{size}", port)
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(n):
        info = pub.publish("bench/raw", payload, qos=1)
        while info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            time.sleep(0.001)
            info = pub.publish("bench/raw", payload, qos=1)
    got.wait(300)
    elapsed = time.perf_counter() - start
    pub.loop_stop()
    sub.loop_stop()
    sub.disconnect()
    pub.disconnect()
    if count[0] < n:
        raise RuntimeError(f"raw baseline lost messages: {count[0]} of {n}")
    return n / elapsed


def ours(port: int, n: int, workdir: Path) -> dict:
    env = dict(os.environ, SITEGATE_HOME=str(workdir), PYTHONPATH=str(ROOT))
    signer = Signer(generate_private_key())
    gw = "gw-bench-0001"
    subprocess.run([sys.executable, "-m", "central.cli", "gateways", "add", gw, "--public-key",
                    signer.public_hex], env=env, check=True, capture_output=True)
    ready = workdir / "central.ready"
    central = subprocess.Popen([sys.executable, "-m", "central.cli", "run", "--broker",
                                f"mqtt://127.0.0.1:{port}", "--ready-file", str(ready)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready.exists():
            time.sleep(0.05)
        central_key = subprocess.run([sys.executable, "-m", "central.cli", "key", "--hex"], env=env,
                                     check=True, capture_output=True, text=True).stdout.strip()
        outbox = Outbox(workdir / "outbox.db", gw, signer, Limits())
        uplink = Uplink(outbox, BrokerConfig(f"mqtt://127.0.0.1:{port}"), linger=0.05,
                        central_key=central_key)
        stop = threading.Event()
        t = threading.Thread(target=uplink.run, args=(stop,), daemon=True)
        t.start()
        time.sleep(0.5)
        start = time.perf_counter()
        commit_times = []
        while outbox.head_seq < n:
            k = min(50, n - outbox.head_seq)
            t0 = time.perf_counter()
            outbox.append_many([clock_in(outbox.head_seq + 1 + i, 500) for i in range(k)])
            commit_times.append(time.perf_counter() - t0)
        produced = time.perf_counter() - start
        while outbox.acked_seq < n and time.perf_counter() - start < 600:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        stop.set()
        t.join(10)
        commit_times.sort()
        return {"records_per_s": n / elapsed, "produce_per_s": n / produced,
                "commit_batch50_p50_ms": commit_times[len(commit_times) // 2] * 1000,
                "acked": outbox.acked_seq, "blocks": uplink.counters["published"],
                "resends": uplink.counters["resends"]}
    finally:
        central.terminate()
        central.wait(15)


def single_commit_rate(workdir: Path, n: int = 300) -> float:
    """One transaction (fsync) per clock-in, as a turnstile commits before opening."""
    outbox = Outbox(workdir / "single.db", "gw-single", None, Limits())
    start = time.perf_counter()
    for i in range(n):
        outbox.append(clock_in(i + 1, 500))
    return n / (time.perf_counter() - start)


def gateway_memory(port: int, workdir: Path) -> dict:
    home = workdir / "mem"
    home.mkdir()
    env = dict(os.environ, SITEGATE_HOME=str(home), PYTHONPATH=str(ROOT))
    site = home / "site.toml"

    def write(rate: float) -> None:
        site.write_text(f'[gateway]\nid = "gw-mem"\n[broker]\nurl = "mqtt://127.0.0.1:{port}"\n'
                        f"[simulate]\nrate = {rate}\n")

    write(0)
    subprocess.run([sys.executable, "-m", "gateway.cli", "keygen", "-c", str(site)], env=env,
                   check=True, capture_output=True)
    out = {}
    for label, rate, secs in (("idle", 0, 4), ("load_2000_per_s", 2000, 10)):
        write(rate)
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "-c", str(site)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p = psutil.Process(proc.pid)
        peak = 0
        end = time.monotonic() + secs
        while time.monotonic() < end:
            peak = max(peak, p.memory_info().rss)
            time.sleep(0.1)
        proc.terminate()
        proc.wait(15)
        out[f"rss_{label}_mib"] = round(peak / 2**20, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "broker").mkdir()
        broker = Mosquitto(tmp / "broker")
        try:
            size = record_size()
            raw = raw_paho(broker.port, args.records, size)
            result = ours(broker.port, args.records, tmp)
            per_block = args.records / max(result["blocks"], 1)
            raw_blocks = raw_paho(broker.port, max(result["blocks"], 50),
                                  int(size * per_block) + 600)
            single = single_commit_rate(tmp)
            mem = gateway_memory(broker.port, tmp)
        finally:
            broker.stop()
    report = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
                   f"Python {platform.python_version()}",
        "records": args.records, "record_bytes": size,
        "raw_paho_qos1_msgs_per_s": round(raw),
        "sitegate_e2e_records_per_s": round(result["records_per_s"]),
        "ratio_vs_raw": round(result["records_per_s"] / raw, 2),
        "raw_paho_qos1_block_sized_msgs_per_s": round(raw_blocks),
        "raw_block_sized_records_per_s_ceiling": round(raw_blocks * per_block),
        "ratio_vs_block_ceiling": round(result["records_per_s"] / (raw_blocks * per_block), 3),
        "outbox_commit_rate_batches_of_50": round(result["produce_per_s"]),
        "outbox_commit_rate_one_per_txn": round(single),
        "blocks_published": result["blocks"], "resends": result["resends"], **mem,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:40} {v}")


if __name__ == "__main__":
    main()
