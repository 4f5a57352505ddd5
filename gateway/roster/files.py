"""Reading a roster file for `sitegate roster import` without trusting it: JSON (an array),
JSON Lines, CSV (UTF-8) or XLSX (the first sheet; header row = field names).

An XLSX file is a zip archive of XML, and openpyxl keeps the whole shared-string table in
memory even in read-only mode: a 300 KB archive can inflate to gigabytes. Its zip directory is
checked first -- members, declared sizes and compression ratios within :data:`LIMITS`
(Python's zip reader then holds every member to its declared size; a lying one fails its CRC)
-- and rows are streamed, counted and cut to the header's width. (Central reads its import
sheets the same way, in its own module: the two programs share no code but the protocol.)

Every refusal is one :class:`RosterFileError` line naming the file.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RosterFileError(ValueError):
    """The file cannot be read as a roster (the message names it)."""


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 32 * 1024 * 1024            # the file as given
    entries: int = 1000                           # members of an XLSX archive
    entry_bytes: int = 64 * 1024 * 1024           # one member, inflated
    shared_strings_bytes: int = 16 * 1024 * 1024  # xl/sharedStrings.xml, inflated (held in memory)
    total_bytes: int = 128 * 1024 * 1024          # all members, inflated
    ratio: int = 100                              # inflated / compressed, members over 1 MiB
    rows: int = 100_000
    columns: int = 64


LIMITS = Limits()


def read_roster_file(path: str | Path, limits: Limits = LIMITS) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RosterFileError(f"{path}: cannot read ({exc.strerror})") from None
    if size > limits.file_bytes:
        raise RosterFileError(f"{path}: {size:,} bytes; the limit is {limits.file_bytes:,} (split the file)")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        rows = _xlsx_rows(path, limits)
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RosterFileError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                  f"{exc.start}); save it as \"CSV UTF-8\"") from None
        if suffix == ".csv":
            rows = _csv_rows(path, text, limits)
        else:
            rows = _json_rows(path, text, limits)
    if not all(isinstance(r, dict) for r in rows):
        raise RosterFileError(f"{path}: every record must be an object")
    for r in rows:
        if isinstance(r.get("blacklisted"), str):
            r["blacklisted"] = r["blacklisted"].strip().lower() in ("1", "true", "yes")
    return rows


def _json_rows(path: Path, text: str, limits: Limits) -> list:
    try:
        if text.lstrip().startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, RecursionError) as exc:
        raise RosterFileError(f"{path}: not JSON or JSON Lines ({exc})") from None
    if not isinstance(rows, list):
        raise RosterFileError(f"{path}: a JSON file must hold an array of records")
    if len(rows) > limits.rows:
        raise RosterFileError(f"{path}: more than {limits.rows:,} records (split the file)")
    return rows


def _csv_rows(path: Path, text: str, limits: Limits) -> list[dict]:
    rows = []
    try:
        for n, r in enumerate(csv.DictReader(io.StringIO(text, newline="")), 2):
            if n > limits.rows + 1:
                raise RosterFileError(f"{path}: more than {limits.rows:,} rows (split the file)")
            rows.append({k: v for k, v in r.items() if k and v not in ("", None)})
    except csv.Error as exc:
        raise RosterFileError(f"{path}: not a readable CSV file ({exc})") from None
    return rows


def check_zip(path: Path, limits: Limits = LIMITS) -> None:
    """Refuse an archive that is not a zip file or would inflate beyond ``limits``."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise RosterFileError(f"{path}: not an XLSX workbook (not a zip archive; an empty or "
                              f"truncated file, or another format renamed .xlsx)") from None
    if len(infos) > limits.entries:
        raise RosterFileError(f"{path}: {len(infos)} archive members (limit {limits.entries})")
    total = 0
    for info in infos:
        cap = limits.shared_strings_bytes if info.filename.lower() == "xl/sharedstrings.xml" \
            else limits.entry_bytes
        if info.file_size > cap:
            raise RosterFileError(f"{path}: {info.filename} inflates to {info.file_size:,} bytes "
                                  f"(limit {cap:,}); refused as a possible zip bomb")
        if info.file_size > 1024 * 1024 and info.file_size > limits.ratio * max(info.compress_size, 1):
            raise RosterFileError(f"{path}: {info.filename} is compressed "
                                  f"{info.file_size // max(info.compress_size, 1):,} to 1 (limit "
                                  f"{limits.ratio} to 1); refused as a possible zip bomb")
        total += info.file_size
    if total > limits.total_bytes:
        raise RosterFileError(f"{path}: inflates to {total:,} bytes (limit {limits.total_bytes:,}); "
                              f"refused as a possible zip bomb")


def _cell(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return v.strip() if isinstance(v, str) else v


def _xlsx_rows(path: Path, limits: Limits) -> list[dict]:
    check_zip(path, limits)
    import openpyxl
    wb = None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        if not wb.worksheets:
            raise RosterFileError(f"{path}: the workbook has no sheet")
        ws = wb.worksheets[0]
        ws.reset_dimensions()            # a sheet's declared size is not believed
        header = [str(h).strip() if h is not None else ""
                  for h in next(ws.iter_rows(max_row=1, values_only=True), ())]
        while header and not header[-1]:
            header.pop()
        if len(header) > limits.columns:
            raise RosterFileError(f"{path}: {len(header)} columns (limit {limits.columns})")
        rows = []
        for n, r in enumerate(ws.iter_rows(min_row=2, max_col=max(len(header), 1), values_only=True), 2):
            if n > limits.rows + 1:
                raise RosterFileError(f"{path}: more than {limits.rows:,} rows (split the file)")
            rec = {h: _cell(v) for h, v in zip(header, r) if h and v not in (None, "")}
            if rec:
                rows.append(rec)
        return rows
    except RosterFileError:
        raise
    except Exception as exc:  # noqa: BLE001 -- openpyxl raises many kinds on a malformed file
        text = " ".join(str(exc).split())[:200]
        raise RosterFileError(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {text})") from None
    finally:
        if wb is not None:
            wb.close()
