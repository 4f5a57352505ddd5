"""The monthly attendance sheet: who is on it, in what order, with what totals; XLSX read back
with openpyxl and CSV read back with the csv module."""
from __future__ import annotations

import csv
import io

import openpyxl

from gateway.ledger import sheet as S
from gateway.ledger.sheet import MARK, Person, build

FIXED = len(S.HEAD_ZH)

PEOPLE = [
    Person("W3", "王五", "4501**********0011", "B-木工", "", active=True),            # no days: 0
    Person("W1", "张三", "4501**********0030", "A-钢筋", "electrician", active=True),
    Person("W2", "李四", "4501**********0022", "", "", active=False),                # left, worked
    Person("W4", "赵六", "4501**********0044", "A-钢筋", "", active=False),          # left, no days
    Person("W5", "钱七", "4501**********0055", "B-木工", "", active=False),          # suspended
    Person("W0", "孙八", "4501**********0066", "B-木工", "", active=True),
]
ATTENDED = {"W1": {1, 2, 30}, "W2": {5}, "W9": {7, 8}, "W0": {2}}   # W9: not on the roster


def sheet() -> S.Sheet:
    return build(2026, 11, PEOPLE, ATTENDED, "430100-P1")


def test_who_is_on_the_sheet_and_in_what_order():
    s = sheet()
    assert [r[1] for r in s.rows] == ["W1", "W0", "W3", "W2", "W9"]     # by team, no team last
    assert [r[0] for r in s.rows] == [1, 2, 3, 4, 5]
    assert {r[1]: r[-1] for r in s.rows} == {"W1": 3, "W0": 1, "W3": 0, "W2": 1, "W9": 2}
    assert s.total_days == 7
    w1 = s.rows[0]
    assert w1[:FIXED] == [1, "W1", "张三", "4501**********0030", "A-钢筋", "electrician"]
    days = w1[FIXED:-1]
    assert len(days) == 30                                # November: no 31st column
    assert [d for d, v in enumerate(days, 1) if v == MARK] == [1, 2, 30]
    assert set(days) == {MARK, ""}
    w9 = s.rows[-1]
    assert w9[1:FIXED] == ["W9", "", "", "", ""] and w9[FIXED + 6] == MARK   # the 7th


def test_header_weekdays_and_title():
    s = build(2028, 2, [], {"W1": {29}}, "P")
    assert s.days == 29 and len(s.header) == FIXED + 29 + 1
    assert s.header[:FIXED] == S.HEAD_ZH and s.header[FIXED] == "1" and s.header[-1] == S.TOTAL_ZH
    wk = s.weekday_row()
    assert len(wk) == len(s.header)
    assert wk[FIXED] == "二" and wk[FIXED + 4] == "六" and wk[FIXED + 5] == "日"   # 1 Feb 2028: Tuesday
    assert s.rows[0][FIXED + 28] == MARK and s.rows[0][-1] == 1
    assert s.title == "考勤表 P 2028年02月"
    assert build(2028, 2, [], {}).title == "考勤表 2028年02月"
    assert S.filename(s, "xlsx", "P") == "attendance-P-2028-02.xlsx"
    assert S.filename(s, "csv") == "attendance-2028-02.csv"
    assert S.filename(s, "csv", "../../etc/x") == "attendance-etc_x-2028-02.csv"
    assert S.filename(s, "xlsx", "长沙 一期/二标段") == "attendance-长沙_一期_二标段-2028-02.xlsx"
    assert S.filename(s, "xlsx", "/") == "attendance-2028-02.xlsx"


def test_empty_month_has_no_rows():
    s = build(2026, 11, [Person("W4", active=False)], {})
    assert s.rows == [] and s.total_days == 0


def test_xlsx_reads_back():
    s = sheet()
    wb = openpyxl.load_workbook(io.BytesIO(S.xlsx_bytes(s)))
    assert wb.sheetnames == ["2026-11"]
    ws = wb["2026-11"]
    grid = [list(r) for r in ws.iter_rows(values_only=True)]
    assert len(grid) == 3 + len(s.rows) + 1
    assert grid[0][0] == "考勤表 430100-P1 2026年11月"
    assert grid[1] == s.header
    assert grid[2][FIXED:FIXED + 7] == list("日一二三四五六")    # 1 November 2026: Sunday
    assert grid[2][:FIXED] == [None] * FIXED
    body = grid[3:-1]
    assert [r[1] for r in body] == ["W1", "W0", "W3", "W2", "W9"]
    assert [d for d, v in enumerate(body[0][FIXED:-1], 1) if v == MARK] == [1, 2, 30]
    assert [r[-1] for r in body] == [3, 1, 0, 1, 2]
    assert all(isinstance(r[-1], int) for r in body)          # numbers, so the sheet can sum them
    total = grid[-1]
    assert "合计" in total[FIXED - 1] and total[-1] == 7
    assert ws.freeze_panes == "G4"
    assert ws["A1"].font.bold and ws["B2"].font.bold
    # weekend columns shaded: 1 Nov (Sunday) is column G, 2 Nov (Monday) column H
    assert ws["G2"].fill.fgColor.rgb.endswith("EEEEEE") and ws["H2"].fill.fill_type is None


def test_csv_reads_back_with_bom(tmp_path):
    s = sheet()
    data = S.csv_bytes(s)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\xef\xbb\xbf") == 1
    out = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert out[0] == [s.title]
    assert out[1] == s.header
    assert [r[1] for r in out[2:]] == ["W1", "W0", "W3", "W2", "W9"]
    assert [r[-1] for r in out[2:]] == ["3", "1", "0", "1", "2"]
    assert out[2][FIXED:-1].count(MARK) == 3 and out[2][FIXED + 29] == MARK
    assert b"\r\n" in data
    path = tmp_path / "s.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        S.write_csv(s, fh)
    assert path.read_bytes() == data


def test_xlsx_to_a_file(tmp_path):
    path = tmp_path / "s.xlsx"
    S.write_xlsx(sheet(), str(path))
    assert path.read_bytes()[:2] == b"PK"
    assert openpyxl.load_workbook(path)["2026-11"]["B4"].value == "W1"
