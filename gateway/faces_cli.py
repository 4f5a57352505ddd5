"""`sitegate faces …` and `sitegate roster …`: thin shells over biometrics and gateway.roster.

Data lives in SITEGATE_HOME (templates in ``faces/templates.db``, roster in ``roster.db``, SM4
keys under ``keys/``); thresholds come from ``[faces]`` in site.toml when it exists, else the
measured defaults. Screens never show an ID number unmasked; JSON never carries one.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import click

from .config import ConfigError, SiteConfig, load, parse

config_option = click.option("-c", "--config", default="site.toml", show_default=True,
                             type=click.Path(dir_okay=False),
                             help="Site configuration ([faces], [roster]); defaults apply when absent.")


def site(config: str) -> SiteConfig:
    try:
        if Path(config).exists():
            return load(config)
        return parse({"gateway": {"id": "unconfigured"}})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def thresholds(cfg: SiteConfig):
    from biometrics.matching import Thresholds
    f = cfg.faces
    return Thresholds(verify=f.verify, verify_nearest=f.verify_nearest, verify_z=f.verify_z,
                      min_cohort=f.min_cohort, identify=f.identify, margin=f.margin)


def open_store(cfg: SiteConfig):
    from biometrics.store import TemplateStore
    try:
        return TemplateStore(cfg.faces.store, key_file=cfg.home / "keys" / "templates.sm4")
    except (PermissionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def open_roster(cfg: SiteConfig):
    from .roster import Roster
    from biometrics.crypto import load_or_create_key
    try:
        return Roster(cfg.roster.path, key=load_or_create_key(cfg.home / "keys" / "roster.sm4"))
    except (PermissionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _worker_id(value: str) -> str:
    from .roster import RosterError, check_worker_id
    try:
        return check_worker_id(value)
    except RosterError as exc:
        raise click.BadParameter(str(exc)) from exc


def _emit(result: dict, as_json: bool, human: str) -> None:
    click.echo(json.dumps(result, sort_keys=True, ensure_ascii=False) if as_json else human)


def _probe(image: str):
    """(encoding, None) or (None, error dict) for one probe image."""
    from biometrics.faces import FaceError, Quality, analyse
    try:
        return analyse(image, Quality.probe(), detect_width=640).encoding, None
    except FaceError as exc:
        return None, {"worker_id": None, "distance": None, "margin": None, "decision": "error",
                      "reason": exc.reason, "message": str(exc)}


# ====================================================================== faces
@click.group()
def faces() -> None:
    """Face templates: enrol, verify (1:1), identify (1:N), calibrate, remove."""


@faces.command()
@config_option
@click.argument("worker_id")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def enroll(config, worker_id, images, as_json):
    """Enrol WORKER_ID from IMAGE... (2-3 frontal photos recommended); replaces old templates."""
    from biometrics.enrol import enrol_images
    _worker_id(worker_id)
    cfg = site(config)
    res = enrol_images([(Path(i).name, i) for i in images])
    rejected = [{"image": label, "reason": reason, "message": msg} for label, reason, msg in res.rejected]
    if res.ok:
        store = open_store(cfg)
        store.add(worker_id, res.accepted)
        store.close()
    out = {"worker_id": worker_id, "templates": len(res.accepted), "rejected": rejected,
           "decision": "enrolled" if res.ok else "rejected",
           "reason": "ok" if res.ok else (rejected[-1]["reason"] if rejected else "no_images")}
    human = (f"{worker_id}: enrolled {len(res.accepted)} template(s)" if res.ok else f"{worker_id}: not enrolled")
    for r in rejected:
        human += f"\n  rejected {r['image']}: {r['reason']} ({r['message']})"
    if res.ok and len(res.accepted) < 2:
        human += "\n  hint: enrol 2-3 photos per worker; one photo gives a weaker template"
    _emit(out, as_json, human)
    sys.exit(0 if res.ok else 1)


def _match_out(match, as_json: bool) -> None:
    out = match.as_dict()
    d = "-" if out["distance"] is None else f"{out['distance']:.3f}"
    m = "-" if out["margin"] is None else f"{out['margin']:.3f}"
    _emit(out, as_json, f"{out['decision']}: worker {out['worker_id'] or '(nobody)'} "
                        f"distance {d} margin {m} ({out['reason']})")
    sys.exit(0 if out["decision"] == "match" else 1)


@faces.command()
@config_option
@click.argument("worker_id")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def verify(config, worker_id, image, as_json):
    """1:1: is the face in IMAGE enrolled worker WORKER_ID? Exit 0 on a match."""
    _worker_id(worker_id)
    cfg = site(config)
    enc, err = _probe(image)
    if err:
        err["worker_id"] = worker_id
        _emit(err, as_json, f"error: {err['reason']} ({err['message']})")
        sys.exit(1)
    store = open_store(cfg)
    _match_out(store.gallery().verify(worker_id, enc, thresholds(cfg)), as_json)


@faces.command()
@config_option
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def identify(config, image, as_json):
    """1:N: who is in IMAGE? Only a clear best match (distance and margin rule) counts."""
    cfg = site(config)
    enc, err = _probe(image)
    if err:
        _emit(err, as_json, f"error: {err['reason']} ({err['message']})")
        sys.exit(1)
    store = open_store(cfg)
    _match_out(store.gallery().identify(enc, thresholds(cfg)), as_json)


@faces.command()
@config_option
@click.option("--target-far", default=0.001, show_default=True, type=click.FloatRange(1e-6, 0.5),
              help="False-accept rate the 1:1 threshold must not exceed.")
@click.option("--json", "as_json", is_flag=True)
def calibrate(config, target_far, as_json):
    """Genuine/impostor distances on this site's enrolments → recommended 1:1 threshold."""
    from biometrics.calibrate import calibrate as run
    cfg = site(config)
    store = open_store(cfg)
    cal = run(store.templates(), target_far)
    out = cal.as_dict() | {"current": thresholds(cfg).as_dict()}
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
        return
    f = lambda v, p=3: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
    click.echo(f"workers {cal.workers}, genuine pairs {cal.genuine_pairs}, impostor pairs {cal.impostor_pairs}")
    click.echo(f"genuine median {f(cal.genuine_median)}, impostor median {f(cal.impostor_median)}, "
               f"impostor 0.1% quantile {f(cal.impostor_p001)}")
    click.echo(f"EER {f(cal.eer and cal.eer * 100, 1)} % at {f(cal.eer_threshold)}")
    if cal.threshold is not None:
        click.echo(f"for FAR <= {target_far:g}: threshold {cal.threshold:.3f} "
                   f"(FAR {cal.far:.4%}, FRR {'-' if cal.frr is None else f'{cal.frr:.1%}'})")
    if cal.recommended is not None:
        click.echo(f"current [faces] verify = {out['current']['verify']}; to adopt, put in site.toml:\n"
                   f"  [faces]\n  verify = {cal.recommended:.3f}")
    else:
        click.echo(f"not enough data to recommend a change: keep [faces] verify = {out['current']['verify']}")
    for w in cal.warnings:
        click.echo(f"warning: {w}")


@faces.command()
@config_option
@click.argument("worker_id")
def remove(config, worker_id):
    """Delete WORKER_ID's face templates for good (rows deleted, file vacuumed)."""
    _worker_id(worker_id)
    cfg = site(config)
    store = open_store(cfg)
    n = store.remove(worker_id)
    store.close()
    if not n:
        raise click.ClickException(f"{worker_id} has no enrolled templates")
    click.echo(f"{worker_id}: {n} template(s) deleted")


# ====================================================================== roster
@click.group()
def roster() -> None:
    """The local roster: who may pass (sensitive fields SM4-encrypted)."""


def _roster_call(fn, *args, **kw):
    from .roster import RosterError
    try:
        return fn(*args, **kw)
    except RosterError as exc:
        raise click.ClickException(str(exc)) from exc


@roster.command("add")
@config_option
@click.argument("worker_id")
@click.option("--id-number", help="Resident ID number (stored encrypted; looked up by keyed hash).")
@click.option("--name")
@click.option("--status", type=click.Choice(["active", "exited", "suspended"]),
              help="Default for a new worker: active.")
@click.option("--contract-end", help="YYYY-MM-DD")
@click.option("--trade", help="Special trade (特种作业) needing a certificate.")
@click.option("--cert-valid-to", help="YYYY-MM-DD")
@click.option("--birth", help="YYYY-MM-DD (default: from the ID number)")
@click.option("--gender", type=click.Choice(["male", "female"]))
@click.option("--team", help="Work team (班组), shown on screens and the monthly sheet.")
def roster_add(config, worker_id, **fields):
    """Add a worker, or change an existing worker's given fields (the others are kept)."""
    _worker_id(worker_id)
    ros = open_roster(site(config))
    if ros.get(worker_id) is not None:
        _roster_call(ros.update, worker_id, **fields)
        click.echo(f"{worker_id}: updated")
        return
    _roster_call(ros.add, worker_id, **{k: v for k, v in fields.items() if v is not None})
    click.echo(f"{worker_id}: on the roster")


@roster.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def roster_import(config, file):
    """Import workers from JSON (array), JSON Lines or CSV with a worker_id column."""
    text = Path(file).read_text(encoding="utf-8-sig")
    try:
        if file.lower().endswith(".csv"):
            rows = [{k: v for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(io.StringIO(text))]
            for r in rows:
                if "blacklisted" in r:
                    r["blacklisted"] = r["blacklisted"].strip().lower() in ("1", "true", "yes")
        elif text.lstrip().startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, csv.Error) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    if not all(isinstance(r, dict) for r in rows):
        raise click.ClickException(f"{file}: every record must be an object")
    ros = open_roster(site(config))
    n = _roster_call(ros.import_records, rows)
    click.echo(f"{n} worker(s) imported")


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
                     "cert_valid_to": w.cert_valid_to and w.cert_valid_to.isoformat(), "team": w.team,
                     "id_number": mask(private["id_number"]) if private.get("id_number") else None})
    if as_json:
        click.echo(json.dumps(rows, sort_keys=True, ensure_ascii=False))
        return
    for r in rows:
        flag = " BLACKLISTED" if r["blacklisted"] else ""
        click.echo(f"{r['worker_id']}  {r['id_number'] or '-':20}  {r['team'] or '-'}  {r['status']}{flag}")


@roster.command("blacklist")
@config_option
@click.argument("worker_id")
@click.option("--reason", required=True)
@click.option("--off", is_flag=True, help="Take the worker off the blacklist.")
def roster_blacklist(config, worker_id, reason, off):
    """Refuse WORKER_ID at every lane (the denial record carries reason "blacklisted")."""
    ros = open_roster(site(config))
    _roster_call(ros.blacklist, worker_id, reason, on=not off)
    click.echo(f"{worker_id}: {'off' if off else 'on'} the blacklist")


@roster.command("status")
@config_option
@click.argument("worker_id")
@click.argument("status", type=click.Choice(["active", "exited", "suspended"]))
def roster_status(config, worker_id, status):
    """Set WORKER_ID's status (exited workers are refused)."""
    ros = open_roster(site(config))
    _roster_call(ros.set_status, worker_id, status)
    click.echo(f"{worker_id}: {status}")


@roster.command("remove")
@config_option
@click.argument("worker_id")
def roster_remove(config, worker_id):
    """Delete WORKER_ID from the roster and delete their face templates (PIPL: deletion on exit)."""
    cfg = site(config)
    ros = open_roster(cfg)
    gone = ros.remove(worker_id)
    n = open_store(cfg).remove(worker_id)
    if not gone and not n:
        raise click.ClickException(f"{worker_id} is not on the roster")
    click.echo(f"{worker_id}: removed from the roster, {n} face template(s) deleted")
