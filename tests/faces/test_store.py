"""Templates at rest: SM4-GCM (checked against RFC 8998), bound to the worker, key file 0600,
removal leaves nothing behind."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from biometrics.crypto import SealError, load_or_create_key, open_sealed, seal
from biometrics.store import TemplateStore


def test_sm4_gcm_rfc8998_vector():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    iv = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    pt = bytes.fromhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
                       "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
    ct = bytes.fromhex("17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
                       "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D")
    tag = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
    sealed = seal(key, pt, aad, nonce=iv)
    assert sealed == b"S4G1" + iv + ct + tag
    assert open_sealed(key, sealed, aad) == pt


def test_tampering_wrong_key_and_wrong_row_fail():
    key, other = os.urandom(16), os.urandom(16)
    s = seal(key, b"x" * 512, b"W1")
    for bad in (s[:-1] + bytes([s[-1] ^ 1]), s[:20] + bytes([s[20] ^ 1]) + s[21:], s[:10]):
        with pytest.raises(SealError):
            open_sealed(key, bad, b"W1")
    with pytest.raises(SealError):
        open_sealed(other, s, b"W1")
    with pytest.raises(SealError):
        open_sealed(key, s, b"W2")
    assert seal(key, b"same", b"W1") != seal(key, b"same", b"W1")     # fresh nonce each time


def test_key_file_is_private_and_checked(tmp_path):
    kf = tmp_path / "keys" / "t.sm4"
    k = load_or_create_key(kf)
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600 and load_or_create_key(kf) == k
    kf.chmod(0o644)
    with pytest.raises(PermissionError):
        load_or_create_key(kf)


def test_store_round_trip_swap_and_removal(tmp_path):
    rng = np.random.default_rng(1)
    a, b = [rng.normal(0, 0.1, 128).astype(np.float32) for _ in range(2)]
    store = TemplateStore(tmp_path / "t.db", key_file=tmp_path / "k.sm4")
    store.add("W1", [a, b])
    store.add("W2", [b])
    got = store.templates()
    assert np.array_equal(got["W1"][0], a) and len(got["W2"]) == 1
    raw = (tmp_path / "t.db").read_bytes() + (tmp_path / "t.db-wal").read_bytes()
    assert a.tobytes() not in raw                                        # not in clear
    g = store.gallery("dlib")
    assert g.ids == ["W1", "W2"] and g.matrix.dtype == np.float32 and g.matrix.flags.c_contiguous
    # swapping ciphertexts between workers is detected
    c = store._conn
    s1 = c.execute("SELECT sealed FROM templates WHERE worker='W1' LIMIT 1").fetchone()[0]
    c.execute("UPDATE templates SET sealed=? WHERE worker='W2'", (s1,))
    with pytest.raises(SealError):
        store.templates()
    c.execute("DELETE FROM templates WHERE worker='W2'")
    blobs = [r[0] for r in c.execute("SELECT sealed FROM templates WHERE worker='W1'")]
    assert store.remove("W1") == 2 and store.templates() == {}
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("t.db*"))
    assert all(blob[16:48] not in raw for blob in blobs)                 # gone for good


def _v1_store(path, key):
    """A template file as written before models existed: no model/source columns, v1 binding."""
    import sqlite3
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE templates (id INTEGER PRIMARY KEY, worker TEXT NOT NULL, "
                 "created_ms INTEGER NOT NULL, sealed BLOB NOT NULL)")
    rng = np.random.default_rng(5)
    old = rng.normal(0, 0.1, 128).astype(np.float32)
    conn.execute("INSERT INTO templates (worker, created_ms, sealed) VALUES (?, ?, ?)",
                 ("W1", 1, seal(key, old.astype("<f4").tobytes(), b"sitegate-template-v1:W1")))
    conn.commit()
    conn.close()
    return old


def test_old_dlib_templates_keep_working_next_to_new_model(tmp_path):
    key = os.urandom(16)
    old = _v1_store(tmp_path / "t.db", key)
    store = TemplateStore(tmp_path / "t.db", key=key)
    assert store.models() == {"dlib": 1}
    assert np.array_equal(store.templates(model="dlib")["W1"][0], old)
    new = np.random.default_rng(6).normal(0, 1, 192).astype(np.float32)
    store.add("W2", [new], replace=False)                              # model from the dimension: the default
    assert store.models() == {"dlib": 1, "mobilefacenet-v2": 1}
    assert store.gallery("mobilefacenet-v2").ids == ["W2"] and store.gallery("dlib").ids == ["W1"]
    # MobileFaceNet v1 and v2 templates have the same size but never meet in one gallery
    store.add("W4", [new], replace=False, model="mobilefacenet")
    assert store.gallery("mobilefacenet").ids == ["W4"] and store.gallery("mobilefacenet-v2").ids == ["W2"]
    with pytest.raises(ValueError):
        store.add("W3", [new], model="dlib")                           # wrong size for the model
    # the model and source are bound into the seal: relabelling a row fails
    store._conn.execute("UPDATE templates SET model = 'dlib' WHERE worker = 'W2'")
    with pytest.raises(SealError):
        store.templates()
    store.close()


def test_learned_templates_are_bounded_and_age_out(tmp_path):
    store = TemplateStore(tmp_path / "t.db", key=os.urandom(16))
    rng = np.random.default_rng(7)
    store.add("W1", [rng.normal(0, 1, 192).astype(np.float32)])
    for day in range(5):
        store.learn("W1", rng.normal(0, 1, 192).astype(np.float32), "mobilefacenet", keep=3,
                    now_ms=day * 86_400_000)
    rows = store.rows("W1")
    assert [r["source"] for r in rows].count("pass") == 3 and [r["source"] for r in rows].count("enrol") == 1
    assert sorted(r["created_ms"] for r in rows if r["source"] == "pass") == [2 * 86_400_000, 3 * 86_400_000,
                                                                               4 * 86_400_000]
    assert store.age_out(4 * 86_400_000) == [("W1", "mobilefacenet")] * 2
    assert [r["source"] for r in store.rows("W1")] == ["enrol", "pass"]       # enrolment never ages out
    store.close()
