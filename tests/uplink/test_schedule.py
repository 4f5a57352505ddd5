"""Push schedule: release cut-offs (pure) and the uplink's release gate against a real broker."""
import calendar
import time

import pytest

from spine import make_gateway, start_central, start_uplink, wait_for
from uplink.schedule import FOREVER, Schedule


def cst(y, m, d, hh=0, mm=0):
    """ms since the epoch of a China Standard Time wall-clock instant."""
    return (calendar.timegm((y, m, d, hh, mm, 0)) - 8 * 3600) * 1000


def test_realtime_releases_everything():
    assert Schedule().cutoff_ms(cst(2026, 11, 3)) == FOREVER
    assert Schedule().next_release_ms(0) is None


@pytest.mark.parametrize("now,cut,nxt", [
    (cst(2026, 11, 14, 23, 59), cst(2026, 11, 1), cst(2026, 11, 15)),
    (cst(2026, 11, 15, 0, 0), cst(2026, 11, 15), cst(2026, 12, 1)),
    (cst(2026, 11, 30, 23, 59), cst(2026, 11, 15), cst(2026, 12, 1)),
    (cst(2026, 12, 1, 0, 0), cst(2026, 12, 1), cst(2026, 12, 15)),
    (cst(2026, 12, 31, 12), cst(2026, 12, 15), cst(2027, 1, 1)),
    (cst(2028, 2, 29, 12), cst(2028, 2, 15), cst(2028, 3, 1)),      # leap year month end
])
def test_semimonthly_cutoffs(now, cut, nxt):
    s = Schedule("semimonthly")
    assert s.cutoff_ms(now) == cut
    assert s.next_release_ms(now) == nxt
    # a record made a minute before the release is held until then, then released
    assert s.held(nxt - 60_000, now) and not s.held(nxt - 60_000, nxt)


def test_local_midnight_not_utc():
    s = Schedule("semimonthly")
    # 2026-11-14 16:30 UTC is already 00:30 on the 15th in China: released
    now = calendar.timegm((2026, 11, 14, 16, 30, 0)) * 1000
    assert s.cutoff_ms(now) == cst(2026, 11, 15)


def test_bad_mode():
    with pytest.raises(ValueError, match="allowed realtime, semimonthly"):
        Schedule("weekly")


def test_uplink_seals_at_once_but_publishes_only_after_release(tmp_path, mosquitto):
    outbox, signer = make_gateway(tmp_path / "outbox.db")
    store, ingest, _, central = start_central(f"sqlite:///{tmp_path/'c.db'}", mosquitto.url)
    store.add_gateway(outbox.gw, signer.public_hex)
    made = int(time.time() * 1000)
    cutoff = [made - 86_400_000]                       # last release was yesterday
    uplink, up = start_uplink(outbox, mosquitto.url, release_cutoff=lambda now: cutoff[0])
    try:
        outbox.append_many([{"worker": f"W{i:05d}", "dir": "in"} for i in range(20)], ts_ms=made)
        wait_for(lambda: outbox.sealed_seq == 20, 20, "sealing while held")
        wait_for(lambda: uplink.connected and uplink.held_blocks > 0, 20, "the gate to hold")
        time.sleep(1.5)
        assert outbox.acked_seq == 0 and ingest.counters["records_ok"] == 0
        assert uplink.counters["published"] == 0
        assert uplink.state()["uplink"]["held"] is True
        cutoff[0] = made + 1                            # the 15th arrives
        wait_for(lambda: outbox.acked_seq == 20, 30, "release and central's ack")
        assert store.seqs(outbox.gw) == list(range(1, 21))
        # a record made after the release waits for the next one; earlier ones are not re-held
        outbox.append({"worker": "W99999", "dir": "out"}, ts_ms=made + 10)
        wait_for(lambda: outbox.sealed_seq == 21, 20, "sealing the late record")
        time.sleep(1.0)
        assert outbox.acked_seq == 20
        cutoff[0] = FOREVER
        wait_for(lambda: outbox.acked_seq == 21, 30, "second release")
    finally:
        up.close()
        central.close()
