"""Simple baselines on the same standardised features the fused model sees: the majority
class and a multinomial logistic regression (scikit-learn) on the flattened, concatenated
features of every modality. A fused model that loses to them has learnt nothing a linear
model would not."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyfuse.core.errors import DataError


def flatten(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, sum of feature sizes)`` float64: every input flattened, side by side."""
    if not inputs:
        raise DataError("baseline: no inputs")
    return np.concatenate([np.asarray(x, np.float64).reshape(len(x), -1) for x in inputs],
                          axis=1)


def majority_class(y_train: np.ndarray) -> int:
    """The most frequent training label (the smallest on a tie)."""
    values, counts = np.unique(np.asarray(y_train), return_counts=True)
    return int(values[np.argmax(counts)])


def logistic_regression(x_train: Sequence[np.ndarray], y_train: np.ndarray,
                        x_test: Sequence[np.ndarray], *, seed: int = 0) -> np.ndarray:
    """Predicted test labels ``(n_test,)`` int64 of an L2 (C=1) logistic regression on the
    flattened inputs, each column standardised on the training rows (unweighted: the
    baseline a user would fit first)."""
    n_classes = int(np.max(y_train)) + 1
    kernel, bias = logistic_weights(x_train, y_train, n_classes, balanced=False, seed=seed)
    return np.argmax(flatten(x_test) @ kernel + bias, axis=1).astype(np.int64)


def logistic_weights(x_train: Sequence[np.ndarray], y_train: np.ndarray, n_classes: int, *,
                     balanced: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An L2 (C=1) logistic regression on the flattened inputs, each column standardised on
    the training rows (class-weighted when ``balanced``), as one dense layer: ``(kernel (d,
    n_classes), bias (n_classes,))`` float64 with the standardisation folded in, so that
    ``flatten(x) @ kernel + bias`` are its logits (softmax of them: its probabilities). A
    class absent from ``y_train`` gets a zero column and a bias of -20."""
    from sklearn.linear_model import LogisticRegression

    train = flatten(x_train)
    labels = np.asarray(y_train, int)
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    kernel = np.zeros((train.shape[1], n_classes))
    bias = np.full(n_classes, -20.0)
    present = np.unique(labels)
    if len(present) < 2:
        bias[present] = 0.0
        return kernel, bias
    model = LogisticRegression(max_iter=2000, random_state=seed,
                               class_weight="balanced" if balanced else None)
    model.fit((train - mean) / scale, labels)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # one logit for the second class, zero for the first
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]])
    for row, label in enumerate(model.classes_):
        kernel[:, label] = coef[row] / scale
        bias[label] = intercept[row] - float(np.sum(coef[row] * mean / scale))
    return kernel, bias
