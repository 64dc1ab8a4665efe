"""Classification metrics that do not flatter a model, and the warnings a report must give.

Plain accuracy reads like a result even when a model answers the majority class for every
window; balanced accuracy (the mean recall over the classes present) and macro-F1 do not.
:func:`warnings_for` names the cases a person must not miss: a collapsed model, a model no
better than the majority rate or than a linear model on the same features, a test split that
lacks classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, *, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts: rows are true classes, columns predictions."""
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return matrix


def write_confusion_png(matrix: np.ndarray, classes: tuple[str, ...], path: Path, *,
                        title: str = "int8 student, test split") -> None:
    """Draw the confusion matrix with counts to a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    size = 1.2 + 0.6 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    try:
        image = ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        for (row, col), count in np.ndenumerate(matrix):
            ax.text(col, row, str(count), ha="center", va="center",
                    color="white" if count > matrix.max() / 2 else "black")
        fig.colorbar(image, ax=ax)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def class_metrics(truth: np.ndarray, predicted: np.ndarray, *,
                  classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1 and per-class precision / recall / F1 / support.

    Balanced accuracy and macro-F1 average over the classes present in ``truth``; a class
    never predicted has precision ``None`` (and F1 0).
    """
    truth, predicted = np.asarray(truth, int), np.asarray(predicted, int)
    matrix = confusion_matrix(truth, predicted, n_classes=len(classes))
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    rows: dict[str, dict[str, Any]] = {}
    recalls, f1s = [], []
    for index, name in enumerate(classes):
        hits = int(matrix[index, index])
        recall = hits / int(support[index]) if support[index] else None
        precision = hits / int(predicted_count[index]) if predicted_count[index] else None
        f1 = (0.0 if not precision or not recall
              else 2 * precision * recall / (precision + recall))
        rows[name] = {"precision": precision, "recall": recall, "f1": f1,
                      "support": int(support[index])}
        if support[index]:
            recalls.append(recall or 0.0)
            f1s.append(f1)
    total = int(matrix.sum())
    accuracy = float(np.trace(matrix) / total) if total else 0.0
    balanced = float(np.mean(recalls)) if recalls else 0.0
    spread = balanced_accuracy_error(np.diag(matrix)[support > 0], support[support > 0])
    return {"accuracy": accuracy, "balanced_accuracy": balanced,
            "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
            "ci95": {"accuracy": wilson_interval(accuracy, total),
                     "balanced_accuracy": [max(0.0, balanced - Z95 * spread),
                                           min(1.0, balanced + Z95 * spread)]},
            "per_class": rows, "n": total}


Z95 = 1.959964


def balanced_accuracy_error(hits: np.ndarray, support: np.ndarray) -> float:
    """Standard error of a balanced accuracy from each present class's ``hits`` of ``support``.

    Normal approximation over the k classes, Var = sum_c r_c (1 - r_c) / n_c / k^2, with each
    recall smoothed to (hits + 1) / (n + 2) so that a perfect or empty score on a handful of
    samples is not taken as certain. A rare class measured on two samples dominates the error,
    as it should: 11 validation samples, 2 of them of one class, half of each class right,
    give an error of 0.195, where a plain binomial on 11 samples gives 0.15 for any class mix.
    """
    hits, support = np.asarray(hits, float), np.asarray(support, float)
    if not len(support):
        return 0.0
    rates = (hits + 1.0) / (support + 2.0)
    return float(math.sqrt(float(np.sum(rates * (1.0 - rates) / support))) / len(support))


def wilson_interval(rate: float, count: int) -> list[float]:
    """95 % Wilson score interval ``[low, high]`` of a rate measured on ``count`` trials."""
    if count <= 0:
        return [0.0, 1.0]
    z2 = Z95 * Z95
    centre = (rate + z2 / (2 * count)) / (1 + z2 / count)
    half = Z95 * math.sqrt(rate * (1 - rate) / count + z2 / (4 * count * count)) / (
        1 + z2 / count)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of class scores ``(n, k)``: binary, the second class's score; more classes,
    the mean one-vs-rest AUC over the classes present with both positives and negatives
    (Mann-Whitney, ties counted half). ``None`` when no class has both."""
    truth, scores = np.asarray(truth, int), np.asarray(scores, float)
    classes = [1] if scores.shape[1] == 2 else range(scores.shape[1])
    aucs = []
    for c in classes:
        positive = truth == c
        if positive.all() or not positive.any():
            continue
        ranks = _ranks(scores[:, c])
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        aucs.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else None


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), float)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def per_group(truth: np.ndarray, predicted: np.ndarray, groups: np.ndarray
              ) -> dict[str, dict[str, Any]]:
    """Accuracy and balanced accuracy (with 95 % intervals) within each group."""
    truth, predicted, groups = np.asarray(truth), np.asarray(predicted), np.asarray(groups)
    out: dict[str, dict[str, Any]] = {}
    for group in sorted(set(groups.astype(str).tolist())):
        chosen = groups.astype(str) == group
        n = int(chosen.sum())
        rate = float(np.mean(predicted[chosen] == truth[chosen]))
        out[group] = {"n": n, "accuracy": rate, "accuracy_ci95": wilson_interval(rate, n),
                      "balanced_accuracy": balanced_accuracy(truth[chosen], predicted[chosen])}
    return out


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in ``truth`` (integer labels)."""
    truth, predicted = np.asarray(truth, int), np.asarray(predicted, int)
    if not len(truth):
        return 0.0
    n = int(max(truth.max(), predicted.max(initial=0))) + 1
    return float(class_metrics(truth, predicted,
                               classes=[str(i) for i in range(n)])["balanced_accuracy"])


def group_jackknife_error(truth: np.ndarray, first: np.ndarray, second: np.ndarray | None,
                          groups: np.ndarray) -> float:
    """Standard error of the balanced accuracy of ``first`` (minus that of ``second``, on
    the same rows, when given) from a leave-one-group-out jackknife: the error a person
    should expect when the rows of one group (one recording, experiment, patient) are not
    independent, as overlapping windows of one experiment are not. 0.0 with fewer than three
    groups (too few to say; the caller keeps its per-row error).

    SE = sqrt((G - 1) / G * sum_g (t_-g - mean t)^2), t_-g the score without group g.
    """
    truth, groups = np.asarray(truth, int), np.asarray(groups)
    names = np.unique(groups)
    if len(names) < 3:
        return 0.0

    def score(rows: np.ndarray) -> float:
        value = balanced_accuracy(truth[rows], np.asarray(first)[rows])
        if second is not None:
            value -= balanced_accuracy(truth[rows], np.asarray(second)[rows])
        return value

    left_out = np.array([score(groups != name) for name in names])
    spread = float(np.sum((left_out - left_out.mean()) ** 2))
    return math.sqrt((len(names) - 1) / len(names) * spread)


def warnings_for(metrics: dict[str, Any], *, classes: Sequence[str], majority: float,
                 linear: float | None) -> list[str]:
    """One sentence per thing a reader of the report must not miss (empty: nothing);
    ``linear`` is the logistic regression's balanced accuracy on the same split."""
    out = []
    per_class = metrics["per_class"]
    answered = [name for name, row in per_class.items() if row["precision"] is not None]
    if len(answered) == 1 and len(classes) > 1:
        out.append(f"the int8 model answers {answered[0]!r} for every test sample: it has "
                   f"collapsed to one class")
    if metrics["accuracy"] <= majority + 1e-12:
        out.append(f"accuracy {metrics['accuracy']:.3f} is not better than always answering "
                   f"the majority class ({majority:.3f})")
    if linear is not None and metrics["balanced_accuracy"] < linear - 0.01:
        out.append(f"balanced accuracy {metrics['balanced_accuracy']:.3f} is more than one "
                   f"point below a logistic regression on the same features ({linear:.3f})")
    absent = [name for name, row in per_class.items() if row["support"] == 0]
    if absent:
        out.append(f"the test split has no sample of {absent}: their accuracy is unknown")
    return out
