"""What every `sitegate` command shares: the ``-c/--config`` and ``--json`` options, the
progress bar, and how a command opens the site.  Library errors become one-line ``click`` errors
here, nowhere else.

Words: a command's sentences are English in the code, wrapped in :func:`gateway.words.tr`
(shown in Chinese under a ``zh_CN`` locale); ``--json`` output is the same in every language."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click

from gateway.config import ConfigError, SiteConfig, load, parse
from gateway.words import tr

config_option = click.option("-c", "--config", default="site.toml", show_default=True,
                             type=click.Path(dir_okay=False),
                             help="Site configuration file (commands that can run without one "
                                  "use the defaults when it is absent).")


def load_config(config: str) -> SiteConfig:
    """The site configuration; a missing or wrong file is a one-line error."""
    try:
        return load(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def site(config: str) -> SiteConfig:
    """The site configuration, or the defaults when the file does not exist."""
    try:
        if Path(config).exists():
            return load(config)
        return parse({"gateway": {"id": "unconfigured"}})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def open_store(cfg: SiteConfig):
    from gateway import site as _site
    try:
        return _site.open_templates(cfg)
    except _site.SiteError as exc:
        raise click.ClickException(str(exc)) from exc


def open_roster(cfg: SiteConfig):
    from gateway import site as _site
    try:
        return _site.open_roster(cfg)
    except _site.SiteError as exc:
        raise click.ClickException(str(exc)) from exc


def worker_id_param(value: str) -> str:
    from gateway.roster.store import RosterError, check_worker_id
    try:
        return check_worker_id(value)
    except RosterError as exc:
        raise click.BadParameter(str(exc)) from exc


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout (the same in every language; "
                                "no progress bar).")


def emit(result, as_json: bool, human: str) -> None:
    click.echo(json.dumps(result, sort_keys=True, ensure_ascii=False) if as_json else human)


def emit_json(result) -> None:
    click.echo(json.dumps(result, sort_keys=True, ensure_ascii=False, default=str))


Progress = Callable[[int, "int | None"], None]


@contextmanager
def progress_bar(label: str, total: int | None = None, *, as_json: bool = False) -> Iterator[Progress]:
    """A progress bar on stderr for the block's duration; yields ``update(done, total)`` to hand
    to the library.  Off (``update`` does nothing) when stderr is not a terminal or with
    ``--json``, so pipes and logs get no escape codes and stdout is never touched."""
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


def fail(msgid: str, **kw) -> click.ClickException:
    """A one-line error in the command line's language (raise it)."""
    return click.ClickException(tr(msgid, **kw))
