"""Central ingest: one MQTT message in, a verdict (and the ack to send) out.

Order of checks: size, topic, registered gateway, wire format (canonical bytes, fields,
internal chain), signature against the registered key, then the commit against the stored
chain head.  Every failure is a counted, logged rejection with a reason; nothing raises out of
``handle`` and nothing unverified is stored.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass

from uplink.sm2 import Verifier
from uplink.wire import WireError, decode_block, make_ack, parse_topic, topic

from .store import Outcome, Store

log = logging.getLogger("sitegate.central")
MAX_PAYLOAD = 512 * 1024


@dataclass(frozen=True)
class Verdict:
    status: str                 # ok | duplicate | gap | rejected
    kind: str                   # "" for ok, else the rejection kind
    reason: str
    gw: str | None
    ack_topic: str | None       # where to send the ack (None: do not answer)
    ack: bytes | None


def _kind_of(reason: str) -> str:
    head = reason.split(":", 1)[0].strip().lower()
    return {"malformed": "malformed", "oversized": "oversized",
            "broken chain": "broken_chain"}.get(head, "malformed")


class Ingest:
    def __init__(self, store: Store, max_payload: int = MAX_PAYLOAD, park: bool = False) -> None:
        self.store = store
        # With a shared subscription, block n+1 of a gateway can reach this worker while
        # another is still verifying block n.  ``park`` keeps such a verified block (bounded)
        # instead of answering "gap" (which makes the gateway re-send its whole window); the
        # worker that commits the predecessor commits it too and acks the new head.
        self.park = park
        self.max_payload = max_payload
        self.counters: Counter[str] = Counter()
        self._verifiers: dict[tuple[str, str], Verifier] = {}
        self._lock = threading.Lock()

    def handle(self, topic_name: str, payload: bytes) -> Verdict:
        try:
            return self._handle(topic_name, payload)
        except Exception as exc:  # noqa: BLE001 - the receiver must keep serving
            log.exception("internal error on %s", topic_name)
            return self._reject(None, topic_name, payload, "internal",
                                f"internal error: {exc.__class__.__name__}", answer=False)

    def _handle(self, topic_name: str, payload: bytes) -> Verdict:
        if len(payload) > self.max_payload:
            return self._reject(None, topic_name, payload, "oversized",
                                f"oversized: {len(payload)} bytes > {self.max_payload}",
                                answer=False)
        try:
            gw, kind = parse_topic(topic_name)
            if kind != "blocks":
                raise WireError(f"not a block topic: {topic_name}")
        except WireError as exc:
            return self._reject(None, topic_name, payload, "bad_topic", str(exc), answer=False)
        reg = self.store.gateway(gw)
        if reg is None or not reg["enabled"]:
            return self._reject(gw, topic_name, payload, "unknown_gateway",
                                f"unknown gateway {gw!r}", answer=False)
        try:
            block = decode_block(payload, self.max_payload)
        except WireError as exc:
            return self._reject(gw, topic_name, payload, _kind_of(str(exc)), str(exc),
                                head=(reg["head_seq"], reg["head_hash"]))
        if block.gw != gw:
            return self._reject(gw, topic_name, payload, "gateway_mismatch",
                                f"block names gateway {block.gw!r} but came on {gw!r}'s topic",
                                head=(reg["head_seq"], reg["head_hash"]))
        if not self._verifier(gw, reg["public_key"]).verify(block.signed, block.signature):
            return self._reject(gw, topic_name, payload, "bad_signature",
                                f"bad signature on block {block.first}..{block.last}",
                                head=(reg["head_seq"], reg["head_hash"]), ref=block.first)
        outcome: Outcome = self.store.commit_block(block)
        if self.park and outcome.status == "gap" and self.store.park_block(block):
            drained = self.store.drain(gw)
            if drained is None or drained.seq < block.last:
                self.counters["parked"] += 1
                return Verdict("parked", "", "", gw, None, None)
            outcome = drained
        elif self.park and outcome.status == "ok":
            outcome = self.store.drain(gw) or outcome
        ack = make_ack(gw, outcome.seq, outcome.head, outcome.status, block.first, outcome.reason,
                       kind=outcome.kind)
        if outcome.status == "ok":
            self.counters["blocks_ok"] += 1
            self.counters["records_ok"] += block.last - block.first + 1
            return Verdict("ok", "", "", gw, topic(gw, "ack"), ack)
        self.counters[outcome.kind] += 1
        if outcome.status == "gap":
            log.info("%s: %s", gw, outcome.reason)
        else:
            log.warning("%s: rejected (%s)", gw, outcome.reason)
            self.store.record_rejection(gw, topic_name, outcome.kind, outcome.reason, len(payload))
        return Verdict(outcome.status, outcome.kind, outcome.reason, gw, topic(gw, "ack"), ack)

    def _verifier(self, gw: str, public_key: str) -> Verifier:
        key = (gw, public_key)
        with self._lock:
            verifier = self._verifiers.get(key)
            if verifier is None:
                verifier = self._verifiers[key] = Verifier(public_key)
            return verifier

    def _reject(self, gw: str | None, topic_name: str, payload: bytes, kind: str, reason: str,
                *, answer: bool = True, head: tuple[int, str] | None = None,
                ref: int | None = None) -> Verdict:
        self.counters[kind] += 1
        self.counters["rejected"] += 1
        log.warning("rejected message on %s (%d bytes): %s", topic_name[:100], len(payload), reason)
        try:
            self.store.record_rejection(gw, topic_name, kind, reason, len(payload))
        except Exception:  # noqa: BLE001 - counting must not take the receiver down
            log.exception("could not record a rejection")
        if answer and gw is not None and head is not None:
            ack = make_ack(gw, head[0], head[1], "rejected", ref, reason, kind=kind)
            return Verdict("rejected", kind, reason, gw, topic(gw, "ack"), ack)
        return Verdict("rejected", kind, reason, gw, None, None)
