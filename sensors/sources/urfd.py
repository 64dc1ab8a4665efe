"""UR Fall Detection depth features: headerless CSVs of per-frame Kinect depth features.

Columns: ``seq, frame, label, HeightWidthRatio, MajorMinorRatio, BoundingBoxOccupancy,
MaxStdXZ, HHmaxRatio, H, D, P40``; label -1 not lying, 0 falling, 1 lying. Each frame becomes
a ``{"depth_features": float32 (8,)}`` sample; group = sequence (split by sequence only).
A row that is ragged, non-numeric, NaN/inf or has an unknown label is skipped with its line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, Skipped, collect
from tinyfuse.sensors.sources.readers import check_nonempty

NAME = "urfd_depth_features"
FEATURES = ("HeightWidthRatio", "MajorMinorRatio", "BoundingBoxOccupancy", "MaxStdXZ",
            "HHmaxRatio", "H", "D", "P40")
LABELS = {-1: "not_lying", 0: "falling", 1: "lying"}


def is_urfd(root: Path) -> bool:
    """True when ``root`` holds the URFD feature CSVs."""
    return any(root.glob("*cam0*.csv"))


def load_urfd(root: str | Path, *, limit: int | None = None) -> LoadResult:
    """Load every ``*.csv`` under ``root``.

    Parameters
    ----------
    limit : int, optional
        At most this many sequences per file (in file order).
    """
    root = Path(root)
    files = sorted(root.glob("*.csv"))
    row_skips: list[Skipped] = []

    def load_one(path: Path) -> list[Sample]:
        samples, skips = _read_file(path, limit)
        row_skips.extend(skips)
        return samples

    samples, skipped = collect(files, load_one, path_of=str, desc="urfd", total=len(files))
    return LoadResult(samples=tuple(samples), skipped=(*skipped, *row_skips), name=NAME)


def _read_file(path: Path, limit: int | None) -> tuple[list[Sample], list[Skipped]]:
    path = check_nonempty(path)
    samples: list[Sample] = []
    skips: list[Skipped] = []
    sequences: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            sample = _parse_row(path, number, line)
        except DataError as exc:
            skips.append(Skipped(f"{path}:{number}", str(exc).split(": ", 2)[-1]))
            continue
        if sample.group not in sequences:
            sequences.append(sample.group)
        if limit is not None and len(sequences) > limit:
            break
        samples.append(sample)
    if not samples:
        raise DataError(f"{path}: no usable rows")
    return samples, skips


def _parse_row(path: Path, number: int, line: str) -> Sample:
    cells = [c.strip() for c in line.split(",")]
    if len(cells) != 3 + len(FEATURES):
        raise DataError(f"{path}:{number}: ragged row: {len(cells)} columns, "
                        f"expected {3 + len(FEATURES)}")
    try:
        frame, label_code = int(cells[1]), int(cells[2])
        values = [float(c) for c in cells[3:]]
    except ValueError:
        raise DataError(f"{path}:{number}: non-numeric cell") from None
    if label_code not in LABELS:
        raise DataError(f"{path}:{number}: unknown label {label_code}")
    if not all(math.isfinite(v) for v in values):
        raise DataError(f"{path}:{number}: NaN/inf feature")
    return Sample(data={"depth_features": np.array(values, dtype=np.float32)},
                  label=LABELS[label_code], group=cells[0], key=f"{cells[0]}#{frame}",
                  source=str(path), meta=(("frame", frame),))
