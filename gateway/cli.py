"""`sitegate` command line: each command is a thin shell over a library call."""
from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="sitegate")
def main() -> None:
    """sitegate: site-side gateway for attendance hardware."""


from gateway.devices_cli import probe, sim  # noqa: E402

main.add_command(sim)
main.add_command(probe)


if __name__ == "__main__":  # pragma: no cover
    main()
