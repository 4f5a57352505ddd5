"""`sitegate faces …` and `sitegate roster …`, data in SITEGATE_HOME. Most calls run the click
app in-process (the face models load once); one test runs real processes."""
from __future__ import annotations

import json
import subprocess

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
    assert r["templates"] == 2 and r["rejected"][0]["reason"] == "bad_pose"
    js("faces", "enroll", "W000105", photo("105", "105_1"), photo("105", "105_6"), ok=True)
    assert (home / "faces" / "templates.db").exists()
    assert oct((home / "keys" / "templates.sm4").stat().st_mode & 0o777) == "0o600"

    v = js("faces", "verify", "W000103", photo("103", "103_6"), ok=True)
    assert set(v) == {"worker_id", "distance", "margin", "decision", "reason"}
    assert v["decision"] == "match" and v["worker_id"] == "W000103" and v["distance"] < 0.42
    v = js("faces", "verify", "W000105", photo("103", "103_6"), ok=False)
    assert v["decision"] == "no_match" and v["reason"] == "too_far"

    i = js("faces", "identify", photo("103", "103_6"), ok=True)
    assert i["worker_id"] == "W000103" and i["margin"] > 0.06
    i = js("faces", "identify", photo("110", "110_4"), ok=False)        # not enrolled
    assert i["worker_id"] is None and i["decision"] == "no_match"

    cal = js("faces", "calibrate", ok=True)
    assert cal["workers"] == 2 and cal["recommended"] is None and cal["warnings"]

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
    import cv2
    import numpy as np
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 80, np.uint8))
    assert js("faces", "verify", "W1", blank, ok=False)["reason"] == "no_face"
    assert js("faces", "verify", "W404", photo("103", "103_6"), ok=False)["reason"] == "not_enrolled"
    out = run("faces", "enroll", "bad id!", photo("103", "103_7"), ok=False)
    assert "bad worker id" in out.stderr
    r = js("faces", "enroll", "W2", blank, ok=False)
    assert r["decision"] == "rejected" and r["reason"] == "no_face"


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
