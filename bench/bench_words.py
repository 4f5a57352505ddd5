"""What reading the catalogue from its .po and making certificates in-process cost, side by side
with what they replace, in one run.

* catalogue: ``gateway.words`` parses ``sitegate.po`` on first use (no compile step) vs GNU
  gettext's way, ``gettext.GNUTranslations`` over the ``.mo`` that ``msgfmt`` compiles from the
  same file (the .mo made once, outside the timing).  Ratio: ours / .mo.
* certificate: ``gateway.tls.make_cert`` (``cryptography``, in-process) vs the ``openssl req
  -x509`` subprocess it replaces (same curve, same SAN).  Ratio: ours / openssl.
* a command's first sentence: ``sitegate roster codes`` under LANG=zh_CN.UTF-8 vs LANG=C, a real
  process each (start-up + first lookup).  Ratio: zh / C.

Rounds alternate the two sides; medians are reported.

Run: PYTHONPATH=. .venv/bin/python bench/bench_words.py [--rounds R] [--json]
"""
from __future__ import annotations

import argparse
import gettext
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway import words  # noqa: E402
from gateway.tls import make_cert  # noqa: E402


def _po_once() -> float:
    words.catalogue.cache_clear()
    t = time.perf_counter()
    cat = words.catalogue()
    cat.keyed["web.signin"]
    return time.perf_counter() - t


def _mo_once(mo: Path) -> float:
    t = time.perf_counter()
    with mo.open("rb") as fh:
        gnu = gettext.GNUTranslations(fh)
    gnu.pgettext("web.signin", "Sign in")
    return time.perf_counter() - t


def _openssl_cert(d: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(d / "k.pem"), "-out",
                    str(d / "c.pem"), "-days", "825", "-subj", "/CN=sitegate phone clock-in",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return time.perf_counter() - t


def _our_cert(d: Path) -> float:
    t = time.perf_counter()
    make_cert(d / "c2.pem", d / "k2.pem")
    return time.perf_counter() - t


def _cli(lang: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LANGUAGE", "LC_MESSAGES")}
    env["LANG"] = lang
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gateway.cli", "roster", "codes"], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res: dict[str, list[float]] = {k: [] for k in ("po", "mo", "ours", "openssl", "zh", "C")}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        mo = d / "sitegate.mo"
        subprocess.run(["msgfmt", "-o", str(mo), str(words.CATALOGUE)], check=True)
        have_openssl = shutil.which("openssl") is not None
        for _ in range(args.rounds):
            res["po"].append(_po_once())
            res["mo"].append(_mo_once(mo))
            res["ours"].append(_our_cert(d))
            if have_openssl:
                res["openssl"].append(_openssl_cert(d))
        for _ in range(max(3, args.rounds // 3)):
            res["zh"].append(_cli("zh_CN.UTF-8"))
            res["C"].append(_cli("C"))
    med = {k: statistics.median(v) * 1000 for k, v in res.items() if v}
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "catalogue_entries": len(words.catalogue().keyed) + len(words.catalogue().plain),
        "median_ms": {k: round(v, 3) for k, v in med.items()},
        "ratio_po_over_mo": round(med["po"] / med["mo"], 2),
        "ratio_cryptography_over_openssl": (round(med["ours"] / med["openssl"], 2)
                                            if "openssl" in med else None),
        "ratio_cli_zh_over_C": round(med["zh"] / med["C"], 2),
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['machine']}; {out['catalogue_entries']} catalogue entries; medians of {args.rounds}")
    print(f"catalogue: .po read {med['po']:.2f} ms, GNU .mo {med['mo']:.2f} ms, "
          f"ratio {out['ratio_po_over_mo']}")
    if "openssl" in med:
        print(f"certificate: cryptography {med['ours']:.1f} ms, openssl req {med['openssl']:.1f} ms, "
              f"ratio {out['ratio_cryptography_over_openssl']}")
    print(f"`sitegate roster codes`: zh_CN {med['zh']:.0f} ms, C {med['C']:.0f} ms, "
          f"ratio {out['ratio_cli_zh_over_C']}")


if __name__ == "__main__":
    main()
