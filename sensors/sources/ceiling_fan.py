"""Ceiling fan (MSA301, 3 axes, ~200 Hz): ``ceiling-fan/fan_0_<speed>_<w>_weight/NNNN.csv``.

Each CSV is one 1-s window of 200 rows x (x, y, z) in g, as ``{"vibration": float32 (200, 3)}``.
Labels: ``normal`` (``_0_weight``), ``imbalance`` (``_1_weight``: coin on a blade), ``moved``
(``-moving``: mount moved); meta keeps ``speed`` (off/low/med/high). Group = recording folder.
Windows are numbered in time, so meta carries ``start_fraction``/``end_fraction`` for
:meth:`LoadResult.time_split`. ``split="deploy"`` loads ``ceiling-fan-deploy/`` (a later
recording, label ``unknown``: the set does not say whether it is normal).
"""

from __future__ import annotations

import re
from pathlib import Path

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, collect
from tinyfuse.sensors.sources.readers import as_float32, read_csv_matrix

NAME = "ceiling_fan"
SAMPLE_RATE_HZ = 200.0
N_ROWS = 200
_FOLDER = re.compile(r"^fan_\d+_(?P<speed>off|low|med|high)(_(?P<weight>\d)_weight)?"
                     r"(?P<moving>-moving)?(?P<deploy>-deploy)?$")


def is_ceiling_fan(root: Path) -> bool:
    """True when ``root`` holds ``ceiling-fan/fan_*`` (or is that folder)."""
    return any(root.glob("ceiling-fan/fan_*")) or any(root.glob("fan_*_weight*"))


def label_of(folder: Path) -> tuple[str, str]:
    """(label, speed) from a recording folder name (``DataError`` if unknown)."""
    match = _FOLDER.match(folder.name)
    if not match:
        raise DataError(f"{folder}: folder name is not fan_<n>_<speed>_<w>_weight[-moving]")
    if match["deploy"]:
        return "unknown", match["speed"]
    if match["moving"]:
        return "moved", match["speed"]
    return ("imbalance" if match["weight"] == "1" else "normal"), match["speed"]


def load_ceiling_fan(root: str | Path, *, split: str = "train",
                     limit: int | None = None) -> LoadResult:
    """Load the windows of the training (``split="train"``) or deploy recordings.

    Parameters
    ----------
    limit : int, optional
        At most this many windows per recording folder (the first ones in time).
    """
    root = Path(root)
    if split not in ("train", "deploy"):
        raise DataError(f"load_ceiling_fan: split={split!r} must be 'train' or 'deploy'")
    base = root / ("ceiling-fan" if split == "train" else "ceiling-fan-deploy")
    if not base.is_dir():
        base = root
    folders = sorted(d for d in base.iterdir() if d.is_dir() and d.name.startswith("fan_"))
    items = [(folder, path, index, n)
             for folder in folders
             for files in [sorted(folder.glob("*.csv"))]
             for n in [len(files)]
             for index, path in enumerate(files[:limit])]

    def load_one(item: tuple[Path, Path, int, int]) -> list[Sample]:
        folder, path, index, n_files = item
        label, speed = label_of(folder)
        window = read_csv_matrix(path, n_columns=3)
        if window.shape[0] != N_ROWS:
            raise DataError(f"{path}: {window.shape[0]} rows, expected {N_ROWS}")
        return [Sample(data={"vibration": as_float32(path, window)}, label=label,
                       group=folder.name, key=f"{folder.name}/{path.stem}", source=str(path),
                       meta=(("speed", speed), ("index", index),
                             ("sample_rate_hz", SAMPLE_RATE_HZ),
                             ("start_fraction", index / n_files),
                             ("end_fraction", (index + 1) / n_files)))]

    samples, skipped = collect(items, load_one, path_of=lambda i: str(i[1]),
                               desc="ceiling_fan", total=len(items))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped),
                      name=NAME if split == "train" else f"{NAME}:deploy")
