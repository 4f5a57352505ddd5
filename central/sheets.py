"""Reading the sheets banks and contractors deliver (CSV or XLSX) without trusting them.

An XLSX file is a zip archive of XML; openpyxl keeps a workbook's whole shared-string table in
memory, even in read-only mode, so a 300 KB archive that inflates to gigabytes of strings
would take the process with it. Before openpyxl sees a file its zip directory is checked:
entries, declared sizes and compression ratios within :data:`LIMITS` (Python's zip reader
then holds every entry to its declared size: a lying entry fails its CRC check). Rows are
streamed (read-only mode), counted, and cut to the header's width. A CSV file must be UTF-8.

Every refusal is one :class:`~central.codes.InputError` line naming the file.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .codes import InputError


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 32 * 1024 * 1024           # the file as given (XLSX or CSV)
    entries: int = 1000                          # members of the zip archive
    entry_bytes: int = 64 * 1024 * 1024          # one member, inflated
    shared_strings_bytes: int = 16 * 1024 * 1024  # xl/sharedStrings.xml, inflated (held in memory)
    total_bytes: int = 128 * 1024 * 1024         # all members, inflated
    ratio: int = 100                             # inflated / compressed, for members over 1 MiB
    rows: int = 100_000
    columns: int = 256


LIMITS = Limits()


def read_sheet(path: str | Path, limits: Limits = LIMITS) -> list[dict]:
    """Rows of a CSV (UTF-8, with or without BOM) or the first sheet of an XLSX, by header."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(f"{path.name}: only .csv and .xlsx can be imported")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read ({exc.strerror})") from None
    if size > limits.file_bytes:
        raise InputError(f"{path.name}: {size:,} bytes; the limit is {limits.file_bytes:,} "
                         f"(split the file)")
    if suffix == ".xlsx":
        return _xlsx_rows(path, limits)
    return _csv_rows(path, limits)


def check_zip(path: Path, limits: Limits = LIMITS) -> None:
    """Refuse an archive that is not a zip file or would inflate beyond ``limits``."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise InputError(f"{path.name}: not an XLSX workbook (not a zip archive; an empty or "
                         f"truncated file, or another format renamed .xlsx)") from None
    if len(infos) > limits.entries:
        raise InputError(f"{path.name}: {len(infos)} archive members; an XLSX workbook has "
                         f"far fewer (limit {limits.entries})")
    total = 0
    for info in infos:
        cap = limits.shared_strings_bytes if info.filename.lower() == "xl/sharedstrings.xml" \
            else limits.entry_bytes
        if info.file_size > cap:
            raise InputError(f"{path.name}: {info.filename} inflates to {info.file_size:,} bytes "
                             f"(limit {cap:,}); refused as a possible zip bomb")
        if info.file_size > 1024 * 1024 and info.file_size > limits.ratio * max(info.compress_size, 1):
            raise InputError(f"{path.name}: {info.filename} is compressed "
                             f"{info.file_size // max(info.compress_size, 1):,} to 1 (limit "
                             f"{limits.ratio} to 1); refused as a possible zip bomb")
        total += info.file_size
    if total > limits.total_bytes:
        raise InputError(f"{path.name}: inflates to {total:,} bytes (limit {limits.total_bytes:,}); "
                         f"refused as a possible zip bomb")


def _xlsx_rows(path: Path, limits: Limits) -> list[dict]:
    check_zip(path, limits)
    import openpyxl
    wb = None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        if not wb.worksheets:
            raise InputError(f"{path.name}: the workbook has no sheet")
        ws = wb.worksheets[0]
        ws.reset_dimensions()            # a sheet's declared size is not believed
        header_row = next(ws.iter_rows(max_row=1, values_only=True), ())
        header = [str(h).strip() if h is not None else "" for h in header_row]
        while header and not header[-1]:
            header.pop()
        if len(header) > limits.columns:
            raise InputError(f"{path.name}: {len(header)} columns (limit {limits.columns})")
        if not header:
            return []
        rows = []
        for n, r in enumerate(ws.iter_rows(min_row=2, max_col=len(header), values_only=True), 2):
            if n > limits.rows + 1:
                raise InputError(f"{path.name}: more than {limits.rows:,} rows (split the file)")
            if any(v is not None for v in r):
                rows.append({h: v for h, v in zip(header, r) if h and v is not None})
        return rows
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- openpyxl raises many kinds on a malformed file
        raise InputError(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: "
                         f"{_short(exc)})") from None
    finally:
        if wb is not None:
            wb.close()


def _csv_rows(path: Path, limits: Limits) -> list[dict]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                         f"{exc.start}); save it as \"CSV UTF-8\"") from None
    rows = []
    try:
        for n, r in enumerate(csv.DictReader(io.StringIO(text, newline="")), 2):
            if n > limits.rows + 1:
                raise InputError(f"{path.name}: more than {limits.rows:,} rows (split the file)")
            rows.append({k.strip(): v.strip() for k, v in r.items()
                         if k and isinstance(v, str) and v.strip()})
    except csv.Error as exc:
        raise InputError(f"{path.name}: not a readable CSV file ({exc})") from None
    return rows


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("…" if len(text) > 200 else "")
