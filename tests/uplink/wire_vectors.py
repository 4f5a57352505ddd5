"""Build the normative test vectors printed in docs/wire.md (run: python tests/uplink/wire_vectors.py)."""
from __future__ import annotations

import json

from uplink.sm2 import Signer, sig_to_der
from uplink.wire import ZERO_HASH, canonical, make_ack, make_record, record_hash

PRIVATE = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
K = "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21"
GW = "gw-vector-01"
BODIES = [
    {"decision": "allow", "device": "lane-1", "dir": "in", "method": "card+face",
     "score_milli": 312, "worker": "W000001"},
    {"decision": "deny", "device": "lane-2", "dir": "in", "method": "face",
     "reason": "未登记", "worker": None},
]


def build() -> dict:
    signer = Signer(PRIVATE)
    prev, records = ZERO_HASH, []
    for seq, body in enumerate(BODIES, start=1):
        r = make_record(GW, seq, prev, 1_767_225_600_000 + seq * 1000, "attendance", body)
        data = canonical(r)
        prev = record_hash(data)
        records.append({"record": r, "canonical_hex": data.hex(), "hash": prev})
    from uplink.wire import block_body
    body = block_body(GW, [x["record"] for x in records], 1_767_225_605_000)
    sig = signer._sign_with_k(body, K)
    return {
        "private_key": PRIVATE, "public_key": signer.public_hex, "k": K, "gateway": GW,
        "records": records,
        "block_signed_hex": body.hex(),
        "signature_hex": sig.hex(),
        "signature_der_hex": sig_to_der(sig).hex(),
        "ack_hex": make_ack(GW, 2, prev, "ok", 1).hex(),
    }


# ---------------------------------------------------------------- further vectors (wire.md §9.2)

# every escape canonical JSON makes (U+0000-U+001F), and characters it writes as themselves
ESCAPES = {"text": "\"\\/\b\t\n\f\r\x00\x01\x1f\x7f\u00e9\u2028中\U0001F600"}
CREATED_MS = 1_767_225_000_000


def build_more() -> dict:
    from uplink import bundle
    from uplink.sm2 import sm3, z_value
    from uplink.wire import damage_body
    signer = Signer(PRIVATE)
    base = build()
    signed = bytes.fromhex(base["block_signed_hex"])
    z = z_value(signer.public_hex)
    damage = damage_body(GW, 3, base["records"][-1]["hash"], ["ab" * 32, "cd" * 32],
                         1_767_225_609_000)
    body = {"kind": bundle.KIND, "v": 1, "gateway_id": GW, "project": "P-430100-0001",
            "public_key": signer.public_hex, "broker": "mqtts://broker.example:8883",
            "created_ms": CREATED_MS}
    return {
        "canonical": {"value": ESCAPES, "canonical_hex": canonical(ESCAPES).hex()},
        "z_a_hex": z.hex(),
        "block_e_hex": sm3(z + signed).hex(),
        "damage": {"signed_hex": damage.hex(),
                   "signature_hex": signer._sign_with_k(damage, K).hex()},
        "bundle": dict(body, proof=signer._sign_with_k(canonical(body), K).hex()),
        "bundle_proof_signed_hex": canonical(body).hex(),
    }


if __name__ == "__main__":  # pragma: no cover - prints the vector blocks for docs/wire.md
    print(json.dumps(build(), indent=2, ensure_ascii=False))
    print(json.dumps(build_more(), indent=2, ensure_ascii=False))
