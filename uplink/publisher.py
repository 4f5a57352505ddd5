"""The gateway's MQTT uplink: outbox blocks out, central's acks in.

One thread owns the paho client (``client.loop()`` is called here, so every callback runs on
this thread and needs no lock).  Rules:

* a bounded window of blocks is in flight, refilled from SQLite -- paho's queue is never the
  buffer;
* rows are released only on *central's* ack (after its commit), never on the broker's PUBACK,
  and only when the ack carries central's SM2 signature: a forged ack (anyone who can publish
  on the ack topic) releases nothing and raises the critical ``ack_forged`` alarm;
* no ack for ``ack_timeout`` seconds, a ``gap`` ack, or a reconnect: re-send from the first
  unacknowledged record (central de-duplicates on (gateway, seq)); a re-send after a timeout
  waits longer each time it finds central silent (exponential back-off with jitter drawn by
  each gateway, ``ack_timeout`` x 2^k x [1, 1.5], at most ``backoff_max`` x 1.5), so the
  gateways of a province do not re-send in lockstep into a central that is struggling;
* a ``busy`` ack: nothing on the blocks topic for ``retry_after_ms`` x a random factor in
  [1, 1.5] (this gateway's own draw), then a re-send from the first unreleased record; the
  warning ``central_busy`` only when held back longer than ``ack_timeout`` x 10 with no
  ack releasing records (a busy ack with a higher head is progress);
* a backlog larger than the window (a drain after days offline) is sent with
  ``drain_window`` blocks in flight; its progress (backlog, rate over the last
  ``RATE_WINDOW_S`` seconds, ETA) is in the state message (``drain_state``);
* reconnects back off exponentially with full jitter, so a province of gateways does not
  reconnect in lockstep after a central outage;
* a retained state message carries health and alarms; the last will marks the gateway offline;
* other downlinks (the roster) share this one connection -- the broker binds the client id to
  the gateway's user name, so a second connection would push this one off: ``add_channel``
  subscribes a topic of the gateway's own on every connect, ``send`` publishes from any thread.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from typing import Callable

import paho.mqtt.client as mqtt

from .broker import BrokerConfig, connect, new_client
from .outbox import AckMismatch, Outbox, alarms, now_ms
from .sm2 import Verifier
from .wire import BadSignature, WireError, open_ack, topic

log = logging.getLogger("sitegate.uplink")


def drain_progress(samples: list[tuple[float, int]], now: float, acked: int,
                   head: int) -> dict:
    """Pure: ``backlog`` (records not yet acknowledged), ``rate_per_s`` (records acknowledged
    per second since the oldest of ``samples``, ``(time, acked_seq)`` pairs, 0.0 with fewer
    than two) and ``eta_s`` (backlog / rate, rounded; 0 with no backlog; None while there is
    no rate)."""
    backlog = max(0, head - acked)
    rate = 0.0
    if len(samples) > 1:
        t0, a0 = samples[0]
        rate = max(0, acked - a0) / max(now - t0, 1.0)
    eta = 0 if not backlog else (round(backlog / rate) if rate > 0 else None)
    return {"backlog": backlog, "rate_per_s": round(rate, 1), "eta_s": eta}


class Uplink:
    def __init__(self, outbox: Outbox, broker: BrokerConfig, *, window: int = 8,
                 ack_timeout: float = 10.0, linger: float = 0.2, state_interval: float = 10.0,
                 backoff_min: float = 0.5, backoff_max: float = 60.0,
                 extra_state: Callable[[], dict] | None = None,
                 release_cutoff: Callable[[int], int] | None = None,
                 central_key: "str | Verifier | None" = None,
                 forged_hold_s: float = 3600.0, drain_window: int | None = None,
                 rng: random.Random | None = None) -> None:
        """``central_key``: central's SM2 public key (128 hex or a Verifier); acks are released
        only when they verify against it.  Without it nothing is released (critical alarm
        ``central_key_missing``).  ``forged_hold_s``: how long ``ack_forged`` stays raised
        after the last forged ack.  ``drain_window``: blocks in flight while more than a
        window's worth is sealed and unacknowledged (default: ``window``, no drain window).  ``rng``: the
        gateway's own source of jitter (default: seeded from the OS)."""
        self.outbox = outbox
        self.broker = broker
        self.gw = outbox.gw
        self.window = window
        self.drain_window = max(window, drain_window or window)
        self.ack_timeout = ack_timeout
        self.linger = linger
        self.state_interval = state_interval
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.extra_state = extra_state
        # release gate: ``release_cutoff(now_ms)`` -> records captured before it may be sent
        # (push schedule; sealing is never delayed, only publishing).  None = real time.
        self.release_cutoff = release_cutoff
        self.held_blocks = 0
        self.connected = False
        self.counters = {"published": 0, "acks": 0, "resends": 0, "rejected_by_central": 0,
                         "connects": 0, "connect_failures": 0, "acks_forged": 0, "busy": 0}
        self.uplink_alarms: dict[str, dict] = {}
        self.central = central_key if isinstance(central_key, Verifier) or central_key is None \
            else Verifier(central_key)
        if self.central is None:
            self._set_alarm("central_key_missing", "critical",
                            "central's public key is not configured: acks cannot be verified "
                            "and nothing is released (records are kept)")
        self.forged_hold_s = forged_hold_s
        self._forged_at = 0.0
        # downlinks sharing this connection: kind -> handler(payload); hooks run on connect
        self._channels: dict[str, Callable[[bytes], None]] = {}
        self._connect_hooks: list[Callable[[], None]] = []
        self._outgoing: deque[tuple[str, bytes]] = deque(maxlen=64)
        self._rejected_ref = 0              # first seq of the block central last rejected
        # other parts of the site (devices, roster, lanes) report their alarms here; they go
        # into the retained state message and the health file like the uplink's own
        self._alarm_sources: list[Callable[[], list[dict]]] = []
        self._client: mqtt.Client | None = None
        self._rng = rng or random.Random()
        self._attempt = 0
        self._next_attempt = 0.0
        self._inflight: dict[int, tuple[int, int]] = {}   # first -> (last, epoch)
        self._sent_upto = outbox.acked_seq
        self._epoch = 0
        self._last_progress = time.monotonic()
        self._timeouts = 0                  # consecutive ack timeouts (the re-send back-off)
        self._ack_wait = self._resend_wait()
        self._busy_until = 0.0              # monotonic: nothing on the blocks topic before it
        self._busy_since: float | None = None   # first busy ack of the current episode
        self._acked_samples: deque[tuple[float, int]] = deque(maxlen=4096)   # (t, acked_seq)
        self._pending_since: float | None = None
        self._last_state = 0.0
        self._last_alarm_codes: tuple = ()
        self._last_purge = 0.0
        self._purge_more = False            # the last purge hit PURGE_ROWS: more next second
        self._last_check = 0.0

    # ------------------------------------------------------------ main loop
    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # noqa: BLE001 - supervise: log, pause, carry on
                    log.exception("uplink step failed; retrying in 1 s")
                    self._lost("internal error")
                    stop.wait(1.0)
        finally:
            self.close()

    def step(self) -> None:
        now = time.monotonic()
        self._maybe_seal(now)
        if now - self._last_purge > (1.0 if self._purge_more else 60.0):
            self._last_purge = now
            self._purge_more = self.outbox.purge(max_rows=self.PURGE_ROWS) >= self.PURGE_ROWS
        if self._client is None:
            if now >= self._next_attempt:
                self._try_connect()
            else:
                time.sleep(min(0.05, self._next_attempt - now))
            return
        rc = self._client.loop(timeout=0.02)
        if rc not in (mqtt.MQTT_ERR_SUCCESS,) and self._client is not None:
            self._lost(f"network loop: {mqtt.error_string(rc)}")
            return
        if self.connected:
            self._flush_outgoing()
            if now >= self._busy_until:
                self._fill_window()
            if self._inflight and now - self._last_progress > self._ack_wait:
                log.warning("no ack from central for %.0f s; re-sending from seq %d",
                            now - self._last_progress, self.outbox.acked_seq + 1)
                self._timeouts += 1
                self._ack_wait = self._resend_wait()
                self._rewind()
            self._check_busy(now)
            self._maybe_publish_state(now)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                if self.connected:
                    self._publish_state(client, "offline")
                    client.loop(timeout=0.1)
                client.disconnect()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self.connected = False

    # ------------------------------------------------------------ connection
    def _try_connect(self) -> None:
        client = new_client(self.broker, self.gw)
        client.will_set(topic(self.gw, "state"), self._state_bytes("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        try:
            connect(client, self.broker)
        except (OSError, ValueError) as exc:
            self.counters["connect_failures"] += 1
            self._set_alarm("broker_unreachable", "warning",
                            f"broker {self.broker.display()} unreachable: {exc}")
            self._schedule_reconnect()
            return
        self._client = client

    def _schedule_reconnect(self) -> None:
        cap = min(self.backoff_max, self.backoff_min * 2 ** min(self._attempt, 16))
        delay = self._rng.uniform(self.backoff_min, max(cap, self.backoff_min))
        self._attempt += 1
        self._next_attempt = time.monotonic() + delay

    def _lost(self, why: str) -> None:
        if self.connected:
            log.warning("lost broker connection (%s); reconnecting with backoff", why)
        client, self._client = self._client, None
        self.connected = False
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001
                pass
        self._schedule_reconnect()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.counters["connect_failures"] += 1
            self._set_alarm("broker_refused", "critical",
                            f"broker refused the connection: {reason_code}")
            log.error("broker refused the connection: %s", reason_code)
            self._lost(str(reason_code))
            return
        self.connected = True
        self._attempt = 0
        self.counters["connects"] += 1
        for code in ("broker_unreachable", "broker_refused"):
            self.uplink_alarms.pop(code, None)
        client.subscribe(topic(self.gw, "ack"), qos=1)
        for kind in self._channels:
            client.subscribe(topic(self.gw, kind), qos=1)
        log.info("connected to %s", self.broker.display())
        self._rewind()
        self._last_state = self._last_check = 0.0
        for hook in self._connect_hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - a downlink's bug must not stop the uplink
                log.exception("on-connect hook failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if client is self._client:
            self._lost(f"disconnected: {reason_code}")

    # ------------------------------------------------------------ sending
    def _maybe_seal(self, now: float) -> None:
        pending = self.outbox.pending()
        if not pending:
            self._pending_since = None
            return
        if self._pending_since is None:
            self._pending_since = now
        if pending >= self.outbox.limits.max_block_records or now - self._pending_since >= self.linger:
            # a few blocks a step: a month sealed at once would hold the lock clock-ins need
            self.outbox.seal(max_blocks=16)
            self._pending_since = None if self.outbox.pending() == 0 else now - self.linger

    def _resend_wait(self) -> float:
        """How long to wait for an ack before re-sending: ``ack_timeout`` the first time,
        doubling with each timeout in a row (at most ``backoff_max``), times this gateway's
        own draw in [1, 1.5]."""
        base = min(self.ack_timeout * 2 ** min(self._timeouts, 16),
                   max(self.backoff_max, self.ack_timeout))
        return base * self._rng.uniform(1.0, 1.5)

    def current_window(self) -> int:
        """Blocks allowed in flight: ``drain_window`` while more than a window's worth of
        sealed records waits for central's ack, ``window`` otherwise."""
        unacked = self.outbox.sealed_seq - self.outbox.acked_seq
        if unacked > self.window * self.outbox.limits.max_block_records:
            return self.drain_window
        return self.window

    def _fill_window(self) -> None:
        if self._client is None:
            return
        room = self.current_window() - len(self._inflight)
        if room <= 0:
            return
        cutoff = self.release_cutoff(now_ms()) if self.release_cutoff else None
        held = 0
        for first, last, payload in self.outbox.blocks_after(self._sent_upto, room):
            ts_last = self.outbox.ts_of(last) if cutoff is not None else None
            if cutoff is not None and (ts_last is None or ts_last >= cutoff):
                held = 1           # blocks go out in order: this and everything after wait
                break
            info = self._client.publish(topic(self.gw, "blocks"), payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            if not self._inflight:
                self._last_progress = time.monotonic()
            self._inflight[first] = (last, self._epoch)
            self._sent_upto = last
            self.counters["published"] += 1
        self.held_blocks = held

    def _rewind(self) -> None:
        if self._inflight or self._sent_upto > self.outbox.acked_seq:
            self.counters["resends"] += 1
        self._inflight.clear()
        self._sent_upto = self.outbox.acked_seq
        self._epoch += 1
        self._last_progress = time.monotonic()

    # ------------------------------------------------------------ other downlinks
    def add_channel(self, kind: str, on_message: Callable[[bytes], None],
                    on_connect: Callable[[], None] | None = None) -> None:
        """Subscribe ``sitegate/v1/{gw}/{kind}`` on every connect; each payload goes to
        ``on_message`` on the uplink thread (keep it quick: queue the work).  ``on_connect``
        runs after every (re)connect.  Call before ``run``."""
        topic(self.gw, kind)                     # a known topic kind of this gateway's own
        self._channels[kind] = on_message
        if on_connect is not None:
            self._connect_hooks.append(on_connect)

    def send(self, kind: str, payload: bytes) -> None:
        """Publish on ``sitegate/v1/{gw}/{kind}`` (QoS 1) from any thread: queued (at most 64,
        the oldest dropped) and sent by the uplink thread while connected."""
        self._outgoing.append((topic(self.gw, kind), bytes(payload)))

    def _flush_outgoing(self) -> None:
        while self._outgoing and self._client is not None:
            name, payload = self._outgoing.popleft()
            self._client.publish(name, payload, qos=1)

    # ------------------------------------------------------------ acks
    def _on_message(self, client, userdata, message) -> None:
        kind = message.topic.rsplit("/", 1)[-1]
        if kind != "ack":
            handler = self._channels.get(kind)
            if handler is not None and message.topic == topic(self.gw, kind):
                try:
                    handler(bytes(message.payload))
                except Exception:  # noqa: BLE001
                    log.exception("%s handler failed", kind)
            return
        self._on_ack(bytes(message.payload))

    def _open_ack(self, payload: bytes) -> dict:
        """Central's signature checked first, then the ack (``uplink.wire.open_ack``)."""
        return open_ack(payload, self.central, self.gw)

    def _on_ack(self, payload: bytes) -> None:
        try:
            ack = self._open_ack(payload)
        except BadSignature as exc:
            self.counters["acks_forged"] += 1
            self._forged_at = time.monotonic()
            n = self.counters["acks_forged"]
            self._set_alarm("ack_forged", "critical",
                            f"{n} ack(s) not signed by central refused ({exc}); nothing was "
                            "released -- someone else can publish on this gateway's ack topic")
            log.error("refused an ack not signed by central (%d so far): %s", n, exc)
            return
        except WireError as exc:
            log.error("ignoring malformed ack: %s", exc)
            return
        self.counters["acks"] += 1
        try:
            if self.outbox.ack(ack["seq"], ack["head"]):
                self._last_progress = time.monotonic()
                # records released: not held back without progress, even when the ack also
                # says busy (central acks committed blocks that way past its capacity)
                self._busy_since = None
                self.uplink_alarms.pop("central_busy", None)
                self._acked_samples.append((self._last_progress, self.outbox.acked_seq))
                if self._timeouts:
                    self._timeouts = 0
                    self._ack_wait = self._resend_wait()
                self.uplink_alarms.pop("ack_mismatch", None)
                if ack["seq"] >= self._rejected_ref:    # central took the refused block after all
                    self.uplink_alarms.pop("central_rejected", None)   # (e.g. quarantined it)
        except AckMismatch as exc:
            self._set_alarm("ack_mismatch", "critical", f"central's ack does not match: {exc}")
            log.error("central's ack does not match our chain: %s", exc)
            return
        acked = self.outbox.acked_seq
        for first in [f for f, (last, _) in self._inflight.items() if last <= acked]:
            del self._inflight[first]
        if self._sent_upto < acked:
            self._sent_upto = acked
        status, ref = ack["status"], ack["ref"]
        if status == "busy":
            self._busy(ack["retry_after_ms"], ref)
            return
        self._busy_since = None
        self.uplink_alarms.pop("central_busy", None)
        if status == "gap" and ref in self._inflight and self._inflight[ref][1] == self._epoch \
                and "central_rejected" not in self.uplink_alarms:   # gaps behind a refused
            # block are expected: re-send once per ack_timeout, not on every gap ack
            log.info("central is missing records after seq %d; re-sending", ack["seq"])
            self._rewind()
        elif status == "rejected":
            self.counters["rejected_by_central"] += 1
            self._rejected_ref = ref if isinstance(ref, int) else ack["seq"] + 1
            self._set_alarm("central_rejected", "critical",
                            f"central rejected block {ref}: {ack['reason']}")
            log.error("central rejected block %s: %s", ref, ack["reason"])

    def _busy(self, retry_after_ms: int, ref: object) -> None:
        """Central is at capacity and did not store block ``ref`` nor anything after its head:
        send nothing on the blocks topic for ``retry_after_ms`` x [1, 1.5] (our own draw), then
        re-send from the first unreleased record (wire.md §5)."""
        now = time.monotonic()
        self.counters["busy"] += 1
        wait = retry_after_ms / 1000 * self._rng.uniform(1.0, 1.5)
        self._busy_until = max(self._busy_until, now + wait)
        if self._busy_since is None:
            self._busy_since = now
        log.info("central is busy (block %s): sending nothing for %.1f s", ref, wait)
        self._rewind()
        self._last_progress = self._busy_until      # the ack timeout runs from the re-send

    def _check_busy(self, now: float) -> None:
        if self._busy_since is None:
            return
        held = now - self._busy_since
        if held > self.ack_timeout * 10:
            self._set_alarm("central_busy", "warning",
                            f"central has been busy for {held:.0f} s: records wait on the "
                            "gateway (kept, re-sent when central has room)")

    def busy_for(self) -> float:
        """Seconds left before the blocks topic may be used again (0: not held back)."""
        return max(0.0, self._busy_until - time.monotonic())

    # ------------------------------------------------------------ drain progress
    RATE_WINDOW_S = 30.0
    PURGE_ROWS = 20_000                 # acknowledged rows dropped per retention pass

    def drain_state(self) -> dict:
        """Backlog, records acknowledged per second over the last ``RATE_WINDOW_S`` seconds,
        and the time to drain the backlog at that rate (``drain_progress``); ``draining``:
        the drain window is in use; ``busy_for_s``: held back by central's busy ack."""
        now = time.monotonic()
        samples = self._acked_samples
        while samples and now - samples[0][0] > self.RATE_WINDOW_S:
            samples.popleft()
        window = self.current_window()
        return dict(drain_progress(list(samples), now, self.outbox.acked_seq,
                                   self.outbox.head_seq),
                    draining=window > self.window, window=window,
                    busy_for_s=round(self.busy_for(), 1))

    # ------------------------------------------------------------ health
    def _set_alarm(self, code: str, level: str, message: str) -> None:
        self.uplink_alarms[code] = {"code": code, "level": level, "message": message}

    @property
    def alarm_codes(self) -> tuple:
        """The alarm codes last put on the state topic (sorted)."""
        return self._last_alarm_codes

    def add_alarm_source(self, source: Callable[[], list[dict]]) -> None:
        """``source()`` -> current alarms ``{"code", "level", "message"}`` of another part of the
        site; a change of codes is published at once (checked every second)."""
        self._alarm_sources.append(source)

    def all_alarms(self) -> list[dict]:
        current = alarms(self.outbox.stats(), self.outbox.limits)
        if self.release_cutoff is not None:
            # records held by the push schedule are old on purpose: not a stale-ack alarm
            first = self.outbox.ts_of(self.outbox.acked_seq + 1)
            if first is not None and first >= self.release_cutoff(now_ms()):
                current = [a for a in current if a["code"] != "ack_stale"]
        if "ack_forged" in self.uplink_alarms and \
                time.monotonic() - self._forged_at > self.forged_hold_s:
            self.uplink_alarms.pop("ack_forged", None)
        current = current + list(self.uplink_alarms.values())
        for source in self._alarm_sources:
            try:
                current += source()
            except Exception as exc:  # noqa: BLE001 - a broken source is itself an alarm
                current.append({"code": "alarm_source_failed", "level": "warning",
                                "message": f"{getattr(source, '__qualname__', source)}: {exc}"})
        return current

    def state(self, status: str | None = None) -> dict:
        current = self.all_alarms()
        if status is None:
            status = "alarm" if any(a["level"] == "critical" for a in current) else \
                "degraded" if current else "online"
        out = {"v": 1, "gw": self.gw, "state": status, "ts": now_ms(),
               "outbox": self.outbox.stats(), "alarms": current,
               "uplink": dict(self.counters, connected=self.connected,
                              inflight=len(self._inflight), held=self.held_blocks > 0),
               "drain": self.drain_state()}
        if self.extra_state:
            out.update(self.extra_state())
        return out

    def _state_bytes(self, status: str | None = None) -> bytes:
        if status == "offline":
            return json.dumps({"v": 1, "gw": self.gw, "state": "offline"}).encode()
        return json.dumps(self.state(status), sort_keys=True).encode()

    def _publish_state(self, client: mqtt.Client, status: str | None = None) -> None:
        client.publish(topic(self.gw, "state"), self._state_bytes(status), qos=1, retain=True)

    def _maybe_publish_state(self, now: float) -> None:
        if now - self._last_check < 1.0:
            return
        self._last_check = now
        codes = tuple(sorted(a["code"] for a in self.all_alarms()))
        if self._client is not None and (now - self._last_state >= self.state_interval
                                         or codes != self._last_alarm_codes):
            if codes != self._last_alarm_codes and codes:
                log.error("alarms: %s", ", ".join(codes))
            self._last_alarm_codes = codes
            self._last_state = now
            self._publish_state(self._client)
