"""The installer's tools speak the locale's language: `sitegate` run as a real process under
LANG=zh_CN.UTF-8 answers in Chinese (roster, doctor's table, provision with its QR drawn in the
terminal), under C / en_US in English; --json is the same in every locale."""
from __future__ import annotations

import json
import os
import re
import subprocess

import cv2
import numpy as np
import pytest

from procs import sitegate_cmd

CJK = re.compile("[\u4e00-\u9fff]")
LOCALES = {"zh": "zh_CN.UTF-8", "C": "C", "en": "en_US.UTF-8"}


def env_for(locale: str, home) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "SITEGATE_LANG")}
    return dict(env, LANG=locale, SITEGATE_HOME=str(home))


def run(locale: str, home, *args, rc=0):
    p = subprocess.run(sitegate_cmd(*args), capture_output=True, text=True,
                       env=env_for(LOCALES[locale], home), timeout=120)
    if rc is not None:
        assert p.returncode == rc, p.stdout + p.stderr
    return p


@pytest.fixture
def site(home):
    conf = home / "site.toml"
    conf.write_text('[gateway]\nid = "gw-lang-1"\n')
    return conf


def test_roster_answers_in_the_locale_s_language(home, site):
    c = str(site)
    assert run("zh", home, "roster", "add", "W1", "--name", "张三", "-c", c).stdout == "W1：已加入花名册\n"
    assert run("C", home, "roster", "add", "W2", "--name", "李四", "-c", c).stdout == "W2: on the roster\n"
    assert run("en", home, "roster", "add", "W1", "--team", "A", "-c", c).stdout == "W1: updated\n"
    assert run("zh", home, "roster", "status", "W2", "exited", "-c", c).stdout == "W2: 已退场\n"
    p = run("zh", home, "roster", "remove", "W9", "-c", c, rc=1)
    assert "W9 不在花名册上" in p.stderr
    p = run("en", home, "roster", "remove", "W9", "-c", c, rc=1)
    assert "W9 is not on the roster" in p.stderr and not CJK.search(p.stderr)
    # --json is the same whatever the locale
    outs = {loc: run(loc, home, "roster", "status", "W2", "active", "-c", c, "--json").stdout
            for loc in LOCALES}
    assert len(set(outs.values())) == 1
    assert json.loads(outs["zh"]) == {"worker_id": "W2", "status": "active"}


def test_doctor_speaks_chinese_under_zh_cn_and_its_json_stays_english(home):
    run("C", home, "provision", "--project", "P-LANG", "--gateway-id", "gw-lang-2", "--broker",
        "mqtt://127.0.0.1:1883", "-y", "--no-probe", "--no-qr")
    conf = str(home / "site.toml")
    zh = run("zh", home, "doctor", "--offline", "-c", conf, rc=1).stdout   # no central key: fail
    for word in ("检查项", "结论", "处理办法", "配置文件", "网关密钥", "中心平台公钥", "正常", "失败",
                 "处没有中心平台公钥", "尚未收到中心平台的花名册"):
        assert word in zh, zh
    assert "valid (gateway" not in zh and "no central public key" not in zh
    en = run("en", home, "doctor", "--offline", "-c", conf, rc=1).stdout
    assert "what to do" in en and "valid (gateway gw-lang-2)" in en and "no central public key" in en
    assert not CJK.search(en)
    reports = [json.loads(run(loc, home, "doctor", "--offline", "--json", "-c", conf, rc=1).stdout)
               for loc in ("zh", "C")]
    assert [(c["name"], c["verdict"]) for c in reports[0]["checks"]] == \
        [(c["name"], c["verdict"]) for c in reports[1]["checks"]]
    for c in reports[0]["checks"]:
        assert not CJK.search(c["detail"] + c["fix"]), c


_HALF = {"█": (255, 255), " ": (0, 0), "▀": (255, 0), "▄": (0, 255)}


def decode_terminal_qr(lines: list[str]) -> str:
    """The text of a QR code drawn with half blocks (light modules drawn), read by OpenCV."""
    w = max(len(line) for line in lines)
    img = np.zeros((2 * len(lines), w), np.uint8)
    for y, line in enumerate(lines):
        for x, ch in enumerate(line.ljust(w)):
            img[2 * y, x], img[2 * y + 1, x] = _HALF[ch]
    # OpenCV's reader misses the odd code at one scale (the bundle, with its fresh key and
    # time, differs every run): a phone tries again too -- other scales, the other detector
    for scale in (8, 6, 10, 5):
        big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        big = cv2.copyMakeBorder(big, 4 * scale, 4 * scale, 4 * scale, 4 * scale,
                                 cv2.BORDER_CONSTANT, value=255)
        for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
            data, _, _ = detector.detectAndDecode(big)
            if data:
                return data
    return ""


def test_provision_prints_chinese_and_a_terminal_qr_that_scans_to_the_bundle(home):
    p = run("zh", home, "provision", "--project", "南宁五号线", "--gateway-id", "gw-lang-3",
            "--broker", "mqtt://127.0.0.1:1883", "-y", "--no-probe")
    out = p.stdout.splitlines()
    assert out[0].startswith("密钥：") and "（新生成）" in out[0]
    assert any(line.startswith("登记包：") for line in out)
    start = out.index("扫码到中心平台登记本网关：") + 1
    qr = [line for line in out[start:] if line and set(line) <= set(_HALF)]
    assert 20 < len(qr) < 45 and max(map(len, qr)) <= 85       # a terminal's width, about
    bundle = (home / "gw-lang-3.bundle.json").read_text()
    assert decode_terminal_qr(qr) == bundle
    assert json.loads(bundle)["project"] == "南宁五号线"
    assert "下一步" in p.stdout
    # --json: what was made, no drawing; the same in English
    p = run("C", home, "provision", "--project", "南宁五号线", "--gateway-id", "gw-lang-3",
            "--broker", "mqtt://127.0.0.1:1883", "-y", "--no-probe", "--json")
    made = json.loads(p.stdout)
    assert made["key_made"] is False and made["bundle"]["gateway_id"] == "gw-lang-3"
    assert made["bundle_json"] == str(home / "gw-lang-3.bundle.json") and "█" not in p.stdout
