"""The demo site's data, made up and labelled as such: a project on a road in Nanning with
fictitious workers (valid check digits, no real person), their ID cards for the reader
simulator, the registry files central imports, a month of simulated attendance, the payroll
for it and the road's corridor fence (drawn in GCJ-02, as on an Amap tile).

Pure functions over a seed and dates, plus small writers for the CSV and GeoJSON files; the
demo (:mod:`gateway.ops.demo_site`) feeds them to the real programs.
"""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from drivers.sam.idnumber import check_char

TZ = dt.timezone(dt.timedelta(hours=8))
PROJECT = "DEMO-450103-001"
AREA = "450103"                     # 南宁市青秀区: Guangxi's province rules apply (region 45)
NAMES = [("韦建国", "male"), ("黄志强", "male"), ("覃海燕", "female"), ("陆明辉", "male"),
         ("蒙秀英", "female"), ("梁国栋", "male"), ("莫小军", "male"), ("潘丽华", "female")]
VISITOR = ("李四海", "male")        # a card the registry does not know
DAILY_FEN = 30000                   # 300 yuan a day
# the road, drawn on an Amap (GCJ-02) tile: a section of a ring road east of Nanning
ROAD_GCJ02 = [[108.3851, 22.8158], [108.3952, 22.8199], [108.4063, 22.8221], [108.4170, 22.8206]]
ROAD_ID = "NN-RING-K3"
HALF_WIDTH_M = 60


@dataclass
class Person:
    key: str                     # the demo's own label, e.g. "worker3" (never sent anywhere)
    name: str
    gender: str
    birth: dt.date
    id_number: str
    photos: list[Path] = field(default_factory=list)   # with --faces: enrol, lane, phone

    @property
    def card(self) -> dict:
        """The identity the ID-card reader simulator presents (docs/drivers.md)."""
        return {"card_type": "resident", "name": self.name, "gender": self.gender, "nation": "壮",
                "birth": self.birth.isoformat(), "address": "广西南宁市青秀区民族大道100号",
                "id_number": self.id_number, "issuer": "南宁市公安局青秀分局",
                "valid_from": "2020-01-01", "valid_to": "2040-01-01"}


def make_id(seq: int, birth: dt.date, female: bool) -> str:
    """A resident ID number with a correct check digit (sequence digit odd = male)."""
    n = seq * 2 + (0 if female else 1)
    body = f"{AREA}{birth:%Y%m%d}{n % 1000:03d}"
    return body + check_char(body)


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _uscc_check(body17: str) -> str:
    """GB 32100-2015: the 18th character of a unified social credit code."""
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31]


def _org_check(org8: str) -> str:
    """GB 11714: the check character of the 9-character organisation code inside a USCC."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    c = 11 - sum(int(d) * w for d, w in zip(org8, weights)) % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def make_uscc(n: int) -> str:
    """A unified social credit code with valid check characters (a made-up company)."""
    org = f"{n * 7:08d}"
    body = f"91450100{org}{_org_check(org)}"
    return body + _uscc_check(body)


CONTRACTOR, BUILDER, SUBCONTRACTOR = make_uscc(101), make_uscc(202), make_uscc(303)


def people(n: int, seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    out = []
    for i, (name, gender) in enumerate(NAMES[:n]):
        birth = dt.date(1970 + rng.randrange(25), rng.randrange(1, 13), rng.randrange(1, 28))
        out.append(Person(f"worker{i + 1}", name, gender, birth,
                          make_id(100 + i, birth, gender == "female")))
    return out


def visitor() -> Person:
    birth = dt.date(1988, 8, 8)
    return Person("visitor", VISITOR[0], VISITOR[1], birth, make_id(900, birth, False))


def previous_month(today: dt.date) -> str:
    first = today.replace(day=1) - dt.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def month_days(month: str) -> list[dt.date]:
    y, m = int(month[:4]), int(month[5:])
    return [dt.date(y, m, d) for d in range(1, calendar.monthrange(y, m)[1] + 1)]


def ts_ms(day: dt.date, hour: int, minute: int) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def history(month: str, workers: list[str], gateway: str, seed: int = 11) -> tuple[list[tuple[int, dict]], dict[str, int]]:
    """A month of simulated turnstile passages, Monday to Saturday, each worker absent on a few
    days: ([(ts_ms, record body)] in time order, days present per worker). The bodies say
    ``method: "sim"``: they are the demo's, not a lane's."""
    rng = random.Random(seed)
    rows, present = [], {w: 0 for w in workers}
    for day in month_days(month):
        if day.weekday() == 6:
            continue
        for w in workers:
            if rng.random() < 0.12:
                continue
            present[w] += 1
            rows.append((ts_ms(day, 7, 20 + rng.randrange(30)), _passage(w, "in", "entry", gateway)))
            rows.append((ts_ms(day, 17, 30 + rng.randrange(25)), _passage(w, "out", "exit", gateway)))
    rows.sort(key=lambda r: r[0])
    return rows, present


def _passage(worker: str, direction: str, lane: str, gateway: str) -> dict:
    return {"worker": worker, "dir": direction, "method": "sim", "device": f"{gateway}/{lane}",
            "lane": lane, "decision": "allow", "reason": "simulated"}


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def registry_files(out: Path, staff: list[Person], month: str, today: dt.date,
                   contract_ended: str | None = None) -> list[tuple[str, Path]]:
    """(import kind, CSV file) in the order central imports them: companies, the project,
    its subcontractor, the workers entered on it, their contracts (``contract_ended``: that
    worker's ended yesterday), the special account."""
    first = dt.date.fromisoformat(month + "-01")
    start = (first - dt.timedelta(days=20)).replace(day=1)
    signed, permit = start - dt.timedelta(days=30), start - dt.timedelta(days=20)
    pm, lead, lm = (make_id(950 + i, dt.date(1980, 5, 5), False) for i in range(3))
    files = [
        ("companies", write_csv(out / "companies.csv", [
            {"corpCode": CONTRACTOR, "corpName": "桂路建设集团有限公司（演示）", "areaCode": "450100"},
            {"corpCode": BUILDER, "corpName": "南宁城市道路投资有限公司（演示）", "areaCode": "450100"},
            {"corpCode": SUBCONTRACTOR, "corpName": "八桂劳务有限公司（演示）", "areaCode": "450100"}])),
        ("projects", write_csv(out / "projects.csv", [{
            "projectCode": PROJECT, "name": "南宁环城路K3段改造工程（演示）", "contractorCorpCode": CONTRACTOR,
            "buildCorpCode": BUILDER, "areaCode": AREA, "prjStatus": "003", "invest": "48000000",
            "labourCostMonthly": "150000", "contractSignDate": signed.isoformat(),
            "startDate": start.isoformat(), "builderLicenseNum": "450103202601010101",
            "noticeBoardDate": start.isoformat(), "payDay": "15", "sector": "municipal",
            "pushSchedule": "daily", "permitDate": permit.isoformat(),
            "contractStartDate": start.isoformat(), "address": "南宁市青秀区环城路K3段",
            "labourCostRatio": "20", "tripartiteAgreementRef": "三方协议-演示-001",
            "laborManagerName": "韦丽", "laborManagerIdCardNumber": lm, "laborManagerPhone": "13800000000",
            "projectManagerName": "陆志强", "projectManagerIdCardNumber": pm,
            "projectManagerPhone": "13900000001", "projectLeadName": "蒙海燕",
            "projectLeadIdCardNumber": lead, "projectLeadPhone": "13900000002"}])),
        ("project-companies", write_csv(out / "project-companies.csv", [
            {"projectCode": PROJECT, "corpCode": SUBCONTRACTOR, "corpType": "006",
             "entryTime": start.isoformat(), "pmName": "黄建国"}])),
        ("workers", write_csv(out / "workers.csv", [
            {"projectCode": PROJECT, "idCardType": "01", "idCardNumber": p.id_number,
             "workerName": p.name, "corpCode": SUBCONTRACTOR, "workType": "020", "workRole": "20",
             "entryDate": start.isoformat(), "payRollBankCardNumber": f"622200000000{i:04d}",
             "payRollTopBankCode": "102"} for i, p in enumerate(staff)])),
        ("contracts", write_csv(out / "contracts.csv", [
            {"projectCode": PROJECT, "idCardNumber": p.id_number, "corpCode": SUBCONTRACTOR,
             "contractPeriodType": "0", "startDate": start.isoformat(),
             "endDate": ((today - dt.timedelta(days=3)) if p.key == contract_ended
                         else today + dt.timedelta(days=240)).isoformat(),
             "unitPrice": str(DAILY_FEN // 100), "wageMethod": "day", "payDay": "15"}
            for p in staff])),
        ("accounts", write_csv(out / "accounts.csv", [
            {"projectCode": PROJECT, "bankCode": "102", "accountNo": "6217000012345678901",
             "openedDate": (start - dt.timedelta(days=10)).isoformat(),
             "agreementRef": "三方协议-演示-001"}])),
    ]
    return files


def payroll_files(out: Path, month: str, paid: dict[str, int], today: dt.date) -> list[tuple[str, Path]]:
    """The month's money: the client's labour-cost transfer into the special account, one
    payout per paid worker and the payroll lines naming them. ``paid``: registry worker id ->
    days paid (a worker left out is unpaid)."""
    y, m = int(month[:4]), int(month[5:])
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    pay_day = min(nxt + dt.timedelta(days=9), today)
    total = sum(days * DAILY_FEN for days in paid.values())
    flows = [{"projectCode": PROJECT, "bankSerial": f"IN{month.replace('-', '')}", "direction": "in",
              "kind": "labour_cost", "amount": "150000.00", "valueDate": f"{month}-05",
              "forMonth": month, "counterpartyName": "南宁城市道路投资有限公司（演示）"}]
    lines = []
    for i, (wid, days) in enumerate(sorted(paid.items())):
        amount = f"{days * DAILY_FEN / 100:.2f}"
        serial = f"P{month.replace('-', '')}{i:03d}"
        flows.append({"projectCode": PROJECT, "bankSerial": serial, "direction": "out",
                      "kind": "payout", "amount": amount, "valueDate": pay_day.isoformat(),
                      "forMonth": month, "counterpartyName": "工资代发（演示）"})
        lines.append({"projectCode": PROJECT, "thirdPayRollCode": f"PR{month.replace('-', '')}{i:03d}",
                      "corpCode": SUBCONTRACTOR, "workerId": wid, "payMonth": month, "days": str(days),
                      "totalPayAmount": amount, "actualAmount": amount,
                      "balanceDate": pay_day.isoformat(), "bankSerial": serial})
    assert total <= 15_000_000, "the demo's transfer covers the month's wages"
    return [("flows", write_csv(out / "flows.csv", flows)),
            ("payroll", write_csv(out / "payroll.csv", lines))]


def corridor_geojson(path: Path) -> Path:
    """The road as a corridor fence: the centre line in GCJ-02 and a half width."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "Feature", "properties": {
        "id": ROAD_ID, "name": "环城路K3段（演示）", "crs": "gcj02", "half_width_m": HALF_WIDTH_M},
        "geometry": {"type": "LineString", "coordinates": ROAD_GCJ02}}, ensure_ascii=False, indent=1),
        encoding="utf-8")
    return path


def phone_fixes() -> dict[str, tuple[float, float]]:
    """WGS-84 positions a phone's GPS reports (lon, lat): on the road and 1.5 km off it."""
    import geofence
    on = [geofence.convert(x, y, "gcj02", "wgs84") for x, y in ROAD_GCJ02]
    mid = ((on[1][0] + on[2][0]) / 2, (on[1][1] + on[2][1]) / 2)
    return {"on_road": mid, "near_start": on[0], "off_road": (mid[0], mid[1] + 0.0135)}


def face_people(folder: Path, limit: int) -> list[list[Path]]:
    """Photos by person from a folder: a ``manifest.csv`` (file, person; rows marked
    duplicate_of skipped) or one sub-folder per person. People with at least two photos (one to
    enrol, one for the lane's camera and the phone's selfie), East Asian sets first
    (``CN_`` in the manifest: the demo's workers are Chinese), larger photos first."""
    folder = Path(folder)
    by: dict[str, list[Path]] = {}
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row.get("duplicate_of") or row.get("person") in (None, "", "MULTI_FACE"):
                    continue
                p = folder / row["file"]
                if p.is_file():
                    by.setdefault(row["person"], []).append(p)
    else:
        for d in sorted(x for x in folder.iterdir() if x.is_dir()):
            by[d.name] = sorted(p for p in d.iterdir()
                                if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    def quality(k: str) -> int:                  # the smallest photo's size: a small file is a
        return min(p.stat().st_size for p in by[k])   # small or blurred face a camera misses
    ranked = sorted((k for k, v in by.items() if len(v) >= 2),
                    key=lambda k: (not k.startswith("CN_"), -quality(k), k))
    return [sorted(by[k], key=lambda p: -p.stat().st_size) for k in ranked[:limit]]
