"""The phone clock-in page: one HTML document rendered from ``templates/page.html`` (Jinja2),
Chinese first, English available; its words come from the product's catalogue
(:mod:`gateway.words`, entries ``phone.*``)."""
from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape

from gateway import words

LANGS = words.LANGS
# words the page's script shows itself (the rest are in the HTML)
SCRIPT_WORDS = ("locating", "camera_off", "geo_off")


@lru_cache(maxsize=1)
def _template():
    env = Environment(loader=PackageLoader("gateway.phone", "templates"),
                      autoescape=select_autoescape(["html"]))
    return env.get_template("page.html")


def render(lang: str, nonce: str) -> bytes:
    """The page in ``lang`` (``zh`` unless ``en``) with ``nonce`` on its one script (the CSP
    allows that script only)."""
    lang = lang if lang in LANGS else "zh"

    def t(key: str) -> str:
        return words.text(f"phone.{key}", lang)

    return _template().render(
        lang=lang, nonce=nonce, t=t, other_lang="zh" if lang == "en" else "en",
        script_words={k: t(k) for k in SCRIPT_WORDS}).encode("utf-8")
