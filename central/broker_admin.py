"""Broker accounts for Mosquitto's dynamic-security plugin: who may connect, with which client
id, and which topics each may publish, subscribe to and receive -- checked at subscribe time.

The shipped policy is ``config/mosquitto-dynsec.json`` (roles and groups, no clients).  This
module makes the plugin's file from it with the first admin (``init_config``: offline, before
the broker starts) and then adds central workers and gateways through the plugin's own
``$CONTROL/dynamic-security/v1`` topic (``send``: online, nobody is disconnected).

* A gateway ``G`` gets user ``G``, client id ``G`` (bound: any other id is refused at CONNECT)
  and its own role ``gateway-G``: publish ``sitegate/v1/G/{blocks,state,roster-req}``,
  subscribe and receive ``sitegate/v1/G/{ack,roster}``.  Mosquitto 2.0's plugin has no
  ``%u`` patterns, hence one role per gateway.
* A central worker ``N`` gets user ``N``, client id ``N`` and the group ``sitegate-central``,
  and the same again as ``N.acks`` (same password) for its ack connection:
  subscribe ``$share/central/sitegate/v1/+/{blocks,roster-req}``, publish every gateway's
  ``ack`` and ``roster``.  N workers share one subscription through the ``$share/central``
  group; each has its own credential, so one stolen worker password can be revoked alone.

Pure parts (commands, hashes) are separate from the one function that talks to the broker.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from pathlib import Path

from uplink.broker import BrokerConfig, connect, new_client
from uplink.wire import check_gateway_id, topic

CONTROL = "$CONTROL/dynamic-security/v1"
CENTRAL_GROUP = "sitegate-central"
ADMIN_ROLE = "sitegate-admin"


def _shipped_policy() -> Path:
    """config/mosquitto-dynsec.json of the checkout, else of the installed wheel (its data-only
    package ``sitegate_files``, see setup.py)."""
    checkout = Path(__file__).resolve().parents[1] / "config" / "mosquitto-dynsec.json"
    if checkout.is_file():
        return checkout
    import importlib.util
    spec = importlib.util.find_spec("sitegate_files")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if (Path(loc) / "config" / "mosquitto-dynsec.json").is_file():
            return Path(loc) / "config" / "mosquitto-dynsec.json"
    return checkout                      # reading it then names the path that is missing


TEMPLATE = _shipped_policy()
ADMIN_ITERATIONS = 100_000       # a human-chosen password; generated ones use the plugin's 101


class BrokerAdminError(RuntimeError):
    pass


def new_password() -> str:
    """A generated broker password (192 bits): strong enough that the plugin's PBKDF2 cost
    does not matter."""
    return secrets.token_urlsafe(24)


def dynsec_hash(password: str, salt: bytes, iterations: int) -> str:
    """The plugin's stored form: base64 PBKDF2-HMAC-SHA512, 64 bytes, 12-byte salt."""
    return base64.b64encode(hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations,
                                                64)).decode()


def init_config(template: dict, admin: str, password: str, *, salt: bytes | None = None,
                iterations: int = ADMIN_ITERATIONS) -> dict:
    """The plugin's file: the shipped policy plus the admin client (role sitegate-admin)."""
    if not admin or not password:
        raise BrokerAdminError("an admin user name and password are needed")
    if not any(r.get("rolename") == ADMIN_ROLE for r in template.get("roles", [])):
        raise BrokerAdminError(f"the policy file has no {ADMIN_ROLE} role")
    salt = salt or secrets.token_bytes(12)
    cfg = json.loads(json.dumps(template))
    if any(c.get("username") == admin for c in cfg.get("clients", [])):
        raise BrokerAdminError(f"user {admin!r} already exists in the policy file")
    cfg.setdefault("clients", []).append({
        "username": admin, "clientid": admin, "textname": "sitegate broker admin",
        "password": dynsec_hash(password, salt, iterations),
        "salt": base64.b64encode(salt).decode(), "iterations": iterations,
        "roles": [{"rolename": ADMIN_ROLE}]})
    return cfg


def gateway_role(gw: str) -> dict:
    check_gateway_id(gw)
    acls = [{"acltype": "publishClientSend", "topic": topic(gw, k), "allow": True}
            for k in ("blocks", "state", "roster-req")]
    for k in ("ack", "roster"):
        acls += [{"acltype": "subscribeLiteral", "topic": topic(gw, k), "allow": True},
                 {"acltype": "publishClientReceive", "topic": topic(gw, k), "allow": True}]
    return {"rolename": f"gateway-{gw}", "textname": f"sitegate gateway {gw}", "acls": acls}


def add_gateway_commands(gw: str, password: str) -> list[dict]:
    role = gateway_role(gw)
    return [dict(role, command="createRole"),
            {"command": "createClient", "username": gw, "clientid": gw, "password": password,
             "textname": f"sitegate gateway {gw}", "roles": [{"rolename": role["rolename"]}]}]


ACK_SUFFIX = ".acks"     # central.receiver's ack connection: user = client id = NAME.acks


def add_central_commands(name: str, password: str) -> list[dict]:
    """The worker ``name`` and its ack connection ``name.acks`` (same password, same group:
    each is a client id bound to its own user, as the broker requires; the receiver publishes
    acks on the second so they never wait behind the blocks it reads)."""
    check_gateway_id(name)           # the same character set: it is also the client id
    check_gateway_id(name + ACK_SUFFIX)
    return [{"command": "createClient", "username": user, "clientid": user,
             "password": password, "textname": text,
             "groups": [{"groupname": CENTRAL_GROUP}]}
            for user, text in ((name, "sitegate-central worker"),
                               (name + ACK_SUFFIX, "sitegate-central worker's acks"))]


def remove_commands(name: str, gateway: bool) -> list[dict]:
    out = [{"command": "deleteClient", "username": name}]
    if gateway:
        out.append({"command": "deleteRole", "rolename": f"gateway-{name}"})
    return out


def send(admin: BrokerConfig, commands: list[dict], timeout: float = 10.0) -> list[dict]:
    """Send ``commands`` to the plugin as the admin; returns the responses, or raises
    BrokerAdminError naming every command that failed."""
    got, result = threading.Event(), {}
    client = new_client(admin, admin.username or "admin")

    def on_connect(c, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            result["error"] = f"the broker refused the admin login: {reason_code}"
            got.set()
            return
        c.subscribe(CONTROL + "/response", qos=1)

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            result["error"] = "the admin may not read the plugin's responses (wrong role?)"
            got.set()
            return
        c.publish(CONTROL, json.dumps({"commands": commands}), qos=1)

    def on_message(c, userdata, message):
        result["responses"] = json.loads(message.payload).get("responses", [])
        got.set()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        connect(client, admin)
    except OSError as exc:
        raise BrokerAdminError(f"broker {admin.display()} unreachable: {exc}") from exc
    client.loop_start()
    try:
        if not got.wait(timeout):
            raise BrokerAdminError(f"no answer from the dynamic-security plugin on "
                                   f"{admin.display()} in {timeout:g} s (plugin loaded?)")
    finally:
        client.disconnect()
        client.loop_stop()
    if "error" in result:
        raise BrokerAdminError(result["error"])
    failed = [f"{r.get('command')}: {r['error']}" for r in result["responses"] if r.get("error")]
    if failed:
        raise BrokerAdminError("; ".join(failed))
    return result["responses"]
