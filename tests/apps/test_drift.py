"""Drift monitoring: the bundle's drift reference (tinyfuse.core.drift), the runner's monitor
and its model-health alerts (tinyfuse.apps.drift). A known-answer reference on Gaussian
vectors, then the session's tiny posture bundle (``bundle_dir``) given a reference fitted on
its training people and scored on simulated streams: a thermal sensor that reads 5 degC high
raises one health alert (and clears when it reads right again); an unshifted stream of new
people raises none."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from tests.apps.test_alert_payload import SCHEMA, problems
from tinyfuse.apps.alerts import LocalOutbox, read_local
from tinyfuse.apps.cli import main
from tinyfuse.apps.confirm import AutoConfirm, Confirmations, alert_from_payload
from tinyfuse.apps.drift import DriftMonitor, HealthEvent, health_alert
from tinyfuse.apps.runner import bundle_policy, episodes, replay, run_stream
from tinyfuse.apps.scoring import TfliteScorer, load_bundle
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.drift import MAX_DRIFT_FEATURES, DriftReference, fit_modality, summarize
from tinyfuse.core.errors import DataError
from tinyfuse.fusion.features import FeatureStore
from tinyfuse.fusion.feedback import fit_drift
from tinyfuse.sensors.preprocess import Preprocessor
from tinyfuse.sensors.simulate import simulate_posture

SHIFT_C = 5.0  # a thermal sensor whose offset moved: every pixel reads 5 degC high


def _reference(rng) -> DriftReference:
    return DriftReference(modalities=(fit_modality("vec", rng.normal(size=(400, 8)),
                                                   rng.normal(size=(200, 8))),))


def test_window_score_is_about_one_in_distribution_and_grows_with_a_shift(rng):
    reference = _reference(rng).modalities[0]
    assert reference.clear_level < reference.level
    assert 0.8 < reference.validation["mean"] < 1.1  # an RMS of unit z-scores
    same = [reference.window_score(rng.normal(size=8)) for _ in range(200)]
    moved = [reference.window_score(rng.normal(size=8) + 3.0) for _ in range(200)]
    assert np.mean(same) < 1.1 and min(moved) > reference.level
    big = rng.normal(size=(3, 100, 100))  # larger than MAX_DRIFT_FEATURES: block means
    assert summarize(big).shape == (3, MAX_DRIFT_FEATURES)


def test_monitor_raises_once_per_excursion_and_clears(rng):
    """40 windows in distribution (one of them wildly off: no alert), 40 shifted, 40 back."""
    monitor = DriftMonitor(_reference(rng))
    events: list[HealthEvent] = []
    for step in range(120):
        shifted = 40 <= step < 80
        value = rng.normal(size=8) + (3.0 if shifted else 0.0) + (100.0 if step == 20 else 0.0)
        if step % 10 == 3:  # a missing window changes nothing
            before = monitor.scores()["vec"]
            assert monitor.update({"vec": None}, now_s=step) == []
            assert monitor.scores()["vec"] == before
        events += monitor.update({"vec": value}, now_s=float(step))
    assert [(e.state, e.modality) for e in events] == [("raised", "vec"), ("cleared", "vec")]
    raised, cleared = events
    assert 40 <= raised.time_s < 50 and 80 <= cleared.time_s < 95
    assert raised.score > raised.level and cleared.score < cleared.clear_level
    summary = monitor.summary()["vec"]
    assert summary["excursions"] == 1 and not summary["drifting"]
    with pytest.raises(DataError, match="alpha"):
        DriftMonitor(_reference(rng), alpha=0.0)


def test_health_alert_payload_follows_the_schema(rng):
    event = HealthEvent(modality="vec", state="raised", time_s=12.0, score=4.2, level=2.0,
                        clear_level=1.5, windows=30, scores={"vec": 4.2, "other": 1.0})
    alert = health_alert(event, app="posture", device="fused", bundle_hash="ab" * 32)
    payload = json.loads(json.dumps(alert.to_payload()))
    assert problems(payload, SCHEMA) == []
    assert payload["kind"] == "health" and payload["health"]["modality"] == "vec"
    assert payload["decision"]["label"] == "model_health"
    assert alert_from_payload(payload).health == payload["health"]


@pytest.fixture(scope="module")
def drift_bundle(bundle_dir, tmp_path_factory):
    """``bundle_dir`` with a drift reference fitted as the build fits it (``fit_drift``):
    on its training people (the conftest's simulation) and, for the levels, on three new
    people."""
    bundle = load_bundle(bundle_dir)
    modalities = Preprocessor.from_bundle(bundle).modalities
    train = FeatureStore.of(simulate_posture(n_per_class=24, n_people=6, seed=0))
    val = FeatureStore.of(simulate_posture(n_per_class=8, n_people=3, seed=11))
    drift = fit_drift(bundle, {m.name: (train.raw(m)[0], val.raw(m)[0]) for m in modalities})
    out = tmp_path_factory.mktemp("drift-bundle")
    for name in ("model.tflite", "bundle.json"):
        shutil.copy(bundle_dir / name, out / name)
    bundle.with_drift(drift).write(out)
    return out


def test_drift_is_optional_and_hashed_when_present(bundle_dir, drift_bundle, tmp_path):
    plain, monitored = Bundle.read(bundle_dir), Bundle.read(drift_bundle)
    assert plain.drift is None and "drift" not in plain.to_dict()  # old bundles: same hash
    assert monitored.drift is not None and monitored.drift.names == ("thermal", "depth")
    assert monitored.bundle_hash != plain.bundle_hash
    assert monitored.with_drift(None).bundle_hash == plain.bundle_hash
    data = json.loads((drift_bundle / "bundle.json").read_text())
    data["drift"]["modalities"][0].update(mean=[0.0, 1.0], std=[1.0, 1.0])
    (tmp_path / "bundle.json").write_text(json.dumps(data))
    shutil.copy(drift_bundle / "model.tflite", tmp_path / "model.tflite")
    with pytest.raises(DataError, match=r"bundle.json.*'thermal': 2 features for an input"):
        Bundle.read(tmp_path)


def _run(folder, samples, out):
    bundle = load_bundle(folder)
    return run_stream(replay(samples), scorer=TfliteScorer(bundle), policy=bundle_policy(bundle),
                      sink=LocalOutbox(out), confirmations=Confirmations(AutoConfirm()),
                      device="fused")


def _stream() -> list:
    """Two people the model never saw, in episodes of one posture."""
    return episodes(simulate_posture(n_per_class=10, n_people=2, seed=77).samples, seed=0)


def _warmer(sample, by_c: float):
    return dataclasses.replace(sample, data={k: v + by_c if k == "thermal" else v
                                             for k, v in sample.data.items()})


def test_unshifted_stream_raises_no_health_alert(drift_bundle, tmp_path):
    result = _run(drift_bundle, _stream(), tmp_path)
    drift = result.summary()["drift"]
    assert drift["monitored"] and result.health == {}
    for name, row in drift["modalities"].items():
        assert row["windows"] == 40 and row["peak"] < row["level"], name


def test_shifted_stream_raises_one_health_alert_that_clears(drift_bundle, tmp_path):
    samples = _stream()
    shifted = [_warmer(s, SHIFT_C) if 10 <= i < 25 else s for i, s in enumerate(samples)]
    result = _run(drift_bundle, shifted, tmp_path)
    summary = result.summary()
    assert [(a["modality"], a["state"]) for a in summary["health_alerts"]] == [
        ("thermal", "cleared")]
    alert = summary["health_alerts"][0]
    assert 10 <= alert["raised_s"] < 25 <= alert["cleared_s"]
    assert summary["drift"]["modalities"]["depth"]["excursions"] == 0
    records = [r for r in read_local(tmp_path / "alerts.jsonl")
               if r["payload"].get("kind") == "health"]
    assert [r["payload"]["confirmation"]["state"] for r in records] == ["raised", "cleared"]
    assert all(problems(r["payload"], SCHEMA) == [] for r in records)
    assert {r["topic"] for r in records} == {"tinyfuse/posture/fused/alert"}


def test_cli_run_reports_drift_scores(drift_bundle, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(drift_bundle), "--out", str(out), "--per-class", "4",
                 "--scorer", "tflite"]) == 0
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["drift"]["monitored"]
    assert set(summary["drift"]["modalities"]) == {"thermal", "depth"}
    assert "drift (running score / level): thermal" in capsys.readouterr().out
    assert main(["run", str(drift_bundle), "--out", str(out), "--per-class", "4",
                 "--scorer", "tflite", "--no-drift"]) == 0
    assert not json.loads((out / "run_summary.json").read_text())["drift"]["monitored"]
