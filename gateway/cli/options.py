"""What every `sitegate` command shares: the ``-c/--config`` option and how a command opens the
site.  Library errors become one-line ``click`` errors here, nowhere else."""
from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.config import ConfigError, SiteConfig, load, parse

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


def emit(result: dict, as_json: bool, human: str) -> None:
    click.echo(json.dumps(result, sort_keys=True, ensure_ascii=False) if as_json else human)
