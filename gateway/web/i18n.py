"""Words of the labour manager's web app: Chinese first, English available (``?lang=en``).

The words live in the product's one catalogue (:mod:`gateway.words`, entries ``web.<key>``);
flags and refusal reasons (``fl_<code>``) are the clock-in reasons' labels
(:mod:`gateway.clockin.reasons`), so a reason reads the same on every screen."""
from __future__ import annotations

from gateway import words
from gateway.clockin.reasons import label

LANGS = words.LANGS


def t(lang: str, key: str, **kw) -> str:
    """The web app's word ``key`` in ``lang`` (an unknown key is shown as itself)."""
    if words.has(f"web.{key}"):
        return words.text(f"web.{key}", lang, **kw)
    if key.startswith("fl_"):
        return label(key[3:], lang)
    return key


def pick(lang: str | None) -> str:
    return lang if lang in LANGS else "zh"
