"""Central ingest: one MQTT message in, a verdict (and the ack to send) out.

Order of checks: topic, registered gateway, size, wire structure (canonical bytes, fields,
internal chain), signature against the registered key, the limits of docs/wire.md §3/§4, then
the commit against the stored chain head.  Every failure is a counted, logged rejection whose
reason starts with its kind (the vocabulary of docs/wire.md §4.2); nothing raises out of
``handle`` and nothing unverified is stored.  A message that can never be stored gets a
definite ``rejected`` ack; only a message with no gateway to answer (bad topic, unknown
gateway) or a passing fault of central's own (``internal``: database unreachable) gets none.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass

from uplink.sm2 import Verifier
from uplink.wire import Block, Damage, WireError, check_limits, decode_upload, make_ack, \
    parse_topic, topic

from . import unstored
from .store import Outcome, Store

log = logging.getLogger("sitegate.central")
MAX_PAYLOAD = 512 * 1024


@dataclass(frozen=True)
class Verdict:
    status: str                 # ok | duplicate | gap | rejected | parked (no ack yet)
    kind: str                   # "" for ok and parked, else the rejection kind
    reason: str                 # "<kind>: <detail>"
    gw: str | None
    ack_topic: str | None       # where to send the ack (None: do not answer)
    ack: bytes | None


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
        head = (reg["head_seq"], reg["head_hash"])
        if len(payload) > self.max_payload:
            return self._reject(gw, topic_name, payload, "oversized",
                                f"{len(payload)} bytes > {self.max_payload}", head=head)
        try:
            message = decode_upload(payload, limits=False)
        except WireError as exc:
            return self._reject(gw, topic_name, payload, exc.kind, str(exc), head=head)
        if message.gw != gw:
            return self._reject(gw, topic_name, payload, "gateway_mismatch",
                                f"block names gateway {message.gw!r} but came on {gw!r}'s topic",
                                head=head)
        what = f"{'block' if isinstance(message, Block) else 'damage report'} " \
               f"{message.first}..{message.last}"
        if not self._verifier(gw, reg["public_key"]).verify(message.signed, message.signature):
            return self._reject(gw, topic_name, payload, "bad_signature",
                                f"bad signature on {what}", head=head, ref=message.first)
        # past the signature: what is refused from here on is known to come from the gateway.
        # A block wholly behind the head needs no limits: nothing of it will be stored, and a
        # quarantined one must be answered ``duplicate`` so the gateway releases it.
        try:
            if message.last > head[0]:
                check_limits(message)
        except WireError as exc:
            return self._reject(gw, topic_name, payload, exc.kind, f"{what}: {exc}", head=head,
                                ref=message.first, hold=message)
        try:
            outcome = self._commit(message)
        except Exception as exc:  # noqa: BLE001 - sorted below: for good, or passing
            if not unstored.is_unstorable(exc):
                raise
            log.error("%s: %s cannot be stored: %s", gw, what, exc)
            return self._reject(gw, topic_name, payload, "unstorable",
                                f"{what}: the database refused it ({exc.__class__.__name__})",
                                head=head, ref=message.first, hold=message)
        if outcome is None:
            self.counters["parked"] += 1
            return Verdict("parked", "", "", gw, None, None)
        ack = make_ack(gw, outcome.seq, outcome.head, outcome.status, message.first,
                       outcome.reason[:200], kind=outcome.kind)
        if outcome.status == "ok":
            self.counters["blocks_ok"] += 1
            if isinstance(message, Block):
                self.counters["records_ok"] += message.last - message.first + 1
            else:
                self.counters["damage_reports"] += 1
                log.warning("%s: records %d..%d reported damaged by the gateway", gw,
                            message.first, message.last)
            return Verdict("ok", "", "", gw, topic(gw, "ack"), ack)
        self.counters[outcome.kind] += 1
        if outcome.status == "gap":
            log.info("%s: %s", gw, outcome.reason)
        else:
            log.warning("%s: rejected (%s)", gw, outcome.reason)
            self.store.record_rejection(gw, topic_name, outcome.kind, outcome.reason, len(payload))
        return Verdict(outcome.status, outcome.kind, outcome.reason, gw, topic(gw, "ack"), ack)

    def _commit(self, message: Block | Damage) -> Outcome | None:
        """The stored chain's answer; None when the block was parked (no ack yet)."""
        if isinstance(message, Damage):
            return unstored.commit_damage(self.store, message)
        outcome: Outcome = self.store.commit_block(message)
        if self.park and outcome.status == "gap" and self.store.park_block(message):
            drained = self.store.drain(message.gw)
            if drained is None or drained.seq < message.last:
                return None
            return drained
        if self.park and outcome.status == "ok":
            return self.store.drain(message.gw) or outcome
        return outcome

    def _verifier(self, gw: str, public_key: str) -> Verifier:
        key = (gw, public_key)
        with self._lock:
            verifier = self._verifiers.get(key)
            if verifier is None:
                verifier = self._verifiers[key] = Verifier(public_key)
            return verifier

    def _reject(self, gw: str | None, topic_name: str, payload: bytes, kind: str, detail: str,
                *, answer: bool = True, head: tuple[int, str] | None = None,
                ref: int | None = None, hold: Block | Damage | None = None) -> Verdict:
        reason = f"{kind}: {detail}"
        self.counters[kind] += 1
        self.counters["rejected"] += 1
        log.warning("rejected message on %s (%d bytes): %s", topic_name[:100], len(payload), reason)
        try:
            self.store.record_rejection(gw, topic_name, kind, reason, len(payload))
            if isinstance(hold, Block) and not unstored.hold(self.store, hold, kind, reason):
                log.error("%s: too many held blocks; block %d not held", gw, hold.first)
        except Exception:  # noqa: BLE001 - counting must not take the receiver down
            log.exception("could not record a rejection")
        if answer and gw is not None and head is not None:
            ack = make_ack(gw, head[0], head[1], "rejected", ref, reason, kind=kind)
            return Verdict("rejected", kind, reason, gw, topic(gw, "ack"), ack)
        return Verdict("rejected", kind, reason, gw, None, None)
