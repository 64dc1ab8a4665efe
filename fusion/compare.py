"""Does fusion earn its place? The app's model as late fusion, gated fusion and early fusion,
one branch at a time, and the linear model, each trained alike and scored as int8.

Every variant starts from the app's base spec (the ``[model]`` widths): ``late`` is that spec
with concatenation, ``gated`` the same branches with a sigmoid gate per branch feature
(learned per window), ``early`` every input flattened and concatenated before one hidden
layer (:meth:`FusionSpec.early`), ``<name> only`` one branch alone
(:meth:`FusionSpec.only`), ``linear`` the class-weighted logistic regression as one int8 layer.
Each is trained with the search's candidate recipe (hard labels, class-balanced, early-stopped
on validation), converted to int8 and run on TFLite Micro; the table gives balanced accuracy,
macro-F1 and ROC AUC on validation and on test, so a reader sees which branch carries the
task, whether fusion adds to it, and which fusion wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from tinyfuse.core.tflm import ReferenceModel
from tinyfuse.fusion.export import convert_int8
from tinyfuse.fusion.metrics import class_metrics, roc_auc
from tinyfuse.fusion.model import build_model
from tinyfuse.fusion.spec import FusionSpec

Inputs = Sequence[np.ndarray]
#: spec -> (x_train, x_val, x_test) in the spec's modality order
InputsFor = Callable[[FusionSpec], tuple[Inputs, Inputs, Inputs]]
#: (spec, model, x_train, x_val) -> None: trains ``model`` in place
Trainer = Callable[[FusionSpec, keras.Model, Inputs, Inputs], None]


def variants(base: FusionSpec) -> dict[str, FusionSpec]:
    """The specs compared, by name (empty for one modality: there is nothing to fuse)."""
    if len(base.modalities) < 2:
        return {}
    deep = base if not base.is_linear else base.early()
    out = {"late": replace(deep, fusion="concat")}
    if all(b.block != "linear" for b in deep.branches):
        out["gated"] = replace(deep, fusion="gated")
    out["early"] = deep.early()
    out.update({f"{name} only": deep.only((name,)) for name in deep.modality_names})
    out["linear"] = base.linear()
    return out


@dataclass(frozen=True, slots=True)
class VariantScores:
    """int8 class probabilities of one variant on the validation and test rows."""

    val: np.ndarray
    test: np.ndarray


def score_variants(specs: dict[str, FusionSpec], inputs_for: InputsFor, train: Trainer, *,
                   seed: int) -> dict[str, VariantScores]:
    """Train every spec with ``train`` (seeded alike), convert it to int8 (calibrated on its
    training inputs) and score validation and test on TFLite Micro."""
    out = {}
    for name, spec in specs.items():
        x_train, x_val, x_test = inputs_for(spec)
        keras.utils.set_random_seed(seed)
        model = build_model(spec, seed=seed)
        train(spec, model, x_train, x_val)
        engine = ReferenceModel(convert_int8(model, list(x_train), n_samples=64))
        names = spec.modality_names
        out[name] = VariantScores(
            val=engine.predict(dict(zip(names, x_val, strict=True))),
            test=engine.predict(dict(zip(names, x_test, strict=True))))
    return out


def scores_row(truth: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Balanced accuracy, macro-F1, accuracy and ROC AUC of class probabilities."""
    metrics = class_metrics(truth, probs.argmax(1), classes=classes)
    return {"balanced_accuracy": metrics["balanced_accuracy"],
            "macro_f1": metrics["macro_f1"], "accuracy": metrics["accuracy"],
            "roc_auc": roc_auc(truth, probs), "n": metrics["n"]}


def comparison(scores: dict[str, VariantScores], *, y_val: np.ndarray, y_test: np.ndarray,
               classes: Sequence[str]) -> dict[str, Any]:
    """The JSON table: per variant its validation and test rows, and the verdicts."""
    table = {name: {"validation": scores_row(y_val, s.val, classes),
                    "test": scores_row(y_test, s.test, classes)}
             for name, s in scores.items()}
    return {"variants": table, **verdicts(table)}


def verdicts(table: dict[str, Any], *, part: str = "test") -> dict[str, Any]:
    """Best single branch, best fusion and the gain of the one over the other (balanced
    accuracy points of ``part``)."""
    def score(name: str) -> float:
        return float(table[name][part]["balanced_accuracy"])

    branches = [n for n in table if n.endswith(" only")]
    fusions = [n for n in ("late", "gated", "early") if n in table]
    if not branches or not fusions:
        return {}
    best_branch = max(branches, key=score)
    best_fusion = max(fusions, key=score)
    return {"best_branch": best_branch, "best_fusion": best_fusion,
            "fusion_gain_points": 100 * (score(best_fusion) - score(best_branch))}


def card_section(result: dict[str, Any]) -> str:
    """Markdown section of the model card."""
    rows = []
    for name, parts in result["variants"].items():
        cells = []
        for part in ("validation", "test"):
            row = parts.get(part)
            auc = "-" if not row or row["roc_auc"] is None else f"{row['roc_auc']:.3f}"
            cells += [f"{row['balanced_accuracy']:.3f}" if row else "-", auc]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    verdict = ""
    if result.get("best_branch"):
        gain = result["fusion_gain_points"]
        verdict = (f"\nOn test, the best fusion ({result['best_fusion']}) "
                   f"{'beats' if gain > 0 else 'does NOT beat'} the best single branch "
                   f"({result['best_branch']}) by {gain:+.1f} balanced-accuracy points.\n")
    return ("## Fusion against its parts\n\nEach variant trained alike (the search's "
            "recipe) and scored as int8 on TFLite Micro; balanced accuracy and ROC AUC.\n\n"
            "| variant | validation bal. acc. | validation AUC | test bal. acc. | test AUC |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n" + verdict)
