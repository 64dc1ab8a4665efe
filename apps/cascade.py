"""The energy-aware cascade: a cheap sensor runs on every window and wakes the costly ones.

With ``[cascade] gate = "<modality>"`` the build (pass ``cascade``, after ``calibrate``)
trains a *gate*: a class-weighted logistic regression on that modality's standardised
features alone, as one int8 layer, telling windows of the policy's alert classes ("events")
from the rest. Its threshold is calibrated on the validation split: the highest score at
which it still wakes the full model for ``target_recall`` of the validation events. A window
the gate does not wake is answered with the most frequent quiet (non-alert) class, without
turning on the other sensors or running the full model.

The energy of a decision (``tinyfuse.apps.energy``) counts the instructions of each stage on
the emulated Cortex-M4 (the gate's front-end and model on every window; the other front-ends
and the full model when woken) and each sensor's active and sleep power. The report gives the
accuracy / energy curve over gate thresholds on the test split, the always-on reference, and
the calibrated point.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import replace
from typing import Any

import numpy as np

from tinyfuse.apps import energy
from tinyfuse.core.errors import TinyfuseError
from tinyfuse.core.tflm import ReferenceModel, inspect_tflite
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.metrics import balanced_accuracy
from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.pipeline import BuildState, ReportPart, int8_scores, prepare
from tinyfuse.fusion.train import fit_logistic

log = logging.getLogger(__name__)

CURVE_QUANTILES = tuple(i / 20 for i in range(21))
NEVER = 1.001  # a threshold above every score: the gate never wakes


def calibrate_threshold(scores: np.ndarray, events: np.ndarray, target_recall: float) -> float:
    """The highest gate threshold that keeps ``target_recall`` of the events (``scores >=
    threshold`` wakes); 0 (always wake) when there are no events.

    Examples
    --------
    >>> calibrate_threshold(np.array([0.1, 0.4, 0.8, 0.9]), np.array([0, 1, 1, 1], bool), 0.6)
    0.8
    """
    chosen = np.sort(np.asarray(scores, float)[np.asarray(events, bool)])
    if not len(chosen):
        return 0.0
    keep = math.ceil(target_recall * len(chosen) - 1e-9)
    return float(chosen[len(chosen) - keep])


def cascade_predictions(gate: np.ndarray, threshold: float, full: np.ndarray,
                        quiet: int) -> np.ndarray:
    """The full model's class where the gate wakes it, ``quiet`` elsewhere."""
    return np.where(np.asarray(gate) >= threshold, np.asarray(full), quiet)


def cascade_pass(state: BuildState) -> None:
    """Train and calibrate the gate, measure the stages, report the curve (see the module
    docstring); a no-op without ``[cascade] gate``."""
    settings = state.config.cascade
    if not settings.gate:
        return
    spec, bundle = state.need("spec"), state.need("bundle")
    if settings.gate not in spec.modality_names or len(spec.modalities) < 2:
        reason = (f"the gate {settings.gate!r} is not one of the deployed model's modalities "
                  f"{list(spec.modality_names)}, or nothing is left for it to wake")
        log.warning("cascade skipped: %s", reason)
        state.products.setdefault("report_sections", {})["cascade"] = {"skipped": reason}
        return
    alerting = set(bundle.policy.alert_classes if bundle.policy else ())
    events_all = np.isin(np.asarray(spec.classes)[state.need("labels")], sorted(alerting))
    quiet_classes = [i for i, c in enumerate(spec.classes) if c not in alerting]
    if not quiet_classes or events_all.all() or not events_all.any():
        raise TinyfuseError("[cascade]: needs alert classes and quiet classes in the data")
    quiet = max(quiet_classes, key=lambda c: int(np.sum(state.y_train == c)))
    split = state.need("split")
    gate_tflite, gate_val, gate_test = _train_gate(state, settings.gate, events_all)
    threshold = calibrate_threshold(gate_val, events_all[split.val], settings.target_recall)
    full_test = int8_scores(state.need("quant").tflite, spec,
                            state.need("student_prep").x_test).argmax(1)
    stages = measure_stages(state, gate_tflite)
    cost = energy_model(state, stages)
    events_test = events_all[split.test]

    def point(t: float) -> dict[str, Any]:
        predicted = cascade_predictions(gate_test, t, full_test, quiet)
        wake = float(np.mean(gate_test >= t))
        joules = cost(wake)
        return {"threshold": t, "wake_fraction": wake,
                "balanced_accuracy": balanced_accuracy(state.y_test, predicted),
                "event_recall": float(np.mean(np.isin(predicted[events_test],
                                                      sorted(_indices(spec, alerting)))))
                if events_test.any() else None,
                "energy_uj": 1e6 * joules, "saving": 1.0 - joules / cost(1.0)}

    cuts = sorted({0.0, *np.quantile(gate_val, CURVE_QUANTILES).tolist(), NEVER})
    result = {"gate": settings.gate, "target_recall": settings.target_recall,
              "threshold": threshold, "quiet_class": spec.classes[quiet],
              "mcu": energy.mcu(settings.mcu).name, "period_s": settings.period_s,
              "stages": stages, "always_on": point(0.0), "chosen": point(threshold),
              "curve": [point(t) for t in cuts],
              "gate_weights_bytes": inspect_tflite(gate_tflite).weights_bytes}
    state.products.setdefault("report_sections", {})["cascade"] = result
    state.products["cascade_gate_tflite"] = gate_tflite
    state.parts.append(ReportPart(file_name="cascade.json",
                                  text=json.dumps(result, indent=2, sort_keys=True) + "\n",
                                  card_section=card_section(result)))


def _indices(spec, names: set[str]) -> list[int]:
    return [i for i, c in enumerate(spec.classes) if c in names]


def _train_gate(state: BuildState, gate: str, events: np.ndarray
                ) -> tuple[bytes, np.ndarray, np.ndarray]:
    """The int8 gate and its event scores on validation and test."""
    split, seed = state.need("split"), state.config.data.seed
    spec = replace(state.need("spec").only([gate]).linear(), classes=("quiet", "event"))
    part = prepare(state.need("store"), spec, split)
    model = build_model(spec, seed=seed)
    fit_logistic(model, part.x_train, events[split.train].astype(int), balanced=True, seed=seed)
    tflite = convert_int8(model, part.x_train, n_samples=64)
    engine = ReferenceModel(tflite)
    return (tflite, engine.predict({gate: part.x_val[0]})[:, 1],
            engine.predict({gate: part.x_test[0]})[:, 1])


def measure_stages(state: BuildState, gate_tflite: bytes) -> dict[str, Any]:
    """Instructions of each stage on the emulated Cortex-M4: every modality's C front-end
    (on one training sample) and the gate and full models (zero inputs)."""
    from tinyfuse.firmware import frontend_c
    from tinyfuse.firmware.compiler import compile_model
    from tinyfuse.firmware.deploy import run_on_qemu

    bundle = state.need("bundle")
    sample = state.need("data").samples[int(state.need("split").train[0])]
    out: dict[str, Any] = {"notes": []}
    for name, model in (("gate_model", gate_tflite), ("full_model", bundle.tflite)):
        zeros = [np.zeros(int(np.prod(t.shape)), np.int8) for t in inspect_tflite(model).inputs]
        out[name] = run_on_qemu(compile_model(model), [zeros]).instructions_per_inference
    frontends = {}
    for item in bundle.inputs:
        raw = np.asarray(sample.data[item.name], np.float32)
        try:
            image = item.frontend.get("kind") == "image"
            generated = frontend_c.generate(item.name, item.frontend,
                                            sensor_shape=raw.shape if image else None)
            if item.frontend.get("kind") == "vibration":
                raw = raw[:generated.input_shape[0]]
            with tempfile.TemporaryDirectory(prefix="tinyfuse-cascade-") as scratch:
                run = frontend_c.run_on_qemu(generated, [raw], work_dir=scratch)
            frontends[item.name] = int(run.instructions[0])
        except TinyfuseError as exc:
            frontends[item.name] = 0
            out["notes"].append(f"{item.name} front-end not measured ({exc})")
    out["frontends"] = frontends
    return out


def energy_model(state: BuildState, stages: dict[str, Any]):
    """``wake_fraction -> joules per decision`` of the cascade (1.0: always on)."""
    settings = state.config.cascade
    chip = energy.mcu(settings.mcu)
    period = settings.period_s
    gate = settings.gate
    sensors = {m.name: energy.sensor_of(m.frontend) for m in state.need("bundle").inputs}
    frontends = stages["frontends"]
    always = (frontends[gate] + stages["gate_model"]) * chip.joules_per_instruction \
        + energy.sensing_joules(*sensors[gate], period_s=period, on=True)
    woken = (sum(v for k, v in frontends.items() if k != gate) + stages["full_model"]) \
        * chip.joules_per_instruction
    others_on = sum(energy.sensing_joules(*s, period_s=period, on=True)
                    for k, s in sensors.items() if k != gate)
    others_off = sum(energy.sensing_joules(*s, period_s=period, on=False)
                     for k, s in sensors.items() if k != gate)
    sleep = chip.sleep_w * period

    def joules(wake: float) -> float:
        return always + sleep + wake * (woken + others_on) + (1 - wake) * others_off

    return joules


def card_section(result: dict[str, Any]) -> str:
    chosen, base = result["chosen"], result["always_on"]
    rows = "\n".join(
        f"| {p['threshold']:.3f} | {p['wake_fraction']:.2f} | {p['balanced_accuracy']:.3f} | "
        f"{'-' if p['event_recall'] is None else format(p['event_recall'], '.3f')} | "
        f"{p['energy_uj']:.1f} | {100 * p['saving']:.0f} % |"
        for p in result["curve"][:: max(1, len(result["curve"]) // 8)])
    return (f"## Energy-aware cascade\n\nThe {result['gate']} gate runs on every window and "
            f"wakes the other sensors and the full model at score >= {result['threshold']:.3f} "
            f"(calibrated on validation for {result['target_recall']:.0%} of the alert "
            f"windows); an un-woken window answers {result['quiet_class']!r}. Energy per "
            f"decision on {result['mcu']}, one decision every {result['period_s']} s "
            f"(instructions counted on the emulated Cortex-M4, sensor powers from their "
            f"datasheets; `tinyfuse.apps.energy`). Test split:\n\n"
            f"- always on: balanced accuracy {base['balanced_accuracy']:.3f}, "
            f"{base['energy_uj']:.1f} uJ per decision\n"
            f"- cascade: balanced accuracy {chosen['balanced_accuracy']:.3f}, wakes "
            f"{chosen['wake_fraction']:.0%} of windows, {chosen['energy_uj']:.1f} uJ "
            f"({100 * chosen['saving']:.0f} % saved)\n\n"
            "| gate threshold | woken | balanced accuracy | alert recall | uJ per decision "
            "| saved |\n|---|---|---|---|---|---|\n" + rows + "\n")

