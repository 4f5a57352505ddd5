"""Web sign-in under attack, against the real server (`sitegate web serve` in its own process,
reached over loopback from many source addresses -- 127.0.0.0/8 is all loopback on Linux, so
each simulated client has its own address, as on a site network).

Parallel guesses against one account check at most MAX_FAILURES passwords; 40 parallel
sign-ins do not take the serving process's memory past a few scrypt buffers; a wrong password,
an unknown user and a locked account look the same and cost the same work; attempts are
throttled per client address, and a forwarded-for header does not change the address.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from gateway.web.accounts import MAX_FAILURES
from procs import sitegate_cmd
from webfixtures import PASSWORDS, TZ, make_site

MiB = 1024 * 1024


class Served:
    def __init__(self, home: Path, tmp_path: Path) -> None:
        make_site(home, dt.datetime.now(TZ).date())
        site = tmp_path / "site.toml"
        site.write_text('[gateway]\nid = "gw-web-1"\nproject = "P-WEB"\n'
                        '[web]\nlisten = "127.0.0.1"\nport = 0\n')
        self.err_path = tmp_path / "serve.err"
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(sitegate_cmd("web", "serve", "-c", str(site)),
                                     env=dict(os.environ, SITEGATE_HOME=str(home)),
                                     stdout=subprocess.PIPE, stderr=self._err, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("web app on "), (line, self.err_path.read_text())
        self.url = line.split()[-1].rstrip("/")

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            transport=httpx.HTTPTransport(local_address=source))

    def status(self, field: str) -> int:
        """VmRSS / VmHWM of the serving process, in bytes."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) * 1024

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        self._err.flush()
        return self.err_path.read_text()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self._err.close()


@pytest.fixture
def served(home, tmp_path):
    s = Served(home, tmp_path)
    yield s
    s.close()


def sign_in(served: Served, user: str, password: str, source: str = "127.0.0.1",
            headers: dict | None = None) -> httpx.Response:
    with served.client(source) as c:
        return c.post("/login", data={"user": user, "password": password}, headers=headers or {},
                      follow_redirects=False)


def in_parallel(served: Served, attempts: list[tuple[str, str, str]]) -> list[httpx.Response]:
    """All attempts at once, each from its own source address and connection."""
    clients = [served.client(src) for _, _, src in attempts]
    for c in clients:                                  # connect first, then send together
        assert c.get("/login").status_code == 200
    barrier = threading.Barrier(len(attempts))
    out: list = [None] * len(attempts)

    def go(i: int) -> None:
        user, password, _ = attempts[i]
        barrier.wait()
        out[i] = clients[i].post("/login", data={"user": user, "password": password},
                                 follow_redirects=False)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(attempts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in clients:
        c.close()
    return out


def test_parallel_guesses_check_at_most_the_allowed_number(served):
    guesses = [("boss", f"guess-number-{i:02d}", f"127.0.0.{10 + i}") for i in range(24)]
    answers = in_parallel(served, guesses)
    assert {r.status_code for r in answers} <= {401, 503}
    assert not any("sg_session" in r.headers.get("set-cookie", "") for r in answers)
    log = served.log()
    checked = len(re.findall(r"refused for 'boss' from [\d.]+: wrong password$", log, re.M))
    assert 1 <= checked <= MAX_FAILURES, log[-3000:]
    # and the account is now paused: even the right password is refused (without saying why)
    r = sign_in(served, "boss", PASSWORDS["boss"], "127.0.0.60")
    assert r.status_code == 401 and "sg_session" not in r.headers.get("set-cookie", "")
    assert re.search(r"refused for 'boss' from 127.0.0.60: not checked", served.log())


def test_forty_parallel_sign_ins_keep_the_process_small(served):
    assert sign_in(served, "warm-up", "x" * 10).status_code == 401   # one scrypt buffer seen
    before = served.status("VmRSS")
    answers = in_parallel(served, [(f"nobody{i}", "whatever-pass", f"127.0.1.{10 + i}")
                                   for i in range(40)])
    peak = served.status("VmHWM")
    assert {r.status_code for r in answers} <= {401, 503}, [r.status_code for r in answers]
    assert any(r.status_code == 401 for r in answers)
    assert all(r.headers.get("retry-after") for r in answers if r.status_code == 503)
    # 40 x 32 MiB unbounded; bounded: two scrypt buffers at a time plus some slack
    assert peak - before < 160 * MiB, f"peak grew by {(peak - before) / MiB:.0f} MiB"
    assert sign_in(served, "boss", PASSWORDS["boss"], "127.0.0.61").status_code == 303


def _error(resp: httpx.Response) -> str:
    return resp.text.split('id="error">', 1)[1].split("<", 1)[0]


def test_wrong_unknown_and_locked_answer_alike(served):
    for i in range(MAX_FAILURES):                      # lock "look" (the viewer)
        sign_in(served, "look", f"wrong-{i}", "127.0.2.1")
    cases = {"wrong": ("boss", "not-the-password", "127.0.2.2"),
             "unknown": ("bosz", "not-the-password", "127.0.2.3"),
             "locked": ("look", PASSWORDS["look"], "127.0.2.4")}   # right password, but locked
    answers, cpu = {}, {}
    for kind, (user, password, src) in cases.items():
        start = served.cpu_s()
        answers[kind] = [sign_in(served, user, password, src) for _ in range(3)]
        cpu[kind] = served.cpu_s() - start
    bodies = set()
    for kind, rs in answers.items():
        user = cases[kind][0]
        for r in rs:
            assert r.status_code == 401 and "set-cookie" not in r.headers, kind
            bodies.add(r.text.replace(f'value="{user}"', 'value=""'))
    assert len(bodies) == 1                            # byte for byte the same page
    assert len({_error(rs[0]) for rs in answers.values()}) == 1
    assert "locked" not in _error(answers["locked"][0]).lower()
    # the same work: a locked or unknown name still costs a full password hash
    assert cpu["unknown"] >= 0.5 * cpu["wrong"] and cpu["locked"] >= 0.5 * cpu["wrong"], cpu


def test_throttled_per_address_not_per_header(served):
    codes = [sign_in(served, "ghost", "whatever-pass", "127.0.3.1").status_code for _ in range(10)]
    assert codes == [401] * 10
    r = sign_in(served, "ghost", "whatever-pass", "127.0.3.1")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "sg_session" not in r.headers.get("set-cookie", "")
    # a forwarded-for header is the client's own claim: same address, still throttled
    r = sign_in(served, "boss", PASSWORDS["boss"], "127.0.3.1", headers={"X-Forwarded-For": "10.1.2.3"})
    assert r.status_code == 429
    # another address signs in normally, and the throttled attempts locked nobody
    assert sign_in(served, "boss", PASSWORDS["boss"], "127.0.3.2").status_code == 303
