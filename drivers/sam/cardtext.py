"""The 256-byte card text block (UCS-2 little-endian): decode into an :class:`Identity`, and
encode one from plain fields (used by the simulator and tests). Layouts: protocols.md 1.6-1.7.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from .idnumber import IdNumberError, check_foreign_2017, check_id_number, mask

TEXT_LEN = 256
LONG_TERM = "long-term"
LONG_TERM_CN = "长期"

RESIDENT, HMT, FOREIGN, FOREIGN_2023 = ("resident", "hmt_residence", "foreign_permanent",
                                        "foreign_permanent_2023")
MARKERS = {RESIDENT: " ", HMT: "J", FOREIGN: "I", FOREIGN_2023: "Y"}

# (field, byte offset, byte size)
LAYOUTS: dict[str, tuple[tuple[str, int, int], ...]] = {
    RESIDENT: (("name", 0, 30), ("gender", 30, 2), ("nation", 32, 4), ("birth", 36, 16),
               ("address", 52, 70), ("id_number", 122, 36), ("issuer", 158, 30),
               ("valid_from", 188, 16), ("valid_to", 204, 16)),
    HMT: (("name", 0, 30), ("gender", 30, 2), ("birth", 36, 16), ("address", 52, 70),
          ("id_number", 122, 36), ("issuer", 158, 30), ("valid_from", 188, 16),
          ("valid_to", 204, 16), ("travel_permit", 220, 18), ("issue_count", 238, 4)),
    FOREIGN: (("name_en", 0, 120), ("gender", 120, 2), ("id_number", 122, 30),
              ("nationality", 152, 6), ("name", 158, 30), ("valid_from", 188, 16),
              ("valid_to", 204, 16), ("birth", 220, 16), ("card_version", 236, 4),
              ("issuer", 240, 8)),
    FOREIGN_2023: (("name", 0, 30), ("gender", 30, 2), ("renewal_count", 32, 4),
                   ("birth", 36, 16), ("name_en", 52, 70), ("id_number", 122, 36),
                   ("valid_from", 188, 16), ("valid_to", 204, 16), ("name_en_2", 220, 22),
                   ("nationality", 242, 6), ("previous_number", 250, 6)),
}
MARKER_OFFSET = 248

GENDERS = {"0": "unknown", "1": "male", "2": "female", "9": "unspecified"}
NATIONS = dict(enumerate(
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 纳西 景颇 "
    "柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 "
    "塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺".split(), start=1))
NATIONS.update({97: "其他", 98: "外国血统中国籍人士"})


class CardDecodeError(ValueError):
    """The text block is not a card we can trust (garbled, impossible date, bad number...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    card_type: str
    name: str
    id_number: str
    gender: str
    birth: date
    valid_from: date
    valid_to: date | None            # None = long-term (长期)
    name_en: str | None = None
    nation: str | None = None
    nationality: str | None = None
    address: str | None = None
    issuer: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)   # permit no., counts, version...
    warnings: tuple[str, ...] = ()
    photo: bytes = field(default=b"", repr=False)
    fingerprint: bytes = field(default=b"", repr=False)

    def to_dict(self, reveal: bool = False) -> dict[str, Any]:
        """Plain JSON-ready fields; the ID number is masked (``4501**********123X``) unless
        ``reveal``. Photo/fingerprint are reported by size only."""
        return {
            "card_type": self.card_type,
            "name": self.name,
            "name_en": self.name_en,
            "gender": self.gender,
            "nation": self.nation,
            "nationality": self.nationality,
            "birth": self.birth.isoformat(),
            "address": self.address,
            "id_number": self.id_number if reveal else mask(self.id_number),
            "issuer": self.issuer,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else LONG_TERM,
            **({k: v for k, v in self.extra.items()}),
            "warnings": list(self.warnings),
            "photo_bytes": len(self.photo),
            "fingerprint_bytes": len(self.fingerprint),
        }

    def __repr__(self) -> str:  # never leak the number or the name into logs
        return (f"Identity(card_type={self.card_type!r}, id_number={mask(self.id_number)!r}, "
                f"name={self.name[:1] + '*' * max(0, len(self.name) - 1)!r})")

    __str__ = __repr__


def card_type_of(text: bytes) -> str:
    marker = text[MARKER_OFFSET : MARKER_OFFSET + 2]
    for card_type, char in MARKERS.items():
        if marker == char.encode("utf-16-le"):
            return card_type
    if marker == b"\x00\x00":
        return RESIDENT
    raise CardDecodeError("unknown_card_type", f"unknown card type marker {marker.hex(' ')}")


def _field(text: bytes, off: int, size: int, name: str) -> str:
    try:
        value = text[off : off + size].decode("utf-16-le")
    except UnicodeDecodeError:
        raise CardDecodeError("garbled_text", f"field {name} is not valid UCS-2") from None
    return value.rstrip(" \x00\u3000")


def _date(value: str, name: str) -> date:
    # the value is not echoed: a birth date is personal data and messages end up in logs
    if len(value) != 8 or not value.isdigit():
        raise CardDecodeError("bad_date", f"{name} is not YYYYMMDD ({len(value)} characters)")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise CardDecodeError("bad_date", f"{name} is not a calendar date") from None


def decode_text(text: bytes, *, photo: bytes = b"", fingerprint: bytes = b"",
                today: date | None = None) -> Identity:
    """Decode and validate a text block; raise :class:`CardDecodeError` on anything untrustworthy."""
    if len(text) != TEXT_LEN:
        raise CardDecodeError("bad_length", f"text block is {len(text)} bytes, expected 256")
    card_type = card_type_of(text)
    f = {name: _field(text, off, size, name) for name, off, size in LAYOUTS[card_type]}
    today = today or date.today()
    warnings: list[str] = []

    gender_code = f.pop("gender")
    gender = GENDERS.get(gender_code)
    if gender is None:
        raise CardDecodeError("bad_gender", f"gender code {gender_code!r} is not defined")
    birth = _date(f.pop("birth"), "birth date")
    valid_from = _date(f.pop("valid_from"), "valid-from date")
    raw_to = f.pop("valid_to")
    valid_to = None if raw_to.startswith(LONG_TERM_CN) else _date(raw_to, "valid-to date")
    if valid_to is not None and valid_to < valid_from:
        raise CardDecodeError("bad_date", "valid-to date is before valid-from date")
    if valid_to is not None and valid_to < today:
        warnings.append(f"card expired on {valid_to.isoformat()}")

    nation = None
    if card_type == RESIDENT:
        code = f.pop("nation")
        nation = NATIONS.get(int(code)) if code.isdigit() else None
        if nation is None:
            warnings.append(f"unknown nation code {code!r}")
            nation = code
    if card_type == FOREIGN_2023:
        f["name_en"] = (f.get("name_en", "").ljust(35) + f.pop("name_en_2", "")).rstrip()

    number = f.pop("id_number")
    male = {"male": True, "female": False}.get(gender)
    try:
        if card_type == FOREIGN:
            number = check_foreign_2017(number)
        else:
            info = check_id_number(number, gender_male=male, birth=birth, today=today,
                                   foreign_2023=card_type == FOREIGN_2023)
            number = info.number
            warnings.extend(info.warnings)
    except IdNumberError as exc:
        raise CardDecodeError("bad_id_number", str(exc)) from None

    main = {k: f.pop(k, None) or None for k in ("name", "name_en", "nationality", "address",
                                                   "issuer")}
    return Identity(card_type=card_type, name=main["name"] or "", id_number=number, gender=gender,
                    birth=birth, valid_from=valid_from, valid_to=valid_to,
                    name_en=main["name_en"], nation=nation, nationality=main["nationality"],
                    address=main["address"], issuer=main["issuer"],
                    extra={k: v for k, v in f.items() if v}, warnings=tuple(warnings),
                    photo=photo, fingerprint=fingerprint)


# ---------------------------------------------------------------- encoding (simulator side)

_GENDER_CODES = {v: k for k, v in GENDERS.items()}
_NATION_CODES = {v: k for k, v in NATIONS.items()}


def _date_text(value: Any) -> str:
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    value = str(value)
    if value in (LONG_TERM, LONG_TERM_CN):
        return LONG_TERM_CN
    return value.replace("-", "")


def encode_text(spec: Mapping[str, Any]) -> bytes:
    """Build a 256-byte text block from plain fields (the keys of ``Identity.to_dict``).

    Values are written as given, so a spec can carry deliberately bad data (a wrong check digit,
    ``2023-02-30``); ``type_marker`` overrides the marker character to make an unknown card type.
    """
    card_type = spec.get("card_type", RESIDENT)
    fields = dict(spec)
    fields["gender"] = _GENDER_CODES.get(str(spec.get("gender", "")), str(spec.get("gender", "")))
    for key in ("birth", "valid_from", "valid_to"):
        if key in fields:
            fields[key] = _date_text(fields[key])
    if card_type == RESIDENT:
        nation = str(spec.get("nation", ""))
        fields["nation"] = f"{_NATION_CODES[nation]:02d}" if nation in _NATION_CODES else nation
    if card_type == FOREIGN_2023:
        name_en = str(spec.get("name_en") or "")
        fields["name_en"], fields["name_en_2"] = name_en[:35], name_en[35:46]
    fields.update({k: v for k, v in (spec.get("extra") or {}).items()})
    out = bytearray(" ".encode("utf-16-le") * (TEXT_LEN // 2))
    for name, off, size in LAYOUTS[card_type]:
        raw = str(fields.get(name) or "").encode("utf-16-le")[:size]
        out[off : off + len(raw)] = raw
    marker = str(spec.get("type_marker", MARKERS[card_type]))[:1]
    out[MARKER_OFFSET : MARKER_OFFSET + 2] = marker.encode("utf-16-le")
    return bytes(out)


def photo_of(spec: Mapping[str, Any]) -> bytes:
    """Photo bytes of a spec: base64 in ``photo_b64``, else 1024 deterministic filler bytes."""
    if spec.get("photo_b64"):
        return base64.b64decode(spec["photo_b64"])
    seed = str(spec.get("id_number", "")).encode()
    return (b"WLT\x00" + seed + bytes(1024))[:1024]
