"""Group-aware splits: train / validation / test of a loaded data set (:func:`split_samples`,
by group or in time), a validation part carved from the training rows, and grouped k-fold
cross-validation.

A *group* is whatever must never sit on both sides of a split (a participant, a volunteer, a
recording). Validation decisions (student search, whether to run QAT) are made on rows the
model did not train on; when the training side has too few groups to give whole groups away,
the fallbacks hold out rows instead and say so in ``Carved.how``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyfuse.core.errors import DataError

log = logging.getLogger(__name__)

MIN_TRAIN_GROUPS = 2
MAX_OVERSHOOT = 1.5  # a validation group may take the validation part to 1.5x its target


@dataclass(frozen=True, slots=True, kw_only=True)
class Carved:
    """Row indices (into the arrays given) of the training and validation parts, and how the
    validation part was made (``held-out groups: ...``, ``held-out rows: ...`` or
    ``held-out time tail: ...``)."""

    train: np.ndarray
    val: np.ndarray
    how: str

    @property
    def by_group(self) -> bool:
        return self.how.startswith("held-out groups")


def _majority(labels: np.ndarray) -> int:
    return Counter(labels.tolist()).most_common(1)[0][0]


def interleaved_groups(groups: np.ndarray, labels: np.ndarray, *, seed: int) -> list[str]:
    """Every group once: shuffled within its stratum (the group's majority label), then the
    strata dealt round-robin so that any prefix is roughly balanced by label."""
    rng = np.random.default_rng(seed)
    strata: dict[int, list[str]] = {}
    for group in sorted(set(groups.tolist())):
        strata.setdefault(_majority(labels[groups == group]), []).append(group)
    queues = [list(rng.permutation(strata[key])) for key in sorted(strata)]
    order: list[str] = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(str(queue.pop(0)))
    return order


def _can_take(group: str, groups, labels, taken: set[str], budget_rows: float) -> bool:
    """Whether moving ``group`` to validation keeps every class and enough groups training
    and does not overshoot the validation size."""
    in_val = np.isin(groups, [*taken, group])
    remaining = set(groups[~in_val].tolist())
    if len(remaining) < MIN_TRAIN_GROUPS or in_val.sum() > budget_rows:
        return False
    return set(labels[~in_val].tolist()) == set(labels.tolist())


def validation_split(groups: np.ndarray, labels: np.ndarray, *, fraction: float, seed: int,
                     fallback: str = "rows") -> Carved:
    """Carve about ``fraction`` of the rows into whole validation groups.

    Groups are taken in ``interleaved_groups`` order while the training side keeps at least
    ``MIN_TRAIN_GROUPS`` groups and a row of every class, and validation stays under
    ``MAX_OVERSHOOT`` times its target. When no group can be taken, ``fallback`` decides:
    ``"rows"`` (``held_out_rows``, stratified by label) or ``"time"`` (``time_tail``: the
    rows are in time order within each group).

    Parameters
    ----------
    groups, labels : ndarray, shape (n,)
    fraction : float
        In (0, 1).

    Returns
    -------
    Carved
    """
    groups, labels = np.asarray(groups).astype(str), np.asarray(labels)
    if not 0.0 < fraction < 1.0 or len(groups) != len(labels) or len(groups) < 2:
        raise DataError(f"validation_split: fraction {fraction} must be in (0, 1) and "
                        f"groups/labels need the same length >= 2")
    target = fraction * len(groups)
    taken: set[str] = set()
    for group in interleaved_groups(groups, labels, seed=seed):
        if np.isin(groups, list(taken)).sum() >= target:
            break
        if _can_take(group, groups, labels, taken, MAX_OVERSHOOT * target):
            taken.add(group)
    if taken:
        in_val = np.isin(groups, list(taken))
        n_groups = len(set(groups.tolist()))
        return Carved(train=np.flatnonzero(~in_val), val=np.flatnonzero(in_val),
                      how=f"held-out groups: {len(taken)} of {n_groups}")
    return _fallback(groups, labels, fraction=fraction, seed=seed, kind=fallback)


def _fallback(groups, labels, *, fraction: float, seed: int, kind: str) -> Carved:
    n_groups = len(set(groups.tolist()))
    reason = (f"{n_groups} training groups cannot spare a whole group (each class must keep "
              f"training rows and {MIN_TRAIN_GROUPS} groups must train)")
    if kind == "time":
        train, val = time_tail(groups, fraction=fraction)
        how = f"held-out time tail: the last {fraction:.0%} of every group; {reason}"
    else:
        train, val = held_out_rows(labels, fraction=fraction, seed=seed)
        how = f"held-out rows: {fraction:.0%} of every class at random; {reason}"
    log.warning("validation: %s", how)
    return Carved(train=train, val=val, how=how)


def held_out_rows(labels: np.ndarray, *, fraction: float, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` row indices: ``round(fraction * n)`` rows of every label with at least
    two rows (at least one, never all) go to validation, drawn with ``seed``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        val.extend(rng.choice(members, size=count, replace=False).tolist())
    chosen = np.isin(np.arange(len(labels)), val)
    return np.flatnonzero(~chosen), np.flatnonzero(chosen)


def time_tail(groups: np.ndarray, *, fraction: float, gap: int = 1
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` row indices: the last ``round(fraction * n)`` rows of every group (in
    the given order) validate, the ``gap`` rows just before them are dropped (overlapping
    windows), the rest train. Groups with fewer than ``gap + 2`` rows only train."""
    groups = np.asarray(groups).astype(str)
    train: list[int] = []
    val: list[int] = []
    for group in sorted(set(groups.tolist())):
        rows = np.flatnonzero(groups == group)
        count = max(1, round(fraction * len(rows)))
        if len(rows) < gap + 2:
            train.extend(rows.tolist())
            continue
        count = min(count, len(rows) - gap - 1)
        val.extend(rows[len(rows) - count:].tolist())
        train.extend(rows[:len(rows) - count - gap].tolist())
    return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(val, np.int64))


def grouped_folds(groups: np.ndarray, labels: np.ndarray, *, k: int, seed: int
                  ) -> list[np.ndarray]:
    """``k`` disjoint arrays of test row indices that cover every row exactly once; a group
    is always whole, and groups are dealt to the folds in ``interleaved_groups`` order so
    every fold gets a similar mix of labels.

    Raises
    ------
    DataError
        Fewer groups than folds.
    """
    groups = np.asarray(groups).astype(str)
    order = interleaved_groups(groups, np.asarray(labels), seed=seed)
    if not 2 <= k <= len(order):
        raise DataError(f"grouped_folds: k={k} needs 2 <= k <= {len(order)} groups")
    folds: list[list[str]] = [[] for _ in range(k)]
    for position, group in enumerate(order):
        folds[position % k].append(group)
    return [np.flatnonzero(np.isin(groups, fold)) for fold in folds]


@dataclass
class Split:
    """Sample rows of the train / validation / test parts; the three are disjoint.

    ``kind`` is ``"by group"`` (no group on both sides) or ``"by time"`` (every recording
    split in time). ``validation`` says how ``val`` was made (``tinyfuse.fusion.split.Carved.how``):
    whole held-out groups, or held-out rows / time tails when there are too few groups.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str
    validation: str


def split_by_group(result, *, test_fraction: float, val_fraction: float, seed: int,
                   test_groups: tuple[str, ...] = ()) -> Split:
    """Test groups first (``test_groups`` when given, else drawn by
    ``LoadResult.group_split``), then validation carved from the rest: train = all - test -
    val (``tinyfuse.fusion.split.validation_split``; it logs a warning when it must fall back to
    rows)."""
    groups = np.array([s.group for s in result.samples])
    if test_groups:
        unknown = sorted(set(test_groups) - set(groups.tolist()))
        if unknown:
            raise DataError(f"{result.name}: data.test_groups {unknown} are not groups of the "
                            f"data (it has {sorted(set(groups.tolist()))[:20]})")
        chosen = set(test_groups)
    else:
        train_part, test_part = result.group_split(test_fraction=test_fraction, seed=seed)
        chosen = {s.group for s in test_part.samples}
    if not chosen or chosen >= set(groups.tolist()):
        raise DataError(f"{result.name}: too few groups for a train/test split by group")
    test_groups = tuple(sorted(chosen))
    labels = np.array([s.label for s in result.samples])
    test = np.flatnonzero(np.isin(groups, list(test_groups)))
    rest = np.flatnonzero(~np.isin(groups, list(test_groups)))
    carved = validation_split(groups[rest], labels[rest], fraction=val_fraction, seed=seed + 1)
    log.info("validation: %s (%d rows); %d training rows", carved.how, len(carved.val),
             len(carved.train))
    return Split(train=rest[carved.train], val=rest[carved.val], test=test, kind="by group",
                 validation=carved.how)


def _time_positions(samples) -> np.ndarray | None:
    starts = [s.meta_value("start_fraction") for s in samples]
    if all(isinstance(v, int | float) for v in starts):
        return np.asarray(starts, np.float64)
    return None


def split_by_time(result, *, test_fraction: float, val_fraction: float, seed: int) -> Split:
    """The last ``test_fraction`` of every recording tests, the tail of what remains
    validates (one window between the parts is dropped: windows may overlap)."""
    groups = np.array([s.group for s in result.samples])
    labels = np.array([s.label for s in result.samples])
    positions = _time_positions(result.samples)
    if positions is None:
        raise DataError(f"{result.name}: a split in time needs every sample's start_fraction")
    order = np.argsort(positions, kind="stable")
    rest, test = time_tail(groups[order], fraction=test_fraction)
    rest, test = order[rest], order[test]
    carved = validation_split(groups[rest], labels[rest], fraction=val_fraction, seed=seed + 1,
                              fallback="time")
    how = f"by time within each recording; validation: {carved.how}"
    log.warning("%s: %s", result.name, how)
    return Split(train=rest[carved.train], val=rest[carved.val], test=np.sort(test),
                 kind="by time", validation=how)


def split_mismatch(split: Split) -> str:
    """A sentence when validation was held out differently from the test part (""
    otherwise): then the validation scores that chose the model measure another thing than
    the test does (in-domain rows against new groups, or the reverse)."""
    kind = split.kind
    validation = split.validation.split("; by time within")[0]  # a hybrid's grouped part
    if kind.startswith("by group") and ("held-out rows" in validation or
                                        "held-out time tail" in validation):
        return ("validation was held out as rows or time tails of the training groups while "
                "the test holds out whole groups: the validation scores that chose this model "
                "are in-domain and cannot see the shift to a new group")
    if kind == "by time" and "held-out groups" in validation:
        return ("validation held out whole groups while the test is the tail of every "
                "recording: the model was chosen on new groups and tested in-domain")
    return ""


def split_samples(result, *, test_fraction: float, val_fraction: float, seed: int,
                  test_groups: tuple[str, ...] = (), how: str = "auto") -> Split:
    """By group, unless some class is recorded in one group only and its samples know their
    time position: a group split would then test a class it never trained on.

    * Every class in one group (CWRU: one recording per fault): each recording is split in
      time (:func:`split_by_time`).
    * Some classes in one group (the D6T set's empty rooms, recorded without a volunteer):
      those classes' recordings are split in time, every other class by group
      (:func:`split_by_group`), and the two are joined; ``kind`` says so.

    ``test_groups`` names the groups that test (``[data] test_groups``); drawn otherwise.
    ``how`` (``[data] split``): ``"auto"`` as above, ``"group"`` always by group, ``"time"``
    every recording in time (an in-domain split, to compare with a split across groups).
    """
    options: dict[str, Any] = {"test_fraction": test_fraction, "val_fraction": val_fraction,
                               "seed": seed}
    if how == "time":
        if _time_positions(list(result.samples)) is None:
            raise DataError("[data] split = \"time\": these samples carry no time position "
                            "(start_fraction)")
        return split_by_time(result, **options)
    if how == "group":
        return split_by_group(result, test_groups=test_groups, **options)
    groups = np.array([s.group for s in result.samples])
    labels = np.array([s.label for s in result.samples])
    lonely = [c for c in sorted(set(labels.tolist()))
              if len(set(groups[labels == c].tolist())) < 2]
    in_time = np.flatnonzero(np.isin(labels, lonely))
    by_group = np.flatnonzero(~np.isin(labels, lonely))
    timed = _time_positions([result.samples[i] for i in in_time]) is not None
    separate = not set(groups[in_time].tolist()) & set(groups[by_group].tolist())
    if lonely and timed and len(by_group) == 0:
        log.info("classes %s are each recorded in one group only", lonely)
        return split_by_time(result, **options)
    if lonely and timed and separate:
        log.info("classes %s are each recorded in one group only: split in time", lonely)
        grouped = split_by_group(_subset(result, by_group), test_groups=test_groups, **options)
        tailed = split_by_time(_subset(result, in_time), **options)
        return Split(**{part: np.sort(np.concatenate([by_group[getattr(grouped, part)],
                                                      in_time[getattr(tailed, part)]]))
                        for part in ("train", "val", "test")},
                     kind="by group; by time for classes recorded in one group only",
                     validation=f"{grouped.validation}; {tailed.validation}")
    return split_by_group(result, test_groups=test_groups, **options)


def _subset(result, rows: np.ndarray):
    """``result`` with only the samples at ``rows`` (a ``LoadResult`` with the same name)."""
    return dataclasses.replace(result, samples=tuple(result.samples[i] for i in rows),
                               skipped=())
