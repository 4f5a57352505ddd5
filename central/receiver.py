"""The receiver's MQTT shell around ``Ingest``: subscribe, hand each message over, ack.

Processing happens in paho's callback, so the broker's PUBACK to us goes out only after the
commit (paho acknowledges a QoS 1 message when the callback returns) and the broker's own
in-flight limit gives natural back-pressure.  With ``share`` set, several receivers split the
load through ``$share/<group>/...``; a receiver dying mid-block is harmless because gateways
re-send until *our* ack arrives.
"""
from __future__ import annotations

import logging
import threading
import time


from uplink.broker import BrokerConfig, connect, new_client
from uplink.wire import TOPIC_ROOT

from .ingest import Ingest

log = logging.getLogger("sitegate.central")


class Receiver:
    def __init__(self, ingest: Ingest, broker: BrokerConfig, *, client_id: str = "sitegate-central",
                 share: str | None = None, delay_s: float = 0.0) -> None:
        self.ingest = ingest
        self.broker = broker
        self.share = share
        self.delay_s = delay_s            # test knob: a deliberately slow receiver
        self.connected = threading.Event()
        self.client = new_client(broker, client_id)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.5, 10)

    @property
    def subscription(self) -> str:
        filt = f"{TOPIC_ROOT}/+/blocks"
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
        stop.wait()
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the receiver: %s", reason_code)
            return
        client.subscribe(self.subscription, qos=1)
        self.connected.set()
        log.info("receiver subscribed to %s on %s", self.subscription, self.broker.display())

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("receiver disconnected (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        verdict = self.ingest.handle(message.topic, bytes(message.payload))
        if verdict.ack is not None and verdict.ack_topic is not None:
            client.publish(verdict.ack_topic, verdict.ack, qos=1)
