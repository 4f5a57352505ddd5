"""`sitegate-central`: receiver, key registry, verification and audit export.

Every command is a thin shell over a library call.  Data lives under ``$SITEGATE_HOME``
(default ``~/.sitegate``): the default database is ``central/central.db`` there, so commands
run after ``sitegate demo`` find the demo's data.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from uplink.broker import BrokerConfig
from uplink.sm2 import SM2Error, public_key_from_pem, public_key_pem, validate_public_key
from uplink.wire import WireError, check_gateway_id

from . import audit, cli_broker, cli_ops, cli_platform, cli_rules
from .cli_common import db_option, emit, home, json_option, open_store, progress_bar

console = Console(stderr=True)


@click.group()
@click.version_option(package_name="sitegate")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def main(verbose: int) -> None:
    """sitegate-central: receiver, registry and exports."""
    os.umask(0o077)          # files this program makes are its owner's only, unit or not
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------- run
@main.command()
@db_option
@click.option("--broker", "broker_url", default="mqtt://127.0.0.1:1883", show_default=True,
              envvar="SITEGATE_BROKER_URL", help="mqtt://host:port or mqtts://host:port "
              "[env SITEGATE_BROKER_URL]")
@click.option("--username", envvar="SITEGATE_BROKER_USERNAME",
              help="This worker's broker user (one per worker) [env SITEGATE_BROKER_USERNAME]")
@click.option("--password", envvar="SITEGATE_BROKER_PASSWORD",
              help="[env SITEGATE_BROKER_PASSWORD]")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              envvar="SITEGATE_BROKER_CA_FILE", help="[env SITEGATE_BROKER_CA_FILE]")
@click.option("--cert-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--client-id", default=None,
              help="Default: the user name (the shipped broker requires that), else "
                   "sitegate-central-<pid>.")
@click.option("--share", metavar="GROUP", help="Join shared subscription $share/GROUP/... "
              "(the shipped broker allows the group central).")
@click.option("--max-payload", default=512 * 1024, show_default=True)
@click.option("--delay-ms", default=0, hidden=True, help="Test knob: slow every message down.")
@click.option("--ready-file", type=click.Path(dir_okay=False), hidden=True)
@click.option("--ready-wait-s", type=float, default=30.0, hidden=True,
              help="How long to wait for the broker before telling systemd READY anyway.")
@click.option("--park-gaps/--no-park-gaps", default=None,
              help="Keep blocks that overtake their predecessor until it arrives (default: on "
                   "with --share).")
@click.option("--roster/--no-roster", default=True, show_default=True,
              help="Answer roster requests and push roster changes.")
@click.option("--intake/--no-intake", default=True, show_default=True,
              help="Take workers registered on site into the registry (registration records, "
                   "opened with $SITEGATE_HOME/central/intake.key).")
@click.option("--batch-max", default=64, show_default=True, type=click.IntRange(1, 1000),
              help="Blocks committed in one database transaction at most.")
@click.option("--busy-after-ms", default=2000, show_default=True, type=click.IntRange(0),
              help="Answer a block busy when the queued blocks would take longer than this "
                   "to commit (docs/scale.md).")
@click.option("--queue-max", default=5000, show_default=True, type=click.IntRange(1),
              help="Queued blocks at most (then busy whatever the rate).")
@click.option("--park-expire-s", default=120.0, show_default=True, type=click.FloatRange(1),
              help="Parked blocks whose predecessor has not come after this long are dropped "
                   "and counted (the gateway re-sends them).")
@click.option("--ack-connection/--no-ack-connection", default=True, show_default=True,
              help="Publish acks on a second connection, user and client id NAME.acks "
                   "(made by `broker add-central NAME`).")
def run(db, broker_url, username, password, ca_file, cert_file, key_file, client_id, share,
        max_payload, delay_ms, ready_file, ready_wait_s, park_gaps, roster, intake, batch_max,
        busy_after_ms, queue_max, park_expire_s, ack_connection):
    """Receive, verify, store and acknowledge gateway blocks until stopped.

    Acks and roster updates are signed with central's key ($SITEGATE_HOME/central/signing.key,
    made on first use; `sitegate-central key` prints its public half for the gateways)."""
    from .admission import Admission
    from .ingest import Ingest
    from .receiver import Receiver
    from .roster import RosterService, load_signer

    logging.getLogger("sitegate").setLevel(logging.INFO)
    store = open_store(db)
    if intake:
        from .crypto import FieldCipher, load_key
        from .intake import Intake, load_intake_key
        store.derivers.append(Intake(FieldCipher(load_key(home())), load_intake_key(home())).derive)
    broker = BrokerConfig(broker_url, username=username, password=password, ca_file=ca_file,
                          cert_file=cert_file, key_file=key_file)
    ingest = Ingest(store, max_payload=max_payload,
                    park=bool(share) if park_gaps is None else park_gaps)
    signer = load_signer(home())
    roster_service = None
    if roster:
        from .crypto import FieldCipher, load_key
        roster_service = RosterService(store, signer, FieldCipher(load_key(home())))
    receiver = Receiver(ingest, broker, signer=signer, share=share, delay_s=delay_ms / 1000,
                        client_id=client_id or username or f"sitegate-central-{os.getpid()}",
                        roster=roster_service, batch_max=batch_max,
                        admission=Admission(busy_after_ms=busy_after_ms, queue_max=queue_max),
                        ack_connection=ack_connection, park_expire_s=park_expire_s)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    from uplink.sdnotify import Notifier
    notifier = Notifier()

    def mark_ready():
        # systemd (Type=notify): ready once subscribed, so units ordered after us find a
        # receiver that is listening; STATUS shows the counters while running
        if receiver.connected.wait(ready_wait_s):
            notifier.notify("READY=1", f"STATUS=receiving on {broker.display()}")
            if ready_file:
                Path(ready_file).write_text("ready\n")
        else:
            notifier.notify("READY=1", f"STATUS=broker {broker.display()} not reachable yet; retrying")
        while not stop.wait(5):
            c = ingest.counters
            notifier.notify(f"STATUS={'connected' if receiver.connected.is_set() else 'disconnected'}; "
                            f"records stored {c.get('records_ok', 0)}, rejected blocks {c.get('rejected', 0)}, "
                            f"queued {receiver.queue_depth}, busy answers {c.get('busy', 0)}")
    threading.Thread(target=mark_ready, daemon=True, name="notify").start()
    receiver.run(stop)
    notifier.notify("STOPPING=1")
    click.echo(json.dumps({"counters": dict(ingest.counters)}, sort_keys=True))


# ---------------------------------------------------------------- gateways
@main.group()
def gateways() -> None:
    """Register gateways and their SM2 public keys."""


def _read_public_key(value: str) -> str:
    path = Path(value)
    text = path.read_text() if path.exists() else value
    try:
        if "BEGIN PUBLIC KEY" in text:
            return public_key_from_pem(text)
        return validate_public_key(text.strip())
    except SM2Error as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from exc


@gateways.command("add")
@click.argument("gateway_id", metavar="GATEWAY_ID|BUNDLE")
@click.option("--public-key", metavar="FILE|HEX",
              help="PEM file, or 128 hex digits X||Y (not needed with a BUNDLE).")
@click.option("--project", help="Project code the gateway serves (a BUNDLE carries it).")
@click.option("--label")
@click.option("--replace", is_flag=True, help="Rotate the key of an existing gateway.")
@json_option
@db_option
def gateways_add(gateway_id, public_key, project, label, replace, as_json, db):
    """Register GATEWAY_ID with its public key, or register from the BUNDLE file (JSON) that
    `sitegate provision` wrote: its SM2 proof is verified before anything is stored."""
    from uplink.bundle import BundleError, load as load_bundle
    path = Path(gateway_id)
    if path.suffix == ".json" or path.is_file():
        if public_key:
            raise click.UsageError("a BUNDLE carries its key: drop --public-key")
        try:
            b = load_bundle(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise click.BadParameter(f"{path}: no such file", param_hint="BUNDLE") from exc
        except BundleError as exc:
            raise click.ClickException(f"{path}: {exc}") from exc
        if project and project != b["project"]:
            raise click.ClickException(f"bundle is for project {b['project']!r}, not {project!r}")
        gateway_id, key, project = b["gateway_id"], b["public_key"], b["project"]
    else:
        try:
            check_gateway_id(gateway_id)
        except WireError as exc:
            raise click.BadParameter(str(exc), param_hint="GATEWAY_ID") from exc
        if not public_key:
            raise click.UsageError("--public-key is required with a GATEWAY_ID (or pass a BUNDLE file)")
        key = _read_public_key(public_key)
    try:
        open_store(db).add_gateway(gateway_id, key, project, label, replace=replace)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    emit({"gateway_id": gateway_id, "project": project, "label": label, "replaced": replace},
         as_json, f"registered {gateway_id}" + (f" (project {project})" if project else ""))


@gateways.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_option
def gateways_list(as_json, db):
    """List registered gateways with their chain heads."""
    rows = open_store(db).list_gateways()
    if as_json:
        click.echo(json.dumps([{k: r[k] for k in ("gw_id", "project", "label", "enabled",
                                                  "head_seq", "last_seen")} for r in rows]))
        return
    table = Table("gateway", "project", "head seq", "last seen (ms)")
    for r in rows:
        table.add_row(r["gw_id"], r["project"] or "", str(r["head_seq"]), str(r["last_seen"] or ""))
    Console().print(table)


@gateways.command("show")
@click.argument("gateway_id")
@click.option("--json", "as_json", is_flag=True)
@db_option
def gateways_show(gateway_id, as_json, db):
    """Show one gateway: key (PEM), head, counts, rejections by kind."""
    store = open_store(db)
    reg = store.gateway(gateway_id)
    if reg is None:
        raise click.ClickException(f"unknown gateway {gateway_id!r}; "
                                   "register it with `sitegate-central gateways add`")
    info = {k: reg[k] for k in ("gw_id", "project", "label", "enabled", "head_seq", "head_hash",
                                "created_at", "last_seen", "replays", "last_replay_at",
                                "parked_expired", "last_parked_expired_at", "public_key")}
    info.update(store.counts(gateway_id))
    if as_json:
        click.echo(json.dumps(info, sort_keys=True))
        return
    for k, v in info.items():
        click.echo(f"{k:12} {v}")
    click.echo(public_key_pem(reg["public_key"]), nl=False)


# ---------------------------------------------------------------- verify / export
@main.command()
@click.option("--gateway", "gateway_id", help="Only this gateway (default: all).")
@click.option("--json", "as_json", is_flag=True)
@db_option
def verify(gateway_id, as_json, db):
    """Re-verify every stored block: signature, chain, and the records table.  Chain links
    without records (quarantined blocks, gateways' damage reports) are listed, not failed."""
    store = open_store(db)
    heads = {g["gw_id"]: g["head_seq"] or 0 for g in store.list_gateways()}
    ids = [gateway_id] if gateway_id else list(heads)
    results = []
    with progress_bar("verifying records", sum(heads.get(gw, 0) for gw in ids),
                      as_json=as_json) as update:
        base = 0
        for gw in ids:
            results.append(audit.verify_gateway(
                store, gw, progress=lambda seq, head, base=base: update(base + seq)))
            base += heads.get(gw, 0)
    out = [{"gateway": r.gw, "verified_records": r.verified_records,
            "verified_blocks": r.verified_blocks, "last_seq": r.last_seq, "ok": r.ok,
            "problems": r.problems[:50], "rejections": store.rejection_counts(r.gw),
            "unstored": [list(u) for u in r.unstored]}
           for r in results]
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
    else:
        table = Table("gateway", "records", "blocks", "last seq", "ok", "problems",
                      "without records")
        for r in out:
            table.add_row(r["gateway"], str(r["verified_records"]), str(r["verified_blocks"]),
                          str(r["last_seq"]), "yes" if r["ok"] else "NO",
                          "; ".join(r["problems"][:3]),
                          ", ".join(f"{a}..{b} {c}" for a, b, c in r["unstored"]))
        Console().print(table)
    sys.exit(0 if all(r.ok for r in results) else 1)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--gateway", "gateway_id", help="Only this gateway.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary (blocks, records, file) as JSON on stdout; needs -o FILE.")
@db_option
def export(fmt, gateway_id, output, as_json, db):
    """Audit export: each block with its records, signed bytes, signature and public key."""
    if as_json and output.name == "<stdout>":
        raise click.BadParameter("the export itself goes to stdout: give a file with -o to "
                                 "get the --json summary", param_hint="--json")
    store = open_store(db)
    total = sum(g["head_seq"] or 0 for g in store.list_gateways()
                if gateway_id is None or g["gw_id"] == gateway_id)
    done = [0]
    with progress_bar("exporting blocks", total, as_json=as_json) as update:
        def counted(records, _total=None):
            done[0] = records
            update(records)
        n = audit.export_jsonl(store, output, gateway_id, progress=counted)
    if as_json:
        emit({"blocks": n, "records": done[0], "output": output.name}, True, "")
    else:
        console.print(f"exported {n} blocks")


cli_ops.register(main)
cli_rules.register(main)
cli_broker.register(main)
cli_platform.register(main)

if __name__ == "__main__":  # pragma: no cover
    main()
