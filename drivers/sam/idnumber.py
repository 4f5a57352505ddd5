"""Citizen ID number checks (GB 11643-1999) that never refuse a real card.

python-stdnum's ``cn.ric.validate`` requires the region code to have existed in the birth year and
does not know the 81/82/83 residence-permit prefixes, so it refuses genuine cards. Here the check
digit, the birth date and the gender parity are hard errors; the region is only a warning.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
PROVINCES = {*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
             *range(61, 66), 71}
PERMIT_PREFIXES = {"810000": "Hong Kong", "820000": "Macau", "830000": "Taiwan"}
_FORMAT = re.compile(r"^\d{17}[\dX]$")
_FOREIGN_2017 = re.compile(r"^[A-Z]{3}\d{12}$")


class IdNumberError(ValueError):
    """The number cannot belong to a genuine card (format, check digit, date, gender)."""


@dataclass(frozen=True)
class IdNumberInfo:
    number: str
    birth: date
    male: bool
    region: str | None          # e.g. "北京市 朝阳区", "Hong Kong", None when unknown
    warnings: tuple[str, ...] = ()


def check_char(first17: str) -> str:
    s = sum(int(d) * w for d, w in zip(first17, WEIGHTS))
    return CHECK_CHARS[s % 11]


def normalise(number: str) -> str:
    return number.strip().upper()


def _parse_date(text: str, what: str) -> date:
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise IdNumberError(f"{what} is not a calendar date") from None


def region_name(number: str) -> str | None:
    """Region of first registration, ignoring when the code was assigned; None if unknown."""
    prefix = number[:6]
    if prefix in PERMIT_PREFIXES:
        return PERMIT_PREFIXES[prefix]
    try:
        from stdnum import numdb
        info = {k: v for _, props in numdb.get("cn/loc").info(prefix) for k, v in props.items()}
    except (ImportError, OSError):  # pragma: no cover - stdnum or its data file missing
        return None
    if not info:
        return None
    county = info.get("county", "").split(",")[-1]
    county = county.split("]", 1)[-1]
    return " ".join(x for x in (info.get("province"), county) if x) or None


def check_id_number(number: str, *, gender_male: bool | None = None, birth: date | None = None,
                    today: date | None = None, foreign_2023: bool = False) -> IdNumberInfo:
    """Validate an 18-character number; raise :class:`IdNumberError` or return info + warnings."""
    number = normalise(number)
    today = today or date.today()
    if not _FORMAT.match(number):
        raise IdNumberError("ID number must be 17 digits followed by a digit or X")
    expected = check_char(number[:17])
    if number[17] != expected:
        raise IdNumberError("ID number check digit does not match (MOD 11-2)")
    born = _parse_date(number[6:14], "birth date in ID number")
    if born > today:
        raise IdNumberError("birth date in ID number is in the future")
    if born.year < 1900:
        raise IdNumberError("birth date in ID number is before 1900")
    male = int(number[16]) % 2 == 1
    if gender_male is not None and gender_male != male:
        raise IdNumberError("gender on the card does not match the ID number's sequence parity")
    if birth is not None and birth != born:
        raise IdNumberError("birth date on the card does not match the ID number")
    warnings: list[str] = []
    region: str | None
    if foreign_2023:
        if number[0] != "9":
            raise IdNumberError("2023 foreign permanent-resident numbers start with 9")
        region = f"province {number[1:3]}, country {number[3:6]}"
    else:
        region = region_name(number)
        if region is None:
            if int(number[:2]) not in PROVINCES:
                warnings.append(f"unknown province code {number[:2]}")
            else:
                warnings.append(f"unknown region code {number[:6]}")
    return IdNumberInfo(number, born, male, region, tuple(warnings))


def check_foreign_2017(number: str) -> str:
    """Old foreign PR number: 3 letters + 12 digits, no check digit."""
    number = normalise(number)
    if not _FOREIGN_2017.match(number):
        raise IdNumberError("2017 foreign permanent-resident number must be 3 letters + 12 digits")
    return number


def mask(number: str) -> str:
    """``4501**********123X``: keep the first 4 and last 4 characters."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def check_document_number(number: str, *, today: date | None = None) -> str:
    """The one check for an ID number typed or imported anywhere (roster, phone enrolment, web
    forms): an 18-character GB 11643 number -- resident ID, 81/82/83 residence permit, 2023
    foreign permanent-resident number -- or a 2017 foreign permanent-resident number (3 letters
    + 12 digits).  Returns the normalised number; raises :class:`IdNumberError` (the message
    never repeats the number)."""
    number = normalise(str(number)).replace(" ", "")
    if _FOREIGN_2017.match(number):
        return check_foreign_2017(number)
    return check_id_number(number, today=today).number
