"""Alert sinks against a REAL mosquitto broker on a free loopback port (never skipped).

Delivery is QoS 1 (at least once): the tests require every alert to arrive, first arrivals in
publish order, and allow a repeat only of a message whose PUBACK the broker never sent.
"""

from __future__ import annotations

import json

import pytest

from tests.apps.mosquitto import Subscriber, broker, free_port, idle_broker, wait_for
from tinyfuse.apps.alerts import (
    DELIVERED,
    QUEUED,
    WRITTEN,
    FallbackSink,
    LocalOutbox,
    MqttSink,
    alert_topic,
    read_local,
)
from tinyfuse.apps.confirm import raise_alert
from tinyfuse.apps.outbox import Outbox
from tinyfuse.apps.policy import Decision
from tinyfuse.core.errors import DataError, DeployError

__all__ = ["broker", "idle_broker"]  # pytest fixtures, imported for use here


def make_alert(index: int, *, app: str = "factory", device: str = "vibration"):
    decision = Decision(label="outer_race", score=0.9, time_s=float(index),
                        classes=("normal", "outer_race"), scores=(0.1, 0.9), hits=2,
                        needs_confirmation=False, reason="confident")
    return raise_alert(decision, alert_id=f"a{index:03d}", app=app, device=device,
                       bundle_hash="0123456789abcdef")


def sink_for(port: int, path, **options) -> MqttSink:
    settings = {"ack_timeout_s": 2.0, "connect_timeout_s": 1.0, "retry_interval_s": 0.0}
    settings.update(options)
    return MqttSink(host="127.0.0.1", port=port, outbox=path / "outbox.sqlite", **settings)


def assert_in_order_once(received: list[str], sent: list[str]) -> None:
    """Every sent id arrived; first arrivals keep the send order; nothing unknown arrived."""
    assert set(received) == set(sent)
    first = list(dict.fromkeys(received))
    assert first == sent


def test_topic_layout_and_bad_names():
    assert alert_topic("cough", "audio") == "tinyfuse/cough/audio/alert"
    with pytest.raises(DataError, match="device"):
        alert_topic("cough", "a/b")
    with pytest.raises(DataError, match="app"):
        alert_topic("c+", "audio")


def test_publish_subscribe_roundtrip(broker, tmp_path):
    subscriber = Subscriber(broker.port)
    sink = sink_for(broker.port, tmp_path)
    try:
        statuses = [sink.publish(make_alert(i)) for i in range(3)]
        wait_for(lambda: len(subscriber.messages) == 3, what="3 messages")
    finally:
        sink.close()
        subscriber.close()
    assert statuses == [DELIVERED] * 3
    topic, payload = subscriber.messages[0]
    assert topic == "tinyfuse/factory/vibration/alert"
    assert payload["bundle_hash"] == "0123456789abcdef"
    assert payload["scores"] == {"normal": 0.1, "outer_race": 0.9}
    assert payload["decision"]["label"] == "outer_race"
    assert payload["confirmation"]["state"] == "raised"
    assert payload["timestamps"]["raised_s"] == 0.0
    assert subscriber.alert_ids() == ["a000", "a001", "a002"]
    assert len(Outbox(tmp_path / "outbox.sqlite")) == 0


def test_broker_down_at_start_then_outbox_drains_in_order(idle_broker, tmp_path):
    sink = sink_for(idle_broker.port, tmp_path)
    sent = [f"a{i:03d}" for i in range(6)]
    statuses = [sink.publish(make_alert(i)) for i in range(6)]
    assert statuses == [QUEUED] * 6
    assert "unreachable" in sink.last_error and str(idle_broker.port) in sink.last_error
    assert [json.loads(m.payload)["alert_id"] for m in sink.outbox.pending()] == sent
    idle_broker.start()
    subscriber = Subscriber(idle_broker.port)
    try:
        assert sink.flush() == 6
        wait_for(lambda: len(subscriber.messages) >= 6, what="6 messages")
        assert len(sink.outbox) == 0
        assert sink.publish(make_alert(6)) == DELIVERED
        wait_for(lambda: len(subscriber.messages) >= 7, what="7 messages")
    finally:
        sink.close()
        subscriber.close()
    assert subscriber.alert_ids() == [*sent, "a006"]  # nothing lost, nothing repeated


def test_broker_killed_mid_stream(broker, tmp_path):
    port = broker.port
    subscriber = Subscriber(port)
    sink = sink_for(port, tmp_path, ack_timeout_s=1.0)
    statuses = [sink.publish(make_alert(i)) for i in range(3)]
    wait_for(lambda: len(subscriber.messages) == 3, what="first 3 messages")
    subscriber.close()
    broker.kill()
    statuses += [sink.publish(make_alert(i)) for i in range(3, 7)]
    assert statuses == [DELIVERED] * 3 + [QUEUED] * 4
    assert len(sink.outbox) == 4
    broker.start()
    late = Subscriber(port)
    try:
        assert sink.flush() == 4
        wait_for(lambda: len(late.messages) >= 4, what="queued messages")
    finally:
        sink.close()
        late.close()
    assert_in_order_once(subscriber.alert_ids() + late.alert_ids(),
                         [f"a{i:03d}" for i in range(7)])


def test_restart_resends_what_was_not_acknowledged(idle_broker, tmp_path):
    first = sink_for(idle_broker.port, tmp_path)
    for i in range(4):
        assert first.publish(make_alert(i)) == QUEUED
    first.close()  # the process ends with 4 alerts unsent
    assert len(Outbox(tmp_path / "outbox.sqlite")) == 4
    idle_broker.start()
    subscriber = Subscriber(idle_broker.port)
    second = sink_for(idle_broker.port, tmp_path)  # the restarted process, same outbox
    try:
        assert second.flush() == 4
        assert second.publish(make_alert(4)) == DELIVERED
        wait_for(lambda: len(subscriber.messages) >= 5, what="5 messages")
    finally:
        second.close()
        subscriber.close()
    assert subscriber.alert_ids() == [f"a{i:03d}" for i in range(5)]


def test_lifecycle_updates_go_out_as_separate_messages(broker, tmp_path):
    from tinyfuse.apps.confirm import apply_answer

    subscriber = Subscriber(broker.port)
    sink = sink_for(broker.port, tmp_path)
    raised = make_alert(0)
    confirmed = apply_answer(raised, "confirm", now_s=3.0, by="test")
    try:
        sink.publish(raised)
        sink.publish(confirmed)
        wait_for(lambda: len(subscriber.messages) == 2, what="2 updates")
    finally:
        sink.close()
        subscriber.close()
    states = [(p["revision"], p["confirmation"]["state"]) for _, p in subscriber.messages]
    assert states == [(0, "raised"), (1, "confirmed")]


def test_local_outbox_appends_json_lines(tmp_path):
    sink = LocalOutbox(tmp_path / "local")
    assert [sink.publish(make_alert(i)) for i in range(3)] == [WRITTEN] * 3
    with open(sink.path, "a") as handle:
        handle.write('{"torn": ')  # a crash mid-line must not hide the good records
    records = read_local(sink.path)
    assert [r["payload"]["alert_id"] for r in records] == ["a000", "a001", "a002"]
    assert records[0]["topic"] == "tinyfuse/factory/vibration/alert"


def test_fallback_writes_locally_while_broker_is_down(idle_broker, tmp_path):
    mqtt_sink = sink_for(idle_broker.port, tmp_path)
    local = LocalOutbox(tmp_path / "local")
    chain = FallbackSink([mqtt_sink, local])
    assert chain.publish(make_alert(0)) == QUEUED
    assert [r["payload"]["alert_id"] for r in read_local(local.path)] == ["a000"]
    assert len(mqtt_sink.outbox) == 1  # still owed to the broker
    idle_broker.start()
    subscriber = Subscriber(idle_broker.port)
    try:
        assert chain.publish(make_alert(1)) == DELIVERED  # drains a000 first, then a001
        wait_for(lambda: len(subscriber.messages) >= 2, what="2 messages")
    finally:
        chain.close()
        subscriber.close()
    assert subscriber.alert_ids() == ["a000", "a001"]
    assert len(read_local(local.path)) == 1  # delivered alerts are not duplicated locally


def test_fallback_raises_when_no_sink_takes_the_alert(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")

    class Broken:
        name = "broken"

        def publish(self, alert):
            raise OSError("disk full")

        def flush(self):
            return 0

        def close(self):
            return None

    with pytest.raises(DeployError, match="a000.*broken: disk full"):
        FallbackSink([Broken()]).publish(make_alert(0))
    with pytest.raises(DataError, match="not_a_folder"):
        LocalOutbox(blocker / "sub")


def test_bad_port_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="port 70000"):
        MqttSink(host="127.0.0.1", port=70000, outbox=tmp_path / "o.sqlite")
    assert free_port() > 0


def test_one_process_per_outbox(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "outbox.sqlite"
    first = Outbox(path)
    with pytest.raises(DataError, match=rf"in use by another process \(pid {os.getpid()}\)"):
        Outbox(path)
    first.close()
    Outbox(path).close()  # free again once closed
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tinyfuse.apps.outbox import Outbox; "
         f"o = Outbox({str(path)!r}); print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DataError, match=rf"pid {holder.pid}\)"):
            Outbox(path)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    Outbox(path).close()  # the dead holder's lock went with it


def test_background_sender_drains_the_outbox_without_a_new_alert(idle_broker, tmp_path):
    import time

    sink = sink_for(idle_broker.port, tmp_path, retry_interval_s=0.2, background=True)
    try:
        started = time.monotonic()
        statuses = [sink.publish(make_alert(i)) for i in range(5)]
        publishing_s = time.monotonic() - started
        assert statuses == [QUEUED] * 5  # written to disk; the sender does the network
        assert publishing_s < 1.0  # a dead broker never blocks the scoring loop
        idle_broker.start()
        subscriber = Subscriber(idle_broker.port)
        # no further publish: the sender retries on its own and drains the outbox
        wait_for(lambda: len(subscriber.messages) >= 5, what="5 queued messages",
                 timeout_s=15.0)
        wait_for(lambda: len(sink.outbox) == 0, what="an empty outbox")
        # connected again: publish waits a moment for the PUBACK and says so
        assert sink.publish(make_alert(5)) == DELIVERED
        assert sink.flush() == 0
        wait_for(lambda: len(subscriber.messages) >= 6, what="6 messages")
    finally:
        sink.close()
        subscriber.close()
    assert_in_order_once(subscriber.alert_ids(), [f"a{i:03d}" for i in range(6)])
