"""What every benchmark task hands to the trainer: features split by group, and a cache.

A task turns real recordings into ``TaskData``: standardisable float32 features per modality
(exactly the ``extract`` output of each ``ModalitySpec``), integer labels, the split already
made by group (participant, volunteer, sequence, recording time), and the facts the JSON
result must state (dataset, citation, split, caveats). Features are cached as ``.npz`` in
``build/bench-cache/`` keyed by the task name and a hash of everything that shapes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.core.specs import spec_hash
from tinyfuse.sensors import extract
from tinyfuse.sensors.sources import Sample
from tinyfuse.sensors.spec import ModalitySpec

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / "build" / "bench-cache"
CACHE_VERSION = 4  # bump when a task changes what it stores


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    """Every row of a task regardless of split, for grouped cross-validation.

    ``testable`` is False for rows that only ever train (extra crops of a recording: a test
    fold uses one crop per recording, like the single split does).
    """

    x: dict[str, np.ndarray]
    y: np.ndarray
    groups: np.ndarray
    testable: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskData:
    """One benchmark task, featurized and split.

    Attributes
    ----------
    name : str
    kind : {"classify", "anomaly"}
        ``anomaly``: ``y_train`` is all 0 (normal) and ``y_test`` is 1 for anomalies.
    modalities : tuple of ModalitySpec
        In model-input order; ``x_train[name]`` has shape ``(n_train, *output_shape)``.
    classes : tuple of str
        ``y == i`` means ``classes[i]``.
    x_train, x_test : dict of str to ndarray, float32
    y_train, y_test : ndarray, int64, shapes ``(n_train,)`` and ``(n_test,)``
    test_tags : dict of str to ndarray of str
        Per-test-sample facts to break accuracy down by (e.g. ``source``, ``speed``).
    test_groups, train_groups : ndarray of str
        Group of each test / training sample (lets tests prove the split is by group).
    info : dict
        JSON-ready facts: dataset, citation, split, notes, reference points.
    in_time_order : bool
        Training rows of each group are in time order (time-split tasks): a validation part
        that cannot take whole groups takes the tail of each group instead.
    pool : Pool, optional
        All rows, for ``fold_task`` (tasks evaluated by grouped cross-validation).
    """

    name: str
    kind: str
    modalities: tuple[ModalitySpec, ...]
    classes: tuple[str, ...]
    x_train: dict[str, np.ndarray]
    y_train: np.ndarray
    x_test: dict[str, np.ndarray]
    y_test: np.ndarray
    test_tags: dict[str, np.ndarray] = field(default_factory=dict)
    test_groups: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))
    train_groups: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))
    info: dict[str, Any] = field(default_factory=dict)
    in_time_order: bool = False
    pool: Pool | None = None

    def __post_init__(self) -> None:
        for split, features, labels in (("train", self.x_train, self.y_train),
                                        ("test", self.x_test, self.y_test)):
            for modality in self.modalities:
                array = features.get(modality.name)
                want = (len(labels), *modality.output_shape)
                if array is None or array.shape != want:
                    got = None if array is None else array.shape
                    raise DataError(f"task {self.name}: x_{split}[{modality.name!r}] has "
                                    f"shape {got}, expected {want}")
            if len(labels) == 0:
                raise DataError(f"task {self.name}: the {split} split is empty")

    @property
    def modality_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modalities)


def _pool_parts(pool: Pool, test_groups: Sequence[str]) -> dict[str, Any]:
    held = np.isin(pool.groups, list(test_groups))
    train, test = ~held, held & pool.testable
    return {"x_train": {k: v[train] for k, v in pool.x.items()}, "y_train": pool.y[train],
            "x_test": {k: v[test] for k, v in pool.x.items()}, "y_test": pool.y[test],
            "train_groups": pool.groups[train], "test_groups": pool.groups[test]}


def pooled_task(*, pool: Pool, test_groups: Sequence[str], **fields: Any) -> TaskData:
    """A ``TaskData`` whose split is ``test_groups`` (testable rows) against every other
    pooled row; ``fields`` are the remaining ``TaskData`` fields (name, kind, ...)."""
    return TaskData(**_pool_parts(pool, test_groups), pool=pool, **fields)


def fold_task(task: TaskData, test_groups: Sequence[str]) -> TaskData:
    """The task re-split for one cross-validation fold: every pooled row of the other groups
    trains, the testable rows of ``test_groups`` test (``DataError`` without a pool)."""
    if task.pool is None:
        raise DataError(f"task {task.name}: no pooled rows for cross-validation")
    return replace(task, **_pool_parts(task.pool, test_groups), test_tags={})


def featurize(samples: Sequence[Sample], modality: ModalitySpec, *, data_key: str,
              transform: Callable[[np.ndarray, float | None], np.ndarray] | None = None,
              sample_rate_hz: float | None = None) -> np.ndarray:
    """``extract(modality, sample.data[data_key])`` for every sample, stacked.

    Parameters
    ----------
    transform : callable, optional
        ``transform(raw, sample_rate_hz)`` is applied to the raw array first (e.g. trimming
        leading silence, picking an axis); the rate is the sample's own.

    Returns
    -------
    ndarray, float32, shape ``(len(samples), *modality.output_shape)``
    """
    out = np.empty((len(samples), *modality.output_shape), np.float32)
    for row, sample in enumerate(samples):
        raw = np.asarray(sample.data[data_key])
        rate = sample.sample_rate_hz(data_key) if sample_rate_hz is None else sample_rate_hz
        if transform is not None:
            raw = transform(raw, rate)
        out[row] = extract(modality, raw, sample_rate_hz=rate if _is_audio(modality) else None)
    return out


def _is_audio(modality: ModalitySpec) -> bool:
    return modality.frontend.kind == "audio"


def encode(labels: Iterable[str], classes: Sequence[str]) -> np.ndarray:
    """Class names -> int64 indices into ``classes`` (``DataError`` for an unknown name)."""
    index = {name: i for i, name in enumerate(classes)}
    out = []
    for label in labels:
        if label not in index:
            raise DataError(f"label {label!r} is not one of {list(classes)}")
        out.append(index[label])
    return np.asarray(out, np.int64)


def cap_per_cell(samples: Sequence[Sample], *, cap: int, seed: int,
                 cell: Callable[[Sample], tuple] = lambda s: (s.group, s.label)) -> list[Sample]:
    """At most ``cap`` samples per cell (default: per group and label), drawn without
    replacement with ``seed``; keeps the input order otherwise."""
    by_cell: dict[tuple, list[int]] = {}
    for position, sample in enumerate(samples):
        by_cell.setdefault(cell(sample), []).append(position)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for key in sorted(by_cell, key=str):
        positions = by_cell[key]
        if len(positions) > cap:
            positions = sorted(rng.choice(positions, size=cap, replace=False).tolist())
        keep.extend(positions)
    return [samples[i] for i in sorted(keep)]


def thin_per_group(samples: Sequence[Sample], limit: int | None) -> list[Sample]:
    """At most ``limit`` samples per group, evenly spaced in the input order (for quick
    subsets of time-split tasks, whose first windows alone would all fall before the cut)."""
    if limit is None:
        return list(samples)
    by_group: dict[str, list[int]] = {}
    for position, sample in enumerate(samples):
        by_group.setdefault(sample.group, []).append(position)
    keep: set[int] = set()
    for positions in by_group.values():
        picks = np.linspace(0, len(positions) - 1, num=min(limit, len(positions)))
        keep.update(positions[int(round(p))] for p in picks)
    return [samples[i] for i in sorted(keep)]


def cache_key(name: str, params: dict[str, Any]) -> str:
    """``<name>-<16 hex digits>``: the hash covers every parameter that shapes the features."""
    return f"{name}-{spec_hash({**params, 'cache_version': CACHE_VERSION})}"


def cached_arrays(key: str, compute: Callable[[], dict[str, np.ndarray]], *,
                  use_cache: bool = True) -> dict[str, np.ndarray]:
    """Load ``CACHE_DIR/<key>.npz`` if present, else ``compute()`` and save it there."""
    path = CACHE_DIR / f"{key}.npz"
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            log.info("features from cache %s", path)
            return {name: data[name] for name in data.files}
    arrays = compute()
    if use_cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    return arrays


def split_arrays(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries of ``arrays`` whose name starts with ``prefix``, prefix removed."""
    return {name[len(prefix):]: value for name, value in arrays.items()
            if name.startswith(prefix)}


def trim_leading_silence(signal: np.ndarray, *, sample_rate_hz: float,
                         frame_s: float = 0.02, ratio: float = 0.1,
                         pre_roll_s: float = 0.1) -> np.ndarray:
    """Drop the quiet start of a recording: begin ``pre_roll_s`` before the first frame
    whose RMS reaches ``ratio`` times the loudest frame's RMS.

    Parameters
    ----------
    signal : ndarray, shape (n,), float
    Returns
    -------
    ndarray, shape (m,), m <= n, same dtype
    """
    frame = max(1, int(frame_s * sample_rate_hz))
    count = len(signal) // frame
    if count < 2:
        return signal
    frames = np.asarray(signal[:count * frame], np.float64).reshape(count, frame)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    loud = np.flatnonzero(rms >= ratio * rms.max())
    start = max(0, int(loud[0]) * frame - int(pre_roll_s * sample_rate_hz))
    return signal[start:]
