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


if __name__ == "__main__":
    print(json.dumps(build(), indent=2, ensure_ascii=False))
