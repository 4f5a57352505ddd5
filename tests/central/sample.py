"""Sample registry data with valid check digits (made, not real people or companies)."""
from __future__ import annotations

from stdnum.cn import ric, uscc


def make_uscc(n: int, region: str = "450100") -> str:
    for org in range(n * 7, n * 7 + 1000):
        body = f"91{region}{org:08d}"
        for c in "0123456789X":
            code = body + c
            code17 = code[:17]
            full = code17 + uscc.calc_check_digit(code17)
            if uscc.is_valid(full):
                return full
    raise AssertionError("no code")


def make_id(n: int, region: str = "450103", birth: str = "19850101") -> str:
    body = f"{region}{birth}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def bad_check_digit(code: str) -> str:
    last = code[-1]
    for c in "0123456789":
        if c != last:
            return code[:-1] + c
    raise AssertionError


CONTRACTOR = make_uscc(1)
BUILDER = make_uscc(2)
SUBCONTRACTOR = make_uscc(3)
