"""Simple baselines on the same features the fused model sees.

* classification: the majority class, and a logistic regression on the standardised,
  flattened, concatenated features of every modality (scikit-learn);
* anomaly: a PCA reconstruction-error score fitted on normal training windows only (the
  linear counterpart of the autoencoder).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from tinyfuse.core.errors import DataError
from tinyfuse.fusion.baseline import logistic_regression as fused_logistic
from tinyfuse.fusion.baseline import majority_class


def flatten(features: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """Concatenate the flattened features of ``names``: ``(n, sum of feature sizes)`` float64."""
    if not names:
        raise DataError("flatten: no modality names given")
    return np.concatenate([np.asarray(features[name], np.float64).reshape(
        len(features[name]), -1) for name in names], axis=1)


def majority(y_train: np.ndarray, y_test: np.ndarray) -> dict[str, float | int]:
    """Accuracy of always answering the most frequent training class."""
    top = majority_class(y_train)
    return {"class_index": top, "accuracy": float(np.mean(np.asarray(y_test) == top))}


def logistic_regression(x_train: Mapping[str, np.ndarray], y_train: np.ndarray,
                        x_test: Mapping[str, np.ndarray], *, names: Sequence[str],
                        seed: int = 0) -> np.ndarray:
    """``tinyfuse.fusion.baseline.logistic_regression`` on the ``names`` modalities."""
    return fused_logistic([x_train[n] for n in names], y_train, [x_test[n] for n in names],
                          seed=seed)


def pca_scores(x_train: Mapping[str, np.ndarray], x_test: Mapping[str, np.ndarray], *,
               names: Sequence[str], n_components: int) -> np.ndarray:
    """Anomaly score = mean squared PCA reconstruction error of the standardised features
    (PCA fitted on the normal training windows only).

    Returns
    -------
    ndarray, float64, shape ``(n_test,)``; higher means more anomalous
    """
    scaler = StandardScaler().fit(flatten(x_train, names))
    train = scaler.transform(flatten(x_train, names))
    test = scaler.transform(flatten(x_test, names))
    pca = PCA(n_components=min(n_components, train.shape[1], len(train))).fit(train)
    recon = pca.inverse_transform(pca.transform(test))
    return np.mean((test - recon) ** 2, axis=1)


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of ``scores`` for ``labels`` (1 = anomaly); ``None`` when a class is absent."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))
