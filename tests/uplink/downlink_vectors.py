"""Build the normative test vectors for central's signed messages printed in docs/wire.md §9
(signed acks, a roster request, a signed roster update with sealed personal fields).
Run: python tests/uplink/downlink_vectors.py"""
from __future__ import annotations

import json

from uplink.roster import _aad, request, seal_private
from uplink.sm2 import Signer, sig_to_der
from uplink.wire import ZERO_HASH, canonical, make_ack

from wire_vectors import GW, PRIVATE as GATEWAY_PRIVATE, build as build_blocks

# central's key and every "random" value fixed ONLY so the bytes are reproducible
CENTRAL_PRIVATE = "1649ab77a00637bd5e2efe283fbf353534aa7f7cb89463f208ddbc2920bb0da0"
K_ACK = "4c62eefd6ecfc2b95b92fd6c3d9575148afa17425546d49018e5388d49dd7b4f"
K_REJECTED = "6cb28d99385c175c94f94e934817663fc176d925dd72b727260dbaae1fb2f96f"
K_BUSY = "5d1f0e2c3b4a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
K_ROSTER = "a7d04ae8f2a1ba3f4c0ea9d1d6ce77fb9a0f6c4ba0f1cb2e8d6e5ab3d9c07e11"
K_SEAL = "3e4f8a1d0b2c5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
MESSAGE_KEY = "00112233445566778899aabbccddeeff"
NONCE = "0a0b0c0d0e0f101112131415"
ENTRY = {"card": None, "certValidTo": None, "contractEnd": "2026-12-31", "entry": "2026-03-02",
         "exit": None, "face": None, "idMasked": "4501**********0030", "status": "active",
         "team": 7, "teamName": "钢筋班", "worker": "W5E4D3C2B1A09", "workType": "020"}
PRIVATE_FIELDS = {"birthDate": "1985-03-07", "gender": "M", "idCardNumber": "450103198503070030",
                  "idCardType": "01", "workerName": "张三"}


def build() -> dict:
    central = Signer(CENTRAL_PRIVATE, backend="gmssl")
    head = build_blocks()["records"][-1]["hash"]
    ack = make_ack(GW, 2, head, "ok", 1)
    rejected = make_ack(GW, 0, ZERO_HASH, "rejected", 3,
                        "block does not link to stored seq 0", kind="broken_chain")
    busy = make_ack(GW, 2, head, "busy", 3, "central is at capacity", kind="busy",
                    retry_after_ms=2000)
    key, sealed = seal_private(GW, Signer(GATEWAY_PRIVATE).public_hex,
                               {ENTRY["worker"]: PRIVATE_FIELDS},
                               _key=bytes.fromhex(MESSAGE_KEY), _nonces=[bytes.fromhex(NONCE)],
                               _k=int(K_SEAL, 16))
    update = {"entries": [dict(ENTRY, private=sealed[ENTRY["worker"]])], "from": 0, "full": True,
              "gw": GW, "key": key, "more": False, "project": "GX-2026-0301", "to": 17,
              "type": "roster", "v": 1}
    body = canonical(update)
    sig = central._sign_with_k(body, K_ROSTER)
    ack_sig = central._sign_with_k(ack, K_ACK)
    return {
        "central_private_key": CENTRAL_PRIVATE, "central_public_key": central.public_hex,
        "gateway": GW, "gateway_private_key": GATEWAY_PRIVATE,
        "ack": {"signed_hex": ack.hex(), "k": K_ACK, "signature_hex": ack_sig.hex(),
                "signature_der_hex": sig_to_der(ack_sig).hex(),
                "payload_hex": (ack + ack_sig).hex()},
        "ack_rejected": {"signed_hex": rejected.hex(), "k": K_REJECTED,
                         "payload_hex": (rejected + central._sign_with_k(rejected, K_REJECTED)).hex()},
        "ack_busy": {"signed_hex": busy.hex(), "k": K_BUSY,
                     "payload_hex": (busy + central._sign_with_k(busy, K_BUSY)).hex()},
        "roster_request_hex": request(0).hex(),
        "roster": {
            "private_plain_hex": canonical(PRIVATE_FIELDS).hex(),
            "message_key": MESSAGE_KEY, "nonce": NONCE, "k_seal": K_SEAL,
            "aad_hex": _aad(GW, ENTRY["worker"]).hex(),
            "key_der_hex": key, "private_hex": sealed[ENTRY["worker"]],
            "signed_hex": body.hex(), "k": K_ROSTER, "signature_hex": sig.hex(),
            "payload_hex": (body + sig).hex()},
    }


if __name__ == "__main__":
    print(json.dumps(build(), indent=2, ensure_ascii=False))
