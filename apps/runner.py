"""Wiring only: source -> Preprocessor -> score -> decide -> confirm -> publish.

``run_stream`` walks ``(time_s, Sample)`` pairs; every step is the four calls of the design:
``Preprocessor.int8_inputs(features)`` -> ``scorer.score(inputs)`` -> ``policy.step(...)`` ->
``sink.publish(alert)``, with ``Confirmations.submit`` in between when a decision needs a
person. Every lifecycle update of an alert is published. A sample that lacks a modality is
scored with zeros for it and the decision names it (``Decision.missing``).

Beside the decisions, a bundle with a drift reference gets a
:class:`~tinyfuse.apps.drift.DriftMonitor`: its model-health alerts go through the same sink,
and ``RunResult.summary()["drift"]`` reports the running scores. With a
:class:`~tinyfuse.apps.confirm.FeedbackRecorder`, every alert a person answers is kept as a
labelled example for the next build.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.apps.alerts import AlertSink
from tinyfuse.apps.confirm import (
    FINAL_STATES,
    Alert,
    Confirmations,
    FeedbackRecorder,
    incident_id,
    raise_alert,
)
from tinyfuse.apps.drift import DEFAULT_ALPHA, DriftMonitor, cleared_alert, health_alert
from tinyfuse.apps.policy import Decision, Policy, default_policy, initial_state, step
from tinyfuse.apps.scoring import Scorer
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DataError
from tinyfuse.sensors.preprocess import Preprocessor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One scored sample: time, scores (bundle class order), true label if known, missing
    modalities (those absent and those with a sensor fault; ``faults`` names the latter), and
    the label of the decision taken at this step (empty: none)."""

    time_s: float
    scores: tuple[float, ...]
    truth: str
    missing: tuple[str, ...]
    decision: str
    faults: tuple[str, ...] = ()


@dataclass
class RunResult:
    """What a run saw and did; ``alerts`` holds each alert's latest state, by id (``health``:
    the model-health alerts; ``drift``: the monitor's summary, empty without one)."""

    app: str
    bundle_hash: str
    classes: tuple[str, ...]
    steps: list[StepRecord] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)
    deliveries: Counter = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    health: dict[str, Alert] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    feedback: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts: steps, alerts by state and label, deliveries, detections."""
        finals = list(self.alerts.values())
        true_alerts = sum(a.decision.label == self._truth_at(a.decision.time_s) for a in finals)
        return {
            "app": self.app, "bundle_hash": self.bundle_hash, "n_steps": len(self.steps),
            "n_alerts": len(finals),
            "alerts_by_state": dict(Counter(a.state for a in finals)),
            "alerts_by_label": dict(Counter(a.decision.label for a in finals)),
            "alerts_matching_truth": int(true_alerts),
            "escalated": sum(a.escalated for a in finals),
            "steps_with_missing_modality": sum(bool(s.missing) for s in self.steps),
            "sensor_faults": dict(Counter(name for s in self.steps for name in s.faults)),
            "deliveries": dict(self.deliveries), "skipped_samples": list(self.skipped),
            "alerts": [{"alert_id": a.alert_id, "label": a.decision.label,
                        "time_s": a.decision.time_s, "score": a.decision.score,
                        "state": a.state, "answered_by": a.answered_by,
                        "missing": list(a.decision.missing)} for a in finals],
            "drift": {"monitored": bool(self.drift), "modalities": self.drift},
            "health_alerts": [{"alert_id": a.alert_id, "modality": (a.health or {}).get(
                "modality"), "raised_s": a.raised_s, "state": a.state,
                "cleared_s": a.updated_s if a.state == "cleared" else None,
                "drift_score": (a.health or {}).get("drift_score")}
                for a in self.health.values()],
            "feedback_examples": list(self.feedback),
        }

    def _truth_at(self, time_s: float) -> str:
        return next((s.truth for s in self.steps if s.time_s == time_s), "")


def replay(samples: Iterable, *, period_s: float = 1.0, start_s: float = 0.0,
           ) -> Iterator[tuple[float, Any]]:
    """``(time_s, sample)`` pairs, one sample every ``period_s`` seconds."""
    for index, sample in enumerate(samples):
        yield start_s + index * period_s, sample


def episodes(samples: Sequence, *, seed: int = 0, min_length: int = 3,
             max_length: int = 6) -> list:
    """Samples re-ordered into runs of one label (``min_length``..``max_length`` long), runs in
    random order: a stream in which events last several windows, as in a real room or machine.
    """
    rng = np.random.default_rng(seed)
    pools: dict[str, list] = {}
    for sample in samples:
        pools.setdefault(sample.label, []).append(sample)
    for pool in pools.values():
        rng.shuffle(pool)
    ordered: list = []
    while any(pools.values()):
        labels = sorted(label for label, pool in pools.items() if pool)
        label = labels[int(rng.integers(len(labels)))]
        take = int(rng.integers(min_length, max_length + 1))
        ordered.extend(pools[label][:take])
        del pools[label][:take]
    return ordered


def bundle_policy(bundle: Bundle) -> Policy:
    """The calibrated policy stored in the bundle by ``tinyfuse build``, else the ``[policy]``
    defaults (every class alerts at 0.5)."""
    return bundle.policy if bundle.policy is not None else default_policy(bundle.classes)


def onsets(samples: Sequence, *, baseline: str, events: Sequence[str]) -> list:
    """A stream in which events appear: group by group (machine, person) in sorted order, the
    group's ``baseline`` samples, then its samples of one event class (``events`` taken in
    turn), e.g. a machine that runs normally until a bearing fault appears.

    Groups without a baseline or event sample contribute what they have.
    """
    if not events:
        raise DataError("onsets: needs at least one event class")
    by_group: dict[str, list] = {}
    for sample in samples:
        by_group.setdefault(str(sample.group), []).append(sample)
    ordered: list = []
    for index, group in enumerate(sorted(by_group)):
        event = events[index % len(events)]
        members = by_group[group]
        ordered.extend(s for s in members if s.label == baseline)
        ordered.extend(s for s in members if s.label == event)
    return ordered


@dataclass
class _Loop:
    result: RunResult
    sink: AlertSink
    confirmations: Confirmations
    feedback: FeedbackRecorder | None = None
    window: dict[str, Any] = field(default_factory=dict)  # the sample being decided on

    def publish(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            kept = self.result.health if alert.kind == "health" else self.result.alerts
            kept[alert.alert_id] = alert
            self.result.deliveries[self.sink.publish(alert)] += 1
            if self.feedback is None or alert.kind != "detection":
                continue
            if alert.state == "awaiting" and self.window:
                self.feedback.hold(alert, **self.window)
            elif alert.state in FINAL_STATES:
                path = self.feedback.settle(alert)
                if path is not None:
                    self.result.feedback.append(str(path))


def run_stream(stream: Iterable[tuple[float, Any]], *, scorer: Scorer, policy: Policy,
               sink: AlertSink, confirmations: Confirmations, device: str,
               feedback: FeedbackRecorder | None = None, monitor_drift: bool = True,
               drift_alpha: float = DEFAULT_ALPHA) -> RunResult:
    """Run the app loop over ``(time_s, Sample)`` pairs and return what happened.

    With ``monitor_drift`` and a bundle that has a drift reference, each window also updates
    the drift monitor (``drift_alpha``: its smoothing) and its health alerts are published;
    with ``feedback`` the alerts people answer are kept as labelled examples.

    Alerts still waiting for a person when the stream ends expire (and escalate) at the last
    time seen. A sample whose features cannot be extracted is skipped and listed. Alert ids
    are :func:`~tinyfuse.apps.confirm.incident_id`: a rerun of the same stream gives the same
    ids.
    """
    bundle = scorer.bundle
    if tuple(policy.classes) != bundle.classes:
        raise DataError(f"policy classes {list(policy.classes)} differ from the bundle's "
                        f"{list(bundle.classes)} (app {bundle.app})")
    preprocessor = Preprocessor.from_bundle(bundle)
    loop = _Loop(result=RunResult(app=bundle.app, bundle_hash=bundle.bundle_hash,
                                  classes=bundle.classes), sink=sink,
                 confirmations=confirmations, feedback=feedback)
    monitor = DriftMonitor(bundle.drift, alpha=drift_alpha) \
        if monitor_drift and bundle.drift is not None else None
    health: dict[str, Alert] = {}  # the raised health alert of each drifting modality
    state, now_s = initial_state(policy), 0.0
    for now_s, sample in stream:
        try:
            features = preprocessor.features(sample)
            inputs = preprocessor.int8_inputs(features)
        except DataError as exc:
            loop.result.skipped.append(f"{sample.source}: {exc}")
            log.warning("skipped %s: %s", sample.source, exc)
            continue
        missing, faults = preprocessor.missing(features), preprocessor.faults(sample)
        standardized = dict(zip(bundle.modalities, preprocessor.standardized(features),
                                strict=True))
        present = {name: value for name, value in standardized.items() if name not in missing}
        if monitor is not None:
            _health(loop, monitor.update(present, now_s=now_s), health, bundle, device=device)
        loop.window = {"sample": sample, "features": present,
                       "int8": dict(zip(bundle.modalities, inputs, strict=True))}
        scores = scorer.score(inputs)
        state, decision = step(policy, state, scores, now_s=now_s, missing=missing)
        loop.publish(confirmations.poll(now_s=now_s))
        if decision is not None:
            _raise(loop, decision, bundle, device=device,
                   alert_id=incident_id(bundle.app, device, decision.label, decision.time_s))
        loop.result.steps.append(StepRecord(
            time_s=float(now_s), scores=tuple(float(v) for v in scores),
            truth=str(getattr(sample, "label", "")), missing=missing,
            decision=decision.label if decision else "", faults=faults))
    loop.window = {}
    loop.publish(confirmations.poll(now_s=now_s))
    loop.publish(confirmations.expire_all(now_s=now_s))
    sink.flush()
    loop.result.drift = {} if monitor is None else monitor.summary()
    return loop.result


def relay_decisions(decisions: Iterable[Decision], *, bundle: Bundle, sink: AlertSink,
                    confirmations: Confirmations, device: str) -> RunResult:
    """Publish decisions taken elsewhere (a board's app: ``tinyfuse.apps.serial_gateway``) as
    the alerts :func:`run_stream` would raise for them: same ids, lifecycle, hooks and sink.
    Nothing is scored here, so there are no steps, no drift monitor and no feedback examples;
    stream time is the decisions' own (a waiting alert expires at the first decision past its
    deadline, or when the decisions end)."""
    loop = _Loop(result=RunResult(app=bundle.app, bundle_hash=bundle.bundle_hash,
                                  classes=bundle.classes), sink=sink,
                 confirmations=confirmations)
    now_s = 0.0
    for decision in decisions:
        now_s = max(now_s, decision.time_s)
        loop.publish(confirmations.poll(now_s=now_s))
        _raise(loop, decision, bundle, device=device,
               alert_id=incident_id(bundle.app, device, decision.label, decision.time_s))
    loop.publish(confirmations.poll(now_s=now_s))
    loop.publish(confirmations.expire_all(now_s=now_s))
    sink.flush()
    return loop.result


def _health(loop: _Loop, events, open_alerts: dict[str, Alert], bundle: Bundle, *,
            device: str) -> None:
    """Publish a health alert for each modality that began to drift, its ``cleared`` update
    for each that came back."""
    for event in events:
        if event.state == "raised":
            alert = health_alert(event, app=bundle.app, device=device,
                                 bundle_hash=bundle.bundle_hash)
            open_alerts[event.modality] = alert
            log.warning("model health: %s", alert.decision.reason)
        else:
            alert = cleared_alert(open_alerts.pop(event.modality), event)
            log.info("model health: %s drift score back to %.2f (cleared)", event.modality,
                     event.score)
        loop.publish([alert])


def _raise(loop: _Loop, decision: Decision, bundle: Bundle, *, device: str,
           alert_id: str) -> None:
    alert = raise_alert(decision, alert_id=alert_id, app=bundle.app, device=device,
                        bundle_hash=bundle.bundle_hash)
    loop.publish([alert])
    loop.publish(loop.confirmations.submit(alert, now_s=decision.time_s))


_STATE_COLOURS = {"confirmed": "black", "dismissed": "0.6", "expired": "darkorange",
                  "awaiting": "purple", "raised": "magenta"}


def plot_stream(result: RunResult, path: str | Path, *, policy: Policy | None = None) -> Path:
    """PNG of the stream: class scores over time, the on-levels, true labels and alerts
    (coloured by final state)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.array([s.time_s for s in result.steps])
    scores = np.array([s.scores for s in result.steps]).reshape(len(times), -1)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    for column, name in enumerate(result.classes):
        top.plot(times, scores[:, column], lw=1.2, label=name)
    if policy is not None:
        for name, level in zip(policy.alert_classes, policy.on_levels, strict=True):
            top.axhline(level, ls="--", lw=0.8, color="k", alpha=0.5)
            top.text(times[0] if len(times) else 0, level, f" on({name})", fontsize=7,
                     va="bottom")
    for alert in result.alerts.values():
        colour = _STATE_COLOURS.get(alert.state, "k")
        top.axvline(alert.decision.time_s, color=colour, lw=1.5, alpha=0.8)
        top.text(alert.decision.time_s, 1.02, f"{alert.decision.label}\n{alert.state}",
                 fontsize=6, rotation=90, va="bottom", color=colour)
    top.set_ylim(0, 1.25)
    top.set_ylabel("score")
    top.legend(loc="upper right", fontsize=7, ncol=len(result.classes))
    top.set_title(f"{result.app}: {len(result.steps)} samples, {len(result.alerts)} alerts "
                  f"(bundle {result.bundle_hash[:12]})", fontsize=9)
    truth_index = [result.classes.index(s.truth) if s.truth in result.classes else -1
                   for s in result.steps]
    bottom.step(times, truth_index, where="mid", color="k", lw=1)
    missing = [t for t, s in zip(times, result.steps, strict=True) if s.missing]
    bottom.plot(missing, [-0.5] * len(missing), "x", color="tab:orange", ms=4,
                label="modality missing")
    bottom.set_yticks(range(len(result.classes)), result.classes, fontsize=7)
    bottom.set_ylabel("truth")
    bottom.set_xlabel("time (s)")
    figure.tight_layout()
    out = Path(path)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
