"""What people look at: per-layer memory/MACs, accuracy and a model card (the confusion matrix
and its PNG live in ``tinyfuse.fusion.metrics``, which needs no Keras).

Generators return values or strings; ``write_*`` functions write files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from tinyfuse.fusion.model import ModalityDropout

REQUIRED_KEYS = {
    "accuracy": ("teacher_float", "student_float", "student_int8", "per_modality",
                 "fused_gain_over_best_branch"),
    "model": ("weights_bytes", "flash_bytes", "ram_peak_bytes", "tflm_arena_bytes",
              "macs", "tflite_sha256"),
    "data": ("dataset", "split", "n_train", "n_test", "classes"),
}


SPLIT_NOTES = {"by group": "no group on both sides",
               "by time": "every recording split in time: its first part trains, its tail tests"}
_INFERENCE_NOOPS = (keras.layers.InputLayer, keras.layers.Dropout, ModalityDropout)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRow:
    """One Keras layer as it will run in int8: activations are one byte per element."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activation_bytes: int


def _macs(layer: keras.layers.Layer, out_shape: tuple[int, ...]) -> int:
    out = int(np.prod(out_shape))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return out * kh * kw
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return out * kh * kw * int(layer.weights[0].shape[2])
    if isinstance(layer, keras.layers.Dense):
        return out * int(layer.weights[0].shape[0])
    if isinstance(layer, keras.layers.Multiply):
        return out
    if isinstance(layer, keras.layers.AveragePooling2D):
        return int(np.prod(layer.input.shape[1:]))
    return 0


def layer_rows(model: keras.Model) -> list[LayerRow]:
    """Per-layer output shape (batch dropped), parameters, MACs and int8 activation bytes;
    layers that vanish at inference (inputs, dropout, modality dropout) are left out."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, _INFERENCE_NOOPS) or not hasattr(layer, "output"):
            continue
        outputs = layer.output if isinstance(layer.output, list) else [layer.output]
        shape = tuple(int(d) for d in outputs[0].shape[1:])
        rows.append(LayerRow(
            name=layer.name, kind=type(layer).__name__, output_shape=shape,
            params=int(layer.count_params()), macs=_macs(layer, shape),
            activation_bytes=sum(int(np.prod(t.shape[1:])) for t in outputs)))
    return rows


def summary(model: keras.Model) -> str:
    """A fixed-width table of ``layer_rows`` with totals (stable text; snapshot-tested)."""
    rows = layer_rows(model)
    lines = [f"{'layer':<22} {'type':<20} {'output':<14} {'params':>7} {'MACs':>9} "
             f"{'act B':>7}"]
    for row in rows:
        lines.append(f"{row.name:<22} {row.kind:<20} {str(list(row.output_shape)):<14} "
                     f"{row.params:>7} {row.macs:>9} {row.activation_bytes:>7}")
    lines.append(f"total: {sum(r.params for r in rows)} params, {sum(r.macs for r in rows)} "
                 f"MACs, largest activation {max(r.activation_bytes for r in rows)} B")
    return "\n".join(lines)


def accuracy_by_meta(samples, rows: np.ndarray, truth: np.ndarray, predicted: np.ndarray,
                     *, name: str, n_classes: int) -> dict[str, dict[str, Any]]:
    """Accuracy within each value of the meta entry ``name`` of ``samples[rows]`` (e.g. the
    recording channel), next to the best constant answer within that value, and the recall
    of each class there (by class index; ``None`` where the class is absent)."""
    values = np.array([str(samples[int(row)].meta_value(name, "")) for row in rows])
    out: dict[str, dict[str, Any]] = {}
    for value in sorted(set(values.tolist())):
        chosen = values == value
        counts = np.bincount(np.asarray(truth)[chosen], minlength=n_classes)
        out[value] = {"n": int(chosen.sum()),
                      "student_int8": float(np.mean(predicted[chosen] == truth[chosen])),
                      "best_constant": float(counts.max() / max(1, counts.sum())),
                      "recall": [None if not counts[c] else float(np.mean(
                          predicted[chosen][truth[chosen] == c] == c))
                          for c in range(n_classes)]}
    return out


def fused_gain(student_int8: float, per_modality: dict[str, float]) -> float:
    """Fused accuracy minus the best single-modality accuracy (positive: fusion helps)."""
    return float(student_int8 - max(per_modality.values())) if per_modality else 0.0


def missing_keys(report: dict[str, Any]) -> list[str]:
    """``section.key`` names of ``REQUIRED_KEYS`` absent from ``report`` (empty: complete)."""
    return [f"{section}.{key}" for section, keys in REQUIRED_KEYS.items() for key in keys
            if key not in report.get(section, {})]


def model_card(report: dict[str, Any]) -> str:
    """Markdown model card: what it is, data and split, accuracy, decision rule, limits."""
    acc, model, data = report["accuracy"], report["model"], report["data"]
    per_mod = "\n".join(f"| {name} only (others zeroed) | {value:.3f} |"
                        for name, value in acc["per_modality"].items())
    beats = "beats" if acc["fused_gain_over_best_branch"] > 0 else "does NOT beat"
    fusion_line = (f"The fused model {beats} every single branch (gain "
                   f"{acc['fused_gain_over_best_branch']:+.3f})." if acc["per_modality"]
                   else "One modality: there is no fusion gain to report.")
    warnings = acc.get("warnings") or []
    warning_block = "".join(f"> **Warning:** {text}.\n" for text in warnings)
    if warning_block:
        warning_block = "\n" + warning_block
    int8 = acc.get("int8_metrics") or {}
    balanced = _balanced_lines(acc) if int8 else ""
    c = model.get("l2_c")
    solved = f"; L2 inverse strength C = {c:g}, chosen by grouped inner cross-validation" \
        if c is not None else ""
    kind = ("Linear int8 model (one fully connected layer: the search found no deeper student "
            f"better by more than the validation noise{solved})"
            if model.get("student") == "linear" else "Late-fusion int8 model")
    return f"""# Model card: {report.get('app', 'tinyfuse model')}
{warning_block}
{kind} (bundle `{report.get('bundle_hash', '')[:16]}`), modalities:
{', '.join(acc['per_modality']) or 'one'}; classes: {', '.join(data['classes'])}.

## Data
- dataset: {data['dataset']}; split {data['split']} ({SPLIT_NOTES.get(data['split'], '')})
- train samples: {data['n_train']}; validation samples: {data.get('n_val', '-')}
  ({data.get('validation', 'not recorded')}; they steer the student search and QAT);
  test samples: {data['n_test']} (used only for this card and report.json)

## Accuracy (test split)
| model | accuracy |
|---|---|
| teacher (float) | {acc['teacher_float']:.3f} |
| student (float) | {acc['student_float']:.3f} |
| student (int8, deployed) | {acc['student_int8']:.3f} |
{per_mod}
{balanced}
{fusion_line}{_sensor_cost_lines(acc)}{_dropped_line(model)}

## Decision rule
The int8 softmax scores (output scale 1/256) go through the app's policy: {_policy_line(report)}
Thresholds calibrated on the validation split (section "Decision thresholds" below, when
present) are what the app uses; below a class's confident level the app asks a person.

## Footprint
Compiled for a Cortex-M4 ({model.get('footprint_source', '')}): flash {model['flash_bytes']} B
(weights {model['weights_bytes']} B, the rest kernels and tables), RAM {model['ram_peak_bytes']} B
(static arena {model.get('arena_bytes', '-')} B and buffers, plus a stack allowance; TFLite
Micro would need an arena of {model['tflm_arena_bytes']} B), {model['macs']} MACs per inference.

## Limits
- Few test groups: the intervals above count samples, not groups, and understate how much
  a new group (user, room, machine) can differ; check with `tinyfuse evaluate BUNDLE --data`.
- Simulated data (when used) follows documented physics but is not field data.
- A missing modality is fed as zeros (the training mean) and the result is flagged.
"""


def _sensor_cost_lines(acc: dict[str, Any]) -> str:
    """What each sensor's drop-out costs the deployed model (balanced accuracy)."""
    costs = acc.get("without_modality_balanced_accuracy") or {}
    if not costs:
        return ""
    full = acc["int8_metrics"]["balanced_accuracy"]
    rows = "\n".join(f"| {name} | {value:.3f} | {100 * (value - full):+.1f} |"
                      for name, value in costs.items())
    return ("\n\nA sensor that drops out is fed as zeros; what that costs (int8, test, "
            "balanced accuracy):\n\n| sensor dropped | balanced accuracy | points |\n"
            "|---|---|---|\n" + rows)


def _dropped_line(model: dict[str, Any]) -> str:
    dropped = model.get("dropped_branches") or []
    if not dropped:
        return ""
    return (f"\n\n**Branches dropped:** {', '.join(dropped)}. The search trained the student "
            f"without {'them' if len(dropped) > 1 else 'it'} and did as well on validation "
            f"(within its noise) with a smaller model, so the deployed model does not read "
            f"{'those sensors' if len(dropped) > 1 else 'that sensor'}.")


def _balanced_lines(acc: dict[str, Any]) -> str:
    """Balanced accuracy with its interval, the baselines, ROC AUC and the per-group table."""
    int8, base = acc["int8_metrics"], acc.get("baselines") or {}
    low, high = int8.get("ci95", {}).get("balanced_accuracy", (0.0, 1.0))
    auc = acc.get("int8_roc_auc")
    lines = [f"\nBalanced accuracy {int8['balanced_accuracy']:.3f} (95 % interval {low:.3f}-"
             f"{high:.3f}), macro-F1 {int8['macro_f1']:.3f}"
             + (f", ROC AUC {auc:.3f}" if auc is not None else "") + " (int8). Baselines on "
             f"the same features and split, balanced accuracy: logistic regression "
             f"{base.get('logistic_regression_balanced_accuracy', 0):.3f}, float teacher "
             f"{base.get('teacher_float_balanced_accuracy', 0):.3f}, always the majority "
             f"class {base.get('majority_balanced_accuracy', 0):.3f} (plain accuracy "
             f"{base.get('majority', 0):.3f})."]
    groups = acc.get("per_group") or {}
    if 1 < len(groups) <= 40:
        lines += ["", "| test group | samples | accuracy (95 % interval) | balanced accuracy |",
                  "|---|---|---|---|"]
        lines += [f"| {name} | {row['n']} | {row['accuracy']:.3f} ({row['accuracy_ci95'][0]:.3f}"
                  f"-{row['accuracy_ci95'][1]:.3f}) | {row['balanced_accuracy']:.3f} |"
                  for name, row in groups.items()]
    return "\n".join(lines) + "\n"


def _policy_line(report: dict[str, Any]) -> str:
    policy = report.get("policy")
    if not policy:
        return "none stored (every class alerts at 0.5)."
    levels = ", ".join(f"{name} >= {level:.3f}" for name, level in
                       zip(policy["alert_classes"], policy["on_levels"], strict=True))
    return (f"{levels}; {policy['k']} of the last {policy['n']} windows; cooldown "
            f"{policy['cooldown_s']:g} s.")
