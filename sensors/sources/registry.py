"""Registry of the real datasets: ``load_dataset(name, root)`` and ``detect_dataset(path)``."""

from __future__ import annotations

from collections.abc import Callable
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
from tinyfuse.sensors.sources.thermal_d6t import is_thermal_d6t, load_thermal_d6t
from tinyfuse.sensors.sources.urfd import is_urfd, load_urfd

LOADERS: dict[str, Callable[..., LoadResult]] = {
    "coswara_20200413": load_coswara,
    "covid19_cough": load_covid_cough,
    "thermal_d6t_posture": load_thermal_d6t,
    "urfd_depth_features": load_urfd,
    "cwru_0hp": load_cwru,
    "ceiling_fan": load_ceiling_fan,
    "manifest": load_manifest,
}
# Checked in this order; the first match wins.
_DETECTORS: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    ("manifest", is_manifest),
    ("covid19_cough", is_covid_cough),
    ("cwru_0hp", is_cwru),
    ("ceiling_fan", is_ceiling_fan),
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
        raise DataError(f"{path}: not a directory")
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

    ``options`` go to the loader (e.g. ``limit=``); see each loader for its options.
    """
    if name == "auto":
        name = detect_dataset(root)
    if name != "folder" and name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; known: {sorted(LOADERS)} or 'folder'")
    loader = load_folder if name == "folder" else LOADERS[name]
    try:
        return loader(root, **options)
    except TypeError as exc:  # an option the loader does not take
        raise DataError(f"{name}: bad loader option ({exc})") from None
