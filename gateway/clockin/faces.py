"""The site's enrolled faces as galleries for 1:1 and 1:N decisions (lanes and phone selfies),
and templates that follow the worker.

One gallery per face model present in the store. The site's model (``[faces] model``) decides;
a worker who has only templates of another model (a site that enrolled with dlib before) is
still checked, with that model and its own thresholds, until a certain pass gives them a
template of the site's model — so a site moves to a new model without a re-enrolment day.

**Learning from certain passes.** After a lane pass that is certain — a card was read and the
face matched that card's worker, the distance is well inside the threshold (≤ ``inside`` ×
verify), every other enrolled worker is far behind (margin ≥ ``margin`` × verify) and liveness
passed (never with liveness off, never from a phone selfie, never from a face-only lane) — the
pass's fused template is added for that worker: at most ``keep`` learned templates per worker
and model (the oldest go), at most one per ``every_h`` hours, dropped after ``days``. Every
addition and removal is logged. Once a worker has two templates of the site's model, their
templates of an older model are deleted.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from biometrics.engines import DEFAULT_MODEL, MODELS, Engine, get_engine
from biometrics.matching import Gallery, Match, Thresholds
from biometrics.store import TemplateStore

log = logging.getLogger("sitegate.faces")


@dataclass(frozen=True)
class Learning:
    enabled: bool = True
    keep: int = 3                 # learned templates per worker and model
    days: int = 180               # age limit of a learned template
    every_h: float = 24.0         # at most one learned template per worker per this many hours
    inside: float = 0.75          # certain: distance <= inside x verify threshold
    margin: float = 0.40          # certain: nearest other worker >= margin x verify threshold further


@dataclass(frozen=True)
class Decision:
    """What a lane attempt found: the sequence analysis, the match, and whether the gallery learned."""
    result: Any                    # biometrics.sequence.SequenceResult
    match: Match | None
    learned: bool = False
    timings_ms: dict | None = None


class FaceService:
    """The enrolled templates as galleries, rebuilt when the store changes."""

    def __init__(self, store: TemplateStore, thresholds: Thresholds | None = None, *, model: str | None = None,
                 engine: Engine | Callable[[], Engine] | None = None, learning: Learning = Learning(),
                 models_dir=None, fuse: int | None = None) -> None:
        self.store = store
        self.model = model or DEFAULT_MODEL
        self.thresholds = thresholds or Thresholds.for_model(self.model)
        self.learning, self.models_dir, self.fuse = learning, models_dir, fuse
        self._engine = engine
        self._galleries: dict[str, Gallery] | None = None
        self._version: tuple | None = None
        self._lock = threading.Lock()
        self._aged = 0.0

    # ------------------------------------------------------------------ engines and galleries
    def engine(self, model: str | None = None) -> Engine:
        model = model or self.model
        if model == self.model and self._engine is not None:
            if callable(self._engine) and not hasattr(self._engine, "embed"):
                self._engine = self._engine()
            return self._engine  # type: ignore[return-value]
        return get_engine(model, self.models_dir)

    def thresholds_for(self, model: str) -> Thresholds:
        return self.thresholds if model == self.model else Thresholds.for_model(model)

    def galleries(self) -> dict[str, Gallery]:
        with self._lock:
            version = self.store.version()
            if self._galleries is None or version != self._version:
                present = self.store.models()
                self._galleries = {m: self.store.gallery(m) for m in MODELS if m in present or m == self.model}
                self._version = version
            return self._galleries

    def gallery(self) -> Gallery:
        """The gallery of the site's model."""
        return self.galleries()[self.model]

    def legacy_model_of(self, worker_id: str) -> str | None:
        """The other model a worker is enrolled with, when they have none of the site's model."""
        gs = self.galleries()
        if worker_id in gs[self.model]:
            return None
        for m, g in gs.items():
            if m != self.model and worker_id in g:
                return m
        return None

    # ------------------------------------------------------------------ decisions
    def verify_encoding(self, worker_id: str, encoding: np.ndarray) -> Match:
        return self.gallery().verify(worker_id, encoding, self.thresholds)

    def match_sequence(self, frames: list[np.ndarray], claimed: str | None, *, liveness=None,
                       detect_width: int = 320) -> Decision:
        """Liveness + the site's model on the best frames; 1:1 against ``claimed`` (card
        lanes) or 1:N (face-only lanes); learns from a certain card pass."""
        from biometrics.sequence import analyse_sequence
        t0 = time.perf_counter()
        res = analyse_sequence(frames, liveness=liveness, detect_width=detect_width, fuse=self.fuse,
                               engine=self.engine())
        timings = dict(res.timings_ms)
        if res.face_error:
            return Decision(res, None, timings_ms=timings)
        t1 = time.perf_counter()
        gs = self.galleries()
        model, enc = self.model, res.encoding
        legacy = self.legacy_model_of(claimed) if claimed else None
        if legacy:
            model, enc = legacy, self._legacy_encoding(frames, res, legacy, detect_width, timings)
            if enc is None:
                return Decision(res, Match(claimed, None, None, "no_match", "no_face", legacy), timings_ms=timings)
        t = self.thresholds_for(model)
        if claimed:
            match = gs[model].verify(claimed, enc, t)
        else:
            match = gs[self.model].identify(enc, t)
            if match.worker_id is None and match.reason != "ambiguous":
                match = self._identify_legacy(frames, res, detect_width, timings) or match
        timings["match"] = (time.perf_counter() - t1) * 1e3
        learned = False
        if claimed and match.decision == "match":
            t2 = time.perf_counter()
            learned = self.maybe_learn(claimed, res.encoding, match, res.liveness)
            timings["learn"] = (time.perf_counter() - t2) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return Decision(res, match, learned, timings)

    def _legacy_encoding(self, frames, res, model: str, detect_width: int, timings: dict):
        from biometrics.sequence import analyse_sequence
        t = time.perf_counter()
        best = [frames[i] for i in res.chosen[:1]] or frames[:1]
        r = analyse_sequence(best, liveness=None, detect_width=detect_width, fuse=1, engine=self.engine(model))
        timings[f"embed_{model}"] = (time.perf_counter() - t) * 1e3
        return r.encoding

    def _identify_legacy(self, frames, res, detect_width: int, timings: dict) -> Match | None:
        """Face-only lanes during a migration: workers with only an older model's templates."""
        gs = self.galleries()
        for m, g in gs.items():
            if m == self.model:
                continue
            waiting = [w for w in g.ids if w not in gs[self.model]]
            if not waiting:
                continue
            enc = self._legacy_encoding(frames, res, m, detect_width, timings)
            if enc is None:
                continue
            everyone = self.store.templates(model=m)
            sub = Gallery({w: everyone[w] for w in waiting if w in everyone}, model=m)
            match = sub.identify(enc, Thresholds.for_model(m))
            if match.worker_id is not None:
                return match
        return None

    # ------------------------------------------------------------------ learning
    def certain(self, match: Match, liveness) -> bool:
        t = self.thresholds_for(match.model or self.model)
        lv = self.learning
        return (match.decision == "match" and match.distance is not None
                and match.distance <= lv.inside * t.verify
                and (match.margin is None or match.margin >= lv.margin * t.verify)
                and liveness is not None and bool(liveness.passed))

    def maybe_learn(self, worker_id: str, encoding: np.ndarray, match: Match, liveness) -> bool:
        """Add the pass's template of the site's model when the pass is certain (see module doc)."""
        lv = self.learning
        if not lv.enabled or lv.keep <= 0 or encoding is None or not self.certain(match, liveness):
            return False
        now_ms = time.time_ns() // 1_000_000
        self.age_out(now_ms)
        last = [r["created_ms"] for r in self.store.rows(worker_id) if r["source"] == "pass" and r["model"] == self.model]
        if last and now_ms - max(last) < lv.every_h * 3_600_000:
            return False
        replaced = self.store.learn(worker_id, encoding, self.model, lv.keep, now_ms)
        log.info("faces: %s: learned a %s template from a certain pass (%s distance %.3f, margin %s)%s",
                 worker_id, self.model, match.model, match.distance,
                 "-" if match.margin is None else f"{match.margin:.3f}",
                 f"; replaced {len(replaced)} older" if replaced else "")
        if self.store.count(worker_id, self.model) >= 2:
            for m in MODELS:
                if m != self.model and self.store.count(worker_id, m):
                    n = self.store.drop_model(worker_id, m)
                    log.info("faces: %s: %d %s template(s) dropped, now on %s", worker_id, n, m, self.model)
        return True

    def age_out(self, now_ms: int | None = None) -> int:
        """Drop learned templates past ``days`` (checked at most once an hour)."""
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if now_ms - self._aged < 3_600_000:
            return 0
        self._aged = now_ms
        gone = self.store.age_out(now_ms - self.learning.days * 86_400_000)
        for worker, model in gone:
            log.info("faces: %s: a learned %s template aged out (> %d days)", worker, model, self.learning.days)
        return len(gone)


def face_service(cfg, store: TemplateStore | None = None) -> FaceService:
    """The site's face service from ``[faces]`` (opens the template store unless given one;
    the engine is created on first use)."""
    from gateway.site import face_engine, open_templates, thresholds
    f = cfg.faces
    return FaceService(store or open_templates(cfg), thresholds(cfg), model=f.model,
                       engine=lambda: face_engine(cfg),
                       learning=Learning(enabled=f.learn, keep=f.learn_keep, days=f.learn_days,
                                         every_h=f.learn_every_h),
                       models_dir=f.models, fuse=f.fuse)


__all__ = ["Decision", "FaceService", "Learning", "face_service"]
