"""The English sentences the gateway's code hands to the catalogue (``tr(...)``, ``M(...)``,
``fail(...)`` with a literal first argument), found by reading the source (AST), for the test
that every one of them has a Chinese translation.  Run as a script to list the missing ones
as PO entries to fill in."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALLS = {"tr", "M", "fail"}


def msgids(root: Path = ROOT / "gateway") -> dict[str, list[str]]:
    """msgid -> where it is used (file:line)."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            arg = node.args[0]
            if name in CALLS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from gateway import words
    plain = words.catalogue().plain
    for msgid, where in msgids().items():
        if msgid not in plain:
            esc = msgid.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            print(f"#: {where[0]}")
            if "{" in msgid:
                print("#, python-brace-format")
            print(f'msgid "{esc}"\nmsgstr ""\n')
