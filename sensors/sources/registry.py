"""Registry of the real datasets: ``load_dataset(name, root)`` and ``detect_dataset(path)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult
from tinyfuse.sensors.sources.ceiling_fan import is_ceiling_fan, load_ceiling_fan
from tinyfuse.sensors.sources.coswara import is_coswara, load_coswara
from tinyfuse.sensors.sources.covid_cough import is_covid_cough, load_covid_cough
from tinyfuse.sensors.sources.cwru import is_cwru, load_cwru
from tinyfuse.sensors.sources.folder import class_files, load_folder
from tinyfuse.sensors.sources.manifest import is_manifest, load_manifest
from tinyfuse.sensors.sources.skab import is_skab, load_skab
from tinyfuse.sensors.sources.thermal_d6t import is_thermal_d6t, load_thermal_d6t
from tinyfuse.sensors.sources.urfd import is_urfd, load_urfd

LOADERS: dict[str, Callable[..., LoadResult]] = {
    "coswara_20200413": load_coswara,
    "covid19_cough": load_covid_cough,
    "thermal_d6t_posture": load_thermal_d6t,
    "urfd_depth_features": load_urfd,
    "cwru_0hp": load_cwru,
    "ceiling_fan": load_ceiling_fan,
    "skab": load_skab,
    "manifest": load_manifest,
}
# Checked in this order; the first match wins.
_DETECTORS: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    ("manifest", is_manifest),
    ("covid19_cough", is_covid_cough),
    ("cwru_0hp", is_cwru),
    ("ceiling_fan", is_ceiling_fan),
    ("skab", is_skab),
    ("thermal_d6t_posture", is_thermal_d6t),
    ("urfd_depth_features", is_urfd),
    ("coswara_20200413", is_coswara),
)


def detect_dataset(path: str | Path) -> str:
    """Name of the dataset ``path`` holds: a registry name or ``"folder"`` (folder-per-class).

    Raises
    ------
    DataError
        If ``path`` is not a directory or matches no known layout.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: " + ("not a directory" if path.exists() else "no such folder"))
    if path.name in LOADERS:
        return path.name
    for name, matches in _DETECTORS:
        if matches(path):
            return name
    if class_files(path, pattern=None, limit=1, nested=True):
        return "folder"
    raise DataError(f"{path}: no known dataset layout and no <class>/<file> folders")


def load_dataset(name: str, root: str | Path, **options: Any) -> LoadResult:
    """Load dataset ``name`` (a registry name, ``"folder"`` or ``"auto"``) from ``root``.

    ``options`` go to the loader (e.g. ``limit=``); see each loader for its options. Two
    options work with every loader (:func:`regroup`): ``group_by`` (a meta key, e.g.
    ``speed``, ``room``, ``source``: the samples' group becomes its value, so splits and
    per-group tables follow that domain; ``"file"``: each file its own group),
    ``keep_groups`` (only these groups, after ``group_by``) and ``keep_labels`` (only these
    labels); lists or comma-separated strings.
    """
    group_by = options.pop("group_by", None)
    groups = options.pop("keep_groups", None)
    labels = options.pop("keep_labels", None)
    if name == "auto":
        name = detect_dataset(root)
    if name != "folder" and name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; known: {sorted(LOADERS)} or 'folder'")
    loader = load_folder if name == "folder" else LOADERS[name]
    try:
        loaded = loader(root, **options)
    except TypeError as exc:  # an option the loader does not take
        raise DataError(f"{name}: bad loader option ({exc})") from None
    return regroup(loaded, group_by=group_by, groups=groups, labels=labels,
                   where=str(root))


FILE_GROUPS = "file"


def regroup(loaded: LoadResult, *, group_by: Any = None, groups: Any = None,
            labels: Any = None, where: str = "data") -> LoadResult:
    """``loaded`` with each sample's group replaced by its meta value ``group_by`` (or by its
    file, for ``group_by="file"``) and only the samples of ``groups`` and ``labels`` kept (each
    may be ``None``: unchanged)."""
    samples = loaded.samples
    notes = list(loaded.notes)
    if group_by == FILE_GROUPS:
        samples = tuple(replace(s, group=str(s.source)) for s in samples)
        notes.append("every file is its own group (group_by='file': rows of one recording "
                     "stay together, recordings of one person or machine do not)")
    elif group_by is not None:
        key = str(group_by)
        lacking = [s.source for s in samples if key not in dict(s.meta)]
        if lacking:
            known = sorted({k for s in samples for k, _ in s.meta})
            raise DataError(f"{where}: group_by={key!r}: {len(lacking)} sample(s) have no "
                            f"such meta value (e.g. {lacking[0]}); meta keys: {known}")
        samples = tuple(replace(s, group=str(dict(s.meta)[key])) for s in samples)
        notes.append(f"groups are the samples' {key!r}")
    for what, wanted_raw in (("groups", groups), ("labels", labels)):
        if wanted_raw is None:
            continue
        wanted = _names(wanted_raw)
        value_of = _group_of if what == "groups" else _label_of
        present = sorted({value_of(s) for s in samples})
        unknown = [g for g in wanted if g not in present]
        if not wanted or unknown:
            raise DataError(f"{where}: keep_{what}={wanted}: {unknown or 'nothing'} not among "
                            f"the data's {what} {present[:20]}")
        samples = tuple(s for s in samples if value_of(s) in wanted)
        notes.append(f"kept {what} {wanted}")
    if samples is loaded.samples:
        return loaded
    return replace(loaded, samples=samples, notes=tuple(notes))



def _group_of(sample) -> str:
    return str(sample.group)


def _label_of(sample) -> str:
    return str(sample.label)


def _names(value: Any) -> list[str]:
    """A list of names from a list or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [item.strip() for item in items if item.strip()]
