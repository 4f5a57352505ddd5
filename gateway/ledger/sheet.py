"""The monthly attendance sheet (考勤表): one row per worker -- team, trade, a mark for each day
attended, total days -- as XLSX (openpyxl) and CSV.

:func:`build` is pure (roster entries and attended days in, rows out); the writers only format.
A worker is on the sheet when active on the roster or attended at least one day that month
(a worker who left mid-month keeps the days worked). ID numbers are masked; the sheet carries
names because the labour manager signs it off with the teams.

Data out is inert: names, teams and the project come from card readers, imports and forms, so
a text cell that a spreadsheet program would read as a formula (starting with ``= + - @``, a
tab or a carriage return, also after spaces or in full width) is written as text -- in XLSX as
a string cell with Excel's quote prefix, in CSV with a leading apostrophe (:func:`inert`).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Iterable

from gateway.ledger.ledger import month_bounds

MARK = "√"
WEEKDAYS_ZH = "一二三四五六日"
HEAD_ZH = ["序号", "工号", "姓名", "身份证号", "班组", "工种"]
HEAD_EN = ["No.", "Worker ID", "Name", "ID number", "Team", "Trade"]
TOTAL_ZH, TOTAL_EN = "出勤天数", "Days"
FORMULA_START = tuple("=+-@\t\r") + ("\uff1d", "\uff0b", "\uff0d", "\uff20")   # and full width


def risky(value: object) -> bool:
    """Would a spreadsheet program take this text cell for a formula?"""
    return isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_START)


def inert(value: object) -> object:
    """A CSV cell a spreadsheet program shows as text: risky text gets a leading apostrophe
    (the form spreadsheet programs themselves use for "this is text"); numbers are kept."""
    return "'" + value if risky(value) else value


@dataclass(frozen=True)
class Person:
    worker_id: str
    name: str = ""
    id_masked: str = ""
    team: str = ""
    trade: str = ""
    active: bool = True


@dataclass
class Sheet:
    year: int
    month: int
    days: int
    title: str
    rows: list[list] = field(default_factory=list)   # fixed columns, one cell per day, total

    @property
    def header(self) -> list[str]:
        return HEAD_ZH + [str(d) for d in range(1, self.days + 1)] + [TOTAL_ZH]

    def weekday_row(self) -> list[str]:
        return [""] * len(HEAD_ZH) + [WEEKDAYS_ZH[date(self.year, self.month, d).weekday()]
                                      for d in range(1, self.days + 1)] + [""]

    @property
    def total_days(self) -> int:
        return sum(r[-1] for r in self.rows)


def build(year: int, month: int, people: Iterable[Person], attended: dict[str, set[int]],
          project: str = "") -> Sheet:
    _, _, n = month_bounds(year, month)
    by_id = {p.worker_id: p for p in people}
    for wid in attended:                       # attended but no longer (or never) on the roster
        by_id.setdefault(wid, Person(wid, active=False))
    chosen = [p for p in by_id.values() if p.active or attended.get(p.worker_id)]
    chosen.sort(key=lambda p: (p.team or "\uffff", p.worker_id))
    title = f"考勤表 {project} {year}年{month:02d}月".replace("  ", " ")
    sheet = Sheet(year, month, n, title)
    for i, p in enumerate(chosen, 1):
        days = attended.get(p.worker_id, set())
        marks = [MARK if d in days else "" for d in range(1, n + 1)]
        sheet.rows.append([i, p.worker_id, p.name, p.id_masked, p.team, p.trade, *marks, len(days)])
    return sheet


def write_csv(sheet: Sheet, out: IO[str]) -> None:
    """UTF-8 with a byte-order mark so spreadsheet programs show the Chinese correctly."""
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([inert(sheet.title)])
    w.writerow([inert(v) for v in sheet.header])
    w.writerows([inert(v) for v in row] for row in sheet.rows)


def csv_bytes(sheet: Sheet) -> bytes:
    buf = io.StringIO()
    write_csv(sheet, buf)
    return buf.getvalue().encode("utf-8")


def write_xlsx(sheet: Sheet, out: IO[bytes] | str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"{sheet.year}-{sheet.month:02d}")
    fixed = len(HEAD_ZH)
    for col, width in enumerate([6, 12, 10, 20, 14, 12], 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    for d in range(sheet.days):
        ws.column_dimensions[get_column_letter(fixed + 1 + d)].width = 3.6
    ws.column_dimensions[get_column_letter(fixed + sheet.days + 1)].width = 9
    ws.freeze_panes = f"{get_column_letter(fixed + 1)}4"
    bold, centre = Font(bold=True), Alignment(horizontal="center")
    weekend = PatternFill("solid", fgColor="EEEEEE")

    def styled(values, font=None, fill_weekends=False):
        cells = []
        for i, v in enumerate(values):
            c = WriteOnlyCell(ws, value=v)
            if isinstance(v, str):
                c.data_type = "s"            # text, never a formula (openpyxl reads "=..." as one)
                if risky(v):
                    c.quotePrefix = True     # and stays text when edited in Excel
            if font:
                c.font = font
            if i >= fixed:
                c.alignment = centre
                day = i - fixed + 1
                if fill_weekends and day <= sheet.days and date(sheet.year, sheet.month, day).weekday() >= 5:
                    c.fill = weekend
            cells.append(c)
        return cells

    ws.append(styled([sheet.title], Font(bold=True, size=14)))
    ws.append(styled(sheet.header, bold, True))
    ws.append(styled(sheet.weekday_row(), None, True))
    for row in sheet.rows:
        ws.append(styled(row, None, True))
    ws.append(styled(["", "", "", "", "", "合计 Total"] + [""] * sheet.days + [sheet.total_days], bold))
    wb.save(out)


def xlsx_bytes(sheet: Sheet) -> bytes:
    buf = io.BytesIO()
    write_xlsx(sheet, buf)
    return buf.getvalue()


def filename(sheet: Sheet, ext: str, project: str = "") -> str:
    """``attendance-PROJECT-YYYY-MM.ext``; the project name (free text in site.toml) is reduced to
    characters that are safe in a file name, so it can never point into another folder."""
    project = re.sub(r"[^\w.-]+", "_", project or "").strip("._")
    stem = f"attendance-{project + '-' if project else ''}{sheet.year}-{sheet.month:02d}"
    return f"{stem}.{ext}"
