"""Bundled apps pointed at real sets: the data's own classes, and a split in time when each
class is recorded in one group only (CWRU: one recording per fault)."""

import numpy as np
import pytest

from tinyfuse.fusion.features import adopt_data_classes
from tinyfuse.fusion.pipeline import split_samples
from tinyfuse.fusion.spec import BranchSpec, FusionSpec
from tinyfuse.sensors.sources.base import LoadResult, Sample
from tinyfuse.sensors.spec import ModalitySpec, VectorSpec


def _recordings(n_per_group: int, groups: dict[str, str], *, timed: bool) -> LoadResult:
    samples = []
    for group, label in groups.items():
        for i in range(n_per_group):
            meta = (("start_fraction", i / n_per_group),
                    ("end_fraction", (i + 1) / n_per_group)) if timed else ()
            samples.append(Sample(data={"x": np.zeros(2, np.float32)}, label=label, group=group,
                                  key=f"{group}-{i}", source=f"{group}.mat", meta=meta))
    return LoadResult(samples=tuple(samples), name="toy")


def test_one_group_per_class_splits_each_recording_in_time():
    result = _recordings(20, {"r0": "normal", "r1": "ball", "r2": "inner"}, timed=True)
    split = split_samples(result, test_fraction=0.3, val_fraction=0.2, seed=0)
    assert split.kind == "by time" and split.validation.startswith("by time")
    starts = np.array([s.meta_value("start_fraction") for s in result.samples])
    groups = np.array([s.group for s in result.samples])
    for group in ("r0", "r1", "r2"):
        mine = groups == group
        test = np.isin(np.arange(len(groups)), split.test) & mine
        train = np.isin(np.arange(len(groups)), split.train) & mine
        val = np.isin(np.arange(len(groups)), split.val) & mine
        assert test.any() and train.any() and val.any()
        # every test window comes after every validation window, which come after training
        assert starts[train].max() < starts[val].min() <= starts[val].max() < starts[test].min()
    assert not set(split.train) & set(split.test) and not set(split.val) & set(split.test)


def test_many_groups_per_class_splits_by_group():
    groups = {f"p{i}": ("a" if i % 2 else "b") for i in range(12)}
    result = _recordings(4, groups, timed=True)
    split = split_samples(result, test_fraction=0.3, val_fraction=0.2, seed=0)
    names = np.array([s.group for s in result.samples])
    assert split.kind == "by group"
    assert not set(names[split.test]) & set(names[split.train])
    assert not set(names[split.val]) & set(names[split.train])


@pytest.fixture
def app_spec():
    modality = ModalitySpec(name="x", frontend=VectorSpec(size=2))
    return FusionSpec(modalities=(modality,), classes=("normal", "imbalance"),
                      branches=(BranchSpec(modality="x", block="dense", width=4, depth=1),))


def test_data_classes_replace_the_apps_when_they_differ(app_spec):
    result = _recordings(2, {"r0": "normal", "r1": "OR007@12"}, timed=False)
    adopted = adopt_data_classes(app_spec, result.samples)
    assert adopted.classes == ("OR007@12", "normal")
    assert adopted.branches == app_spec.branches


def test_app_classes_kept_when_the_data_uses_them(app_spec):
    result = _recordings(2, {"r0": "normal"}, timed=False)
    assert adopt_data_classes(app_spec, result.samples) is app_spec
