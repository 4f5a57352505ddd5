"""A card + face lane end to end with the simulators: passes per minute, and each attempt's time
from card tap to the lane being ready again, MobileFaceNet and dlib side by side in one run.

The rig is the tests' (tests/lanes/conftest.py): ID-card simulator and turnstile relay simulator
on real pseudo-terminals, the camera simulator streaming MJPEG over HTTP at 15 fps through the
real camera driver and frame grabber, a real outbox, roster and sealed template store. The
worker's card is tapped as soon as the lane is ready again; the camera shows a head turn
(4 frames of two photos, each with its own noise); the turnstile simulator walks the worker
through in 0.1 s. Liveness on, 6 frames captured per attempt, learning on.

Usage: PYTHONPATH=. python bench/bench_lane.py [--seconds 60] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def run(model: str, seconds: float) -> dict:
    from biometrics.engines import get_engine
    from biometrics.enrol import enrol_images
    from biometrics.store import TemplateStore
    from drivers.camera import Camera
    from drivers.sim.camera import CameraSimulator
    from drivers.sim.idcard import IdCardSimulator
    from drivers.sim.samples import RESIDENT
    from drivers.sim.turnstile import TurnstileSimulator
    from drivers.turnstile import Lane, ModbusRelayGate
    from faceframes import camera_frames, photo
    from gateway.clockin.faces import FaceService
    from gateway.clockin.machine import LaneSettings
    from gateway.clockin.rules import Rules
    from gateway.clockin.devices import Backoff, FrameGrabber, LaneGate, ReaderFeed, supervise_gate
    from gateway.clockin.runner import LaneDevices, LaneOptions, LaneRunner
    from gateway.roster.store import Roster
    from spine import make_gateway
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        outbox, _ = make_gateway(home / "outbox.db")
        roster = Roster(home / "roster.db", key_file=home / "keys" / "roster.sm4")
        roster.add("W000103", id_number=RESIDENT["id_number"], name=RESIDENT["name"])
        store = TemplateStore(home / "faces" / "templates.db", key_file=home / "keys" / "templates.sm4")
        engine = get_engine(model)
        for w, person, names in (("W000103", "103", ("103_7", "103_10")), ("W000105", "105", ("105_1", "105_6"))):
            res = enrol_images([(n, photo(person, n)) for n in names], engine=engine)
            store.add(w, res.accepted, model=res.model)
        frames = [p for i, n in enumerate(("103_6", "103_18"))
                  for p in camera_frames(photo("103", n), home / "frames", 2, seed=i)]
        idsim = IdCardSimulator([]).start()
        tsim = TurnstileSimulator(lanes={0: 0}, walk_time=0.1, sensor_time=0.2).start()
        camsim = CameraSimulator(frames, fps=15).start()
        quick = Backoff(0.05, 0.2)
        reader = ReaderFeed(idsim.path, name="idcard:entry", lanes=["entry"], backoff=quick).start()
        gate = supervise_gate(f"gate:{tsim.path}",
                              lambda: ModbusRelayGate(port=tsim.path, lanes={"entry": Lane(0, 0)}, pulse=0.1),
                              path=tsim.path, lanes=["entry"], backoff=quick).start()
        grabber = FrameGrabber(Camera(camsim.url, timeout=1.0), name="camera:entry", lanes=["entry"],
                               backoff=quick).start()
        faces = FaceService(store, model=model, engine=engine)
        runner = LaneRunner(LaneSettings(name="entry", direction="in", device="gw-bench/entry", rules=Rules()),
                            LaneDevices(reader, grabber, LaneGate(gate, "entry")),
                            roster, faces, outbox, LaneOptions(capture_frames=6, capture_timeout=3.0,
                                                               passage_timeout=2.0),
                            today=lambda: date(2026, 11, 21)).start()
        time.sleep(1.5)
        times, decisions = [], []
        t_end = time.monotonic() + seconds
        try:
            while time.monotonic() < t_end:
                before = len(runner.committed)
                t0 = time.monotonic()
                idsim.tap(RESIDENT)
                while time.monotonic() < t0 + 20:
                    if len(runner.committed) > before and runner.machine.state.value == "ready" \
                            and not runner.busy.is_set():
                        break
                    time.sleep(0.01)
                times.append(time.monotonic() - t0)
                decisions.append(runner.committed[-1][1]["decision"] if len(runner.committed) > before else "none")
                idsim.remove()
                while runner.dev.reader is not None and time.monotonic() < t0 + 25:
                    # the reader must see the card leave before the next tap counts as new
                    time.sleep(0.05)
                    if time.monotonic() - t0 > times[-1] + 0.35:
                        break
        finally:
            runner.stop()
            grabber.stop()
            reader.stop()
            gate.stop()
            camsim.stop()
            tsim.stop()
            idsim.stop()
            outbox.close()
            learned = store.summary()
            store.close()
        cycle = [t for t in times]
        allowed = sum(1 for x in decisions if x == "allow")
        wall = seconds
        return {"model": model, "attempts": len(times), "allowed": allowed,
                "passes_per_min": allowed / wall * 60,
                "tap_to_ready_p50_s": statistics.median(cycle), "tap_to_ready_p95_s": sorted(cycle)[int(0.95 * (len(cycle) - 1))],
                "passages": len(tsim.passages), "templates": learned}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out = {"loadavg_at_start": os.getloadavg(), "runs": [run(m, a.seconds) for m in ("mobilefacenet-v2", "mobilefacenet", "dlib")]}
    out["loadavg_at_end"] = os.getloadavg()
    if a.json:
        print(json.dumps(out, indent=1))
        return
    for r in out["runs"]:
        print(f"{r['model']:>14}: {r['passes_per_min']:.1f} passes/min ({r['allowed']} allowed of {r['attempts']} "
              f"attempts), tap → ready p50 {r['tap_to_ready_p50_s']:.2f} s p95 {r['tap_to_ready_p95_s']:.2f} s; "
              f"templates {r['templates']}")
    print(f"load average {out['loadavg_at_start']} → {out['loadavg_at_end']}")
    mf = out["runs"][0]
    ok = mf["passes_per_min"] >= 30 and mf["allowed"] == mf["attempts"]
    print(f"target >= 30 passes/min with card + face (MobileFaceNet): {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
