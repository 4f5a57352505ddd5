"""The receiver's MQTT shell around ``Ingest``: subscribe, queue, verify and commit in
batches, sign, ack -- on two connections.

* **Reading** (paho's network thread, the subscribing connection): ``on_message`` only decides
  admission (``central.admission``) and appends the message to a bounded in-memory queue, or
  answers ``busy`` (with the gateway's known head -- preloaded at start -- and a
  ``retry_after_ms``) -- it never waits on the database nor signs: a busy ack is signed by
  the **busy thread**, and the last one per gateway is sent again while the gateway's head
  and retry step stay the same (``ref`` null, so one signed busy ack fits any of its blocks).  paho PUBACKs a QoS 1 message when ``on_message`` returns, so a block
  is PUBACKed before it is stored; that costs nothing in correctness: the broker's PUBACK is
  not the gateway's ack, gateways keep every record until *central's signed* ack covers it,
  and a queued message lost with the process is simply re-sent.
* **Working** (one thread): takes up to ``batch_max`` queued messages, verifies them
  (``Ingest.prepare``), commits every block of the batch in ONE transaction (``Ingest.commit``
  -> ``Store.commit_blocks``: each gateway's blocks in arrival order), then publishes the
  batch's acks before it takes the next batch.  Past capacity, a gateway's ack is its busy
  ack (``Admission.after_commit``: same head, one signature, no block sent to be refused).
* **Acking** on a connection of its own (client id and user ``<name>.acks``, which
  ``sitegate-central broker add-central`` creates beside ``<name>``) with its own in-flight
  budget: acks never wait behind blocks being delivered to us, nor blocks behind acks.  A
  broker that refuses that second login (a worker account made before it existed) leaves the
  acks on the reading connection, with a warning.

With ``share`` set, several receivers split the load through ``$share/<group>/...``; a
receiver dying mid-block is harmless because gateways re-send until *our* ack arrives.

Every ack is signed with central's key before it is published (``uplink.wire.sign_ack``):
gateways release nothing on an ack that does not verify, so a broker credential is not
enough to make a gateway drop records.  A subscription the broker refuses (the shipped broker
allows central only ``$share/central/...``) is logged as an error, not ignored.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from dataclasses import replace

from uplink.broker import BrokerConfig, connect, new_client
from uplink.wire import TOPIC_ROOT, WireError, make_ack, parse_topic, sign_ack, topic

from .admission import Admission
from .ingest import Ingest, Prepared, Verdict

log = logging.getLogger("sitegate.central")

ACK_SUFFIX = ".acks"        # the ack connection's client id and user: "<name>.acks"


class Receiver:
    def __init__(self, ingest: Ingest, broker: BrokerConfig, *, signer,
                 client_id: str | None = None, share: str | None = None, delay_s: float = 0.0,
                 roster=None, push_interval_s: float = 5.0, batch_max: int = 64,
                 admission: Admission | None = None, ack_connection: bool = True,
                 park_expire_s: float = 120.0) -> None:
        """``signer``: central's signing key (``central.roster.load_signer``).  ``client_id``
        defaults to the broker user name (the shipped broker binds them), else
        ``sitegate-central``.  ``batch_max``: blocks per transaction at most.  ``admission``:
        when to answer busy (``central.admission``).  ``ack_connection``: publish acks on a
        second connection ``<client_id>.acks``.  ``park_expire_s``: parked blocks older than
        this are dropped and counted (their gateway re-sends them)."""
        self.ingest = ingest
        self.signer = signer
        self.refused: list[str] = []      # subscriptions the broker refused
        self.roster = roster              # RosterService: answers roster-req, pushes changes
        self.push_interval_s = push_interval_s
        self.broker = broker
        self.share = share
        self.delay_s = delay_s            # test knob: a deliberately slow receiver
        self.batch_max = max(1, batch_max)
        self.admission = admission or Admission()
        self.park_expire_s = park_expire_s
        self.connected = threading.Event()      # set once every subscription is acknowledged
        self.client_id = client_id or broker.username or "sitegate-central"
        self.client = new_client(broker, self.client_id)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.5, 10)
        self.ack_client = None
        if ack_connection:
            self.ack_client = new_client(self._ack_broker(), self.client_id + ACK_SUFFIX)
            self.ack_client.max_inflight_messages_set(1000)   # its own budget
            self.ack_client.max_queued_messages_set(0)        # unbounded: acks are small
            self.ack_client.reconnect_delay_set(0.5, 10)
            self.ack_client.on_connect = self._on_ack_connect
            self.ack_client.on_disconnect = self._on_ack_disconnect
        self._ack_result: dict = {}
        self._ack_ready = threading.Event()
        self._acks_own = False            # acks go on their own connection (else on client)
        # the queue between the network thread and the worker: (arrived, topic, payload, gw)
        self._queue: deque[tuple[float, str, bytes, str | None]] = deque()
        self._queue_bytes = 0
        self._queued: dict[str, int] = {}     # messages queued per gateway
        self._cv = threading.Condition()
        self.counters = ingest.counters
        self.admission.counters = self.counters     # its busy_first / busy_again, reported
        # busy acks: signed by their own thread; the last one per gateway (head seq, retry
        # step, payload) is sent again while both stay the same
        self._busy_todo: deque[tuple[str, tuple[int, str], int]] = deque()
        self._busy_cv = threading.Condition()
        self._busy_acks: dict[str, tuple[int, int, bytes]] = {}

    def _ack_broker(self) -> BrokerConfig:
        user = self.broker.username
        return replace(self.broker, username=None if user is None else user + ACK_SUFFIX)

    @property
    def subscription(self) -> str:
        return self._shared(f"{TOPIC_ROOT}/+/blocks")

    def _shared(self, filt: str) -> str:
        return f"$share/{self.share}/{filt}" if self.share else filt

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    # ------------------------------------------------------------ run
    def run(self, stop: threading.Event) -> None:
        try:
            self.ingest.preload_heads()
        except Exception:  # noqa: BLE001 - a busy answer then reads the registry
            log.exception("reading the gateways' heads failed")
        if self.ack_client is not None:
            self._start_acks(stop)
        while not stop.is_set():
            try:
                connect(self.client, self.broker)
                break
            except OSError as exc:
                log.warning("broker %s unreachable (%s); retrying", self.broker.display(), exc)
                stop.wait(1.0)
        worker = threading.Thread(target=self._work, args=(stop,), name="central-worker",
                                  daemon=True)
        worker.start()
        busy = threading.Thread(target=self._sign_busy, args=(stop,), name="central-busy",
                                daemon=True)
        busy.start()
        self.client.loop_start()
        tick = min(self.push_interval_s if self.roster else 10.0, 10.0)
        last_sweep = time.monotonic()
        while not stop.wait(tick):
            if self.roster is not None:
                try:
                    self.roster.push_pending(lambda t, p: self.client.publish(t, p, qos=1))
                except Exception:  # noqa: BLE001 - a database hiccup must not stop the receiver
                    log.exception("roster push failed")
            if time.monotonic() - last_sweep >= min(10.0, self.park_expire_s):
                last_sweep = time.monotonic()
                self._expire_parked()
        with self._cv:
            self._cv.notify_all()
        with self._busy_cv:
            self._busy_cv.notify_all()
        worker.join(30)
        busy.join(5)
        self.client.disconnect()
        self.client.loop_stop()
        if self.ack_client is not None and self._acks_own:
            self.ack_client.disconnect()
            self.ack_client.loop_stop()

    def _start_acks(self, stop: threading.Event) -> None:
        """Open the ack connection; on a refused login, acks share the reading connection."""
        try:
            connect(self.ack_client, self._ack_broker())
        except OSError:
            pass                     # the reading connection's retry loop reports the broker
        else:
            self.ack_client.loop_start()
            if self._ack_ready.wait(10) and self._ack_result.get("ok"):
                self._acks_own = True
                return
            self.ack_client.loop_stop()
            try:
                self.ack_client.disconnect()
            except Exception:  # noqa: BLE001
                pass
        log.warning("no ack connection as %s (%s): acks share the receiving connection; "
                    "`sitegate-central broker add-central` makes the %s account",
                    self.client_id + ACK_SUFFIX, self._ack_result.get("why", "not connected"),
                    "<name>" + ACK_SUFFIX)

    def _on_ack_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self._ack_ready.is_set():
            self._ack_result = {"ok": not reason_code.is_failure, "why": str(reason_code)}
            self._ack_ready.set()
        elif reason_code.is_failure:
            log.error("broker refused the ack connection: %s", reason_code)

    def _on_ack_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._acks_own:
            log.warning("ack connection lost (%s); paho reconnects", reason_code)

    def _publish_ack(self, ack_topic: str, payload: bytes) -> None:
        client = self.ack_client if self._acks_own else self.client
        client.publish(ack_topic, payload, qos=1)

    def _expire_parked(self) -> None:
        try:
            expired = self.ingest.store.expire_parked(int(self.park_expire_s * 1000))
        except Exception:  # noqa: BLE001 - a database hiccup must not stop the receiver
            log.exception("expiring parked blocks failed")
            return
        if expired:
            self.counters["parked_expired"] += sum(expired.values())
            log.warning("%d parked block(s) of %d gateway(s) expired: their predecessor did not "
                        "arrive within %g s; the gateways re-send them (counted: `gateways "
                        "show`, parked_expired)", sum(expired.values()), len(expired),
                        self.park_expire_s)

    # ------------------------------------------------------------ the reading connection
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the receiver: %s", reason_code)
            return
        self._pending_subs = {}
        for filt in [self.subscription] + ([self._shared(f"{TOPIC_ROOT}/+/roster-req")]
                                           if self.roster is not None else []):
            _, mid = client.subscribe(filt, qos=1)
            self._pending_subs[mid] = filt

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        pending = getattr(self, "_pending_subs", {})
        filt = pending.pop(mid, "?")
        if any(rc.is_failure for rc in reason_codes):
            self.refused.append(filt)
            log.error("the broker refused the subscription %s: is this user in the broker's "
                      "central group, and is --share the group the broker allows (central)?", filt)
        if not pending:
            # connected means receiving: only once the broker has acknowledged every
            # subscription (a block published before that would never reach us)
            self.connected.set()
            log.info("receiver subscribed to %s on %s", self.subscription, self.broker.display())

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("receiver disconnected (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        if message.topic.endswith("/roster-req"):
            self._roster_request(client, message)
            return
        payload = bytes(message.payload)
        try:
            gw, _ = parse_topic(message.topic)
        except WireError:
            gw = None                      # refused by the worker (bad_topic), counted there
        if gw is not None:
            decision = self.admission.offer(gw, len(self._queue), self._queue_bytes,
                                            self._unreleased_blocks(gw, payload))
            if decision.action != "take":
                self._busy(gw, decision)
                return
        with self._cv:
            self._queue.append((time.monotonic(), message.topic, payload, gw))
            self._queue_bytes += len(payload)
            if gw is not None:
                self._queued[gw] = self._queued.get(gw, 0) + 1
            self._cv.notify()
        depth = len(self._queue)
        if depth > self.counters["queue_max_seen"]:
            self.counters["queue_max_seen"] = depth

    def _busy(self, gw: str, decision) -> None:
        """Answer busy (docs/wire.md §5) -- without an SM2 signature on this thread: a signed
        busy ack is reused while the gateway's head and retry step stay the same (``ref``
        null: it answers whichever of the gateway's blocks arrived), and a new one is signed
        by the busy thread."""
        if decision.action == "drop":
            self.counters["busy_dropped"] += 1
            return
        try:
            head = self.ingest.known_head(gw)
        except Exception:  # noqa: BLE001 - no database: no answer (the gateway re-sends)
            head = None
        if head is None:
            self.counters["busy_dropped"] += 1
            return
        self.counters["busy"] += 1
        cached = self._busy_acks.get(gw)
        if cached is not None and cached[0] == head[0] and cached[1] == decision.retry_after_ms:
            self.counters["busy_cached"] += 1
            self._publish_ack(topic(gw, "ack"), cached[2])
            return
        with self._busy_cv:
            self._busy_todo.append((gw, head, decision.retry_after_ms))
            self._busy_cv.notify()

    def _unreleased_blocks(self, gw: str, payload: bytes) -> int:
        """How many blocks ``gw`` has unreleased, as far as this message shows (its ``last``
        above the head we know, in blocks of its size), cheaply: two regular expressions on
        the canonical bytes' start (``first`` and ``last`` come before ``records``)."""
        head = self.ingest.cached_head(gw)
        first, last = _FIRST.match(payload), _LAST.search(payload, 0, 400)
        if head is None or first is None or last is None:
            return 1
        size = int(last[1]) - int(first[1]) + 1
        return max(1, -(-(int(last[1]) - head[0]) // size)) if size > 0 else 1

    def _sign_busy(self, stop: threading.Event) -> None:
        """The busy thread: signs and publishes busy acks, keeps the last one per gateway."""
        while True:
            with self._busy_cv:
                while not self._busy_todo:
                    if stop.is_set():
                        return
                    self._busy_cv.wait(0.5)
                gw, head, retry = self._busy_todo.popleft()
            try:
                if len(self._busy_acks) > 100_000:
                    self._busy_acks.clear()
                self._publish_ack(topic(gw, "ack"), self._signed_busy(gw, head, retry))
            except Exception:  # noqa: BLE001 - the busy thread must keep serving
                log.exception("busy ack for %s failed", gw)

    # ------------------------------------------------------------ the worker
    def _take(self, stop: threading.Event) -> list[tuple[float, str, bytes, str | None]]:
        with self._cv:
            while not self._queue:
                if stop.is_set():
                    return []
                self._cv.wait(0.5)
            batch = []
            while self._queue and len(batch) < self.batch_max:
                item = self._queue.popleft()
                self._queue_bytes -= len(item[2])
                gw = item[3]
                if gw is not None:
                    left = self._queued.pop(gw, 1) - 1
                    if left > 0:
                        self._queued[gw] = left
                batch.append(item)
            return batch

    def _work(self, stop: threading.Event) -> None:
        while True:
            batch = self._take(stop)
            if not batch:
                return
            if stop.is_set():
                return         # what is queued is dropped: the gateways re-send it
            t0 = time.perf_counter()
            try:
                self._process(batch)
            except Exception:  # noqa: BLE001 - the worker must keep serving
                log.exception("batch of %d failed", len(batch))
            self.admission.done(len(batch), time.perf_counter() - t0)

    def _process(self, batch: list[tuple[float, str, bytes, str | None]]) -> None:
        verdicts: list[Verdict | None] = []
        prepared: list[Prepared] = []
        for _, topic_name, payload, _gw in batch:
            if self.delay_s:
                time.sleep(self.delay_s)
            p = self.ingest.prepare(topic_name, payload)
            if isinstance(p, Verdict):
                verdicts.append(p)
            else:
                prepared.append(p)
                verdicts.append(None)
        committed = iter(self.ingest.commit(prepared) if prepared else [])
        verdicts = [v if v is not None else next(committed) for v in verdicts]
        # acks are cumulative: of a gateway whose blocks in this batch all went ok, only the
        # last ack is signed and sent
        all_ok: dict[str, bool] = {}
        last: dict[str, int] = {}
        blocks: dict[str, int] = {}
        for i, v in enumerate(verdicts):
            if v is not None and v.ack is not None and v.gw is not None:
                all_ok[v.gw] = all_ok.get(v.gw, True) and v.status == "ok"
                last[v.gw] = i
                blocks[v.gw] = blocks.get(v.gw, 0) + 1
        for i, v in enumerate(verdicts):
            if v is None or v.ack is None or v.ack_topic is None:
                continue
            if all_ok.get(v.gw or "") and last[v.gw or ""] != i:
                self.counters["acks_merged"] += 1
                continue
            if v.status == "ok" and v.gw is not None and all_ok[v.gw]:
                self._publish_ack(v.ack_topic, self._ok_or_busy(v.gw, v.ack, blocks[v.gw]))
                continue
            self._publish_ack(v.ack_topic, sign_ack(v.ack, self.signer))

    def _ok_or_busy(self, gw: str, ack: bytes, blocks: int) -> bytes:
        """The signed ack of ``gw``'s committed blocks: ``ok``, or -- when admission would
        tell its next block busy and none of its messages is still queued -- ``busy`` with the
        same head (it releases the same records; docs/wire.md §4.2 step 0): one signature
        instead of an ok now and a busy for the next block, which is not sent for nothing."""
        with self._cv:
            queued = self._queued.get(gw, 0) > 0
        decision = self.admission.after_commit(gw, len(self._queue), self._queue_bytes, blocks,
                                               queued=queued)
        if decision.action != "busy":
            return sign_ack(ack, self.signer)
        ok = json.loads(ack)
        self.counters["busy_at_ack"] += 1
        return self._signed_busy(gw, (ok["seq"], ok["head"]), decision.retry_after_ms,
                                 f"stored up to {ok['seq']}; ")

    def _signed_busy(self, gw: str, head: tuple[int, str], retry: int, said: str = "") -> bytes:
        """A signed busy ack naming ``head`` (``ref`` null), kept as the gateway's last one
        (sent again while its head and retry step stay the same)."""
        payload = sign_ack(make_ack(gw, head[0], head[1], "busy", None,
                                    f"busy: {said}at capacity, come back in {retry / 1000:g} s",
                                    kind="busy", retry_after_ms=retry), self.signer)
        self._busy_acks[gw] = (head[0], retry, payload)
        return payload

    def _roster_request(self, client, message) -> None:
        if self.roster is None:
            return
        try:
            gw, _ = parse_topic(message.topic)
            answer_topic, payload = self.roster.handle_request(gw, bytes(message.payload))
        except WireError as exc:
            log.warning("roster request on %s refused: %s", message.topic[:100], exc)
            return
        except Exception:  # noqa: BLE001
            log.exception("roster request on %s failed", message.topic[:100])
            return
        client.publish(answer_topic, payload, qos=1)


_FIRST = re.compile(rb'^\{"first":(\d{1,16}),')
_LAST = re.compile(rb',"last":(\d{1,16}),')
