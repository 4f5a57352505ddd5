"""Generate docs/cli.md from the commands' own --help (run: python tests/cli_docs.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in sorted(cmd.list_commands(ctx)):      # groups loaded on first use included
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, path + [name])


def render() -> str:
    from central.cli import main as central_main
    from gateway.cli.main import main as gateway_main
    out = ["# Command reference", "",
           "Generated from each command's `--help` by `tests/cli_docs.py`; "
           "`tests/test_cli_docs.py` fails when it is out of date.", ""]
    for prog, root in (("sitegate", gateway_main), ("sitegate-central", central_main)):
        for path, cmd in _walk(root, [prog]):
            ctx = click.Context(cmd, info_name=" ".join(path), terminal_width=100)
            out += [f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", "", "```",
                    cmd.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    (ROOT / "docs" / "cli.md").write_text(render())
    print("wrote docs/cli.md")
