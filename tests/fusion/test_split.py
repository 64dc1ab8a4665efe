"""Validation carved from training groups, its fallbacks, and grouped k-fold folds."""

from __future__ import annotations

import numpy as np
import pytest

from tinyfuse.core.errors import DataError
from tinyfuse.fusion.split import (
    grouped_folds,
    held_out_rows,
    interleaved_groups,
    time_tail,
    validation_split,
)


def _groups_and_labels(n_groups: int, rows_per_group: int, n_classes: int):
    groups = np.repeat([f"g{i:02d}" for i in range(n_groups)], rows_per_group)
    labels = np.repeat(np.arange(n_groups) % n_classes, rows_per_group)
    return groups, labels


def test_validation_takes_whole_groups_and_keeps_every_class_training():
    groups, labels = _groups_and_labels(20, 5, 2)
    carved = validation_split(groups, labels, fraction=0.2, seed=0)
    assert carved.by_group and carved.how == "held-out groups: 4 of 20"
    assert not set(groups[carved.train]) & set(groups[carved.val])
    assert sorted(np.r_[carved.train, carved.val].tolist()) == list(range(100))
    assert len(carved.val) == 20
    assert set(labels[carved.val]) == {0, 1}  # interleaved: both labels are held out
    again = validation_split(groups, labels, fraction=0.2, seed=0)
    assert np.array_equal(again.val, carved.val)


def test_a_class_living_in_one_group_is_never_held_out():
    groups = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 4 + ["d"] * 4)
    labels = np.array([0] * 4 + [0] * 4 + [0] * 4 + [1] * 4)  # class 1 only in group d
    for seed in range(5):
        carved = validation_split(groups, labels, fraction=0.25, seed=seed)
        assert "d" not in set(groups[carved.val]) and carved.by_group


def test_falls_back_to_rows_or_time_tail_when_no_group_can_go():
    groups = np.array(["a"] * 10 + ["b"] * 10)
    labels = np.array([0] * 10 + [1] * 10)  # one group per class
    rows = validation_split(groups, labels, fraction=0.2, seed=0)
    assert rows.how.startswith("held-out rows") and len(rows.val) == 4
    assert set(labels[rows.val]) == {0, 1}
    tail = validation_split(groups, labels, fraction=0.2, seed=0, fallback="time")
    assert tail.how.startswith("held-out time tail")
    assert tail.val.tolist() == [8, 9, 18, 19]
    assert tail.train.tolist() == [*range(0, 7), *range(10, 17)]  # one-window gap dropped


def test_held_out_rows_and_time_tail_known_answers():
    train, val = held_out_rows(np.array([0, 0, 0, 0, 1]), fraction=0.5, seed=0)
    assert len(val) == 2 and 4 in train  # a one-row class only trains
    train, val = time_tail(np.array(["x"] * 5), fraction=0.4, gap=1)
    assert val.tolist() == [3, 4] and train.tolist() == [0, 1]


def test_grouped_folds_test_every_group_exactly_once():
    groups, labels = _groups_and_labels(23, 3, 2)
    folds = grouped_folds(groups, labels, k=5, seed=1)
    every = np.concatenate(folds)
    assert sorted(every.tolist()) == list(range(len(groups)))
    for a in range(5):
        for b in range(a + 1, 5):
            assert not set(groups[folds[a]]) & set(groups[folds[b]])
    assert all(set(labels[fold]) == {0, 1} for fold in folds)
    with pytest.raises(DataError, match="k=30"):
        grouped_folds(groups, labels, k=30, seed=0)


def test_interleaved_groups_alternate_strata():
    groups, labels = _groups_and_labels(6, 2, 2)
    order = interleaved_groups(groups, labels, seed=3)
    strata = [int(g[1:]) % 2 for g in order]
    assert strata == [0, 1, 0, 1, 0, 1]


def test_classes_of_one_group_are_split_in_time_the_rest_by_group():
    from tinyfuse.fusion.split import split_samples
    from tinyfuse.sensors.sources.base import LoadResult, Sample

    def sample(group: str, label: str, index: int, count: int) -> Sample:
        return Sample(data={"x": np.zeros(2, np.float32)}, label=label, group=group,
                      key=f"{group}/{label}/{index}", source=f"mem:{group}",
                      meta=(("start_fraction", index / count),))

    samples = [sample(f"p{g}", label, i, 10) for g in range(6) for label in ("sit", "lie")
               for i in range(10)]
    samples += [sample("none", "empty", i, 40) for i in range(40)]  # recorded without a person
    result = LoadResult(samples=tuple(samples), name="mem")
    split = split_samples(result, test_fraction=0.34, val_fraction=0.25, seed=0)
    assert split.kind == "by group; by time for classes recorded in one group only"
    groups = np.array([s.group for s in samples])
    labels = np.array([s.label for s in samples])
    parts = {name: getattr(split, name) for name in ("train", "val", "test")}
    people = {name: set(groups[rows]) - {"none"} for name, rows in parts.items()}
    assert not people["train"] & people["test"] and not people["val"] & people["test"]
    for name, rows in parts.items():  # every class on every side
        assert set(labels[rows]) == {"sit", "lie", "empty"}, name
    empty_test = [samples[i].meta_value("start_fraction") for i in parts["test"]
                  if labels[i] == "empty"]
    empty_train = [samples[i].meta_value("start_fraction") for i in parts["train"]
                   if labels[i] == "empty"]
    assert min(empty_test) > max(empty_train)  # the tail of the recording tests
    assert sorted(np.concatenate(list(parts.values())).tolist()) == sorted(
        set(np.concatenate(list(parts.values())).tolist()))


def test_named_test_groups_are_the_test_part():
    from tinyfuse.fusion.split import split_by_group
    from tinyfuse.sensors.sources.base import LoadResult, Sample

    samples = tuple(Sample(data={"x": np.zeros(1, np.float32)}, label=("a", "b")[i % 2],
                           group=f"p{g}", key=f"{g}/{i}", source="mem")
                    for g in range(5) for i in range(4))
    result = LoadResult(samples=samples, name="mem")
    split = split_by_group(result, test_fraction=0.3, val_fraction=0.25, seed=0,
                           test_groups=("p1", "p3"))
    groups = np.array([s.group for s in samples])
    assert set(groups[split.test]) == {"p1", "p3"} and len(split.test) == 8
    with pytest.raises(DataError, match=r"data.test_groups \['p9'\] are not groups"):
        split_by_group(result, test_fraction=0.3, val_fraction=0.25, seed=0,
                       test_groups=("p9",))


def test_split_time_keeps_every_group_on_every_side_and_group_never_mixes():
    from tinyfuse.fusion.split import split_samples
    from tinyfuse.sensors.sources.base import LoadResult, Sample

    samples = tuple(Sample(data={"x": np.zeros(1, np.float32)}, label=("a", "b")[g % 2],
                           group=f"p{g}", key=f"{g}/{i}", source="mem",
                           meta=(("start_fraction", i / 10),))
                    for g in range(6) for i in range(10))
    result = LoadResult(samples=samples, name="mem")
    groups = np.array([s.group for s in samples])
    timed = split_samples(result, test_fraction=0.3, val_fraction=0.25, seed=0, how="time")
    assert set(groups[timed.test]) == set(groups)  # in-domain: every group tests its tail
    grouped = split_samples(result, test_fraction=0.3, val_fraction=0.25, seed=0, how="group")
    assert not set(groups[grouped.test]) & set(groups[grouped.train])
    untimed = LoadResult(samples=tuple(Sample(data=s.data, label=s.label, group=s.group,
                                              key=s.key, source=s.source) for s in samples),
                         name="mem")
    with pytest.raises(DataError, match="carry no time position"):
        split_samples(untimed, test_fraction=0.3, val_fraction=0.25, seed=0, how="time")


def test_a_validation_split_unlike_the_test_split_is_named():
    from tinyfuse.fusion.split import Split, split_mismatch

    rows = np.arange(3)
    grouped = Split(train=rows, val=rows, test=rows, kind="by group",
                    validation="held-out groups: 1 of 4")
    assert split_mismatch(grouped) == ""
    rows_val = Split(train=rows, val=rows, test=rows, kind="by group",
                     validation="held-out rows: 50% of every class at random; 2 groups")
    assert "cannot see the shift to a new group" in split_mismatch(rows_val)
    timed = Split(train=rows, val=rows, test=rows, kind="by time",
                  validation="by time within each recording; validation: held-out groups: 1 of 3")
    assert "tested in-domain" in split_mismatch(timed)
    hybrid = Split(train=rows, val=rows, test=rows,
                   kind="by group; by time for classes recorded in one group only",
                   validation="held-out groups: 1 of 3; by time within each recording; "
                              "validation: held-out time tail: the last 25%")
    assert split_mismatch(hybrid) == ""
