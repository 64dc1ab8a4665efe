"""The CI slice of ``bench/mqtt_delivery.py``: alert updates through a broker with a password
file and TLS, the broker killed twice and the app killed once mid-stream: nothing lost, and
the updates queued while the broker was down go out when it is back, with no new alert."""

from __future__ import annotations

from bench.mqtt_delivery import loss_run, update


def test_nothing_is_lost_across_broker_and_app_crashes(tmp_path):
    result = loss_run(200, tmp_path)
    assert [e["at_update"] for e in result["events"]][:2] != [200, 200]  # mid-stream
    assert result["sent"] == 200 and result["lost"] == 0, result["lost_updates"]
    assert result["received"] == 200
    assert result["tail_delivered_after_broker_return_s"] is not None


def test_updates_are_distinct_and_alternate_raised_and_confirmed():
    first, second = update(0), update(1)
    assert first.alert_id == second.alert_id and (first.revision, second.revision) == (0, 1)
    assert (first.state, second.state) == ("raised", "confirmed")
