"""Code tables the gateway decides and displays with: work types (工种) and special operations
(特种作业) that need an operation certificate (特种作业操作证).  Pure data and lookups; imports
nothing of ours, so config, roster, rules and screens all use the same table.

* ``WORK_TYPES``: the national platform's 工种 code table (``workType``; docs/roster.md cites
  it).  A worker's work type is what they do (钢筋工, 木工 ...); most work types need no
  certificate.
* ``SPECIAL_OPERATIONS``: operations that by law need a certificate, each with its code, its
  source and, where one exists, the work type that *is* that operation (建筑电工 is the
  building electrician's operation whatever column it was typed into).  Codes:
  ``JZ-nn`` building-construction special operations (建质〔2008〕75号 art. 3; ``nn`` is the
  operation number printed in the certificate number), ``AQ-n.m`` the national special
  operations catalogue (特种作业目录, 安全监管总局令第30号 as amended by 第80号, items 1-4:
  the ones found on a building site), ``TS-Qn`` special-equipment crane operators (特种设备作业
  人员资格认定分类与项目, Q1/Q2).  ``[roster] special_operations`` in site.toml chooses which
  of them the gate requires a valid certificate for (default: all).
"""
from __future__ import annotations

from dataclasses import dataclass

WORK_TYPES: dict[str, str] = {
    "010": "砌筑工", "020": "钢筋工", "030": "架子工", "040": "混凝土工", "050": "模板工",
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


@dataclass(frozen=True)
class SpecialOperation:
    code: str
    zh: str
    en: str
    source: str
    work_type: str | None = None        # the 工种 that is this operation, if any


_JZ = "建质〔2008〕75号 第三条"
_AQ = "特种作业目录（安全监管总局令第30号，第80号修正）"
_TS = "特种设备作业人员资格认定分类与项目（市场监管总局公告2019年第3号）"
SPECIAL_OPERATIONS: dict[str, SpecialOperation] = {op.code: op for op in (
    SpecialOperation("JZ-01", "建筑电工", "building electrician", _JZ, "130"),
    SpecialOperation("JZ-02", "建筑架子工（普通脚手架）", "scaffolder (ordinary scaffolds)", _JZ, "030"),
    SpecialOperation("JZ-03", "建筑架子工（附着升降脚手架）", "scaffolder (climbing scaffolds)", _JZ),
    SpecialOperation("JZ-04", "建筑起重信号司索工", "crane signaller and slinger", _JZ, "170"),
    SpecialOperation("JZ-05", "建筑起重机械司机（塔式起重机）", "tower crane operator", _JZ),
    SpecialOperation("JZ-06", "建筑起重机械司机（施工升降机）", "construction hoist operator", _JZ),
    SpecialOperation("JZ-07", "建筑起重机械司机（物料提升机）", "material hoist operator", _JZ),
    SpecialOperation("JZ-08", "建筑起重机械安装拆卸工（塔式起重机）", "tower crane erector", _JZ, "180"),
    SpecialOperation("JZ-09", "建筑起重机械安装拆卸工（施工升降机）", "construction hoist erector", _JZ),
    SpecialOperation("JZ-10", "建筑起重机械安装拆卸工（物料提升机）", "material hoist erector", _JZ),
    SpecialOperation("JZ-11", "高处作业吊篮安装拆卸工", "suspended platform erector", _JZ),
    SpecialOperation("JZ-99", "其他特种作业（省级以上建设主管部门认定）",
                     "other special operation (designated by a provincial authority)", _JZ),
    SpecialOperation("AQ-1.1", "高压电工作业", "high-voltage electrical work", _AQ),
    SpecialOperation("AQ-1.2", "低压电工作业", "low-voltage electrical work", _AQ),
    SpecialOperation("AQ-1.3", "防爆电气作业", "explosion-proof electrical work", _AQ),
    SpecialOperation("AQ-2.1", "熔化焊接与热切割作业", "fusion welding and hot cutting", _AQ, "270"),
    SpecialOperation("AQ-2.2", "压力焊作业", "pressure welding", _AQ),
    SpecialOperation("AQ-2.3", "钎焊作业", "brazing and soldering", _AQ),
    SpecialOperation("AQ-3.1", "登高架设作业", "erecting at height", _AQ),
    SpecialOperation("AQ-3.2", "高处安装、维护、拆除作业", "installation, maintenance, dismantling at height", _AQ),
    SpecialOperation("AQ-4.1", "制冷与空调设备运行操作作业", "refrigeration and air-conditioning operation", _AQ),
    SpecialOperation("AQ-4.2", "制冷与空调设备安装修理作业", "refrigeration and air-conditioning installation", _AQ),
    SpecialOperation("TS-Q1", "起重机指挥", "crane signalling (special equipment)", _TS),
    SpecialOperation("TS-Q2", "起重机司机", "crane operation (special equipment)", _TS),
)}

# a work type that is itself a special operation (the rule applies even when only the work type
# was entered, e.g. a roster entry from central carrying workType 130)
IMPLIED_OPERATION: dict[str, str] = {op.work_type: op.code for op in SPECIAL_OPERATIONS.values()
                                     if op.work_type}

# words older rosters and spreadsheets use for a special trade (the roster's single "trade"
# column used to mean "special trade needing a certificate")
_ALIASES: dict[str, str] = {
    "electrician": "JZ-01", "电工": "JZ-01", "建筑电工": "JZ-01",
    "welder": "AQ-2.1", "welding": "AQ-2.1", "焊工": "AQ-2.1", "电焊工": "AQ-2.1",
    "电焊": "AQ-2.1", "气焊工": "AQ-2.1", "scaffolder": "JZ-02", "架子工": "JZ-02",
    "signaller": "JZ-04", "信号工": "JZ-04", "司索工": "JZ-04", "起重信号工": "JZ-04",
    "crane operator": "JZ-05", "塔吊司机": "JZ-05", "塔式起重机司机": "JZ-05",
    "hoist operator": "JZ-06", "施工升降机司机": "JZ-06", "升降机司机": "JZ-06",
    "物料提升机司机": "JZ-07", "塔吊安拆": "JZ-08", "吊篮安拆": "JZ-11",
    "work at height": "AQ-3.2", "高处作业": "AQ-3.2"}


class CodeError(ValueError):
    """A value that is not in the table; the message lists what is allowed."""


def work_type(value: str | None) -> str | None:
    """The work-type code for a code or a name (``"020"`` or ``"钢筋工"``); None for empty."""
    v = (value or "").strip()
    if not v:
        return None
    if v in WORK_TYPES:
        return v
    if v.isdigit() and v.zfill(3) in WORK_TYPES:
        return v.zfill(3)
    for code, name in WORK_TYPES.items():
        if name == v:
            return code
    raise CodeError(f"work type {v!r} is not in the national work-type table (a code such as "
                    f"020 or a name such as 钢筋工; `sitegate roster codes` lists them)")


def special_operation(value: str | None) -> str | None:
    """The special-operation code for a code or its Chinese/English name; None for empty."""
    v = (value or "").strip()
    if not v:
        return None
    if v.upper() in SPECIAL_OPERATIONS:
        return v.upper()
    for op in SPECIAL_OPERATIONS.values():
        if v in (op.zh, op.en):
            return op.code
    raise CodeError(f"special operation {v!r} is not in the catalogue (codes such as JZ-01 "
                    f"建筑电工, AQ-2.1 熔化焊接与热切割作业; `sitegate roster codes` lists them)")


def operation_of(trade: str | None, special_op: str | None) -> str | None:
    """The special operation a worker performs: the one entered, else the one their work type
    is (建筑电工 → JZ-01), else None."""
    return special_op or IMPLIED_OPERATION.get(trade or "")


def classify_legacy(text: str) -> tuple[str | None, str | None]:
    """(work type, special operation) for a value of the old single ``trade`` column, which
    meant "special trade needing a certificate".  A known work type stays a work type (钢筋工,
    木工: no certificate); a known special trade becomes its operation (and the work type that
    is that operation); anything else keeps its text as the work type and becomes JZ-99, so a
    certificate is still required until the manager corrects it (nothing lost, nothing
    loosened)."""
    v = (text or "").strip()
    if not v:
        return None, None
    try:
        return work_type(v), None
    except CodeError:
        pass
    code = _ALIASES.get(v.lower()) or _ALIASES.get(v)
    if code is None:
        try:
            code = special_operation(v)
        except CodeError:
            return v, "JZ-99"
    return SPECIAL_OPERATIONS[code].work_type, code


def work_type_name(code: str | None) -> str:
    """``钢筋工`` for ``020``; unknown text (from an old roster) as it is."""
    return WORK_TYPES.get(code or "", code or "")


def special_operation_name(code: str | None, lang: str = "zh") -> str:
    op = SPECIAL_OPERATIONS.get(code or "")
    if op is None:
        return code or ""
    return op.en if lang == "en" else op.zh
