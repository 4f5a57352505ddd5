"""`sitegate export attendance --month YYYY-MM`: the monthly attendance sheet (考勤表)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from gateway.cli.options import config_option, emit_json, fail, json_option, progress_bar, site, working
from gateway.words import tr


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
@json_option
def export_attendance(config, month, fmt, output, as_json):
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
        raise click.BadParameter(tr("stdout takes CSV only; use --format csv or give a file"), param_hint="-o")
    if output == "-" and as_json:
        raise click.BadParameter(tr("--json reports on a file: give one with -o"), param_hint="-o")
    cfg = site(config)
    err = Console(stderr=True)
    try:
        data = SiteData(cfg)
    except (PermissionError, ValueError, sqlite3.Error) as exc:
        raise fail("cannot open the site's data in {home}: {why}", home=cfg.home, why=exc) from exc
    try:
        with progress_bar(tr("indexing new attendance records"), as_json=as_json) as update:
            new = data.catch_up(progress=update)
        gaps = data.ledger.gaps()
        with working(tr("building the sheet for {month}…", month=f"{year}-{mon:02d}"),
                     as_json=as_json):
            sheet = data.sheet(year, mon)
    except sqlite3.Error as exc:
        raise fail("reading the site's data in {home}: {why}", home=cfg.home, why=exc) from exc
    finally:
        data.close()
    project = cfg.project or cfg.gateway_id
    if output == "-":
        click.echo(S.csv_bytes(sheet).decode("utf-8"), nl=False)
    else:
        path = Path(output or S.filename(sheet, fmt, project))
        path.write_bytes(S.xlsx_bytes(sheet) if fmt == "xlsx" else S.csv_bytes(sheet))
        summary = tr("{path}: {n} worker(s), {days} attendance day(s) in {month}", path=path,
                     n=len(sheet.rows), days=sheet.total_days, month=f"{year}-{mon:02d}")
        if new:
            summary += " " + tr("({n} new record(s) indexed)", n=new)
        if as_json:
            emit_json({"path": str(path), "format": fmt, "month": f"{year}-{mon:02d}",
                       "workers": len(sheet.rows), "attendance_days": sheet.total_days,
                       "new_records_indexed": new, "gaps": [list(g) for g in gaps]})
        else:
            err.print(summary, highlight=False)
    for first, last in gaps:
        err.print("[bold red]" + tr("warning:") + "[/] " +
                  tr("records {first}..{last} left the outbox before the ledger indexed them; this "
                     "sheet lacks them (central has them: sitegate-central export)",
                     first=first, last=last), highlight=False)
