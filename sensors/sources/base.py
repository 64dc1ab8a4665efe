"""The sample/result model every loader and simulator returns.

A loader never raises for one bad file: it records a :class:`Skipped` entry (file and reason)
and keeps every good :class:`Sample`. A :class:`LoadResult` holds both, plus the splits that
respect ``group`` (participant, volunteer, recording, sequence): no group ever lands on both
sides of a split.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from tinyfuse.core.errors import DataError

log = logging.getLogger(__name__)

MetaValue = str | int | float | bool | None
Meta = tuple[tuple[str, MetaValue], ...]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Sample:
    """One labelled example, possibly multimodal.

    Attributes
    ----------
    data : dict[str, np.ndarray]
        Raw arrays keyed by modality name (read-only arrays; audio 1-D float32, images 2-D
        float32 in physical units, vibration ``(n_samples, n_axes)`` float32 in g).
    label : str
        Class name.
    group : str
        Unit that must never be split across train/test (participant, volunteer, recording,
        sequence, simulated person or machine).
    key : str
        Join key: samples of different modalities with the same key belong together.
    source : str
        File path (or ``"simulated:..."``) the sample came from.
    meta : tuple of (str, scalar) pairs
        Immutable extra facts (room, day, sample rate, time position, ...).
    missing : tuple of str
        Modalities absent from ``data`` that a multimodal join expected (empty when complete).
    """

    data: dict[str, np.ndarray]
    label: str
    group: str
    key: str
    source: str
    meta: Meta = ()
    missing: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for array in self.data.values():
            array.setflags(write=False)

    def meta_value(self, name: str, default: MetaValue = None) -> MetaValue:
        """Value of meta entry ``name`` (``default`` when absent)."""
        for key, value in self.meta:
            if key == name:
                return value
        return default

    def sample_rate_hz(self, modality: str) -> float | None:
        """The native rate of ``data[modality]``: meta ``"<modality>.sample_rate_hz"`` (a
        joined multimodal sample), else ``"sample_rate_hz"``; ``None`` when neither is a
        number."""
        rate = self.meta_value(f"{modality}.sample_rate_hz", self.meta_value("sample_rate_hz"))
        return float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) \
            else None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file (or file region) a loader could not use, and why; ``key`` is the join key the
    file would have had (empty when unknown), so a multimodal join can say why a part is
    missing."""

    path: str
    reason: str
    key: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    """Samples kept and files skipped by one load.

    Attributes
    ----------
    samples : tuple of Sample
    skipped : tuple of Skipped
    name : str
        Dataset name (``"coswara_20200413"``, ``"folder:<root>"``, ``"simulated:cough"``...).
    """

    samples: tuple[Sample, ...]
    skipped: tuple[Skipped, ...] = ()
    name: str = ""
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Sorted modality names present in any sample."""
        names: set[str] = set()
        for sample in self.samples:
            names.update(sample.data)
            names.update(sample.missing)
        return tuple(sorted(names))

    @property
    def classes(self) -> tuple[str, ...]:
        """Sorted class labels."""
        return tuple(sorted({s.label for s in self.samples}))

    def counts_by_class(self) -> dict[str, int]:
        """Number of samples per label, sorted by label."""
        return dict(sorted(Counter(s.label for s in self.samples).items()))

    def counts_by_group(self) -> dict[str, int]:
        """Number of samples per group, sorted by group."""
        return dict(sorted(Counter(s.group for s in self.samples).items()))

    def labels(self) -> np.ndarray:
        """Labels as an array of str, shape ``(n_samples,)``."""
        return np.array([s.label for s in self.samples], dtype=str)

    def stack(self, modality: str) -> np.ndarray:
        """Stack ``modality`` over all samples: ``(n_samples, *shape)``.

        Raises
        ------
        DataError
            If a sample lacks the modality or shapes differ.
        """
        arrays = []
        for sample in self.samples:
            if modality not in sample.data:
                raise DataError(f"{sample.source}: sample {sample.key!r} has no {modality!r}")
            arrays.append(sample.data[modality])
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise DataError(f"{self.name}: {modality!r} shapes differ: {sorted(shapes)[:4]}")
        return np.stack(arrays) if arrays else np.empty((0,), dtype=np.float32)

    def filter(self, keep: Callable[[Sample], bool]) -> LoadResult:
        """A new result with the samples for which ``keep(sample)`` is true (skips kept)."""
        return replace(self, samples=tuple(s for s in self.samples if keep(s)))

    def group_split(self, *, test_fraction: float, seed: int) -> tuple[LoadResult, LoadResult]:
        """Split by group, stratified by each group's majority label; deterministic by seed.

        Within each stratum the groups are shuffled with ``seed`` and
        ``round(test_fraction * n_groups)`` go to test (at least one when the stratum has two
        or more groups, never all of them). A group is never on both sides.

        Returns
        -------
        (train, test) : tuple of LoadResult
        """
        if not 0.0 < test_fraction < 1.0:
            raise DataError(f"group_split: test_fraction {test_fraction} must be in (0, 1)")
        test_groups = _pick_test_groups(self.samples, test_fraction, seed)
        train = tuple(s for s in self.samples if s.group not in test_groups)
        test = tuple(s for s in self.samples if s.group in test_groups)
        return replace(self, samples=train), replace(self, samples=test, skipped=())

    def time_split(self, *, test_fraction: float = 0.3) -> tuple[LoadResult, LoadResult]:
        """Split windows of each recording in time: the first ``1 - test_fraction`` of every
        recording trains, the rest tests. Uses meta ``start_fraction``/``end_fraction``
        (position of the window in its recording, 0..1); a window straddling the cut is
        dropped so no sample overlaps both sides.

        Raises
        ------
        DataError
            If a sample has no time position in its meta.
        """
        cut = 1.0 - test_fraction
        train, test = [], []
        for sample in self.samples:
            start = sample.meta_value("start_fraction")
            end = sample.meta_value("end_fraction")
            if not isinstance(start, float | int) or not isinstance(end, float | int):
                raise DataError(f"{sample.source}: sample {sample.key!r} has no time position")
            if end <= cut + 1e-9:
                train.append(sample)
            elif start >= cut - 1e-9:
                test.append(sample)
        return (replace(self, samples=tuple(train)),
                replace(self, samples=tuple(test), skipped=()))

    def summary(self) -> dict[str, Any]:
        """JSON-ready report: counts per class and group, modalities, every skip and why."""
        return {
            "name": self.name,
            "n_samples": len(self.samples),
            "n_groups": len(self.counts_by_group()),
            "modalities": list(self.modalities),
            "counts_by_class": self.counts_by_class(),
            "counts_by_group": self.counts_by_group(),
            "n_skipped": len(self.skipped),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "notes": list(self.notes),
        }


def _pick_test_groups(samples: Iterable[Sample], test_fraction: float, seed: int) -> set[str]:
    labels_by_group: dict[str, Counter[str]] = {}
    for sample in samples:
        labels_by_group.setdefault(sample.group, Counter())[sample.label] += 1
    strata: dict[str, list[str]] = {}
    for group, counts in labels_by_group.items():
        majority = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        strata.setdefault(majority, []).append(group)
    rng = np.random.default_rng(seed)
    test: set[str] = set()
    for label in sorted(strata):
        groups = sorted(strata[label])
        n_test = int(round(test_fraction * len(groups)))
        if len(groups) >= 2:
            n_test = min(max(n_test, 1), len(groups) - 1)
        order = rng.permutation(len(groups))
        test.update(groups[i] for i in order[:n_test])
    return test


def spread(items: list[T], limit: int | None) -> list[T]:
    """At most ``limit`` of the sorted ``items``, evenly spaced from the first to the last, so
    that a limited load spans every recording, person or folder instead of the first few.

    Examples
    --------
    >>> spread(list("abcdefgh"), 3)
    ['a', 'e', 'h']
    """
    if limit is None or len(items) <= limit:
        return list(items)
    if limit <= 1:
        return list(items[:limit])
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)]


def progress(items: Iterable[T], *, desc: str, total: int | None = None) -> Iterable[T]:
    """Wrap ``items`` in a tqdm bar on a terminal; plain iteration otherwise."""
    if not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, leave=False)


def collect(
    items: Iterable[T],
    load_one: Callable[[T], list[Sample]],
    *,
    path_of: Callable[[T], str],
    key_of: Callable[[T], str] | None = None,
    desc: str,
    total: int | None = None,
) -> tuple[list[Sample], list[Skipped]]:
    """Run ``load_one`` over ``items``; a ``DataError`` becomes a :class:`Skipped` entry."""
    samples: list[Sample] = []
    skipped: list[Skipped] = []
    for item in progress(items, desc=desc, total=total):
        try:
            samples.extend(load_one(item))
        except DataError as exc:
            path = path_of(item)
            reason = str(exc)
            if reason.startswith(f"{path}: "):
                reason = reason[len(path) + 2:]
            log.debug("skipped %s: %s", path, reason)
            skipped.append(Skipped(path, reason, key_of(item) if key_of else ""))
    return samples, skipped
