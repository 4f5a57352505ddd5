"""`sitegate demo`: the whole spine on one machine, ending with a verified summary.

An embedded broker (or ``--broker``), a real ``sitegate-central run`` process on SQLite under
``$SITEGATE_HOME``, a fresh gateway key registered with central, simulated workers clocking in,
then central's independent re-verification (``sitegate-central verify``).  Central runs as its
own process, exactly as an operator would run it; the gateway side runs in this process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from uplink.broker import BrokerConfig
from uplink.outbox import Limits, Outbox
from uplink.publisher import Uplink

from gateway import keys
from gateway.ops.embedded_broker import EmbeddedBroker
from gateway.clockin.simulate import clock_in


@dataclass
class Summary:
    gateway: str
    broker: str
    produced: int = 0
    acknowledged: int = 0
    stored_at_central: int = 0
    verified_at_central: int = 0
    rejected: int = 0
    duplicates_absorbed: int = 0
    seconds: float = 0.0
    problems: tuple = ()

    @property
    def ok(self) -> bool:
        n = self.produced
        return (n > 0 and self.acknowledged == n and self.verified_at_central == n
                and self.stored_at_central == n and not self.problems)

    def as_dict(self) -> dict:
        d = dict(self.__dict__, problems=list(self.problems), ok=self.ok)
        d["records_per_s"] = round(self.acknowledged / self.seconds, 1) if self.seconds else 0
        return d


def _central(*args: str) -> list[str]:
    return [sys.executable, "-m", "central.cli", *args]


def run_demo(home: Path, records: int, broker_url: str | None, console: Console,
             timeout: float | None = None, quiet: bool = False) -> Summary:
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SITEGATE_HOME=str(home))
    gw = time.strftime("demo-%Y%m%d-%H%M%S")
    workdir = home / "demo" / gw
    broker = None
    if broker_url is None:
        broker = EmbeddedBroker().start()
        broker_url = broker.url
    summary = Summary(gw, broker_url)
    signer = keys.generate(workdir / "gateway.key.pem")
    subprocess.run(_central("gateways", "add", gw, "--public-key",
                            str(keys.public_file(workdir / "gateway.key.pem")),
                            "--label", "sitegate demo"), env=env, check=True,
                   capture_output=True)
    # central's public key, as an installer copies it: the uplink releases only on acks it signed
    central_key = subprocess.run(_central("key", "--hex"), env=env, check=True,
                                 capture_output=True, text=True).stdout.strip()
    ready = workdir / "central.ready"
    central = subprocess.Popen(_central("run", "--broker", broker_url, "--ready-file", str(ready)),
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            if central.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sitegate-central did not start (is the broker reachable?)")
            time.sleep(0.05)
        outbox = Outbox(workdir / "outbox.db", gw, signer, Limits())
        uplink = Uplink(outbox, BrokerConfig(broker_url), ack_timeout=5, backoff_max=2,
                        central_key=central_key)
        thread = threading.Thread(target=uplink.run, args=(stop,), daemon=True)
        thread.start()
        start = time.monotonic()
        limit = timeout or 60 + records / 200
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, disable=quiet) as progress:
            made = progress.add_task("clock-ins committed   ", total=records)
            acked = progress.add_task("acknowledged by central", total=records)
            while outbox.head_seq < records:
                n = min(50, records - outbox.head_seq)
                first = outbox.head_seq + 1
                outbox.append_many([clock_in(first + i, 500) for i in range(n)])
                progress.update(made, completed=outbox.head_seq)
                progress.update(acked, completed=outbox.acked_seq)
            while outbox.acked_seq < records and time.monotonic() - start < limit:
                progress.update(acked, completed=outbox.acked_seq)
                time.sleep(0.05)
            progress.update(acked, completed=outbox.acked_seq)
        summary.seconds = round(time.monotonic() - start, 2)
        summary.produced = outbox.head_seq
        summary.acknowledged = outbox.acked_seq
        stop.set()
        thread.join(10)
        outbox.close()
    finally:
        stop.set()
        central.terminate()
        try:
            central.wait(15)
        except subprocess.TimeoutExpired:
            central.kill()
        if broker:
            broker.stop()
    verify = subprocess.run(_central("verify", "--gateway", gw, "--json"), env=env,
                            capture_output=True, text=True)
    try:
        result = json.loads(verify.stdout)[0]
    except (ValueError, IndexError):
        summary.problems = (f"verify failed: {verify.stderr.strip()[-300:]}",)
        return summary
    summary.verified_at_central = result["verified_records"] if result["ok"] else 0
    summary.stored_at_central = result["last_seq"]
    rej = result["rejections"]
    summary.duplicates_absorbed = rej.get("replay", 0)
    summary.rejected = sum(n for kind, n in rej.items() if kind != "replay")
    summary.problems = tuple(result["problems"])
    return summary


def print_summary(summary: Summary, console: Console) -> None:
    from rich.table import Table
    table = Table(title=f"sitegate demo: {summary.gateway} via {summary.broker}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    d = summary.as_dict()
    for key in ("produced", "acknowledged", "stored_at_central", "verified_at_central",
                "rejected", "duplicates_absorbed", "seconds", "records_per_s"):
        table.add_row(key.replace("_", " "), str(d[key]))
    table.add_row("result", "[green]OK: nothing lost, nothing doubled[/]" if summary.ok
                  else "[red]FAILED[/]")
    console.print(table)
    for p in summary.problems:
        console.print(f"[red]problem:[/] {p}")
