"""`sitegate roster …`: the site's local roster (names and ID numbers SM4-sealed at rest).

Screens never show an ID number unmasked; JSON never carries one.
"""
from __future__ import annotations

import json

import click

from gateway.cli.options import (config_option, emit, fail, json_option, open_roster, open_store,
                                 progress_bar, site, worker_id_param as _worker_id)
from gateway import words
from gateway.words import tr


def _status(status: str) -> str:
    """A worker's status in the command line's language (the web app's words)."""
    key = f"web.st_{status}"
    return words.text(key, words.cli_lang()) if words.has(key) else status


# ====================================================================== roster
@click.group()
def roster() -> None:
    """The local roster: who may pass (sensitive fields SM4-encrypted)."""


class _BadFile(click.ClickException):
    exit_code = 2


def _roster_call(fn, *args, **kw):
    from gateway.roster.store import RosterError
    try:
        return fn(*args, **kw)
    except RosterError as exc:
        raise click.ClickException(str(exc)) from exc


@roster.command("add")
@config_option
@click.argument("worker_id")
@click.option("--id-number", help="ID number: resident ID, residence permit (81/82/83…) or foreign "
              "permanent-resident number (checked; stored encrypted; looked up by keyed hash).")
@click.option("--name")
@click.option("--status", type=click.Choice(["active", "exited", "suspended"]),
              help="Default for a new worker: active.")
@click.option("--contract-end", help="YYYY-MM-DD")
@click.option("--trade", help="Work type (工种): national code or name, e.g. 020 or 钢筋工.")
@click.option("--special-op", help="Special operation (特种作业) needing a certificate: code or name, "
              "e.g. JZ-01 or 建筑电工 (see `sitegate roster codes`).")
@click.option("--cert-valid-to", help="YYYY-MM-DD: the special-operation certificate's expiry.")
@click.option("--birth", help="YYYY-MM-DD (default: from the ID number)")
@click.option("--gender", type=click.Choice(["male", "female"]))
@click.option("--team", help="Work team (班组), shown on screens and the monthly sheet.")
@json_option
def roster_add(config, worker_id, as_json, **fields):
    """Add a worker, or change an existing worker's given fields (the others are kept)."""
    _worker_id(worker_id)
    ros = open_roster(site(config))
    if ros.get(worker_id) is not None:
        _roster_call(ros.update, worker_id, **fields)
        emit({"worker_id": worker_id, "result": "updated"}, as_json,
             tr("{worker}: updated", worker=worker_id))
        return
    _roster_call(ros.add, worker_id, **{k: v for k, v in fields.items() if v is not None})
    emit({"worker_id": worker_id, "result": "added"}, as_json,
         tr("{worker}: on the roster", worker=worker_id))


@roster.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
def roster_import(config, file, as_json):
    """Import workers from JSON (array), JSON Lines, CSV (UTF-8) or XLSX with a worker_id column
    (and any of id_number, name, status, contract_end, trade, special_op, cert_valid_to, birth,
    gender, blacklisted, blacklist_reason, team).  All rows or none: a bad row is named and nothing
    is imported.  A file that cannot be read safely is refused (exit 2) before the roster is
    opened."""
    from gateway.roster.files import RosterFileError, read_roster_file
    try:
        rows = read_roster_file(file)
    except RosterFileError as exc:
        raise _BadFile(str(exc)) from None
    ros = open_roster(site(config))
    with progress_bar(tr("importing workers"), len(rows), as_json=as_json) as update:
        n = _roster_call(ros.import_records, rows, progress=update)
    emit({"file": file, "imported": n}, as_json, tr("{n} worker(s) imported", n=n))


@roster.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
def roster_list(config, as_json):
    """Workers with their team and status; ID numbers masked."""
    from drivers.sam.idnumber import mask
    ros = open_roster(site(config))
    rows = []
    for w in ros.workers():
        private = ros.private(w.worker_id)
        rows.append({"worker_id": w.worker_id, "status": w.status, "blacklisted": w.blacklisted,
                     "contract_end": w.contract_end and w.contract_end.isoformat(), "trade": w.trade,
                     "special_op": w.special_op,
                     "cert_valid_to": w.cert_valid_to and w.cert_valid_to.isoformat(), "team": w.team,
                     "id_number": mask(private["id_number"]) if private.get("id_number") else None})
    if as_json:
        click.echo(json.dumps(rows, sort_keys=True, ensure_ascii=False))
        return
    for r in rows:
        flag = " " + tr("BLACKLISTED") if r["blacklisted"] else ""
        click.echo(f"{r['worker_id']}  {r['id_number'] or '-':20}  {r['team'] or '-'}  "
                   f"{_status(r['status'])}{flag}")


@roster.command("codes")
@click.option("--json", "as_json", is_flag=True)
def roster_codes(as_json):
    """The work types (工种) and special operations (特种作业) the roster takes, with codes; the
    special operations need a valid certificate at the gate ([roster] special_operations)."""
    from gateway.codes import SPECIAL_OPERATIONS, WORK_TYPES
    ops = {c: {"zh": o.zh, "en": o.en, "source": o.source, "work_type": o.work_type}
           for c, o in SPECIAL_OPERATIONS.items()}
    if as_json:
        click.echo(json.dumps({"work_types": WORK_TYPES, "special_operations": ops},
                              ensure_ascii=False, sort_keys=True))
        return
    click.echo(tr("work types (工种):"))
    for code, name in WORK_TYPES.items():
        click.echo(f"  {code:>4}  {name}")
    click.echo(tr("special operations (特种作业, certificate required):"))
    for code, o in SPECIAL_OPERATIONS.items():
        also = "  " + tr("(= work type {code})", code=o.work_type) if o.work_type else ""
        click.echo(f"  {code:<7} {o.zh} / {o.en}{also}")


@roster.command("blacklist")
@config_option
@click.argument("worker_id")
@click.option("--reason", required=True)
@click.option("--off", is_flag=True, help="Take the worker off the blacklist.")
@json_option
def roster_blacklist(config, worker_id, reason, off, as_json):
    """Refuse WORKER_ID at every lane (the denial record carries reason "blacklisted")."""
    ros = open_roster(site(config))
    _roster_call(ros.blacklist, worker_id, reason, on=not off)
    emit({"worker_id": worker_id, "blacklisted": not off}, as_json,
         tr("{worker}: off the blacklist", worker=worker_id) if off else
         tr("{worker}: on the blacklist", worker=worker_id))


@roster.command("status")
@config_option
@click.argument("worker_id")
@click.argument("status", type=click.Choice(["active", "exited", "suspended"]))
@json_option
def roster_status(config, worker_id, status, as_json):
    """Set WORKER_ID's status (exited workers are refused)."""
    ros = open_roster(site(config))
    _roster_call(ros.set_status, worker_id, status)
    emit({"worker_id": worker_id, "status": status}, as_json, f"{worker_id}: {_status(status)}")


@roster.command("remove")
@config_option
@click.argument("worker_id")
@json_option
def roster_remove(config, worker_id, as_json):
    """Delete WORKER_ID from the roster and delete their face templates (PIPL: deletion on exit)."""
    cfg = site(config)
    ros = open_roster(cfg)
    gone = ros.remove(worker_id)
    n = open_store(cfg).remove(worker_id)
    if not gone and not n:
        raise fail("{worker} is not on the roster", worker=worker_id)
    emit({"worker_id": worker_id, "removed": bool(gone), "face_templates_deleted": n}, as_json,
         tr("{worker}: removed from the roster, {n} face template(s) deleted", worker=worker_id, n=n))
