"""The shared labelled photos as templates, per face model, computed once and cached on disk
(keyed by each file's SHA-256, the model and the analysis settings), so tests and the benchmark
do not re-run face detection on every run; and the accuracy protocol both use.

Photos: ``paths.FACES`` (``manifest.csv``: Western and Chinese identities) and
``paths.FACES_MORE`` (six more East Asian identities, used for choosing thresholds across
people). East Asian = labels ``CN_…`` and ``KR_…``.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paths import FACES, FACES_MORE

DATA = FACES
# enrolment settings (photos, not lane frames): detection on a copy 640 px wide, one upsample
SETTINGS = {"detect_width": 640, "upsample": 1, "jitters": 1, "v": 2}


@dataclass(frozen=True)
class Photo:
    file: str
    person: str
    root: Path = FACES

    @property
    def path(self) -> Path:
        return self.root / self.file

    @property
    def east_asian(self) -> bool:
        return self.person.startswith(("CN_", "KR_"))


def manifest(include_multi: bool = False, more: bool = False) -> list[Photo]:
    """One row per distinct photo: rows marked ``duplicate_of`` (the same photo at another
    resolution or path) are dropped, so no such pair is ever counted as a genuine pair.
    ``more`` adds the photos of ``FACES_MORE``."""
    out, seen = [], set()
    roots = [FACES] + ([FACES_MORE] if more else [])
    if more and not (FACES_MORE / "manifest.csv").is_file():
        raise RuntimeError(f"the extra East Asian photos are not at {FACES_MORE}: set SITEGATE_TEST_FACES_MORE")
    for root in roots:
        with open(root / "manifest.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("duplicate_of") or (root, row["file"]) in seen:
                    continue
                if row["person"] == "MULTI_FACE" and not include_multi:
                    continue
                seen.add((root, row["file"]))
                out.append(Photo(row["file"], row["person"], root))
    return out


def _key(path: Path, model: str) -> str:
    h = hashlib.sha256(path.read_bytes())
    h.update(json.dumps(SETTINGS | {"model": model}, sort_keys=True).encode())
    return h.hexdigest()


def _encode(args: tuple[str, str]) -> tuple[list[float] | None, str]:
    from biometrics.engines import get_engine
    from biometrics.faces import FaceError, Quality, analyse
    path_str, model = args
    try:
        face = analyse(path_str, Quality.none(), detect_width=SETTINGS["detect_width"],
                       upsample=SETTINGS["upsample"], jitters=SETTINGS["jitters"], engine=get_engine(model))
    except FaceError as exc:
        return None, exc.reason
    return face.encoding.tolist(), "ok"


def encodings(cache_dir: Path, photos: list[Photo] | None = None, model: str = "mobilefacenet",
              processes: int = 1) -> dict[Path, np.ndarray | str]:
    """photo path -> float32 template of ``model``, or the FaceError reason when it gave none."""
    photos = manifest() if photos is None else photos
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file = cache_dir / f"face_encodings_{model}.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    keys = {p.path: _key(p.path, model) for p in photos}
    todo = [p for p in photos if keys[p.path] not in cache]
    if todo:
        jobs = [(str(p.path), model) for p in todo]
        if processes > 1 and len(todo) > 4:
            import multiprocessing as mp
            with mp.get_context("spawn").Pool(processes) as pool:
                results = pool.map(_encode, jobs)
        else:
            results = [_encode(j) for j in jobs]
        for p, (enc, reason) in zip(todo, results):
            cache[keys[p.path]] = {"enc": enc, "reason": reason}
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache))
        tmp.replace(cache_file)
    out: dict[Path, np.ndarray | str] = {}
    for p in photos:
        item = cache[keys[p.path]]
        out[p.path] = np.asarray(item["enc"], np.float32) if item["enc"] is not None else item["reason"]
    return out


# ---------------------------------------------------------------------- evaluation protocol
class _PerPhoto:
    """A gallery that keeps each enrolled photo's template (cosine models): a worker's distance
    is the nearest of their photos (``nearest``) or the mean over them (``mean``) instead of
    the distance to their fused template (the product's :class:`biometrics.matching.Gallery`).
    Measured as an alternative (bench/bench_faces.py ``--variants``), not shipped."""

    def __init__(self, templates: dict, how: str) -> None:
        self.ids = [w for w, v in templates.items() if len(v)]
        self.index = {w: i for i, w in enumerate(self.ids)}
        unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
        self.rows = [unit(np.stack(templates[w]).astype(np.float32)) for w in self.ids]
        self.how = how

    def distances(self, probe: np.ndarray) -> np.ndarray:
        q = probe / np.linalg.norm(probe)
        per = [1.0 - r @ q for r in self.rows]
        return np.array([p.min() if self.how == "nearest" else p.mean() for p in per])


def _gallery(templates: dict, model: str, how: str = "fused", fusion=None):
    from biometrics.matching import Gallery
    if fusion is not None:
        return _TwoNets(templates, fusion)
    return Gallery(templates, model=model) if how == "fused" else _PerPhoto(templates, how)


def by_person(photos: list[Photo], encs: dict) -> dict[str, list[np.ndarray]]:
    by: dict[str, list[np.ndarray]] = {}
    for p in photos:
        e = encs[p.path]
        if not isinstance(e, str):
            by.setdefault(p.person, []).append(e)
    return by


def trials(by: dict[str, list[np.ndarray]], model: str, rounds: int = 10, k: int = 2, seed: int = 0,
           gallery: str = "fused", fusion=None) -> dict:
    """The raw distances of the protocol, so any thresholds can be scored cheaply:

    Each round enrols ``k`` photos per identity (seeded random split; identities with fewer
    photos enrol all but one) and probes with the rest. ``closed``: each probe's distances to
    the whole gallery and the index of its own identity. ``open``: each identity left out of
    the gallery in turn, all its photos' distances to everyone enrolled. ``gallery``: ``fused``
    (the product) or a per-photo alternative (:class:`_PerPhoto`).
    """
    people = sorted(by)
    rng = random.Random(seed)
    closed, open_ = [], []
    for _ in range(rounds):
        enrol, probes = {}, {}
        for q in people:
            items = list(range(len(by[q])))
            rng.shuffle(items)
            n = min(k, len(items) - 1)
            if n >= 1:
                enrol[q] = [by[q][i] for i in items[:n]]
                probes[q] = [by[q][i] for i in items[n:]]
        full = _gallery(enrol, model, gallery, fusion)
        for q, ps in probes.items():
            for pr in ps:
                closed.append((full.distances(pr), full.index[q]))
        for q in people:
            rest = {w: v for w, v in enrol.items() if w != q}
            g = _gallery(rest, model, gallery, fusion)
            for pr in by[q]:
                open_.append(g.distances(pr))
    return {"closed": closed, "open": open_, "identities": len(people),
            "photos": sum(len(v) for v in by.values()), "rounds": rounds}


def _verify_ok(d: np.ndarray, k: int, t) -> bool:
    dk = d[k]
    if dk > t.verify:
        return False
    others = np.delete(d, k)
    if t.verify_nearest and len(others) and others.min() < dk:
        return False
    if t.verify_z is not None and len(others) >= t.min_cohort:
        sd = float(others.std())
        if sd > 0 and (dk - float(others.mean())) / sd > t.verify_z:
            return False
    return True


def _identify(d: np.ndarray, t) -> int | None:
    if not len(d):
        return None
    order = np.argsort(d)
    best = d[order[0]]
    if best > t.identify:
        return None
    if len(d) > 1 and d[order[1]] - best < t.margin:
        return None
    return int(order[0])


def score(tr: dict, t) -> dict:
    """The product's decision rules (same as biometrics.matching.Gallery) over ``trials``:

    * 1:1 genuine: a probe claims its own identity (gallery = everyone enrolled) → FRR.
    * 1:1 impostor, enrolled colleague: a probe claims every other enrolled identity.
    * 1:1 impostor, not enrolled: a left-out identity's photos claim every enrolled identity.
    * 1:N open set: the left-out identity's photos are identified → any answer is wrong.
    * 1:N closed set: enrolled identities' probes → correct / wrong / nobody.
    """
    c = dict(genuine=0, false_reject=0, imp_enrolled=0, fa_enrolled=0, imp_unenrolled=0, fa_unenrolled=0,
             open_probes=0, open_wrong=0, closed_probes=0, closed_correct=0, closed_wrong=0)
    mixed = tr.get("mixed", False)
    for item in tr["closed"]:
        d, own = item[0], item[1]
        claims = item[2] if mixed else [j for j in range(len(d)) if j != own]
        c["genuine"] += 1
        c["false_reject"] += not _verify_ok(d, own, t)
        for j in claims:
            c["imp_enrolled"] += 1
            c["fa_enrolled"] += _verify_ok(d, j, t)
        who = _identify(d, t)
        c["closed_probes"] += 1
        c["closed_correct"] += who == own
        c["closed_wrong"] += who not in (None, own)
    for item in tr["open"]:
        d = item[0] if mixed else item
        claims = item[1] if mixed else range(len(d))
        c["open_probes"] += 1
        c["open_wrong"] += _identify(d, t) is not None
        for j in claims:
            c["imp_unenrolled"] += 1
            c["fa_unenrolled"] += _verify_ok(d, j, t)
    rate = lambda a, b: a / b if b else 0.0  # noqa: E731
    imp = c["imp_enrolled"] + c["imp_unenrolled"]
    fa = c["fa_enrolled"] + c["fa_unenrolled"]
    return c | {"identities": tr["identities"], "photos": tr["photos"], "rounds": tr["rounds"],
                "frr": rate(c["false_reject"], c["genuine"]), "far": rate(fa, imp),
                "far_enrolled": rate(c["fa_enrolled"], c["imp_enrolled"]),
                "far_unenrolled": rate(c["fa_unenrolled"], c["imp_unenrolled"]),
                "open_wrong_rate": rate(c["open_wrong"], c["open_probes"]),
                "closed_correct_rate": rate(c["closed_correct"], c["closed_probes"]),
                "closed_wrong_rate": rate(c["closed_wrong"], c["closed_probes"])}


def evaluate(photos: list[Photo], encs: dict, thresholds=None, rounds: int = 10, k: int = 2,
             seed: int = 0, model: str = "mobilefacenet") -> dict:
    """Accuracy of the product's decision rules on ``photos`` (see :func:`score`)."""
    from biometrics.matching import Thresholds
    return score(trials(by_person(photos, encs), model, rounds, k, seed), thresholds or Thresholds.for_model(model))


# ---------------------------------------------------------------------- thresholds across people
def choose(by: dict[str, list[np.ndarray]], model: str, target_far: float = 0.001,
           target_open: float = 0.005, rounds: int = 4, seed: int = 1, min_margin: float = 0.0,
           gallery: str = "fused", robust: bool = False, fusion=None):
    """Thresholds chosen on the identities in ``by`` only (the training fold):

    * ``verify``: the largest distance at which the training impostor attempts (colleagues and
      people not enrolled, distance alone, before the nearest/z rules) are accepted at most at
      ``target_far``;
    * ``identify`` and ``margin``: the pair with the most enrolled probes identified correctly
      while no enrolled probe is taken for someone else and unenrolled probes are answered at
      most at ``target_open``.
    The nearest-worker and cohort z rules keep their defaults.

    ``robust`` (measured, not shipped): the training identities are split again into 4 inner
    folds, each scored like a test fold against everyone; the identify/margin pair must meet
    the conditions in every inner fold, and the one with the best worst-fold correct rate wins.
    """
    from dataclasses import replace

    from biometrics.matching import Thresholds
    base = Thresholds.for_model(model)
    tr = trials(by, model, rounds=rounds, seed=seed, gallery=gallery, fusion=fusion)
    imp = [np.delete(d, own) for d, own in tr["closed"]] + list(tr["open"])
    imp = np.sort(np.concatenate(imp))
    n_ok = int(np.floor(target_far * len(imp)))
    verify = float(imp[n_ok]) - 1e-6 if n_ok < len(imp) else float(imp[-1])
    best, best_t = -1.0, None
    lo, hi = np.quantile(imp, [0.0005, 0.05])
    if robust:
        people = sorted(by)
        random.Random(seed).shuffle(people)
        inner = [_mixed_trials(by, set(people[f::4]), model, rounds, seed=f, gallery=gallery, fusion=fusion)
                 for f in range(4)]
    for identify in np.linspace(lo - 0.1, hi, 25):
        for margin in [m for m in (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12) if m >= min_margin]:
            t = replace(base, verify=verify, identify=float(identify), margin=margin)
            if robust:
                worst = _worst_fold(inner, t, target_open)
                if worst > best:
                    best, best_t = worst, t
                continue
            wrong = correct = n = 0
            for d, own in tr["closed"]:
                who = _identify(d, t)
                n += 1
                correct += who == own
                wrong += who not in (None, own)
            if wrong:
                continue
            opened = sum(_identify(d, t) is not None for d in tr["open"]) / max(len(tr["open"]), 1)
            if opened > target_open:
                continue
            if correct / n > best:
                best, best_t = correct / n, t
    return best_t or replace(base, verify=verify, identify=float(lo - 0.1), margin=0.12)


def _worst_fold(inner: list[dict], t, target_open: float) -> float:
    """The lowest correct rate over ``inner`` folds, or −1 when one gives a wrong person or
    answers too many unenrolled probes."""
    worst = 1.0
    for tr in inner:
        whos = [(_identify(d, t), own) for d, own, _ in tr["closed"]]
        if any(w not in (None, own) for w, own in whos):
            return -1.0
        if sum(_identify(d, t) is not None for d, _ in tr["open"]) > target_open * len(tr["open"]):
            return -1.0
        worst = min(worst, sum(w == own for w, own in whos) / max(len(whos), 1))
    return worst


def cross_validate(by: dict[str, list[np.ndarray]], model: str, folds: int = 5, repeats: int = 2,
                   target_far: float = 0.001, rounds: int = 5, gallery: str = "fused", two_nets: bool = False,
                   **choice) -> dict:
    """Thresholds chosen on some identities, scored on the others: identities split into
    ``folds`` groups (``repeats`` different shuffles); each group in turn is the test fold,
    thresholds chosen (:func:`choose`) on the rest; the test fold's identities are scored as a
    site of their own plus the training identities as enrolled colleagues (a bigger cohort
    with people the thresholds have seen is what a real site is like; impostors and genuine
    probes always come from the test fold). Returns every fold's result and the pooled one.
    ``two_nets``: ``by`` holds two networks' templates end to end (:class:`_TwoNets`), and the
    fusion weights are chosen on each training fold too (:func:`choose_fusion`)."""
    people = sorted(by)
    per_fold = []
    for r in range(repeats):
        order = people[:]
        random.Random(100 + r).shuffle(order)
        for f in range(folds):
            test = set(order[f::folds])
            train = {p: by[p] for p in people if p not in test}
            fusion = choose_fusion(train, model, target_far, **choice) if two_nets else None
            t = choose(train, model, target_far, gallery=gallery, fusion=fusion, **choice)
            res = score(_mixed_trials(by, test, model, rounds, seed=10 * r + f, gallery=gallery, fusion=fusion), t)
            per_fold.append(res | {"thresholds": t.as_dict(), "test_ids": sorted(test),
                                   "fusion": None if fusion is None else fusion.__dict__})
    pooled = pool(per_fold)
    spread = {k: (min(f[k] for f in per_fold), max(f[k] for f in per_fold))
              for k in ("frr", "far", "open_wrong_rate", "closed_correct_rate", "closed_wrong_rate")}
    verify = [f["thresholds"]["verify"] for f in per_fold]
    return {"folds": per_fold, "pooled": pooled, "spread": spread, "identities": len(people),
            "verify_range": (min(verify), max(verify))}


def pool(folds: list[dict]) -> dict:
    """The folds' counts summed, and the rates of the sums (not the mean of the folds' rates)."""
    keys = ("genuine", "false_reject", "imp_enrolled", "fa_enrolled", "imp_unenrolled", "fa_unenrolled",
            "open_probes", "open_wrong", "closed_probes", "closed_correct", "closed_wrong")
    pooled = {k: sum(f[k] for f in folds) for k in keys}
    rate = lambda a, b: a / b if b else 0.0  # noqa: E731
    return pooled | {"frr": rate(pooled["false_reject"], pooled["genuine"]),
               "far": rate(pooled["fa_enrolled"] + pooled["fa_unenrolled"],
                           pooled["imp_enrolled"] + pooled["imp_unenrolled"]),
               "far_enrolled": rate(pooled["fa_enrolled"], pooled["imp_enrolled"]),
               "far_unenrolled": rate(pooled["fa_unenrolled"], pooled["imp_unenrolled"]),
               "open_wrong_rate": rate(pooled["open_wrong"], pooled["open_probes"]),
               "closed_correct_rate": rate(pooled["closed_correct"], pooled["closed_probes"]),
               "closed_wrong_rate": rate(pooled["closed_wrong"], pooled["closed_probes"])}


def _mixed_trials(by: dict, test: set[str], model: str, rounds: int, seed: int, k: int = 2,
                  gallery: str = "fused", fusion=None) -> dict:
    """Like :func:`trials`, but only the ``test`` identities probe (genuine, colleague,
    not-enrolled); everyone is enrolled."""
    people = sorted(by)
    rng = random.Random(seed)
    closed, open_ = [], []
    for _ in range(rounds):
        enrol, probes = {}, {}
        for q in people:
            items = list(range(len(by[q])))
            rng.shuffle(items)
            n = min(k, len(items) - 1)
            if n >= 1:
                enrol[q] = [by[q][i] for i in items[:n]]
                probes[q] = [by[q][i] for i in items[n:]]
        full = _gallery(enrol, model, gallery, fusion)
        for q in test:
            for pr in probes.get(q, []):
                d = full.distances(pr)
                own = full.index[q]
                # colleagues' claims: only test identities' templates may be claimed, so the
                # impostor pairs are all unseen people on both sides
                closed.append((d, own, [full.index[w] for w in test if w != q and w in full.index]))
        for q in test:
            g = _gallery({w: v for w, v in enrol.items() if w != q}, model, gallery, fusion)
            for pr in by[q]:
                open_.append((g.distances(pr), [g.index[w] for w in test if w != q and w in g.index]))
    return {"closed": closed, "open": open_, "identities": len(test),
            "photos": sum(len(by[q]) for q in test), "rounds": rounds, "mixed": True}


# ---------------------------------------------------------------------- two networks fused
@dataclass(frozen=True)
class Fusion:
    """Score-level fusion of two networks, measured (bench/bench_faces.py ``--variants``), not
    shipped: a template is the first network's unit vector (``split`` numbers, cosine)
    followed by the second's descriptor (Euclidean); the distance is
    ``w · (1 − cos) + (1 − w) · (scale · euclidean + offset)``."""
    w: float
    scale: float
    offset: float
    split: int = 192


class _TwoNets:
    """A gallery over two networks' templates end to end (v2 ‖ dlib): each worker's photos
    fused per network as the product does (normalised sum; mean), distances fused by
    :class:`Fusion`."""

    def __init__(self, templates: dict, fusion: Fusion) -> None:
        self.f, k = fusion, fusion.split
        self.ids = [w for w, v in templates.items() if len(v)]
        self.index = {w: i for i, w in enumerate(self.ids)}
        cos, euc = [], []
        for w in self.ids:
            x = np.stack(templates[w]).astype(np.float32)
            s = x[:, :k].sum(0)
            cos.append(s / np.linalg.norm(s))
            euc.append(x[:, k:].mean(0))
        self.cos = np.stack(cos) if cos else np.zeros((0, k), np.float32)
        self.euc = np.stack(euc) if euc else np.zeros((0, 128), np.float32)

    def parts(self, probe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.f.split
        q = probe[:k] / np.linalg.norm(probe[:k])
        return 1.0 - self.cos @ q, np.linalg.norm(self.euc - probe[k:], axis=1)

    def distances(self, probe: np.ndarray) -> np.ndarray:
        dm, de = self.parts(probe)
        return self.f.w * dm + (1.0 - self.f.w) * (self.f.scale * de + self.f.offset)


def fusion_mapping(by: dict[str, list[np.ndarray]], split: int = 192) -> tuple[float, float]:
    """(scale, offset) that put the second network's Euclidean distances on the first's cosine
    scale: over every pair of photos in ``by``, the mapped genuine and impostor means equal
    the first network's."""
    lab = np.array([p for p in sorted(by) for _ in by[p]])
    x = np.stack([e for p in sorted(by) for e in by[p]]).astype(np.float64)
    a = x[:, :split] / np.linalg.norm(x[:, :split], axis=1, keepdims=True)
    b = x[:, split:]
    sq = np.einsum("ij,ij->i", b, b)
    iu = np.triu_indices(len(x), 1)
    dm = (1 - a @ a.T)[iu]
    dd = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * b @ b.T, 0))[iu]
    same = lab[iu[0]] == lab[iu[1]]
    scale = (dm[~same].mean() - dm[same].mean()) / (dd[~same].mean() - dd[same].mean())
    return float(scale), float(dm[same].mean() - scale * dd[same].mean())


def choose_fusion(by: dict[str, list[np.ndarray]], model: str, target_far: float = 0.001,
                  weights=(1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4), **choice) -> Fusion:
    """The fusion weights chosen on the identities in ``by`` only: the mapping by
    :func:`fusion_mapping`, then the weight ``w`` (1.0 = the first network alone) whose
    thresholds (:func:`choose`, same people) identify the most enrolled probes in-sample,
    ties to the lower 1:1 FRR, then to the larger ``w``."""
    scale, offset = fusion_mapping(by)
    best, best_f = None, None
    for w in weights:
        f = Fusion(w=w, scale=scale, offset=offset)
        t = choose(by, model, target_far, fusion=f, **choice)
        r = score(trials(by, model, rounds=4, seed=1, fusion=f), t)
        key = (r["closed_correct_rate"], -r["frr"])
        if best is None or key > best:
            best, best_f = key, f
    return best_f
