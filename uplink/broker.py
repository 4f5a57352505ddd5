"""Broker connection settings, shared by the gateway and central (part of the protocol binding).

``mqtt://host:port`` is plain TCP, ``mqtts://host:port`` is TLS (CA file, optional client
certificate); credentials are per gateway.  Every connection is a fresh paho 2.x client: the
outbox, not paho's in-memory queue, is the source of truth.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class BrokerConfig:
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive: int = 30
    protocol: str = "3.1.1"          # or "5"

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"broker url {self.url!r}: scheme must be mqtt:// or mqtts://")
        if not parsed.hostname:
            raise ValueError(f"broker url {self.url!r} has no host")
        if self.protocol not in ("3.1.1", "5"):
            raise ValueError(f"MQTT protocol {self.protocol!r}: use 3.1.1 or 5")

    @property
    def host(self) -> str:
        return urlparse(self.url).hostname or "127.0.0.1"

    @property
    def tls(self) -> bool:
        return urlparse(self.url).scheme in ("mqtts", "ssl")

    @property
    def port(self) -> int:
        return urlparse(self.url).port or (8883 if self.tls else 1883)

    def display(self) -> str:
        """The URL without credentials, for logs."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def new_client(cfg: BrokerConfig, client_id: str) -> mqtt.Client:
    """A configured, not yet connected paho client (clean session, TLS, credentials)."""
    v5 = cfg.protocol == "5"
    kwargs: dict[str, Any] = dict(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=client_id, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    if not v5:
        kwargs["clean_session"] = True
    client = mqtt.Client(**kwargs)
    client.suppress_exceptions = True        # a bug in a callback must not kill the loop
    if cfg.username is not None:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.tls:
        client.tls_set(ca_certs=cfg.ca_file, certfile=cfg.cert_file, keyfile=cfg.key_file,
                       cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    return client


def connect(client: mqtt.Client, cfg: BrokerConfig) -> None:
    """Open the TCP/TLS connection and send CONNECT (CONNACK arrives through the loop)."""
    if cfg.protocol == "5":
        client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive, clean_start=True)
    else:
        client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive)
