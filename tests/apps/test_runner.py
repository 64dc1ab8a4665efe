"""apps.runner / apps.scoring / `tinyfuse run`: wiring with a scripted scorer, then a real tiny
int8 posture model (``bundle_dir`` in conftest.py, trained on simulated frames, ~15 s) scored by
the compiled C model and the TFLite Micro reference, end to end through a real mosquitto
broker."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.apps.mosquitto import Subscriber, broker, wait_for
from tinyfuse.apps.alerts import LocalOutbox, MqttSink, read_local
from tinyfuse.apps.cli import main
from tinyfuse.apps.confirm import AutoConfirm, Confirmations, QueueConfirm, incident_id
from tinyfuse.apps.policy import Policy
from tinyfuse.apps.runner import bundle_policy, episodes, onsets, plot_stream, replay, run_stream
from tinyfuse.apps.scoring import HostScorer, TfliteScorer, load_bundle
from tinyfuse.core.errors import DataError
from tinyfuse.sensors.preprocess import Preprocessor
from tinyfuse.sensors.simulate import simulate_posture

__all__ = ["broker"]


def test_bundle_loads_and_host_matches_tflite_reference(bundle_dir):
    bundle = load_bundle(bundle_dir)
    assert bundle.app == "posture" and bundle.modalities == ("thermal", "depth")
    host, reference = HostScorer(bundle), TfliteScorer(bundle)
    pre = Preprocessor.from_bundle(bundle)
    data = simulate_posture(n_per_class=3, n_people=2, seed=9)
    for sample in data.samples:
        inputs = pre.int8_inputs(pre.features(sample))
        np.testing.assert_array_equal(host.score(inputs), reference.score(inputs))
    degraded = {"thermal": pre.features(sample)["thermal"], "depth": None}
    arrays = pre.int8_inputs(degraded)
    np.testing.assert_array_equal(host.score(arrays), reference.score(arrays))
    assert pre.missing(degraded) == ("depth",) and arrays[1].dtype == np.int8
    depth = bundle.inputs[1]
    assert (arrays[1] == depth.zero_point).all()  # zeros after standardisation
    with pytest.raises(DataError, match=r"features\['thermal'\]: expected shape"):
        pre.int8_inputs({"thermal": np.zeros((4, 4)), "depth": None})


def test_bad_bundles_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no bundle.json"):
        load_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text("{nope")
    with pytest.raises(DataError, match="not valid JSON"):
        load_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text(json.dumps({"schema_version": 1, "classes": ["a"]}))
    (tmp_path / "model.tflite").write_bytes(b"x")
    with pytest.raises(DataError, match="bundle.json: missing field 'inputs'"):
        load_bundle(tmp_path)


def test_cli_run_publishes_through_a_real_broker(bundle_dir, broker, tmp_path):
    subscriber = Subscriber(broker.port)
    out = tmp_path / "run"
    try:
        code = main(["run", str(bundle_dir), "--out", str(out), "--mqtt",
                     f"127.0.0.1:{broker.port}", "--per-class", "8", "--scorer", "host"])
        summary = json.loads((out / "run_summary.json").read_text())
        expected = sum(summary["deliveries"].values())
        wait_for(lambda: len(subscriber.messages) >= expected, what="every update")
    finally:
        subscriber.close()
    assert code == 0 and (out / "stream.png").stat().st_size > 10_000
    assert summary["n_steps"] == 32 and summary["n_alerts"] >= 1
    assert summary["deliveries"] == {"delivered": expected}
    assert all(topic == "tinyfuse/posture/fused/alert" for topic, _ in subscriber.messages)
    assert {p["decision"]["label"] for _, p in subscriber.messages} == {"lying"}
    assert not (out / "outbox" / "alerts.jsonl").exists()  # nothing needed the fallback


def test_cli_run_without_broker_keeps_alerts_on_disk(bundle_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", str(bundle_dir), "--out", str(out), "--per-class", "6",
                 "--drop-modality", "depth", "--scorer", "tflite"])
    assert code == 0
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["steps_with_missing_modality"] == summary["n_steps"] == 24
    assert all(a["missing"] == ["depth"] for a in summary["alerts"])
    records = read_local(out / "outbox" / "alerts.jsonl")
    assert len(records) == sum(summary["deliveries"].values())
    assert "24 samples" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "absent")]) == 2


# --- wiring, with a scripted scorer -------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


class LabelScorer:
    """Looks the label up from the features' identity: the stream gives it out of band."""

    def __init__(self, bundle, labels: list[str]) -> None:
        self.bundle, self._labels = bundle, iter(labels)

    def score(self, inputs):
        label = next(self._labels)
        depth = self.bundle.inputs[1]
        top = 0.7 if (inputs[1] == depth.zero_point).all() else 0.9  # depth missing
        scores = np.full(len(self.bundle.classes), (1 - top) / (len(self.bundle.classes) - 1))
        scores[self.bundle.classes.index(label)] = top
        return scores.astype(np.float32)


def test_run_stream_wires_decisions_confirmations_and_sinks(bundle, tmp_path):
    data = simulate_posture(n_per_class=8, n_people=2, seed=1)
    labels = ["empty"] * 3 + ["lying"] * 4 + ["standing"] * 3 + ["lying"] * 4
    pools = {c: [s for s in data.samples if s.label == c] for c in bundle.classes}
    samples = [pools[label].pop() for label in labels]
    policy = Policy(classes=bundle.classes, alert_classes=("lying",), on_levels=(0.5,),
                    confident_levels=(0.8,), k=2, n=3, cooldown_s=0.0)
    hook = QueueConfirm()
    result = run_stream(replay(samples, period_s=2.0), scorer=LabelScorer(bundle, labels),
                        policy=policy, sink=LocalOutbox(tmp_path), device="room1",
                        confirmations=Confirmations(hook, timeout_s=5.0))
    assert [s.decision for s in result.steps].count("lying") == 2
    assert [(a.decision.time_s, a.state) for a in result.alerts.values()] == [
        (8.0, "confirmed"), (22.0, "confirmed")]  # 2nd lying frame of each episode, confident
    assert list(result.alerts) == [incident_id("posture", "room1", "lying", a.decision.time_s)
                                   for a in result.alerts.values()]  # stable per incident
    assert hook.requests.empty()
    assert result.summary()["alerts_matching_truth"] == 2
    path = plot_stream(result, tmp_path / "stream.png", policy=policy)
    assert path.stat().st_size > 10_000


def test_missing_modality_is_flagged_and_escalates_without_an_answer(bundle, tmp_path):
    data = simulate_posture(n_per_class=3, n_people=1, seed=2)
    lying = [s for s in data.samples if s.label == "lying"]
    samples = [dataclasses.replace(s, data={"thermal": s.data["thermal"]}) for s in lying]
    policy = Policy(classes=bundle.classes, alert_classes=("lying",), on_levels=(0.5,))
    escalated = []
    result = run_stream(replay(samples), scorer=LabelScorer(bundle, ["lying"] * 3),
                        policy=policy, sink=LocalOutbox(tmp_path), device="room1",
                        confirmations=Confirmations(QueueConfirm(), timeout_s=60.0,
                                                    on_escalate=escalated.append))
    [alert] = result.alerts.values()
    assert alert.decision.missing == ("depth",) and alert.decision.needs_confirmation
    assert (alert.state, alert.escalated) == ("expired", True) and escalated == [alert]
    states = [r["payload"]["confirmation"]["state"] for r in read_local(tmp_path /
                                                                       "alerts.jsonl")]
    assert states == ["raised", "awaiting", "expired"]
    assert result.summary()["sensor_faults"] == {}  # absent is not faulty


def test_a_faulty_sensor_is_counted_and_never_scored_as_confident(bundle, tmp_path):
    data = simulate_posture(n_per_class=3, n_people=1, seed=2)
    lying = [s for s in data.samples if s.label == "lying"]
    samples = [dataclasses.replace(s, data={**s.data, "thermal": np.full_like(
        s.data["thermal"], 1e6)}) for s in lying]
    policy = Policy(classes=bundle.classes, alert_classes=("lying",), on_levels=(0.5,))
    result = run_stream(replay(samples), scorer=LabelScorer(bundle, ["lying"] * 3),
                        policy=policy, sink=LocalOutbox(tmp_path), device="room1",
                        confirmations=Confirmations(QueueConfirm(), timeout_s=60.0))
    summary = result.summary()
    assert summary["sensor_faults"] == {"thermal": 3}
    assert summary["steps_with_missing_modality"] == 3
    assert all(a.decision.needs_confirmation for a in result.alerts.values())


def test_run_stream_to_a_real_broker_survives_its_crash(bundle, broker, tmp_path):
    data = simulate_posture(n_per_class=6, n_people=2, seed=3)
    samples = [s for s in data.samples if s.label in ("lying", "empty")][:8]
    labels = [s.label for s in samples]
    policy = Policy(classes=bundle.classes, alert_classes=("lying", "empty"),
                    on_levels=(0.5, 0.5))
    sink = MqttSink(host="127.0.0.1", port=broker.port, outbox=tmp_path / "o.sqlite",
                    ack_timeout_s=1.0, connect_timeout_s=1.0, retry_interval_s=0.0)
    broker.kill()  # the broker is gone for the whole stream
    result = run_stream(replay(samples), scorer=LabelScorer(bundle, labels), policy=policy,
                        sink=sink, device="room1",
                        confirmations=Confirmations(AutoConfirm()))
    queued = len(sink.outbox)
    assert queued == sum(result.deliveries.values()) == result.deliveries["queued"] > 0
    broker.start()
    subscriber = Subscriber(broker.port)
    try:
        assert sink.flush() == queued
        wait_for(lambda: len(subscriber.messages) >= queued, what="queued updates")
    finally:
        sink.close()
        subscriber.close()
    assert len(subscriber.messages) == queued


def test_default_policy_and_episodes(bundle):
    policy = bundle_policy(bundle)
    assert policy.alert_classes == ("lying",) and (policy.k, policy.n) == (2, 3)
    data = simulate_posture(n_per_class=6, n_people=2, seed=4)
    ordered = episodes(data.samples, seed=0, min_length=3, max_length=3)
    assert sorted(map(id, ordered)) == sorted(map(id, data.samples))
    assert all(ordered[i].label == ordered[i - i % 3].label for i in range(len(ordered)))
    runs = [ordered[i].label for i in range(0, len(ordered), 3)]
    assert sorted(runs) == sorted(list(bundle.classes) * 2)


def test_onsets_puts_each_group_baseline_first_then_its_event():
    data = simulate_posture(n_per_class=6, n_people=3, seed=5)
    ordered = onsets(data.samples, baseline="standing", events=("lying", "empty"))
    expected = []
    for person, event in (("person_00", "lying"), ("person_01", "empty"),
                          ("person_02", "lying")):
        expected += [(person, "standing")] * 2 + [(person, event)] * 2
    assert [(s.group, s.label) for s in ordered] == expected
    with pytest.raises(DataError, match="at least one event"):
        onsets(data.samples, baseline="standing", events=())


def test_cli_run_rejects_a_bad_outage(bundle_dir, tmp_path, capsys):
    code = main(["run", str(bundle_dir), "--out", str(tmp_path), "--drop-modality", "depth@x"])
    assert code == 2
    assert "expected NAME or NAME@FROM_S" in capsys.readouterr().err
