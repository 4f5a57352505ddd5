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
import time
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


@dataclass(frozen=True)
class Prepared:
    """A message that passed steps 1-7 of docs/wire.md §4.2: verified, within the limits (or
    wholly behind the head), ready to commit."""
    topic: str
    payload: bytes
    gw: str
    message: Block | Damage
    key: str                    # the public key it verified with
    what: str                   # "block 5..9", for logs


@dataclass
class _Gw:                      # what every message of a gateway re-reads, cached
    public_key: str
    verifier: Verifier
    head: tuple[int, str]       # a lower bound of the committed head (heads only grow)


class Ingest:
    # replays (a re-sent block already stored) are counted on the gateway's row and logged at
    # most once per this many seconds per process, not one rejection row and WARNING each
    REPLAY_LOG_S = 60.0

    def __init__(self, store: Store, max_payload: int = MAX_PAYLOAD, park: bool = False,
                 unknown_cache_s: float = 5.0) -> None:
        self.store = store
        # With a shared subscription, block n+1 of a gateway can reach this worker while
        # another is still verifying block n.  ``park`` keeps such a verified block (bounded)
        # instead of answering "gap" (which makes the gateway re-send its whole window); the
        # worker that commits the predecessor commits it too and acks the new head.
        self.park = park
        self.max_payload = max_payload
        self.counters: Counter[str] = Counter()
        # The registry cache: key + Verifier + a head per gateway.  Correct across processes
        # without a TTL: the commit re-reads the locked row and refuses (None) a block whose
        # gateway was disabled or re-keyed since; a signature that fails on a cached key is
        # checked again against a fresh read.  Unknown/disabled gateways are remembered for
        # ``unknown_cache_s`` (a stranger flooding the topic costs no query per message).
        self._gws: dict[str, _Gw] = {}
        # heads and keys read in one query at start (``preload_heads``): a busy answer to a
        # gateway this worker has not met yet costs no query on the network thread, and its
        # first block none in the worker (a central restarted under a province's load would
        # otherwise read the registry once per gateway, one query each, at its busiest)
        self._heads: dict[str, tuple[int, str]] = {}
        self._keys: dict[str, str] = {}
        self._unknown: dict[str, float] = {}
        self._verifiers: dict[str, Verifier] = {}
        self.unknown_cache_s = unknown_cache_s
        self._lock = threading.Lock()
        self._replays_logged = 0.0
        self._replays_unlogged = 0

    # ------------------------------------------------------------ registry cache
    def _registered(self, gw: str, fresh: bool = False) -> _Gw | None:
        with self._lock:
            entry = None if fresh else self._gws.get(gw)
            if entry is not None:
                return entry
            if not fresh and self._unknown.get(gw, 0.0) > time.monotonic():
                return None
            key = None if fresh else self._keys.pop(gw, None)
            if key is not None and gw in self._heads:
                # read at start: as good as a cached entry (the commit re-checks the row)
                entry = self._gws[gw] = _Gw(key, self._verifier(key), self._heads[gw])
                return entry
        reg = self.store.gateway(gw)
        with self._lock:
            if reg is None or not reg["enabled"]:
                self._gws.pop(gw, None)
                self._heads.pop(gw, None)
                self._unknown[gw] = time.monotonic() + self.unknown_cache_s
                if len(self._unknown) > 100_000:
                    self._unknown.clear()
                return None
            self._unknown.pop(gw, None)
            old = self._gws.get(gw)
            verifier = old.verifier if old is not None and old.public_key == reg["public_key"] \
                else self._verifier(reg["public_key"])
            entry = self._gws[gw] = _Gw(reg["public_key"], verifier,
                                        (reg["head_seq"], reg["head_hash"]))
            return entry

    def _verifier(self, public_key: str) -> Verifier:
        """One Verifier per key (~0.2 ms to build; gateways may share a key in tests)."""
        v = self._verifiers.get(public_key)
        if v is None:
            if len(self._verifiers) > 200_000:
                self._verifiers.clear()
            v = self._verifiers[public_key] = Verifier(public_key)
        return v

    def forget(self, gw: str) -> None:
        with self._lock:
            self._gws.pop(gw, None)
            self._heads.pop(gw, None)
            self._keys.pop(gw, None)
            self._unknown.pop(gw, None)

    def preload_heads(self) -> int:
        """Read every enabled gateway's head and key in one query (at start): what
        ``known_head`` answers for a gateway not met yet, and its first block's registry
        entry.  Returns how many."""
        rows = [g for g in self.store.list_gateways() if g["enabled"]]
        with self._lock:
            self._heads = {g["gw_id"]: (g["head_seq"], g["head_hash"]) for g in rows}
            self._keys = {g["gw_id"]: g["public_key"] for g in rows}
        return len(rows)

    def cached_head(self, gw: str) -> tuple[int, str] | None:
        """The head this process knows for ``gw`` without asking the database, or None."""
        entry = self._gws.get(gw)
        return entry.head if entry is not None else self._heads.get(gw)

    def known_head(self, gw: str) -> tuple[int, str] | None:
        """The gateway's head as far as this process knows (never above the committed one),
        None for an unknown or disabled gateway: what a busy ack carries.  A preloaded head
        answers without a query; else the registry is read."""
        if gw not in self._gws:
            head = self._heads.get(gw)
            if head is not None:
                return head
        entry = self._registered(gw)
        return None if entry is None else entry.head

    def _saw_head(self, gw: str, seq: int, head: str) -> None:
        with self._lock:
            entry = self._gws.get(gw)
            if entry is not None and seq > entry.head[0]:
                entry.head = (seq, head)

    # ------------------------------------------------------------ one message
    def handle(self, topic_name: str, payload: bytes) -> Verdict:
        """One message, start to end (steps 1-9): ``prepare`` then ``commit``."""
        prepared = self.prepare(topic_name, payload)
        if isinstance(prepared, Verdict):
            return prepared
        return self.commit([prepared])[0]

    def prepare(self, topic_name: str, payload: bytes) -> Prepared | Verdict:
        """Steps 1-7 (no database write): a Prepared to commit, or the Verdict that ends it."""
        try:
            return self._prepare(topic_name, payload)
        except Exception as exc:  # noqa: BLE001 - the receiver must keep serving
            log.exception("internal error on %s", topic_name)
            return self._reject(None, topic_name, payload, "internal",
                                f"internal error: {exc.__class__.__name__}", answer=False)

    def _prepare(self, topic_name: str, payload: bytes) -> Prepared | Verdict:
        try:
            gw, kind = parse_topic(topic_name)
            if kind != "blocks":
                raise WireError(f"not a block topic: {topic_name}")
        except WireError as exc:
            return self._reject(None, topic_name, payload, "bad_topic", str(exc), answer=False)
        reg = self._registered(gw)
        if reg is None:
            return self._reject(gw, topic_name, payload, "unknown_gateway",
                                f"unknown gateway {gw!r}", answer=False)
        head = reg.head
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
        if not reg.verifier.verify(message.signed, message.signature):
            fresh = self._registered(gw, fresh=True)      # re-keyed since we cached it?
            if fresh is None:
                return self._reject(gw, topic_name, payload, "unknown_gateway",
                                    f"unknown gateway {gw!r}", answer=False)
            if fresh.public_key == reg.public_key or \
                    not fresh.verifier.verify(message.signed, message.signature):
                return self._reject(gw, topic_name, payload, "bad_signature",
                                    f"bad signature on {what}", head=fresh.head, ref=message.first)
            reg = fresh
        # past the signature: what is refused from here on is known to come from the gateway.
        # A block wholly behind the head needs no limits: nothing of it will be stored, and a
        # quarantined one must be answered ``duplicate`` so the gateway releases it.
        try:
            if message.last > reg.head[0]:
                check_limits(message)
        except WireError as exc:
            # the cached head may be behind: decide on the committed one
            fresh = self._registered(gw, fresh=True)
            if fresh is None:
                return self._reject(gw, topic_name, payload, "unknown_gateway",
                                    f"unknown gateway {gw!r}", answer=False)
            if message.last > fresh.head[0]:
                return self._reject(gw, topic_name, payload, exc.kind, f"{what}: {exc}",
                                    head=fresh.head, ref=message.first, hold=message)
        return Prepared(topic_name, payload, gw, message, reg.public_key, what)

    # ------------------------------------------------------------ commit, batched
    def commit(self, batch: list[Prepared]) -> list[Verdict]:
        """Steps 8-9 for prepared messages, the blocks in one transaction (each gateway's in
        the order given); one Verdict per message, in order."""
        try:
            return self._commit_batch(batch)
        except Exception as exc:  # noqa: BLE001 - one by one below, to isolate the cause
            # nothing of the batch's transaction stayed; at worst a block answered already
            # is answered again (``duplicate``, with the same head)
            log.info("a batch of %d blocks failed as a whole (%s); committing them one by one",
                     len(batch), exc.__class__.__name__)
            self.counters["batch_retried"] += 1
            return [self._commit_one(p) for p in batch]

    def _commit_batch(self, batch: list[Prepared]) -> list[Verdict]:
        out: list[Verdict | None] = [None] * len(batch)
        blocks_at = [i for i, p in enumerate(batch) if isinstance(p.message, Block)]
        # parking and draining happen inside the batch's transaction (Store.commit_blocks)
        outcomes = self.store.commit_blocks([(batch[i].message, batch[i].key)  # type: ignore[misc]
                                             for i in blocks_at],
                                            park=self.park) if blocks_at else []
        for i, outcome in zip(blocks_at, outcomes):
            p = batch[i]
            if outcome is None:                     # re-keyed or disabled meanwhile
                self.forget(p.gw)
                out[i] = self.handle(p.topic, p.payload)
                continue
            out[i] = self._answer(p, outcome)
        for i, p in enumerate(batch):
            if out[i] is None:                      # damage reports: one by one
                out[i] = self._commit_one(p)
        return out  # type: ignore[return-value]

    def _commit_one(self, p: Prepared) -> Verdict:
        """One message in its own transaction(s): damage reports, and a failed batch's blocks
        (to find the one the database refuses)."""
        try:
            reg = self._registered(p.gw, fresh=True)        # disabled or re-keyed meanwhile?
            if reg is None:
                return self._reject(p.gw, p.topic, p.payload, "unknown_gateway",
                                    f"unknown gateway {p.gw!r}", answer=False)
            if reg.public_key != p.key:
                return self.handle(p.topic, p.payload)
            try:
                outcome = self._commit(p)
            except Exception as exc:  # noqa: BLE001 - sorted below: for good, or passing
                if not unstored.is_unstorable(exc):
                    raise
                log.error("%s: %s cannot be stored: %s", p.gw, p.what, exc)
                head = self.store.gateway(p.gw)
                return self._reject(p.gw, p.topic, p.payload, "unstorable",
                                    f"{p.what}: the database refused it "
                                    f"({exc.__class__.__name__})",
                                    head=(head["head_seq"], head["head_hash"]) if head else None,
                                    ref=p.message.first, hold=p.message)
            if outcome is None:                 # re-keyed or disabled this very moment
                return self.handle(p.topic, p.payload)
            return self._answer(p, outcome)
        except Exception as exc:  # noqa: BLE001 - the receiver must keep serving
            log.exception("internal error on %s", p.topic)
            return self._reject(None, p.topic, p.payload, "internal",
                                f"internal error: {exc.__class__.__name__}", answer=False)

    def _answer(self, p: Prepared, outcome: Outcome | None) -> Verdict:
        gw, message = p.gw, p.message
        if outcome is None or outcome.status == "parked":
            self.counters["parked"] += 1
            return Verdict("parked", "", "", gw, None, None)
        self._saw_head(gw, outcome.seq, outcome.head)
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
        elif outcome.kind == "replay":
            self._replayed(gw, message)
        else:
            log.warning("%s: rejected (%s)", gw, outcome.reason)
            self.store.record_rejection(gw, p.topic, outcome.kind, outcome.reason,
                                        len(p.payload))
        return Verdict(outcome.status, outcome.kind, outcome.reason, gw, topic(gw, "ack"), ack)

    def _replayed(self, gw: str, message: Block | Damage) -> None:
        """A re-send of what is stored: counted (blocks on their gateway's row in the commit's
        own transaction), logged as one line per REPLAY_LOG_S -- a re-send storm is not a
        storm of WARNINGs and rejection rows."""
        if isinstance(message, Damage):
            self.store.count_replay(gw)
        self._replays_unlogged += 1
        now = time.monotonic()
        if now - self._replays_logged >= self.REPLAY_LOG_S:
            log.info("%d re-sent block(s) already stored answered duplicate since the last "
                     "report (counted per gateway: `sitegate-central gateways show`)",
                     self._replays_unlogged)
            self._replays_logged, self._replays_unlogged = now, 0

    def _commit(self, p: Prepared) -> Outcome | None:
        """The stored chain's answer, in a transaction of its own."""
        if isinstance(p.message, Damage):
            return unstored.commit_damage(self.store, p.message)
        return self.store.commit_blocks([(p.message, p.key)], park=self.park)[0]

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
