"""Machine output and progress on both programs' command lines.

* Every command of `sitegate` and `sitegate-central` found by walking the click tree (new
  commands included) takes ``--json``, unless it is one of the few listed below with the reason.
* Progress bars go to stderr only when stderr is a terminal, never with ``--json``: checked with
  the commands run as real processes whose stderr is a real pseudo-terminal."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from procs import central_cmd, sitegate_cmd

sys.path.insert(0, str(Path(__file__).resolve().parent / "central"))   # month.py, sample.py

# The only commands without --json, and why.  Everything else that exists must take it.
NO_JSON = {
    "sitegate run": "the site daemon: runs until stopped; `sitegate status --json` reports on it",
    "sitegate web serve": "serves the web app until stopped (its pages are the output)",
    "sitegate phone serve": "serves the phone page until stopped",
    "sitegate sim": "device simulators (every subcommand): they run until stopped and narrate "
                    "what the device does for a person watching",
    "sitegate-central run": "the receiver: runs until stopped and prints its counters as JSON "
                            "when it stops",
    "sitegate-central api": "serves the HTTP JSON API until stopped",
    "sitegate-central platform run": "the platform pusher: runs until stopped; `platform status "
                                     "--json` reports on it",
    "sitegate-central platform fake": "a rehearsal platform: serves until stopped and prints its "
                                      "URL as the first line (the interface installers script)",
}


def _walk(cmd: click.Command, path: list[str]):
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in sorted(cmd.list_commands(ctx)):      # groups loaded on first use included
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, path + [name])
    else:
        yield " ".join(path), cmd


def _commands():
    from central.cli import main as central_main
    from gateway.cli.main import main as gateway_main
    return [*_walk(gateway_main, ["sitegate"]), *_walk(central_main, ["sitegate-central"])]


def _exempt(path: str) -> bool:
    return any(path == p or path.startswith(p + " ") for p in NO_JSON)


def test_every_command_that_reports_takes_json():
    cmds = _commands()
    assert len(cmds) > 80                               # the walk reaches both programs' leaves
    missing = []
    for path, cmd in cmds:
        flag = [p for p in cmd.params if isinstance(p, click.Option) and "--json" in p.opts]
        if _exempt(path):
            continue
        if not flag or not flag[0].is_flag:
            missing.append(path)
    assert not missing, f"add --json (or a justified entry in NO_JSON) to: {missing}"
    # the exemptions name commands that exist and are not themselves offering --json
    for p in NO_JSON:
        hits = [c for path, c in cmds if path == p or path.startswith(p + " ")]
        assert hits, f"NO_JSON lists {p!r}, which is no command any more"


def _run_with_tty_stderr(cmd: list[str], env: dict, timeout: float = 120) -> tuple[int, str, str]:
    """Run ``cmd`` with stdout a pipe and stderr a real pseudo-terminal; (rc, stdout, what the
    terminal received)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                            env=env)
    os.close(slave)
    term = bytearray()
    out = bytearray()
    fds = [master, proc.stdout.fileno()]
    end = time.monotonic() + timeout
    while fds and time.monotonic() < end:
        ready, _, _ = select.select(fds, [], [], 0.5)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:                      # the pty's other end closed (EIO)
                chunk = b""
            if not chunk:
                fds.remove(fd)
                continue
            (term if fd == master else out).extend(chunk)
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, out.decode(), term.decode(errors="replace")


@pytest.fixture
def tty_env(home):
    return dict(os.environ, TERM="xterm-256color", COLUMNS="100", LANG="C.UTF-8",
                PYTHONPATH=os.environ.get("PYTHONPATH", ""), SITEGATE_HOME=str(home))


def test_roster_import_progress_goes_to_the_terminal_never_into_json(home, tmp_path, tty_env):
    conf = home / "site.toml"
    conf.write_text('[gateway]\nid = "gw-progress-1"\n')
    rows = tmp_path / "workers.csv"
    rows.write_text("worker_id,name,team\n" + "".join(f"W{i:05d},工人{i},A\n" for i in range(400)))
    rc, out, term = _run_with_tty_stderr(
        sitegate_cmd("roster", "import", str(rows), "-c", str(conf)), tty_env)
    assert rc == 0, term
    assert out == "400 worker(s) imported\n"            # stdout: the result, nothing else
    assert "importing workers" in term and "\x1b[" in term    # the bar, drawn on the terminal
    # --json: one JSON document on stdout, and not a byte of progress on the terminal
    rows.write_text("worker_id,name\n" + "".join(f"V{i:05d},工人{i}\n" for i in range(400)))
    rc, out, term = _run_with_tty_stderr(
        sitegate_cmd("roster", "import", str(rows), "-c", str(conf), "--json"), tty_env)
    assert rc == 0, term
    assert json.loads(out) == {"file": str(rows), "imported": 400}
    assert "importing" not in term and "\x1b[" not in term
    # no terminal at all: no progress either
    p = subprocess.run(sitegate_cmd("roster", "import", str(rows), "-c", str(conf)),
                       capture_output=True, text=True, env=tty_env, timeout=120)
    assert p.returncode == 0 and p.stderr == "" and p.stdout == "400 worker(s) imported\n"


@pytest.fixture
def central_db(tmp_path):
    from central.crypto import FieldCipher
    from central.store import Store
    from month import Central, register_project
    key = os.urandom(32)
    db = tmp_path / "c.db"
    c = Central(Store(f"sqlite:///{db}"))
    c.cipher = FieldCipher(key)
    c.reg.cipher = c.esc.cipher = c.cipher
    register_project(c, "GX-PROG-1", n_workers=1)
    c.store.engine.dispose()
    return f"sqlite:///{db}", key.hex()


def test_central_import_and_evaluate_progress_never_pollute_json(central_db, tmp_path, tty_env):
    db, key = central_db
    env = dict(tty_env, SITEGATE_CENTRAL_KEY=key)
    sheet = tmp_path / "companies.csv"
    from sample import make_uscc
    sheet.write_text("corpCode,corpName,areaCode\n" + "".join(
        f"{make_uscc(100 + i)},公司{i},450102\n" for i in range(300)))
    rc, out, term = _run_with_tty_stderr(
        central_cmd("import", "companies", str(sheet), "--db", db, "--json"), env)
    assert rc == 0, term
    assert json.loads(out) == {"kind": "companies", "imported": 300, "evaluated": None}
    assert "\x1b[" not in term
    rc, out, term = _run_with_tty_stderr(
        central_cmd("warnings", "evaluate", "--on", "2026-03-11", "--db", db), env)
    assert rc == 0, term
    assert out.startswith("warnings evaluated: ")
    assert "evaluating warning rules" in term
    rc, out, term = _run_with_tty_stderr(
        central_cmd("warnings", "evaluate", "--on", "2026-03-11", "--db", db, "--json"), env)
    assert rc == 0, term
    stats = json.loads(out)
    assert isinstance(stats, dict) and all(isinstance(v, int) for v in stats.values())
    assert "\x1b[" not in term
