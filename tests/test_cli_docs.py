from pathlib import Path

from cli_docs import render


def test_cli_reference_is_current():
    doc = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert doc.read_text() == render(), "docs/cli.md is stale: run python tests/cli_docs.py"
