"""The product's one catalogue of words: English in the code, Chinese in a gettext catalogue.

The catalogue is ``gateway/locale/zh_CN/LC_MESSAGES/sitegate.po`` (standard gettext PO; edit it
with any PO editor, check it with ``msgfmt --check``).  It is read straight from the .po the
first time a word is needed (no compile step, nothing to forget before a build; the wheel carries
the .po).  Every entry's ``msgid`` is the English text and its ``msgstr`` the Chinese; English is
what is shown whenever the language is not Chinese.

Two kinds of entries, one file:

* **keyed** (``msgctxt`` set): words the screens and answers look up by a stable name -- the web
  app (``web.*``), the phone page (``phone.*``), clock-in reasons and answers (``reason.*``,
  ``answer.*``).  Look one up with :func:`text` (``text("web.signin", "zh")``).
* **plain** (no ``msgctxt``): the command line's and ``sitegate doctor``'s sentences, written in
  English where they are used and wrapped: :func:`tr` translates at once into the command line's
  language; :class:`M` keeps the English (for JSON and logs) and translates when shown.

Placeholders are ``str.format`` fields (``{n}``, ``{dist:.0f}``): the same names in both
languages (flag ``python-brace-format``; ``msgfmt --check`` and ``tests/gateway/test_words.py``
hold every entry to it).

To add a word: add an entry to the .po (``msgctxt`` when looked up by name; ``#,
python-brace-format`` when it has placeholders), then use it.  A keyed word missing from the
catalogue raises ``KeyError`` in :func:`text`, so a typo shows in the first test, never as a blank
screen; a plain sentence without a translation is shown in English.

The command line's language follows the locale variables the way gettext does (``LANGUAGE``,
``LC_ALL``, ``LC_MESSAGES``, ``LANG``; the first one set): ``zh*`` is Chinese (simplified),
anything else English.  ``SITEGATE_LANG=zh|en`` overrides them.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

LANGS = ("zh", "en")
DOMAIN = "sitegate"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOGUE = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.po"


class CatalogueError(ValueError):
    """The .po file cannot be read (names the line)."""


# ------------------------------------------------------------------ the .po reader (pure)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}
_KEYWORD = re.compile(r'^(msgctxt|msgid|msgstr)\s+(".*")\s*$')


def _unquote(s: str, where: str) -> str:
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise CatalogueError(f"{where}: expected a quoted string")
    out, i, body = [], 0, s[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise CatalogueError(f"{where}: bad escape in {s}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if c == '"':
            raise CatalogueError(f"{where}: unescaped quote in {s}")
        out.append(c)
        i += 1
    return "".join(out)


def parse_po(source: str, name: str = "catalogue") -> list[dict]:
    """Pure: the entries of a PO file as ``{"ctxt", "id", "str", "flags"}`` (fuzzy and obsolete
    entries left out, as msgfmt does; the header entry ``msgid ""`` included).  Plural forms are
    not used by this product and refused."""
    entries: list[dict] = []
    cur: dict | None = None
    field = None

    def close():
        nonlocal cur, field
        if cur is not None:
            if "id" not in cur or "str" not in cur:
                raise CatalogueError(f"{name}:{cur['line']}: entry without msgid/msgstr")
            if "fuzzy" not in cur["flags"]:
                entries.append(cur)
        cur, field = None, None

    flags: set[str] = set()
    for n, raw in enumerate(source.splitlines(), 1):
        line = raw.strip()
        where = f"{name}:{n}"
        if not line:
            close()
            continue
        if line.startswith("#~"):
            continue                                    # obsolete
        if line.startswith("#,"):
            if cur is not None and field is not None:
                close()
            flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        if line.startswith("#"):
            if cur is not None and field is not None and field != "ctxt":
                close()
            continue
        if line.startswith("msgid_plural") or line.startswith("msgstr["):
            raise CatalogueError(f"{where}: plural forms are not used in this catalogue")
        m = _KEYWORD.match(line)
        if m:
            kw, val = m.group(1), _unquote(m.group(2), where)
            key = {"msgctxt": "ctxt", "msgid": "id", "msgstr": "str"}[kw]
            if cur is not None and (key in cur or (key in ("ctxt", "id") and "str" in cur)):
                close()
            if cur is None:
                cur = {"ctxt": None, "flags": flags, "line": n}
                flags = set()
            cur[key], field = val, key
            continue
        if line.startswith('"'):
            if cur is None or field is None:
                raise CatalogueError(f"{where}: string outside an entry")
            cur[field] += _unquote(line, where)
            continue
        raise CatalogueError(f"{where}: cannot read {line[:40]!r}")
    close()
    return entries


class Catalogue:
    """The parsed catalogue: keyed entries by ``msgctxt``, plain ones by English ``msgid``."""

    def __init__(self, entries: list[dict]) -> None:
        self.keyed: dict[str, tuple[str, str]] = {}
        self.plain: dict[str, str] = {}
        for e in entries:
            if e["id"] == "" and e["ctxt"] is None:
                continue                                 # header
            if e["ctxt"] is not None:
                if e["ctxt"] in self.keyed:
                    raise CatalogueError(f"line {e['line']}: key {e['ctxt']!r} twice")
                self.keyed[e["ctxt"]] = (e["id"], e["str"] or e["id"])
            elif e["str"]:
                self.plain[e["id"]] = e["str"]


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    path = CATALOGUE
    return Catalogue(parse_po(path.read_text(encoding="utf-8"), path.name))


# ------------------------------------------------------------------ languages
def pick(lang: str | None) -> str:
    """``zh``/``en`` (``zh_CN``, ``en-US`` … accepted); anything else is Chinese (the screens'
    first language)."""
    code = (lang or "").lower()
    return "en" if code.startswith("en") else "zh"


def lang_from_env(env=None) -> str:
    """The command line's language from the locale variables: ``zh`` or ``en``."""
    env = os.environ if env is None else env
    forced = env.get("SITEGATE_LANG", "").strip().lower()
    if forced in LANGS:
        return forced
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            first = value.split(":")[0].strip().lower()
            if first in ("c", "posix") or first.startswith(("c.", "posix.")):
                return "en"
            return "zh" if first.startswith("zh") else "en"
    return "en"


def cli_lang() -> str:
    return lang_from_env(os.environ)


# ------------------------------------------------------------------ lookups
def _fmt(s: str, kw: dict) -> str:
    return s.format(**kw) if kw else s


def has(key: str) -> bool:
    return key in catalogue().keyed


def text(key: str, lang: str = "zh", **kw) -> str:
    """A keyed word (``msgctxt`` = ``key``) in ``lang``, formatted with ``kw``.  KeyError when
    the catalogue has no such key."""
    en, zh = catalogue().keyed[key]
    return _fmt(en if lang == "en" else zh, kw)


def both(key: str, **kw) -> tuple[str, str]:
    """(zh, en) of a keyed word."""
    return text(key, "zh", **kw), text(key, "en", **kw)


def tr(msgid: str, lang: str | None = None, **kw) -> str:
    """The English sentence ``msgid`` in ``lang`` (default: the command line's language)."""
    lang = cli_lang() if lang is None else lang
    kw = {k: localize(v, lang) for k, v in kw.items()}
    if lang == "zh":
        msgid = catalogue().plain.get(msgid, msgid)
    return _fmt(msgid, kw)


class M(str):
    """A sentence that is English where it is a string (JSON, logs, comparisons) and can be
    shown in another language: ``M("no key at {path}", path=p)``; ``m.to("zh")``."""

    msgid: str
    kw: dict

    def __new__(cls, msgid: str, **kw):
        self = super().__new__(cls, _fmt(msgid, kw))
        self.msgid, self.kw = msgid, kw
        return self

    def to(self, lang: str) -> str:
        return tr(self.msgid, lang, **self.kw)

    def __reduce__(self):
        return (_rebuild, (self.msgid, self.kw))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self                      # immutable, like str (dataclasses.asdict copies deeply)


def _rebuild(msgid: str, kw: dict) -> M:
    return M(msgid, **kw)


def localize(value, lang: str | None = None):
    """``value`` shown in ``lang``: an :class:`M` translated, anything else unchanged."""
    if isinstance(value, M):
        return value.to(cli_lang() if lang is None else lang)
    return value
