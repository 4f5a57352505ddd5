"""The one catalogue of words (gateway/words.py, gateway/locale/zh_CN/LC_MESSAGES/sitegate.po):
GNU msgfmt accepts the shipped .po, our reader agrees with GNU gettext on every entry, every
sentence the code hands to it has a Chinese translation with the same placeholders, every word
the web app's and the phone page's templates look up exists, and the language follows the
locale variables."""
from __future__ import annotations

import gettext
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway import words
from msgids import ROOT, msgids

PO = words.CATALOGUE
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
CJK = re.compile("[\u3000-\u9fff\uff00-\uffef]")          # ideographs or full-width punctuation


def test_the_shipped_catalogue_is_what_gnu_msgfmt_accepts_and_reads_the_same(tmp_path):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("GNU gettext's msgfmt is not installed (apt install gettext)")
    mo = tmp_path / "sitegate.mo"
    out = subprocess.run([msgfmt, "--check", "-o", str(mo), str(PO)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    with mo.open("rb") as fh:
        gnu = gettext.GNUTranslations(fh)
    cat = words.catalogue()
    assert len(cat.keyed) > 200 and len(cat.plain) > 150
    for key, (en, zh) in cat.keyed.items():
        assert gnu.pgettext(key, en) == zh, key
    for en, zh in cat.plain.items():
        assert gnu.gettext(en) == zh, en


def test_every_sentence_in_the_code_has_chinese_with_the_same_placeholders():
    plain = words.catalogue().plain
    used = msgids()
    assert len(used) > 150                       # the scan finds the command line's sentences
    missing = {m: where[0] for m, where in used.items() if m not in plain}
    assert not missing, f"add to {PO.name} (python tests/msgids.py lists them): {missing}"
    for msgid, zh in plain.items():
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(zh)), msgid
        assert CJK.search(zh), f"no Chinese in the translation of {msgid!r}: {zh!r}"
    for key, (en, zh) in words.catalogue().keyed.items():
        assert sorted(PLACEHOLDER.findall(en)) == sorted(PLACEHOLDER.findall(zh)), key


def _template_keys(path: Path) -> set[str]:
    """Words a template looks up; ``t('st_' + status)`` gives the prefix ``st_``."""
    return set(re.findall(r"\bt\(\s*'([a-z0-9_]+)'", path.read_text(encoding="utf-8")))


def _missing(keys: set[str], prefix: str) -> set[str]:
    cat = words.catalogue().keyed
    return {k for k in keys if not (words.has(prefix + k) if not k.endswith("_") else
                                    any(c.startswith(prefix + k) for c in cat))}


def test_every_word_the_pages_look_up_is_in_the_catalogue():
    web = set()
    for p in (ROOT / "gateway" / "web" / "templates").glob("*.html"):
        web |= _template_keys(p)
    web |= set(re.findall(r"\bt\(\s*lang,\s*\"([a-z0-9_]+)\"",
                          (ROOT / "gateway" / "web" / "app.py").read_text(encoding="utf-8")))
    assert len(web) > 60
    assert not _missing(web - {"fl_"}, "web.")          # fl_<code>: the reasons' labels
    phone = _template_keys(ROOT / "gateway" / "phone" / "templates" / "page.html")
    assert len(phone) >= 10 and not _missing(phone, "phone.")
    from gateway.phone.page import SCRIPT_WORDS
    assert all(words.has(f"phone.{k}") for k in SCRIPT_WORDS)


def test_the_screens_apis_read_the_catalogue():
    from gateway.clockin.reasons import label, message, messages
    from gateway.phone.attempts import REFUSALS, refusal
    from gateway.web.i18n import t
    assert t("zh", "signin") == "登录" and t("en", "signin") == "Sign in"
    assert t("en", "fl_contract_expired") == "contract expired"
    assert label("card_crc", "zh") == "读卡失败（crc）" and label("card_crc", "en") == "card refused (crc)"
    assert label("brand_new_code", "en") == "refused (brand_new_code)"
    assert message("brand_new_code", "zh") == "未打卡：拒绝（brand_new_code）。"
    assert messages("ok", seq=7, dist=12.4) == {
        "message_zh": "打卡成功（记录 7），在围栏内，距边界 12 米。",
        "message_en": "Clocked in (record 7), 12 m inside the fence."}
    for code in REFUSALS:
        r = refusal(code, ttl=120)
        assert r["message_zh"] != r["message_en"] and "{" not in r["message_zh"] + r["message_en"]
    with pytest.raises(KeyError):
        words.text("web.no_such_word", "zh")


@pytest.mark.parametrize("env, lang", [
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh"),          # LC_ALL wins over LANG
    ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, "en"),     # so does LC_MESSAGES
    ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh"),           # and LANGUAGE's first
    ({"LANG": "zh_CN.UTF-8", "SITEGATE_LANG": "en"}, "en"),
])
def test_the_command_line_language_follows_the_locale_variables(env, lang):
    assert words.lang_from_env(env) == lang


def test_a_sentence_stays_english_as_a_string_and_translates_when_shown():
    m = words.M("{n} unsent, oldest {age:.0f} s (seq {acked}/{head} acked)", n=3, age=61.4,
                acked=5, head=8)
    assert m == "3 unsent, oldest 61 s (seq 5/8 acked)"
    assert json.loads(json.dumps({"d": m})) == {"d": "3 unsent, oldest 61 s (seq 5/8 acked)"}
    assert m.to("zh") == "3 条未上传，最早的已等待 61 秒（已确认 5/8）"
    nested = words.M("{detail}; {alarm}", detail=m, alarm="disk full")
    assert nested.to("zh").startswith("3 条未上传") and nested.to("zh").endswith("；disk full")
    assert words.localize(m, "en") == str(m) and words.localize("plain text", "zh") == "plain text"


@pytest.mark.parametrize("text, where", [
    ('msgid "a"\nmsgstr "b\n', "x.po:2"),
    ('msgid "a"\nmsgid_plural "as"\nmsgstr[0] "b"\n', "x.po:2"),
    ('msgid "a"\nmsgstr "\\q"\n', "x.po:2"),
    ('"dangling"\n', "x.po:1"),
])
def test_a_broken_catalogue_names_its_line(text, where):
    with pytest.raises(words.CatalogueError, match=where):
        words.parse_po(text, "x.po")


def test_reader_handles_continuations_context_fuzzy_and_escapes():
    entries = words.parse_po('''# comment
msgid ""
msgstr "Language: zh_CN\\n"

#, fuzzy
msgid "skip me"
msgstr "跳过"

msgctxt "web.x"
msgid "Two "
"lines"
msgstr "两"
"行\\t\\"引号\\""
''')
    cat = words.Catalogue(entries)
    assert cat.keyed == {"web.x": ("Two lines", '两行\t"引号"')}
    assert cat.plain == {}
