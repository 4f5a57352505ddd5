"""Labour manager web app at site scale: 5,000 workers on the roster, 1,000,000 attendance
records in the ledger. Server time per page (the app's own ``Server-Timing``) for the roster
page and a worker's month, and the monthly sheet for 5,000 workers.

Usage: PYTHONPATH=. python bench/bench_webapp.py [--json] [--workers 5000] [--records 1000000] [--runs 30]

Data: real SM4-sealed roster (names, ID numbers), real ledger filled through ``Ledger.ingest``
(records in wire form, 100 working days of one entry and one exit per worker), real accounts.
Requests go through the whole FastAPI stack in-process (Starlette TestClient), signed in as a
manager; the figure is the median of ``--runs`` requests' Server-Timing.

Baselines, same run: (a) the framework floor -- the same app, same session check, serving the
sign-in page (template render, no data); (b) for the sheet, openpyxl write-only writing the same
grid of constant cells (5,000 × 37) -- the bare library cost. Targets: pages < 200 ms, sheet < 5 s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_PAGE_MS, TARGET_SHEET_S = 200.0, 5.0
TZ = dt.timezone(dt.timedelta(hours=8))


def server_ms(resp) -> float:
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return float(resp.headers["server-timing"].split("dur=")[1])


def fill(home: Path, workers: int, records: int, today: dt.date) -> tuple[object, dict]:
    from gateway.config import parse
    from gateway.ledger.site_data import SiteData
    cfg = parse({"gateway": {"id": "gw-bench", "project": "P-BENCH"}, "web": {"listen": "127.0.0.1"}}, home)
    data = SiteData(cfg)
    t0 = time.perf_counter()
    teams = [f"班组{i:02d}" for i in range(40)]
    for i in range(workers):
        number = f"{110101}{1970 + i % 35}{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i % 1000:03d}"
        number += "X" if i % 11 == 0 else str(i % 10)
        data.roster.add(f"W{i:06d}", id_number=number, name=f"工人{i:05d}", team=teams[i % len(teams)],
                        trade="electrician" if i % 20 == 0 else None,
                        cert_valid_to=(today + dt.timedelta(days=i % 90)).isoformat() if i % 20 == 0 else None,
                        contract_end=(today + dt.timedelta(days=i % 400 - 30)).isoformat())
    roster_s = time.perf_counter() - t0
    days_needed = records // (2 * workers)
    day_list, d = [], today
    while len(day_list) < days_needed:          # today, then working days back (Sundays off)
        if d == today or d.weekday() != 6:
            day_list.append(d)
        d -= dt.timedelta(days=1)
    day_list.reverse()

    def gen():
        seq = 0
        for day in day_list:
            base = int(dt.datetime(day.year, day.month, day.day, 7, tzinfo=TZ).timestamp() * 1000)
            for i in range(workers):
                for k, direction in ((0, "in"), (1, "out")):
                    seq += 1
                    if seq > records:
                        return
                    yield {"seq": seq, "ts": base + k * 11 * 3600_000 + (i % 3600) * 1000,
                           "type": "attendance", "body": {"worker": f"W{i:06d}", "dir": direction,
                                                          "decision": "allow", "lane": f"lane{k + 1}"}}
    t0 = time.perf_counter()
    batch = []
    for rec in gen():
        batch.append(rec)
        if len(batch) == 20_000:
            data.ledger.ingest(batch)
            batch = []
    if batch:
        data.ledger.ingest(batch)
    ingest_s = time.perf_counter() - t0
    data.close()
    return cfg, {"roster_fill_s": round(roster_s, 1), "ledger_ingest_s": round(ingest_s, 1),
                 "ledger_records_per_s": round(records / ingest_s), "days": len(day_list)}


def bare_xlsx(rows: int, cols: int) -> float:
    import io

    from openpyxl import Workbook
    t0 = time.perf_counter()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("x")
    row = ["W000001", "工人00001", "1101**********1234", "班组01", ""] + ["√"] * (cols - 5)
    for _ in range(rows):
        ws.append(row)
    wb.save(io.BytesIO())
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--workers", type=int, default=5000)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    import warnings
    warnings.filterwarnings("ignore")
    from fastapi.testclient import TestClient

    from gateway.ledger.site_data import SiteData
    from gateway.cli.web import open_accounts
    from gateway.web.app import build_app

    today = dt.datetime.now(TZ).date()
    with tempfile.TemporaryDirectory() as tmp:
        cfg, filled = fill(Path(tmp), args.workers, args.records, today)
        accounts = open_accounts(cfg)
        accounts.add("bench", "manager", "bench-password-1")
        data = SiteData(cfg)
        client = TestClient(build_app(data, accounts))
        assert client.post("/login", data={"user": "bench", "password": "bench-password-1"},
                           follow_redirects=False).status_code == 303

        def median(path: str, runs: int = args.runs) -> float:
            return statistics.median(server_ms(client.get(path)) for _ in range(runs))

        out: dict = {"machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
                     "workers": args.workers, "records": args.records, **filled}
        t0 = time.perf_counter()
        out["roster_cold_ms"] = round(server_ms(client.get("/roster")), 1)   # decrypts every name once
        out["floor_ms"] = round(median("/login"), 2)
        month = f"{today:%Y-%m}"
        pages = {"roster_page_ms": "/roster", "roster_last_page_ms": f"/roster?page={args.workers // 50}",
                 "roster_search_ms": f"/roster?q=工人{args.workers - 1:05d}", "roster_flagged_ms": "/roster?flag=any",
                 "worker_month_ms": f"/workers/W{args.workers // 2:06d}?month={month}", "today_ms": "/"}
        for key, path in pages.items():
            out[key] = round(median(path), 1)
            out[key.replace("_ms", "_ratio")] = round(out[key] / out["floor_ms"], 1)
        sheet_runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = client.get(f"/sheet/{month}.xlsx")
            assert r.status_code == 200 and len(r.content) > 10_000
            sheet_runs.append(time.perf_counter() - t0)
        out["sheet_xlsx_s"] = round(statistics.median(sheet_runs), 2)
        out["sheet_bare_openpyxl_s"] = round(statistics.median(bare_xlsx(args.workers, 37) for _ in range(3)), 2)
        out["sheet_ratio"] = round(out["sheet_xlsx_s"] / out["sheet_bare_openpyxl_s"], 2)
        t0 = time.perf_counter()
        client.get(f"/sheet/{month}.csv")
        out["sheet_csv_s"] = round(time.perf_counter() - t0, 2)
        out["ledger_mb"] = round(Path(cfg.home / "attendance.db").stat().st_size / 2 ** 20, 1)
        out["targets_met"] = all(out[k] < TARGET_PAGE_MS for k in pages if k != "today_ms") and \
            out["sheet_xlsx_s"] < TARGET_SHEET_S
        data.close()
        accounts.close()
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return
    print(f"{out['machine']}: {args.workers} workers, {args.records:,} records over {out['days']} days")
    print(f"fill: roster {out['roster_fill_s']} s, ledger {out['ledger_ingest_s']} s "
          f"({out['ledger_records_per_s']:,} records/s), ledger file {out['ledger_mb']} MiB")
    print(f"framework floor (sign-in page): {out['floor_ms']} ms; roster first view (cold) {out['roster_cold_ms']} ms")
    for key in pages:
        print(f"{key[:-3]:22} {out[key]:8.1f} ms  {out[key.replace('_ms', '_ratio')]:6.1f}× floor")
    print(f"sheet XLSX {out['sheet_xlsx_s']} s (bare openpyxl {out['sheet_bare_openpyxl_s']} s, "
          f"{out['sheet_ratio']}×); CSV {out['sheet_csv_s']} s")
    print("targets met" if out["targets_met"] else "TARGETS MISSED")
    sys.exit(0 if out["targets_met"] else 1)


if __name__ == "__main__":
    main()
