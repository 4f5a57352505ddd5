"""`sitegate-central` command line."""
from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="sitegate")
def main() -> None:
    """sitegate-central: receiver, registry and exports."""


if __name__ == "__main__":  # pragma: no cover
    main()
