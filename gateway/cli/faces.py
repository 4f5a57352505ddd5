"""`sitegate faces …`: thin shells over biometrics and the site's template store.

Data lives in SITEGATE_HOME (templates in ``faces/templates.db``, roster in ``roster.db``, SM4
keys under ``keys/``); thresholds come from ``[faces]`` in site.toml when it exists, else the
measured defaults. Screens never show an ID number unmasked; JSON never carries one.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.cli.options import config_option, emit as _emit, open_store, site, worker_id_param as _worker_id
from gateway.site import thresholds

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
@click.option("--json", "as_json", is_flag=True)
def remove(config, worker_id, as_json):
    """Delete WORKER_ID's face templates for good (rows deleted, file vacuumed)."""
    _worker_id(worker_id)
    cfg = site(config)
    store = open_store(cfg)
    n = store.remove(worker_id)
    store.close()
    if not n:
        raise click.ClickException(f"{worker_id} has no enrolled templates")
    _emit({"worker_id": worker_id, "templates_deleted": n}, as_json, f"{worker_id}: {n} template(s) deleted")
