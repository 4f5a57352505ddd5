"""`sitegate sim …` in a real subprocess, `sitegate probe …` against it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paths import FACES
from click.testing import CliRunner

from gateway.cli.main import main
from drivers.sim.gps import GpsSimulator
from drivers.sim.samples import HMT, RESIDENT
from drivers.sim.turnstile import TurnstileSimulator

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def start_cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_path(path: Path, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "simulator did not come up"
        time.sleep(0.05)


@pytest.fixture
def cli_idcard(tmp_path):
    procs = []

    def make(cards, *extra):
        f = tmp_path / "cards.jsonl"
        f.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cards), encoding="utf-8")
        link = tmp_path / "idcard0"
        proc = start_cli("sim", "idcard", "--cards", str(f), "--link", str(link), "--dwell", "30",
                         "--gap", "0.1", "--duration", "40", *extra)
        procs.append(proc)
        wait_path(link, proc)
        return link, proc

    yield make
    for p in procs:
        p.terminate()
        p.wait(5)


def test_probe_idcard_json_masks_unless_reveal(cli_idcard):
    link, proc = cli_idcard([RESIDENT])
    runner = CliRunner()
    res = runner.invoke(main, ["probe", "idcard", "--port", str(link), "--json", "--timeout", "5"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) >= {"card_type", "name", "name_en", "gender", "nation", "nationality", "birth",
                         "address", "id_number", "issuer", "valid_from", "valid_to"}
    assert data["id_number"] == "4501**********0030" and data["card_type"] == "resident"
    assert "450103198503070030" not in res.output


def test_probe_idcard_reveal_and_text_output(cli_idcard):
    link, proc = cli_idcard([HMT], "--after-read", "stay", "--junk", "AA 00")
    res = CliRunner().invoke(main, ["probe", "idcard", "--port", str(link), "--reveal", "--timeout", "5"])
    assert res.exit_code == 0, res.output
    assert "810000199001010019" in res.output and "hmt_residence" in res.output


def test_probe_idcard_reports_a_bad_card(cli_idcard):
    link, proc = cli_idcard([RESIDENT | {"birth": "1985-02-30"}])
    res = CliRunner().invoke(main, ["probe", "idcard", "--port", str(link), "--timeout", "5"])
    assert res.exit_code == 1 and "bad_date" in res.output


def test_probe_idcard_without_a_reader(tmp_path):
    res = CliRunner().invoke(main, ["probe", "idcard", "--port", str(tmp_path / "none")])
    assert res.exit_code == 1 and "cannot open" in res.output


def test_probe_ports_names_each_device(cli_idcard):
    link, proc = cli_idcard([RESIDENT])
    with GpsSimulator(rate=10) as gps, TurnstileSimulator() as gate:
        res = CliRunner().invoke(main, ["probe", "ports", "--json", "--listen", "0.4",
                                        "--port", str(link), "--port", gps.path, "--port", gate.path])
    assert res.exit_code == 0, res.output
    found = {i["port"]: i["device"] for i in json.loads(res.stdout)}
    assert found[str(link)] == "idcard"
    assert found[gps.path] == "gps"
    assert found[gate.path] == "modbus-relay"


def test_sim_gps_and_turnstile_print_their_path():
    for args in (["sim", "gps", "--duration", "0.5"], ["sim", "turnstile", "--duration", "0.5"]):
        proc = start_cli(*args)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "simulator on /" in out


def test_sim_camera_writes_video(tmp_path):
    faces = FACES / "asian_faces"
    out = tmp_path / "v.avi"
    res = CliRunner().invoke(main, ["sim", "camera", str(faces), "--write", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 10_000


def test_sim_http_turnstile_serves_the_driver():
    from drivers.httpgate import HttpTurnstileGate
    from drivers.sim.camera import free_port
    from drivers.turnstile import Lane
    port = free_port()
    proc = start_cli("sim", "http-turnstile", "--port", str(port), "--doors", "4", "--walk-time", "0.1",
                     "--duration", "20")
    try:
        banner = proc.stdout.readline()
        assert f"http turnstile controller at http://127.0.0.1:{port}, doors [4]" in banner, banner
        gate = HttpTurnstileGate(f"http://127.0.0.1:{port}", lanes={"entry": Lane(4)})
        gate.open("entry")
        assert gate.wait_passage("entry", timeout=3.0) is True
        assert proc.stdout.readline().strip() == "door 4 released"
    finally:
        proc.terminate()
        proc.wait(10)
    bad = CliRunner().invoke(main, ["sim", "http-turnstile", "--doors", "a,b"])
    assert bad.exit_code != 0 and "--doors" in bad.output


def test_probe_survives_a_reply_meant_for_someone_else():
    """While the daemon polls the reader, the probe may read the daemon's short STATUS reply
    where it expects the 16-byte SAM ID: still an ID-card reader, never a crash."""
    from drivers.probe import identify
    from drivers.sam import protocol as p
    from drivers.sim.idcard import IdCardSimulator
    with IdCardSimulator([]) as sim:
        answer = sim.device.handle

        def handle(body):
            if tuple(body[:2]) == p.Command.SAM_ID.value:
                return p.response_frame(0x90, b"")
            return answer(body)

        sim.device.handle = handle
        info = identify(sim.path, listen=0.2)
    assert (info.device, info.detail) == ("idcard", "SAM at 115200 baud")
