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
    flattened inputs, each column standardised on the training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train = flatten(x_train)
    scaler = StandardScaler().fit(train)
    if len(np.unique(y_train)) < 2:
        return np.full(len(x_test[0]), int(np.asarray(y_train)[0]), np.int64)
    model = LogisticRegression(max_iter=2000, random_state=seed)
    model.fit(scaler.transform(train), np.asarray(y_train))
    return model.predict(scaler.transform(flatten(x_test))).astype(np.int64)
