"""The receiver's MQTT shell around ``Ingest``: subscribe, hand each message over, sign, ack.

Processing happens in paho's callback, so the broker's PUBACK to us goes out only after the
commit (paho acknowledges a QoS 1 message when the callback returns) and the broker's own
in-flight limit gives natural back-pressure.  With ``share`` set, several receivers split the
load through ``$share/<group>/...``; a receiver dying mid-block is harmless because gateways
re-send until *our* ack arrives.

Every ack is signed with central's key before it is published (``uplink.wire.sign_ack``):
gateways release nothing on an ack that does not verify, so a broker credential is not
enough to make a gateway drop records.  A subscription the broker refuses (the shipped broker
allows central only ``$share/central/...``) is logged as an error, not ignored.
"""
from __future__ import annotations

import logging
import threading
import time


from uplink.broker import BrokerConfig, connect, new_client
from uplink.wire import TOPIC_ROOT, WireError, parse_topic, sign_ack

from .ingest import Ingest

log = logging.getLogger("sitegate.central")


class Receiver:
    def __init__(self, ingest: Ingest, broker: BrokerConfig, *, signer,
                 client_id: str | None = None, share: str | None = None, delay_s: float = 0.0,
                 roster=None, push_interval_s: float = 5.0) -> None:
        """``signer``: central's signing key (``central.roster.load_signer``).  ``client_id``
        defaults to the broker user name (the shipped broker binds them), else
        ``sitegate-central``."""
        self.ingest = ingest
        self.signer = signer
        self.refused: list[str] = []      # subscriptions the broker refused
        self.roster = roster              # RosterService: answers roster-req, pushes changes
        self.push_interval_s = push_interval_s
        self.broker = broker
        self.share = share
        self.delay_s = delay_s            # test knob: a deliberately slow receiver
        self.connected = threading.Event()
        self.client = new_client(broker, client_id or broker.username or "sitegate-central")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.5, 10)

    @property
    def subscription(self) -> str:
        return self._shared(f"{TOPIC_ROOT}/+/blocks")

    def _shared(self, filt: str) -> str:
        return f"$share/{self.share}/{filt}" if self.share else filt

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                connect(self.client, self.broker)
                break
            except OSError as exc:
                log.warning("broker %s unreachable (%s); retrying", self.broker.display(), exc)
                stop.wait(1.0)
        self.client.loop_start()
        while not stop.wait(self.push_interval_s if self.roster else None):
            try:
                self.roster.push_pending(lambda t, p: self.client.publish(t, p, qos=1))
            except Exception:  # noqa: BLE001 - a database hiccup must not stop the receiver
                log.exception("roster push failed")
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the receiver: %s", reason_code)
            return
        self._pending_subs = {}
        for filt in [self.subscription] + ([self._shared(f"{TOPIC_ROOT}/+/roster-req")]
                                           if self.roster is not None else []):
            _, mid = client.subscribe(filt, qos=1)
            self._pending_subs[mid] = filt
        self.connected.set()
        log.info("receiver subscribed to %s on %s", self.subscription, self.broker.display())

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        filt = getattr(self, "_pending_subs", {}).pop(mid, "?")
        if any(rc.is_failure for rc in reason_codes):
            self.refused.append(filt)
            log.error("the broker refused the subscription %s: is this user in the broker's "
                      "central group, and is --share the group the broker allows (central)?", filt)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("receiver disconnected (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        if message.topic.endswith("/roster-req"):
            self._roster_request(client, message)
            return
        verdict = self.ingest.handle(message.topic, bytes(message.payload))
        if verdict.ack is not None and verdict.ack_topic is not None:
            client.publish(verdict.ack_topic, sign_ack(verdict.ack, self.signer), qos=1)

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
