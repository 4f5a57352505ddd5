"""`sitegate faces …` and `sitegate roster …`, data in SITEGATE_HOME. Most calls run the click
app in-process (the face models load once); one test runs real processes."""
from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np

from faceframes import photo
from faceset import DATA
from procs import sitegate_cmd


class Out:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args, ok=None):
    from click.testing import CliRunner

    from gateway.cli.main import main
    res = CliRunner().invoke(main, list(map(str, args)))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    out = Out(res.exit_code, res.stdout, res.stderr)
    if ok is not None:
        assert (out.returncode == 0) == ok, (out.stdout, out.stderr)
    return out


def test_real_processes_honour_sitegate_home(home):
    out = subprocess.run(sitegate_cmd("faces", "enroll", "W7", str(photo("103", "103_7")),
                                      str(photo("103", "103_10")), "--json"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["templates"] == 2
    assert (home / "faces" / "templates.db").exists()
    out = subprocess.run(sitegate_cmd("faces", "identify", str(photo("103", "103_6")), "--json"),
                         capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout)["worker_id"] == "W7"


def js(*args, ok=None):
    out = run(*args, "--json", ok=ok)
    return json.loads(out.stdout)


def test_enroll_verify_identify_calibrate_remove(home, tmp_path):
    r = js("faces", "enroll", "W000103", photo("103", "103_7"), photo("103", "103_10"), photo("103", "103_18"), ok=True)
    assert r["templates"] == 2 and r["rejected"][0]["reason"] == "bad_pose" and r["model"] == "mobilefacenet-v2"
    assert "正面" in r["rejected"][0]["message_zh"] and "frontal" in r["rejected"][0]["message_en"]
    js("faces", "enroll", "W000105", photo("105", "105_1"), photo("105", "105_6"), ok=True)
    assert (home / "faces" / "templates.db").exists()
    assert oct((home / "keys" / "templates.sm4").stat().st_mode & 0o777) == "0o600"

    v = js("faces", "verify", "W000103", photo("103", "103_6"), ok=True)
    assert set(v) == {"worker_id", "distance", "margin", "decision", "reason", "model"}
    assert v["decision"] == "match" and v["worker_id"] == "W000103" and v["distance"] < 0.43
    assert v["model"] == "mobilefacenet-v2"
    v = js("faces", "verify", "W000105", photo("103", "103_6"), ok=False)
    assert v["decision"] == "no_match" and v["reason"] == "too_far"

    i = js("faces", "identify", photo("103", "103_6"), ok=True)
    assert i["worker_id"] == "W000103" and i["margin"] > 0.12
    i = js("faces", "identify", photo("110", "110_4"), ok=False)        # not enrolled
    assert i["worker_id"] is None and i["decision"] == "no_match"

    cal = js("faces", "calibrate", ok=True)
    assert cal["workers"] == 2 and cal["recommended"] is None and cal["warnings"] and cal["model"] == "mobilefacenet-v2"
    png = home / "faces" / "calibration.png"
    assert cal["png"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((home / "faces" / "calibration.json").read_text())["current"]["verify"] == 0.43
    st = js("faces", "status", ok=True)
    assert st["templates"] == [{"model": "mobilefacenet-v2", "source": "enrol", "templates": 4, "workers": 2}]

    assert "deleted" in run("faces", "remove", "W000105", ok=True).stdout
    assert js("faces", "verify", "W000105", photo("105", "105_3"), ok=False)["reason"] == "not_enrolled"
    assert run("faces", "remove", "W000105", ok=False).stderr.count("no enrolled templates") == 1


def test_bad_input_is_a_reason_not_a_traceback(home, tmp_path):
    js("faces", "enroll", "W1", photo("103", "103_7"), ok=True)
    corrupt = tmp_path / "c.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    for img, why in ((corrupt, "bad_image"), (DATA / "ageitgey" / "examples__two_people.jpg", "multiple_faces"),
                     (tmp_path / "nope.jpg", "bad_image")):
        out = run("faces", "identify", img, "--json", ok=False)
        assert json.loads(out.stdout)["reason"] == why and "Traceback" not in out.stderr
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 80, np.uint8))
    assert js("faces", "verify", "W1", blank, ok=False)["reason"] == "no_face"
    assert js("faces", "verify", "W404", photo("103", "103_6"), ok=False)["reason"] == "not_enrolled"
    out = run("faces", "enroll", "bad id!", photo("103", "103_7"), ok=False)
    assert "bad worker id" in out.stderr
    r = js("faces", "enroll", "W2", blank, ok=False)
    assert r["decision"] == "rejected" and r["reason"] == "no_face" and r["rejected"][0]["message_zh"]
    dark = tmp_path / "dark.png"
    img = cv2.imread(str(photo("103", "103_7")))
    cv2.imwrite(str(dark), (img * 0.25).astype(np.uint8))
    out = run("faces", "enroll", "W2", dark, ok=False)
    assert "too dark" in out.stdout.lower() and "too_dark" in out.stdout


def test_calibration_picture_shows_both_distributions_and_thresholds(home, tmp_path):
    """On a bigger site the PNG carries the current and the recommended thresholds."""
    from biometrics.store import TemplateStore
    rng = np.random.default_rng(3)
    store = TemplateStore(home / "faces" / "templates.db", key_file=home / "keys" / "templates.sm4")
    centres = rng.normal(0, 1, (60, 192))
    for i, c in enumerate(centres):
        store.add(f"W{i:03d}", [(c + rng.normal(0, 0.5, 192)).astype(np.float32) for _ in range(3)])
    store.close()
    out = run("faces", "calibrate", "--png", tmp_path / "c.png", ok=True).stdout
    assert "picture:" in out and "expected FAR" in out
    img = cv2.imread(str(tmp_path / "c.png"))
    assert img.shape[0] >= 300 and img.shape[1] >= 600
    # genuine (green) and impostor (red) bars are drawn
    b, g, r = (img[..., k].astype(int) for k in range(3))
    assert ((g > r + 40) & (g > b + 40)).sum() > 500 and ((r > g + 40) & (r > b + 40)).sum() > 500


def test_roster_commands_mask_and_encrypt(home, tmp_path):
    number = "450103198503070030"
    run("roster", "add", "W1", "--id-number", number, "--name", "张三", "--contract-end", "2030-01-01", ok=True)
    f = tmp_path / "r.csv"
    f.write_text("worker_id,id_number,name,trade,cert_valid_to,blacklisted\n"
                 "W2,11010519491231002X,李秀英,建筑电工,2020-01-01,\nW3,,,,,yes\n", encoding="utf-8")
    assert "2 worker(s) imported" in run("roster", "import", f, ok=True).stdout
    rows = json.loads(run("roster", "list", "--json", ok=True).stdout)
    assert [r["worker_id"] for r in rows] == ["W1", "W2", "W3"]
    assert rows[0]["id_number"] == "4501**********0030" and rows[2]["blacklisted"]
    text = run("roster", "list", ok=True).stdout
    assert number not in text and "张三" not in text
    raw = b"".join(p.read_bytes() for p in home.glob("roster.db*"))
    assert number.encode() not in raw and "张三".encode() not in raw
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"worker_id": "W9", "salary": 1}\n')
    assert "unknown field" in run("roster", "import", bad, ok=False).stderr
    run("roster", "blacklist", "W1", "--reason", "fraud", ok=True)
    run("roster", "status", "W1", "exited", ok=True)
    assert "not on the roster" in run("roster", "status", "W404", "exited", ok=False).stderr
