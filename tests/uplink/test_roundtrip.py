from spine import make_gateway, start_central, start_uplink, wait_for


def test_records_reach_central_once_and_are_released(tmp_path, mosquitto):
    outbox, signer = make_gateway(tmp_path / "outbox.db")
    store, ingest, _, central = start_central(f"sqlite:///{tmp_path/'c.db'}", mosquitto.url)
    store.add_gateway(outbox.gw, signer.public_hex)
    uplink, up = start_uplink(outbox, mosquitto.url)
    try:
        for i in range(0, 2000, 50):
            outbox.append_many([{"worker": f"W{i + j:05d}", "dir": "in"} for j in range(50)])
        wait_for(lambda: outbox.acked_seq == 2000, 60, "central's ack of seq 2000")
        assert store.seqs(outbox.gw) == list(range(1, 2001))
        assert ingest.counters["records_ok"] == 2000
    finally:
        up.close()
        central.close()
