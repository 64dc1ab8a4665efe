"""A built bundle scored on a labelled data set it never saw: another motor load, another
user, another room. The bundle's own Preprocessor and int8 engine (the compiled C on the host,
or TFLite Micro) score every sample; the result has the honest metrics of
``tinyfuse.fusion.metrics``, a per-group table and the warnings.

A data set that carries none of the bundle's modalities is refused (it would be scored as all
zeros); samples whose label is not a bundle class, and samples whose features cannot be
computed, are counted and listed, never scored.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyfuse.apps.scoring import make_scorer
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DataError
from tinyfuse.fusion.metrics import (
    class_metrics,
    confusion_matrix,
    per_group,
    roc_auc,
    warnings_for,
)
from tinyfuse.sensors.preprocess import Preprocessor

log = logging.getLogger(__name__)
MAX_LISTED = 20


def evaluate_bundle(bundle: Bundle, samples: Sequence, *, scorer: str = "host",
                    name: str = "") -> dict[str, Any]:
    """Score ``samples`` (``tinyfuse.sensors.sources.Sample``) with ``bundle``.

    Returns
    -------
    dict
        JSON-ready: counts, ``int8_metrics`` (accuracy, balanced accuracy, macro-F1, per
        class), the best constant answer on this set, the confusion matrix, per-group
        accuracy, missing-modality counts, skipped samples and warnings.

    Raises
    ------
    DataError
        The samples carry none of the bundle's modalities, or no sample could be scored.
    """
    preprocessor = Preprocessor.from_bundle(bundle)
    preprocessor.require_any(samples, where=name or "data")
    engine = make_scorer(bundle, kind=scorer)
    truth: list[int] = []
    predicted: list[int] = []
    scores: list[np.ndarray] = []
    groups: list[str] = []
    missing: Counter = Counter()
    unknown: Counter = Counter()
    skipped: list[str] = []
    for sample in samples:
        if sample.label not in bundle.classes:
            unknown[sample.label] += 1
            continue
        try:
            features = preprocessor.features(sample)
            inputs = preprocessor.int8_inputs(features)
        except DataError as exc:
            skipped.append(f"{sample.source}: {exc}")
            continue
        missing.update(preprocessor.missing(features))
        truth.append(bundle.classes.index(sample.label))
        scores.append(np.asarray(engine.score(inputs), float))
        predicted.append(int(np.argmax(scores[-1])))
        groups.append(str(sample.group))
    if not truth:
        raise DataError(f"{name or 'data'}: no sample could be scored (labels "
                        f"{sorted(unknown)[:10]} are not the bundle's classes "
                        f"{list(bundle.classes)}; {len(skipped)} skipped)")
    return _result(bundle, np.array(truth), np.array(predicted), np.array(scores),
                   np.array(groups),
                   missing=missing, unknown=unknown, skipped=skipped, scorer=scorer, name=name)


def _result(bundle: Bundle, truth: np.ndarray, predicted: np.ndarray, scores: np.ndarray,
            groups: np.ndarray, *,
            missing: Counter, unknown: Counter, skipped: list[str], scorer: str,
            name: str) -> dict[str, Any]:
    metrics = class_metrics(truth, predicted, classes=bundle.classes)
    counts = np.bincount(truth, minlength=len(bundle.classes))
    best_constant = float(counts.max() / counts.sum())
    warnings = warnings_for(metrics, classes=bundle.classes, majority=best_constant,
                            linear=None)
    for modality, count in sorted(missing.items()):
        warnings.append(f"{count} of {len(truth)} samples lack {modality!r}: scored with it "
                        f"missing (zeros after standardisation)")
    if unknown:
        warnings.append(f"{sum(unknown.values())} samples have labels the bundle does not "
                        f"know ({sorted(unknown)[:10]}) and were not scored")
    return {
        "data": name, "app": bundle.app, "bundle_hash": bundle.bundle_hash,
        "engine": {"host": "compiled C (host)", "tflite": "tflite_micro"}.get(scorer, scorer),
        "n_scored": int(len(truth)), "n_unknown_label": int(sum(unknown.values())),
        "n_skipped": len(skipped), "skipped": skipped[:MAX_LISTED],
        "classes": list(bundle.classes), "int8_metrics": metrics,
        "best_constant_answer": best_constant,
        "confusion_matrix": confusion_matrix(truth, predicted,
                                             n_classes=len(bundle.classes)).tolist(),
        "int8_roc_auc": roc_auc(truth, scores),
        "per_group": per_group(truth, predicted, groups), "missing_modality": dict(missing),
        "warnings": warnings,
    }
