"""What the integrity checks cost, as ratios against the same code with them switched off in the
same run (alternating rounds, median of each; append in wall time -- it waits for fsync --,
seal and ingest in this process's CPU time, steadier on a shared machine):

* seal: N committed clock-ins sealed into signed blocks of 256 -- with the re-hash of every record
  against its chain and the wire-limit check (``Outbox._intact_prefix``) vs a stand-in that
  trusts the rows;
* append: N clock-ins committed in batches of 50 -- with the room check (free disk, free pages,
  the sealing reserve under ``max_db_mb``) vs without;
* ingest: central verifying and storing the blocks (SQLite) -- with the §3/§4 limits checked vs
  not.

Run: PYTHONPATH=. .venv/bin/python bench/bench_integrity.py [--records N] [--rounds R] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from central.ingest import Ingest  # noqa: E402
from central.store import Store  # noqa: E402
from gateway.clockin.simulate import clock_in  # noqa: E402
from uplink import outbox as outbox_mod  # noqa: E402
from uplink import wire  # noqa: E402
from uplink.outbox import Limits, Outbox  # noqa: E402
from uplink.sm2 import Signer, generate_private_key  # noqa: E402


def trusting_prefix(self, rows, prev):
    return len(rows), 0


def one_round(tmp: Path, n: int, signer: Signer, checks: bool, tag: str) -> dict:
    saved = (Outbox._intact_prefix, Outbox._room, wire.check_limits)
    ingest_mod = sys.modules["central.ingest"]
    if not checks:
        Outbox._intact_prefix = trusting_prefix
        Outbox._room = lambda self, new_bytes, n: None
        ingest_mod.check_limits = lambda message: None
    try:
        ob = Outbox(tmp / f"o-{tag}.db", "gw-bench-1", signer,
                    Limits(max_db_bytes=512 * 1024 * 1024))
        t = time.perf_counter()
        for i in range(0, n, 50):
            ob.append_many([clock_in(i + j + 1, 500) for j in range(50)],
                           ts_ms=1_767_225_600_000)
        append_s = time.perf_counter() - t
        t = time.process_time()            # CPU-bound: CPU time is steadier on a shared box
        ob.seal()
        seal_s = time.process_time() - t
        store = Store(f"sqlite:///{tmp / f'c-{tag}.db'}")
        store.add_gateway("gw-bench-1", signer.public_hex, project="P-BENCH")
        ingest = Ingest(store)
        payloads = [p for _, _, p in ob.blocks_after(0, 10_000)]
        t = time.process_time()
        for p in payloads:
            assert ingest.handle("sitegate/v1/gw-bench-1/blocks", p).status == "ok"
        ingest_s = time.process_time() - t
        ob.close()
        store.close()
    finally:
        Outbox._intact_prefix, Outbox._room, ingest_mod.check_limits = saved
    return {"append": n / append_s, "seal": n / seal_s, "ingest": n / ingest_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    signer = Signer(generate_private_key())
    runs: dict[bool, list[dict]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for checks in ((True, False) if r % 2 == 0 else (False, True)):
                runs[checks].append(one_round(Path(d), args.records, signer, checks,
                                              f"{r}-{checks}"))
    out = {"machine": f"{platform.machine()} {platform.python_version()}",
           "records": args.records, "rounds": args.rounds,
           "sm3": outbox_mod.record_hash.__module__}
    for k in ("append", "seal", "ingest"):
        on = statistics.median(x[k] for x in runs[True])
        off = statistics.median(x[k] for x in runs[False])
        out[k] = {"checks_on": round(on), "checks_off": round(off), "ratio": round(on / off, 3)}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.records} records, {args.rounds} rounds each, median records/s")
    for k in ("append", "seal", "ingest"):
        v = out[k]
        print(f"  {k:7} checks on {v['checks_on']:>8}  off {v['checks_off']:>8}  "
              f"ratio {v['ratio']:.3f}")


if __name__ == "__main__":
    main()
