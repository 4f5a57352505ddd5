"""What every `sitegate-central` command shares: the home folder, the ``--db`` option and how a
command opens the store."""
from __future__ import annotations

import os
from pathlib import Path

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
