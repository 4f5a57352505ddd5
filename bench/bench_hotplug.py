"""Unplug → alarm and replug → lane back, timed against a real `sitegate run` process.

A card lane's ID-card reader and relay board are simulators on pseudo-terminals behind
udev-like links; the daemon publishes its retained state to a fresh Mosquitto. Each round
unplugs one device (the pty closes, the link disappears), times how long until the state topic
carries its ``device_lost`` alarm, plugs it back (a new pty behind the same link) and times how
long until the alarm is gone again (the device re-opened through the backoff). Ratios are to
the targets: 2 s for the alarm, 3 s for coming back (the backoff's 2 s cap plus the tick). The floor, for
comparison, is the uplink's 1 s alarm tick: a change waits 0-1 s for it (0.5 s on average).

Run: .venv/bin/python bench/bench_hotplug.py [--rounds N] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from brokers import Mosquitto  # noqa: E402
from drivers.sim.idcard import IdCardSimulator  # noqa: E402
from drivers.sim.turnstile import TurnstileSimulator  # noqa: E402
from gateway import keys  # noqa: E402
from gateway.config import load  # noqa: E402

GW = "gw-bench-hotplug"
ALARM_TARGET, BACK_TARGET = 2.0, 3.0


class StateWatch:
    def __init__(self, port: int) -> None:
        self.lost: set[str] = set()
        self.seen = 0
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-watch")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"sitegate/v1/{GW}/state", 1)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        state = json.loads(msg.payload)
        with self._cond:
            self.lost = {a.get("device") for a in state.get("alarms", []) if a["code"] == "device_lost"}
            self.seen += 1
            self._cond.notify_all()

    def wait(self, pred, timeout: float = 30.0) -> float:
        """Monotonic time at which ``pred(lost devices)`` first held."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self.seen and pred(self.lost)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"state topic never showed it (lost now: {self.lost})")
                self._cond.wait(left)
            return time.monotonic()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-hotplug-"))
    (tmp / "broker").mkdir()
    broker = Mosquitto(tmp / "broker")
    home = tmp / "home"
    home.mkdir()
    reader = IdCardSimulator([], link=str(tmp / "idcard0")).start()
    relay = TurnstileSimulator(link=str(tmp / "relay0"), lanes={0: 0}).start()
    site = home / "site.toml"
    site.write_text(f"""
[gateway]
id = "{GW}"
[broker]
url = "{broker.url}"
[uplink]
state_interval_s = 60
[lanes.entry]
mode = "card"
idcard = "{reader.path}"
gate = "{relay.path}"
relay = 0
sensor = 0
""")
    keys.generate(load(site, home).key_file)
    watch = StateWatch(broker.port)
    env = dict(os.environ, SITEGATE_HOME=str(home), PYTHONPATH=str(ROOT))
    daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "-c", str(site)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        watch.wait(lambda lost: not lost, 60)
        time.sleep(1.0)
        for name, sim, device in (("ID-card reader", reader, "idcard:entry"),
                                  ("relay board", relay, f"gate:{relay.path}")):
            alarm, back = [], []
            for _ in range(args.rounds):
                t0 = time.monotonic()
                sim.unplug()
                alarm.append(watch.wait(lambda lost: device in lost) - t0)
                time.sleep(1.0 + random.random())        # not in step with the uplink's 1 s tick
                t1 = time.monotonic()
                sim.replug()
                back.append(watch.wait(lambda lost: device not in lost) - t1)
                time.sleep(1.0 + random.random())
            results[name] = {"alarm_s": alarm, "back_s": back}
    finally:
        daemon.terminate()
        daemon.wait(30)
        watch.close()
        reader.stop()
        relay.stop()
        broker.stop()

    summary = {name: {"alarm_median_s": round(statistics.median(r["alarm_s"]), 3),
                      "alarm_max_s": round(max(r["alarm_s"]), 3),
                      "alarm_ratio_to_target": round(max(r["alarm_s"]) / ALARM_TARGET, 2),
                      "back_median_s": round(statistics.median(r["back_s"]), 3),
                      "back_max_s": round(max(r["back_s"]), 3),
                      "back_ratio_to_target": round(max(r["back_s"]) / BACK_TARGET, 2)}
               for name, r in results.items()}
    missed = [n for n, s in summary.items() if s["alarm_ratio_to_target"] > 1 or s["back_ratio_to_target"] > 1]
    if args.json:
        print(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(), "rounds": args.rounds,
                          "results": summary, "missed": missed}, indent=1))
    else:
        print(f"{platform.platform()}, {os.cpu_count()} CPUs, {args.rounds} rounds per device")
        print(f"{'device':16} {'alarm median':>13} {'max':>7} {'÷2 s':>6} {'back median':>12} {'max':>7} {'÷3 s':>6}")
        for n, s in summary.items():
            print(f"{n:16} {s['alarm_median_s']:>12.3f}s {s['alarm_max_s']:>6.3f}s {s['alarm_ratio_to_target']:>6} "
                  f"{s['back_median_s']:>11.3f}s {s['back_max_s']:>6.3f}s {s['back_ratio_to_target']:>6}")
        print("targets met" if not missed else f"MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
