"""`sitegate` command line: one module per command group, each a thin shell over the library."""
from gateway.cli.main import main

__all__ = ["main"]
