"""What every `sitegate-central` command shares: the home folder, the ``--db`` and ``--json``
options, the progress bar, and how a command opens the store."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click

from .store import Store, default_url


def home() -> Path:
    env = os.environ.get("SITEGATE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".sitegate"


def open_store(db: str | None) -> Store:
    return Store(db or default_url(home()))


db_option = click.option("--db", metavar="URL", envvar="SITEGATE_CENTRAL_DB",
                         help="sqlite:///path or postgresql://... [env SITEGATE_CENTRAL_DB] "
                         "(default: $SITEGATE_HOME/central/central.db)")

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout (no progress bar).")

# for commands whose output is JSON already: scripts may pass --json to every command
json_always = click.option("--json", "as_json", is_flag=True,
                           help="Accepted for uniformity: the output is always JSON.")


def emit(result, as_json: bool, human: str) -> None:
    """``result`` as JSON, or the ``human`` line(s)."""
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, default=str, sort_keys=True))
    else:
        click.echo(human)


Progress = Callable[[int, "int | None"], None]


@contextmanager
def progress_bar(label: str, total: int | None = None, *, as_json: bool = False) -> Iterator[Progress]:
    """A progress bar on stderr for the block's duration; yields ``update(done, total)`` to hand
    to the library.  Off when stderr is not a terminal or with ``--json`` (pipes and logs get no
    escape codes; stdout is never touched)."""
    from rich.console import Console
    err = Console(stderr=True)
    if as_json or not err.is_terminal:
        yield lambda done, total=None: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def update(done: int, total: int | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.update(task, completed=done)
        yield update


@contextmanager
def working(label: str, *, as_json: bool = False) -> Iterator[None]:
    """A spinner on stderr while a step of unknown length runs (same rules as
    :func:`progress_bar`)."""
    from rich.console import Console
    err = Console(stderr=True)
    if as_json or not err.is_terminal:
        yield
        return
    with err.status(label):
        yield
