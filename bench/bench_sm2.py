"""SM2 speed: uplink.sm2 vs plain gmssl vs `openssl speed sm2`, and SM2 cost per record per block size.

Usage: PYTHONPATH=. python bench/bench_sm2.py [--json] [--runs 5] [--run-seconds 0.4]

ops/s are the median of --runs timed runs, each a batch of back-to-back calls sized to take about
--run-seconds (after one warm-up call).  Nonces come from `secrets` in both our code and the gmssl
baseline.  "Per record" assumes one signature (and one verification) per block of B records.
Runs in roughly 25-35 s.  No private key is printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time

from gmssl.sm2 import CryptSM2

from uplink import sm2

N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
BLOCK_SIZES = (1, 10, 100, 256)
MESSAGE = bytes(range(200))  # 200-byte record / block header


def ops_per_second(fn, runs: int, run_seconds: float) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    per_call = max(time.perf_counter() - t0, 1e-6)
    n = max(3, int(run_seconds / per_call))
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def openssl_speed() -> dict | None:
    exe = shutil.which("openssl")
    if exe is None:
        return None
    out = subprocess.run([exe, "speed", "-seconds", "2", "sm2"], capture_output=True, text=True,
                         timeout=120).stdout
    m = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"cannot parse `openssl speed sm2` output:\n{out}")
    version = subprocess.run([exe, "version"], capture_output=True, text=True).stdout.strip()
    return {"version": version, "sign_per_s": float(m.group(1)), "verify_per_s": float(m.group(2))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of the text table")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--run-seconds", type=float, default=0.8)
    args = ap.parse_args()

    signer = sm2.Signer(sm2.generate_private_key())
    verifier = sm2.Verifier(signer.public_hex, backend="gmssl")
    sig = signer.sign(MESSAGE)
    assert verifier.verify(MESSAGE, sig)
    fast = sm2.Verifier(signer.public_hex)          # libcrypto when available (central's path)
    assert fast.verify(MESSAGE, sig)

    # gmssl baseline: whole sign_with_sm3 / verify_with_sm3 (Z_A and SM3 in pure Python every call).
    # The public key attribute is set after construction to dodge gmssl's lstrip("04") bug.
    gm = CryptSM2(private_key=signer._gm.private_key, public_key=signer.public_hex)
    gm.public_key = signer.public_hex
    gm_sig = gm.sign_with_sm3(MESSAGE, "%064x" % (secrets.randbelow(N - 1) + 1))
    assert gm.verify_with_sm3(gm_sig, MESSAGE) is True
    assert verifier.verify(MESSAGE, bytes.fromhex(gm_sig))

    r, s = args.runs, args.run_seconds
    res = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "sm3_backend": sm2.SM3_BACKEND,
        "message_bytes": len(MESSAGE),
        "runs": r,
        "ours": {
            "sign_per_s": ops_per_second(lambda: signer.sign(MESSAGE), r, s),
            "verify_per_s": ops_per_second(lambda: verifier.verify(MESSAGE, sig), r, s),
        },
        "ours_verify_backend": fast.backend,
        "ours_fast_verify_per_s": ops_per_second(lambda: fast.verify(MESSAGE, sig), r, s),
        "gmssl_sign_with_sm3": {
            "sign_per_s": ops_per_second(
                lambda: gm.sign_with_sm3(MESSAGE, "%064x" % (secrets.randbelow(N - 1) + 1)), r, s),
            "verify_per_s": ops_per_second(lambda: gm.verify_with_sm3(gm_sig, MESSAGE), r, s),
        },
        "openssl_speed": openssl_speed(),
    }
    ossl = res["openssl_speed"]
    res["per_record"] = []
    for b in BLOCK_SIZES:
        row = {"block_size": b}
        for op in ("sign", "verify"):
            ours_us = 1e6 / res["ours"][f"{op}_per_s"] / b
            row[f"{op}_us_per_record"] = ours_us
            row[f"{op}_gmssl_us_per_record"] = 1e6 / res["gmssl_sign_with_sm3"][f"{op}_per_s"] / b
            if ossl:
                row[f"{op}_openssl_us_per_record"] = 1e6 / ossl[f"{op}_per_s"] / b
                # ours batched vs OpenSSL doing one operation per record (no batching)
                row[f"{op}_vs_openssl_per_record_op"] = ours_us / (1e6 / ossl[f"{op}_per_s"])
        res["per_record"].append(row)

    if args.json:
        print(json.dumps(res, indent=2))
        return 0

    print(f"SM2 benchmark  python {res['python']} {res['machine']}  SM3 via {res['sm3_backend']}  "
          f"{len(MESSAGE)}-byte message  median of {r} runs")
    print(f"{'implementation':<44}{'sign/s':>10}{'verify/s':>10}")
    rows = [("uplink.sm2 (cached Z, hashlib SM3, gmssl EC)", res["ours"]),
            ("gmssl sign_with_sm3 / verify_with_sm3", res["gmssl_sign_with_sm3"])]
    if ossl:
        rows.append((f"openssl speed -seconds 2 sm2 ({ossl['version'].split()[1]})", ossl))
    for name, v in rows:
        print(f"{name:<44}{v['sign_per_s']:>10.1f}{v['verify_per_s']:>10.1f}")
    print(f"{'uplink.sm2 Verifier, ' + res['ours_verify_backend'] + ' backend (central)':<44}"
          f"{'-':>10}{res['ours_fast_verify_per_s']:>10.1f}")
    if ossl:
        print(f"central verify / openssl speed:{'':<13}{'':>10}"
              f"{res['ours_fast_verify_per_s'] / ossl['verify_per_s']:>10.3f}")
        print(f"uplink.sm2 (gmssl) / openssl:{'':<15}{res['ours']['sign_per_s'] / ossl['sign_per_s']:>10.3f}"
              f"{res['ours']['verify_per_s'] / ossl['verify_per_s']:>10.3f}")
    else:
        print("openssl CLI not found: no openssl speed figures")

    print("\nSM2 cost per record, one signature / one verification per block (microseconds):")
    hdr = f"{'block':>6}{'sign ours':>11}{'gmssl':>9}{'openssl':>9}{'ours/ossl1':>11}" \
          f"{'verify ours':>13}{'gmssl':>9}{'openssl':>9}{'ours/ossl1':>11}"
    print(hdr)
    for row in res["per_record"]:
        line = f"{row['block_size']:>6}"
        for op, w in (("sign", 11), ("verify", 13)):
            line += f"{row[f'{op}_us_per_record']:>{w}.1f}{row[f'{op}_gmssl_us_per_record']:>9.1f}"
            if ossl:
                line += f"{row[f'{op}_openssl_us_per_record']:>9.1f}{row[f'{op}_vs_openssl_per_record_op']:>11.3f}"
            else:
                line += f"{'-':>9}{'-':>11}"
        print(line)
    print("ours/ossl1 = our per-record cost at this block size / OpenSSL's cost of one operation per record"
          " (block size 1); < 1 means batching in Python beats unbatched OpenSSL.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
