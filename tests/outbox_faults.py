"""Faults a gateway's outbox file meets in the field, made on purpose for tests: a record an
older version committed beyond today's wire limits, one record's bytes flipped on disk, pages
overwritten with garbage.  Each works on the closed SQLite file, as the disk would."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

from procs import central_cmd, sitegate_cmd
from uplink.wire import record_hash


def site_toml(home: Path, gw: str, broker_url: str, *, outbox: dict | None = None,
              simulate: dict | None = None, ack_timeout: float = 2,
              uplink: dict | None = None) -> Path:
    lines = ["[gateway]", f'id = "{gw}"', "[broker]", f'url = "{broker_url}"', "[outbox]",
             *[f"{k} = {v}" for k, v in (outbox or {}).items()],
             "[uplink]", f"ack_timeout_s = {ack_timeout}", "state_interval_s = 1",
             *[f"{k} = {v}" for k, v in (uplink or {}).items()],
             "[simulate]", *[f"{k} = {v}" for k, v in (simulate or {"rate": 0}).items()]]
    path = home / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def provision(home: Path, site: Path, gw: str, db: str | None = None,
              register: bool = True) -> dict:
    """Key the gateway, give it central's public key, and (by default) register its public key
    at central."""
    env = dict(os.environ, SITEGATE_HOME=str(home))
    subprocess.run(sitegate_cmd("keygen", "-c", str(site)), env=env, check=True,
                   capture_output=True)
    # central's public key on the gateway ([gateway] central_key's default place): acks verify
    subprocess.run(central_cmd("key", "-o", str(home / "keys" / "central.pub.pem")), env=env,
                   check=True, capture_output=True)
    if register:
        subprocess.run(central_cmd("gateways", "add", gw, "--public-key",
                                   str(home / "keys" / "gateway.key.pem.pub"),
                                   *(["--db", db] if db else [])),
                       env=env, check=True, capture_output=True)
    return env


def inject_raw(path: Path, gw: str, ts: int, type_: str, body: dict) -> int:
    """Commit a record without the wire checks, as an older gateway version could have, and
    leave the file as that version would (no ``checked_from`` mark: the next open by this
    version marks every row so far as made before the limits); returns its seq.  The chain
    stays intact: only central's limits refuse the record."""
    conn = sqlite3.connect(path)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    seq = int(meta.get("head_seq", 0)) + 1
    record = {"body": body, "gw": gw, "prev": meta.get("head_hash", "0" * 64), "seq": seq,
              "ts": ts, "type": type_, "v": 1}
    data = json.dumps(record, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()
    h = record_hash(data)
    with conn:
        conn.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (seq, h, min(ts, 2**62), data))
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                         [("head_seq", str(seq)), ("head_hash", h)])
        conn.execute("DELETE FROM meta WHERE key = 'checked_from'")
    conn.close()
    return seq


def flip(path: Path, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` (same length) where it occurs once in the file's bytes."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert data.count(old) == 1, f"{old!r} occurs {data.count(old)} times"
    path.write_bytes(data.replace(old, new))


def smash_pages(path: Path, first_page: int = 3, pages: int = 4) -> None:
    """Overwrite whole pages in the middle of the file with garbage (structural corruption)."""
    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    total = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert total > first_page + pages, "make the outbox bigger first"
    with open(path, "r+b") as f:
        f.seek((first_page - 1) * page)
        f.write(bytes((i * 37 + 11) % 256 for i in range(page * pages)))


def integrity_ok(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
