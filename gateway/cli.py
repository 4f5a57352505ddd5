"""`sitegate` command line: each command is a thin shell over a library call."""
from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="sitegate")
def main() -> None:
    """sitegate: site-side gateway for attendance hardware."""


if __name__ == "__main__":  # pragma: no cover
    main()
