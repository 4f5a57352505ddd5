"""Registrations from site and the one eligibility rule: what they cost.

* gateway: building one ``registration`` body (SM2 encryption of the person to central's intake
  key), baseline: one SM2 signature of the same bytes (what sealing a block costs anyway);
* central: taking one registration in (decrypt, check, seal with FieldCipher, index), baseline:
  the same signature's verification;
* central ingest of 256-record attendance blocks with the intake hook installed vs without (the
  hook must cost nothing on the attendance path): ratio of the two in the same run;
* the phone page's roster check (``Roster.get`` + ``eligibility`` on a 5,000-worker roster),
  baseline: the lane's lookup of the same worker by ID number.

Usage: PYTHONPATH=. python bench/bench_registration.py [--json]
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from central.crypto import FieldCipher  # noqa: E402
from central.intake import Intake  # noqa: E402
from central.store import Store  # noqa: E402
from gateway.clockin.rules import eligibility  # noqa: E402
from gateway.roster.report import person_plaintext, registration_body  # noqa: E402
from gateway.roster.store import Roster  # noqa: E402
from gateway.roster.worker import Worker  # noqa: E402
from uplink.outbox import Outbox  # noqa: E402
from uplink.sm2 import Signer, Verifier, generate_private_key, public_key_of  # noqa: E402
from uplink.wire import decode_block  # noqa: E402

CARD = {"birth": "1990-01-01", "card_type": "resident", "gender": "male",
        "id_number": "450103198503070030", "name": "张三", "nation": "汉"}


def median_ms(fn, n: int) -> float:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def id_number(i: int) -> str:
    from drivers.sam.idnumber import check_char
    first = f"450103{1960 + i % 40:04d}{1 + (i // 40) % 12:02d}{1 + (i // 480) % 28:02d}{i % 1000:03d}"
    return first + check_char(first)


def main() -> dict:
    tmp = Path(tempfile.mkdtemp())
    d = generate_private_key()
    pub = public_key_of(d)
    signer = Signer(generate_private_key())
    worker = Worker("W000001", team="A", trade="020")
    plain = person_plaintext("gw-b", "W000001", CARD)
    res = {}
    res["encrypt_ms"] = median_ms(lambda: registration_body("gw-b", worker, CARD, pub), 50)
    res["sign_ms"] = median_ms(lambda: signer.sign(plain), 50)
    body = registration_body("gw-b", worker, CARD, pub)
    intake = Intake(FieldCipher(b"\x03" * 32), d)
    rec = {"seq": 1, "ts": 1, "type": "registration", "body": body}
    res["intake_read_ms"] = median_ms(lambda: intake.read("gw-b", "P", rec), 50)
    verifier, sig = Verifier(signer.public_hex), signer.sign(plain)
    res["verify_ms"] = median_ms(lambda: verifier.verify(plain, sig), 50)

    # ingest of attendance blocks, with and without the hook (alternating, same sizes)
    times = {"without": [], "with": []}
    for rnd in range(6):
        for mode in (("without", "with") if rnd % 2 else ("with", "without")):
            gw = f"gw-{mode}-{rnd}"
            ob = Outbox(tmp / f"{gw}.db", gw, signer)
            for _ in range(20):
                ob.append_many([{"worker": f"W{i:06d}", "dir": "in", "decision": "allow"}
                                for i in range(256)])
            ob.seal()
            blocks = [decode_block(p) for _, _, p in ob.blocks_after(0, 100)]
            store = Store(f"sqlite:///{tmp / f'c-{gw}.db'}")
            store.add_gateway(gw, signer.public_hex, project="P")
            if mode == "with":
                store.derivers.append(intake.derive)
            t = time.perf_counter()
            for b in blocks:
                store.commit_block(b)
            times[mode].append(sum(len(b.records) for b in blocks) / (time.perf_counter() - t))
            store.close()
            ob.close()
    res["ingest_records_per_s_without_hook"] = statistics.median(times["without"])
    res["ingest_records_per_s_with_hook"] = statistics.median(times["with"])

    roster = Roster(tmp / "r.db", key_file=tmp / "r.sm4")
    roster.import_records([{"worker_id": f"W{i:06d}", "id_number": id_number(i)} for i in range(5000)])
    today = date.today()
    res["phone_roster_check_ms"] = median_ms(lambda: eligibility(roster.get("W002500"), today), 200)
    res["lane_lookup_ms"] = median_ms(lambda: roster.by_id_number(id_number(2500)), 200)
    roster.close()
    return res


if __name__ == "__main__":
    r = main()
    if "--json" in sys.argv:
        print(json.dumps(r, indent=1))
    else:
        print(f"registration body (SM2 encrypt)   {r['encrypt_ms']:.2f} ms   "
              f"{r['encrypt_ms'] / r['sign_ms']:.2f}x one SM2 signature ({r['sign_ms']:.2f} ms)")
        print(f"central intake of one            {r['intake_read_ms']:.2f} ms   "
              f"{r['intake_read_ms'] / r['verify_ms']:.2f}x one verification ({r['verify_ms']:.2f} ms)")
        w, wo = r["ingest_records_per_s_with_hook"], r["ingest_records_per_s_without_hook"]
        print(f"attendance ingest with hook       {w:,.0f} rec/s   {w / wo:.2f}x without ({wo:,.0f} rec/s)")
        print(f"phone roster check (5,000)        {r['phone_roster_check_ms']:.3f} ms   "
              f"{r['phone_roster_check_ms'] / r['lane_lookup_ms']:.2f}x the lane's lookup "
              f"({r['lane_lookup_ms']:.3f} ms)")
