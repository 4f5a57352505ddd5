"""`sitegate export attendance --month YYYY-MM`: the monthly attendance sheet (考勤表)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from gateway.cli.options import config_option, site


@click.group()
def export() -> None:
    """Reports for the labour manager."""


@export.command("attendance")
@config_option
@click.option("--month", required=True, metavar="YYYY-MM", help="The month, e.g. 2026-11.")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default=None,
              help="Default: from the output file's extension, else xlsx.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="File to write (default: attendance-PROJECT-YYYY-MM.xlsx here); - for stdout (CSV).")
def export_attendance(config, month, fmt, output):
    """One row per worker: team, trade, a mark for each day attended, total days.

    Reads the gateway's attendance ledger (brought up to date from the outbox first), so it
    works while `sitegate run` is running."""
    from rich.console import Console

    from gateway.ledger import sheet as S
    from gateway.ledger.ledger import LedgerError, parse_month
    from gateway.ledger.site_data import SiteData
    try:
        year, mon = parse_month(month)
    except LedgerError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from exc
    if fmt is None:
        fmt = "csv" if output and (output == "-" or output.lower().endswith(".csv")) else "xlsx"
    if output == "-" and fmt != "csv":
        raise click.BadParameter("stdout takes CSV only; use --format csv or give a file", param_hint="-o")
    cfg = site(config)
    err = Console(stderr=True)
    try:
        data = SiteData(cfg)
    except (PermissionError, ValueError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot open the site's data in {cfg.home}: {exc}") from exc
    try:
        with err.status("indexing new attendance records…"):
            new = data.catch_up()
        gaps = data.ledger.gaps()
        with err.status(f"building the sheet for {year}-{mon:02d}…"):
            sheet = data.sheet(year, mon)
    except sqlite3.Error as exc:
        raise click.ClickException(f"reading the site's data in {cfg.home}: {exc}") from exc
    finally:
        data.close()
    project = cfg.project or cfg.gateway_id
    if output == "-":
        click.echo(S.csv_bytes(sheet).decode("utf-8"), nl=False)
    else:
        path = Path(output or S.filename(sheet, fmt, project))
        path.write_bytes(S.xlsx_bytes(sheet) if fmt == "xlsx" else S.csv_bytes(sheet))
        err.print(f"{path}: {len(sheet.rows)} worker(s), {sheet.total_days} attendance day(s) "
                  f"in {year}-{mon:02d}" + (f" ({new} new record(s) indexed)" if new else ""))
    for first, last in gaps:
        err.print(f"[bold red]warning:[/] records {first}..{last} left the outbox before the ledger "
                  f"indexed them; this sheet lacks them (central has them: sitegate-central export)")
