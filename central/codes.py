"""Code tables of the national data standard (standards.md §1.5, §1.3) and input validators.

Every validator raises ``InputError`` with a message naming the field; nothing in the message
repeats a personal value (ID numbers, names, cards).
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from stdnum.cn import uscc


class InputError(ValueError):
    """Bad input; the message says which field and why."""


ID_CARD_TYPE = {"01": "居民身份证", "02": "军官证", "03": "武警警官证", "04": "士兵证",
                "05": "军队离退休干部证", "06": "残疾人证", "07": "残疾军人证", "08": "护照",
                "09": "港澳同胞回乡证", "10": "港澳居民来往内地通行证", "11": "往来港澳通行证",
                "12": "台湾居民来往大陆通行证", "13": "大陆居民往来台湾通行证", "14": "外交官证",
                "15": "领事馆证", "16": "海员证", "17": "香港身份证"}
WORK_TYPE = {"010": "砌筑工", "020": "钢筋工", "030": "架子工", "040": "混凝土工", "050": "模板工",
             "060": "机械设备安装工", "070": "通风工", "080": "安装起重工", "090": "安装钳工",
             "100": "电气设备安装调试工", "110": "管道工", "120": "变电安装工", "130": "建筑电工",
             "140": "司泵工", "150": "挖掘铲运和桩工机械司机", "160": "桩机操作工",
             "170": "起重信号工", "180": "建筑起重机械安装拆卸工", "190": "装饰装修工",
             "200": "室内成套设施安装工", "210": "建筑门窗幕墙安装工", "220": "幕墙制作工",
             "230": "防水工", "240": "木工", "250": "石工", "270": "电焊工", "280": "爆破工",
             "290": "除尘工", "300": "测量放线工", "310": "线路架设工", "320": "古建筑传统石工",
             "330": "古建筑传统瓦工", "340": "古建筑传统彩画工", "350": "古建筑传统木工",
             "360": "古建筑传统油工", "380": "金属工", "390": "杂工", "900": "管理人员",
             "1000": "其它"}
WORK_ROLE = {"10": "管理人员", "20": "建筑工人"}
CORP_TYPE = {"001": "专业分包", "002": "设备分包", "003": "材料分包", "004": "后勤服务",
             "005": "特殊设备", "006": "劳务分包", "007": "监理", "008": "建设单位",
             "009": "总承包单位", "010": "勘察", "011": "设计单位", "012": "其它"}
PRJ_STATUS = {"001": "筹备", "002": "立项", "003": "在建", "004": "完工", "005": "停工"}
PRJ_CATEGORY = {f"{i:02d}": "" for i in range(1, 13)} | {"99": "其他"}
CONTRACT_PERIOD_TYPE = {"0": "固定期限", "1": "以完成一定工作量为期限"}
ENTRY_EXIT_TYPE = {"1": "进场", "0": "退场"}
DIRECTION = {"in": "01", "out": "02"}                 # our wire -> national direction
ATTEND_TYPE = {"face": "001", "iris": "002", "finger": "003", "palm": "004", "card": "005",
               "card+face": "001", "realname_card": "006", "forced_exit": "007",
               "button": "008", "emergency": "009", "qr": "010"}
DEPOSIT_FORM = {"cash": "现金存储", "bank_guarantee": "银行保函", "insurance": "工程保证保险",
                "guarantee_company": "工程担保公司保函"}
DEPOSIT_EVENT = ("deposit", "use", "top_up", "return")
FLOW_KIND = {"labour_cost": "人工费拨付", "payout": "工资代发", "refund": "退回", "other": "其他"}
WAGE_METHOD = {"day": "按日计酬", "month": "按月计酬", "piece": "计件", "hour": "计时",
               "other": "其他"}                    # 工资计算方式 (seed 001 annex 二(三))
PAYMENT_METHOD = {"bank_card": "银行卡代发", "social_card": "社保卡金融账户", "other": "其他"}
PUSH_SCHEDULE = {"daily": "每日推送", "semimonthly": "每月15日及月底分批推送"}   # seed 001 II(4)


def code(table: dict, value, field: str) -> str:
    value = "" if value is None else str(value).strip()
    if value not in table:
        raise InputError(f"{field}: {value!r} is not in the code table")
    return value


def check_uscc(value, field: str = "corpCode") -> str:
    value = str(value or "").strip().upper()
    if not re.fullmatch(r"[0-9A-HJ-NPQRTUWXY]{18}", value):
        raise InputError(f"{field}: a unified social credit code is 18 characters "
                         "of 0-9 and A-Y without I, O, S, V, Z")
    if not uscc.is_valid(value):
        raise InputError(f"{field}: unified social credit code check digit is wrong")
    return value


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def gb11643_valid(value: str) -> bool:
    """GB 11643-1999 MOD 11-2 check character and a real birth date.  The region code is not
    checked against a table: codes retired before or created after the birth year, and the
    81/82/83 residence-permit prefixes, are on genuine cards (python-stdnum's ``cn.ric``
    refuses them).  The same rule as the gateway's check (drivers/sam/idnumber.py), which
    central may not import."""
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    check = "10X98765432"[sum(int(d) * w for d, w in zip(value, _WEIGHTS)) % 11]
    if value[17] != check:
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year and born <= dt.date.today()


def check_id_number(value, id_type: str = "01", field: str = "idCardNumber") -> str:
    value = str(value or "").strip().upper()
    if id_type == "01":
        if not re.fullmatch(r"\d{17}[\dX]", value):
            raise InputError(f"{field}: a resident ID number is 17 digits and a check "
                             "character (0-9 or X)")
        if not gb11643_valid(value):
            raise InputError(f"{field}: resident ID number is invalid (check digit or birth "
                             "date)")
    elif not 4 <= len(value) <= 32 or not value.isalnum():
        raise InputError(f"{field}: document number must be 4-32 letters or digits")
    return value


def birth_and_gender(id_number: str) -> tuple[dt.date, str]:
    birth = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    return birth, ("M" if int(id_number[16]) % 2 else "F")


def check_date(value, field: str, required: bool = True) -> dt.date | None:
    if value is None or value == "":
        if required:
            raise InputError(f"{field}: required (yyyy-MM-dd)")
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        day = dt.date.fromisoformat(str(value).strip()[:10])
        if not 1900 <= day.year <= 2199:
            raise ValueError("year out of range")
        return day
    except ValueError as exc:
        raise InputError(f"{field}: {value!r} is not a date (yyyy-MM-dd)") from exc


def check_range(start: dt.date | None, end: dt.date | None, what: str) -> None:
    if start and end and end < start:
        raise InputError(f"{what}: end {end} is before start {start}")


def check_month(value, field: str = "payMonth") -> str:
    value = str(value or "").strip()
    if not re.fullmatch(r"(19|20|21)\d{2}-(0[1-9]|1[0-2])", value):
        raise InputError(f"{field}: {value!r} is not a month (yyyy-MM)")
    return value


def amount_fen(value, field: str, allow_zero: bool = False) -> int:
    """Money in yuan (string/number with at most 2 decimals) -> integer fen; never negative."""
    if isinstance(value, bool) or value is None or value == "":
        raise InputError(f"{field}: required amount")
    try:
        d = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise InputError(f"{field}: {value!r} is not an amount") from exc
    if not d.is_finite() or abs(d) > Decimal("1e13"):
        raise InputError(f"{field}: {value!r} is not a finite amount")
    if d != d.quantize(Decimal("0.01")):
        raise InputError(f"{field}: at most two decimals")
    if d < 0:
        raise InputError(f"{field}: negative amount {value} refused")
    if d == 0 and not allow_zero:
        raise InputError(f"{field}: amount must be greater than zero")
    return int(d * 100)


def integer(value, field: str, lo: int, hi: int, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InputError(f"{field}: not an integer")
    try:
        n = int(str(value).strip())
    except ValueError as exc:
        raise InputError(f"{field}: {str(value)[:20]!r} is not an integer") from exc
    if not lo <= n <= hi:
        raise InputError(f"{field}: must be {lo}..{hi}")
    return n


def yuan(fen: int | None) -> str | None:
    return None if fen is None else f"{Decimal(fen) / 100:.2f}"


def text(value, field: str, max_len: int = 200, required: bool = True) -> str | None:
    value = None if value is None else str(value).strip()
    if not value:
        if required:
            raise InputError(f"{field}: required")
        return None
    if len(value) > max_len:
        raise InputError(f"{field}: longer than {max_len} characters")
    return value


def area_code(value, field: str = "areaCode") -> str:
    value = str(value or "").strip()
    if not re.fullmatch(r"[1-8]\d{5}", value):
        raise InputError(f"{field}: {value!r} is not a GB/T 2260 region code (6 digits)")
    return value
