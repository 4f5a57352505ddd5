"""Fence maps in Chinese: a CJK font found at run time draws real glyphs (a Chinese label renders
differently from the same number of glyphs no font has, which all come out as the same box), no
"Glyph missing" on the way, also through `sitegate fences show` under LANG=zh_CN.UTF-8; without a
CJK font the map falls back to English words and says so, never boxes."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings

import pytest

import geofence
from gateway.fences import map as fmap
from procs import sitegate_cmd

ROAD = [[108.30, 22.80], [108.35, 22.82], [108.40, 22.81]]
NAME = "南宁地铁五号线"
MISSING = "".join(chr(0xE000 + i) for i in range(len(NAME)))   # private use: in no font


def fence():
    return geofence.fence.corridor("G75-K12", ROAD, 100, name=NAME)


def render_quietly(*args, **kw) -> tuple[bytes, list[str]]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        png = fmap.render(*args, **kw)
    return png, [str(w.message) for w in seen if "missing from font" in str(w.message)]


@pytest.fixture(scope="module")
def cjk():
    family = fmap.cjk_font()
    if family is None:
        pytest.skip("no CJK font on this machine (the Makefile installs fonts-wqy-microhei)")
    return family


def test_a_cjk_font_is_found_and_has_the_glyphs(cjk):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font
    path = font_manager.findfont(font_manager.FontProperties(family=cjk), fallback_to_default=False)
    font = FT2Font(path)
    assert all(font.get_char_index(ord(c)) for c in NAME + "围栏内中心线")


def test_chinese_labels_are_drawn_with_real_glyphs(cjk):
    chinese, missing = render_quietly(fence(), [], "png", title=NAME, lang="zh")
    assert missing == []
    boxes, box_warnings = render_quietly(fence(), [], "png", title=MISSING, lang="zh")
    assert box_warnings                                 # the control really hits missing glyphs
    # with no font for them, both titles would be the same row of boxes: the pictures would match
    assert chinese != boxes
    # and each character is its own glyph: boxes would all be alike
    singles = {render_quietly(fence(), [], "png", title=c, lang="zh")[0] for c in NAME[:4]}
    assert len(singles) == 4
    # the map's own words, and the fence's Chinese name in the standard title
    words_zh, missing = render_quietly(fence(), [], "svg", lang="zh")
    assert missing == []
    words_en, _ = render_quietly(fence(), [], "svg", lang="en")
    assert words_zh != words_en


def test_without_a_cjk_font_the_map_says_so_and_draws_english(monkeypatch, caplog):
    monkeypatch.setattr(fmap, "cjk_font", lambda: None)
    with caplog.at_level(logging.WARNING, logger="sitegate.fences"):
        png, missing = render_quietly(fence(), [], "png", lang="zh")
    assert missing == []                                # no boxes
    assert any("fonts-noto-cjk" in r.getMessage() for r in caplog.records)
    plain = geofence.fence.corridor("G75-K12", ROAD, 100)
    english, _ = render_quietly(plain, [], "png", lang="en")
    assert png == english                               # English words, the fence id, no name


def test_fences_show_draws_chinese_under_a_chinese_locale(home, tmp_path, cjk):
    f = tmp_path / "road.geojson"
    f.write_text(json.dumps({"type": "Feature", "geometry": {"type": "LineString", "coordinates": ROAD},
                             "properties": {"id": "G75-K12", "name": NAME, "crs": "wgs84",
                                            "half_width_m": 100}}))
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("lon,lat,accuracy_m\n108.35,22.82,8\n108.35,22.83,10\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LANGUAGE", "LC_MESSAGES")}
    env.update(LANG="zh_CN.UTF-8", PYTHONWARNINGS="always")
    out = {}
    for lang in ("zh", "en"):
        png = tmp_path / f"map-{lang}.png"
        p = subprocess.run(sitegate_cmd("fences", "show", str(f), "--fixes", str(fixes), "-o", str(png),
                                        "--lang", lang), capture_output=True, text=True, env=env,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        assert "missing from font" not in p.stderr and "Glyph" not in p.stderr
        out[lang] = png.read_bytes()
        assert out[lang][:8] == b"\x89PNG\r\n\x1a\n"
    assert "已写出" in p.stdout and "围栏内 1" in p.stdout        # the command's own words, too
    assert out["zh"] != out["en"]


def test_a_font_installed_after_matplotlibs_cache_is_found_and_last_resort_is_not(cjk, monkeypatch):
    """An installer follows the hint (apt install fonts-wqy-microhei) on a machine where
    matplotlib had already cached its font list: the font is found through fontconfig.  The
    Last Resort font matplotlib ships "has" every glyph -- as boxes -- and is never taken."""
    import matplotlib
    from matplotlib import font_manager
    last_resort = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "LastResortHE-Regular.ttf")
    assert os.path.exists(last_resort) and not fmap._covers(last_resort)
    stale = [f for f in font_manager.fontManager.ttflist if not fmap._covers(f.fname)]
    assert len(stale) < len(font_manager.fontManager.ttflist)        # some CJK font was cached
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)  # as if cached before it
    fmap.cjk_font.cache_clear()
    try:
        found = fmap.cjk_font()
        assert found is not None and not found.startswith("Last Resort"), found
        path = font_manager.findfont(font_manager.FontProperties(family=found), fallback_to_default=False)
        assert fmap._covers(path)
    finally:
        fmap.cjk_font.cache_clear()
