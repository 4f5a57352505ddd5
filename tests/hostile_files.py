"""Hostile import files made on the spot (no fixtures on disk): XLSX zip bombs, a zip whose
directory lies about a member's size, non-zip and empty workbooks, Latin-1 CSV -- and a way to
run a command line and learn its peak memory."""
from __future__ import annotations

import io
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl

SST_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')


def workbook(rows: list[list]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_bomb(path: Path, rows: list[list], inflated_mb: int = 400) -> Path:
    """A real workbook whose shared-string table is replaced by ``inflated_mb`` MiB of one
    repeated string: a few hundred KB on disk."""
    src = zipfile.ZipFile(io.BytesIO(workbook(rows)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":      # as Excel lists it
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" '
                                    b'ContentType="application/vnd.openxmlformats-officedocument.'
                                    b'spreadsheetml.sharedStrings+xml" /></Types>')
            dst.writestr(item, data)
        with dst.open("xl/sharedStrings.xml", "w") as f:
            f.write(SST_HEAD)
            chunk = b"<si><t>a</t></si>" * 61680           # ~1 MiB
            for _ in range(inflated_mb):
                f.write(chunk)
            f.write(b"</sst>")
    return path


def lie_about_size(path: Path, member: str, declared: int) -> Path:
    """Rewrite the zip's central directory so ``member`` claims to inflate to ``declared``
    bytes (and to be compressed into as few): the checks see a small, tame member."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = 0
    while True:
        at = data.index(b"PK\x01\x02", at)
        n = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46:at + 46 + n]) == name:
            break
        at += 4
    compressed = struct.unpack_from("<I", data, at + 20)[0]
    struct.pack_into("<I", data, at + 24, max(declared, compressed))   # uncompressed size
    path.write_bytes(bytes(data))
    return path


def not_a_zip(path: Path, text: str = "worker_id,name\nW1,x\n") -> Path:
    path.write_text(text)
    return path


def latin1_csv(path: Path, header: str, row: str) -> Path:
    path.write_bytes((header + "\n" + row + "\n").encode("latin-1"))
    return path


def run_measured(cmd: list[str], **kw) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``cmd`` under a small Python parent that reports the child's peak RSS (bytes)."""
    wrapper = ("import resource, subprocess, sys\n"
               "r = subprocess.run(sys.argv[1:])\n"
               "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
               "sys.exit(r.returncode)\n")
    res = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, **kw)
    lines = res.stderr.splitlines()
    peak = int(lines[-1].split()[-1]) * 1024
    res.stderr = "\n".join(lines[:-1]) + ("\n" if len(lines) > 1 else "")
    return res, peak

