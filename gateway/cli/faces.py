"""`sitegate faces …`: thin shells over biometrics and the site's template store.

Data lives in SITEGATE_HOME (templates in ``faces/templates.db``, roster in ``roster.db``, SM4
keys under ``keys/``); the model and thresholds come from ``[faces]`` in site.toml when it
exists, else the defaults (MobileFaceNet, measured thresholds). A refused photo says why in
Chinese and English (``gateway/clockin/reasons.py``); the screen uses Chinese under a zh
locale. Screens never show an ID number unmasked; JSON never carries one.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from gateway.cli.options import config_option, emit as _emit, open_store, site, worker_id_param as _worker_id
from gateway.clockin.reasons import messages
from gateway.site import SiteError, calibration_files, face_engine


def _lang() -> str:
    loc = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def _engine(cfg, model: str | None = None):
    from biometrics.engines import get_engine
    from biometrics.modelfiles import ModelMissing
    try:
        return face_engine(cfg) if model in (None, cfg.faces.model) else get_engine(model, cfg.faces.models)
    except (SiteError, ModelMissing) as exc:
        raise click.ClickException(str(exc)) from exc


def _probe(cfg, image: str, model: str | None = None):
    """(encoding, None) or (None, error dict) for one probe image."""
    from biometrics.faces import FaceError, Quality, analyse
    try:
        return analyse(image, Quality.probe(), detect_width=640, engine=_engine(cfg, model)).encoding, None
    except FaceError as exc:
        return None, {"worker_id": None, "distance": None, "margin": None, "decision": "error",
                      "reason": exc.reason, "message": str(exc), **messages(exc.reason)}


def _service(cfg, store):
    from gateway.clockin.faces import face_service
    return face_service(cfg, store)


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
    """Enrol WORKER_ID from IMAGE... (2-3 frontal photos recommended); replaces old templates.

    A photo that is not frontal, blurred, too dark, shows two faces or a face too small is
    refused with the reason (Chinese and English)."""
    from biometrics.enrol import enrol_images
    _worker_id(worker_id)
    cfg = site(config)
    res = enrol_images([(Path(i).name, i) for i in images], engine=_engine(cfg))
    rejected = [{"image": label, "reason": reason, "detail": msg, **messages(reason)}
                for label, reason, msg in res.rejected]
    if res.ok:
        store = open_store(cfg)
        store.add(worker_id, res.accepted, model=res.model)
        store.close()
    out = {"worker_id": worker_id, "templates": len(res.accepted), "rejected": rejected, "model": res.model,
           "decision": "enrolled" if res.ok else "rejected",
           "reason": "ok" if res.ok else (rejected[-1]["reason"] if rejected else "no_images")}
    human = (f"{worker_id}: enrolled {len(res.accepted)} template(s) ({res.model})" if res.ok
             else f"{worker_id}: not enrolled")
    lang = _lang()
    for r in rejected:
        human += f"\n  rejected {r['image']}: {r['message_' + lang]} [{r['reason']}: {r['detail']}]"
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
    faces = _service(cfg, open_store(cfg))
    model = faces.legacy_model_of(worker_id) or faces.model      # a worker still on an older model
    enc, err = _probe(cfg, image, model)
    if err:
        err["worker_id"] = worker_id
        _emit(err, as_json, f"error: {err['reason']} ({err['message_' + _lang()]})")
        sys.exit(1)
    _match_out(faces.galleries()[model].verify(worker_id, enc, faces.thresholds_for(model)), as_json)


@faces.command()
@config_option
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def identify(config, image, as_json):
    """1:N: who is in IMAGE? Only a clear best match (distance and margin rule) counts."""
    cfg = site(config)
    enc, err = _probe(cfg, image)
    if err:
        _emit(err, as_json, f"error: {err['reason']} ({err['message_' + _lang()]})")
        sys.exit(1)
    faces = _service(cfg, open_store(cfg))
    _match_out(faces.gallery().identify(enc, faces.thresholds), as_json)


@faces.command()
@config_option
@click.option("--target-far", default=0.001, show_default=True, type=click.FloatRange(1e-6, 0.5),
              help="False-accept rate the 1:1 threshold must not exceed.")
@click.option("--png", "png", type=click.Path(dir_okay=False), default=None,
              help="Where to write the picture (default: faces/calibration.png in SITEGATE_HOME, "
                   "which the web app shows).")
@click.option("--json", "as_json", is_flag=True)
def calibrate(config, target_far, png, as_json):
    """Genuine/impostor distances on this site's enrolments → recommended 1:1 threshold, and a
    PNG of both distributions with the current and recommended thresholds and their expected
    FAR/FRR (shown to the installer in the web app)."""
    from datetime import datetime, timezone

    from biometrics.calibrate import calibrate as run, pair_distances, plot, rates_at
    from biometrics.matching import METRICS
    cfg = site(config)
    store = open_store(cfg)
    faces = _service(cfg, store)
    model, current = faces.model, faces.thresholds
    templates = store.templates(model=model)
    cal = run(templates, target_far, model=model)
    genuine, impostor = pair_distances(templates, METRICS[model])
    png_path, json_path = calibration_files(cfg)
    png_path = Path(png) if png else png_path
    lines = {"current verify": current.verify}
    if cal.threshold is not None and abs(cal.threshold - current.verify) > 1e-4:
        lines[f"for FAR {target_far:g}"] = cal.threshold
    png_path.parent.mkdir(parents=True, exist_ok=True)
    plot(genuine, impostor, lines, png_path,
         title=f"{model}: {cal.workers} workers, {cal.genuine_pairs} genuine / {cal.impostor_pairs} impostor pairs")
    cur_far, cur_frr = rates_at(genuine, impostor, current.verify)
    out = cal.as_dict() | {"current": current.as_dict(), "current_far": cur_far, "current_frr": cur_frr,
                           "png": str(png_path),
                           "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if not png:
        json_path.write_text(json.dumps(out, sort_keys=True))
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
        return
    f = lambda v, p=3: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
    click.echo(f"model {model}: workers {cal.workers}, genuine pairs {cal.genuine_pairs}, impostor pairs {cal.impostor_pairs}")
    click.echo(f"genuine median {f(cal.genuine_median)}, impostor median {f(cal.impostor_median)}, "
               f"impostor 0.1% quantile {f(cal.impostor_p001)}")
    click.echo(f"EER {f(cal.eer and cal.eer * 100, 1)} % at {f(cal.eer_threshold)}")
    click.echo(f"current verify {current.verify:.3f}: expected FAR {'-' if cur_far is None else f'{cur_far:.4%}'}, "
               f"FRR {'-' if cur_frr is None else f'{cur_frr:.1%}'} on these pairs")
    if cal.threshold is not None:
        click.echo(f"for FAR <= {target_far:g}: threshold {cal.threshold:.3f} "
                   f"(FAR {cal.far:.4%}, FRR {'-' if cal.frr is None else f'{cal.frr:.1%}'})")
    if cal.recommended is not None:
        click.echo(f"current [faces] verify = {current.verify}; to adopt, put in site.toml:\n"
                   f"  [faces]\n  verify = {cal.recommended:.3f}")
    else:
        click.echo(f"not enough data to recommend a change: keep [faces] verify = {current.verify}")
    for w in cal.warnings:
        click.echo(f"warning: {w}")
    click.echo(f"picture: {png_path}")


@faces.command()
@config_option
@click.option("--json", "as_json", is_flag=True)
def status(config, as_json):
    """Templates by model and source: how far a site has moved to its model."""
    cfg = site(config)
    store = open_store(cfg)
    out = {"model": cfg.faces.model, "templates": store.summary()}
    human = f"site model: {cfg.faces.model}" + "".join(
        f"\n  {r['model']:<14} {r['source']:<6} {r['templates']:>6} template(s), {r['workers']} worker(s)"
        for r in out["templates"])
    _emit(out, as_json, human)


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
