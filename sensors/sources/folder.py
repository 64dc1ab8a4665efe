"""Generic folder-per-class loader: ``root/<class>/<file>``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, collect
from tinyfuse.sensors.sources.readers import (
    AUDIO_SUFFIXES,
    DEFAULT_RMS_FLOOR,
    IMAGE_SUFFIXES,
    read_audio,
    read_csv_matrix,
    read_image,
)

SUFFIXES = (*AUDIO_SUFFIXES, *IMAGE_SUFFIXES, ".csv")


def class_files(root: Path, *, pattern: str | None, limit: int | None) -> list[tuple[str, Path]]:
    """``(class, file)`` pairs under ``root/<class>/``, sorted; at most ``limit`` per class."""
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    pairs: list[tuple[str, Path]] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(class_dir.glob(pattern) if pattern else class_dir.iterdir())
        files = [f for f in files if f.is_file() and (pattern or f.suffix.lower() in SUFFIXES)]
        pairs.extend((class_dir.name, f) for f in files[:limit])
    return pairs


def load_folder(
    root: str | Path,
    *,
    modality: str = "audio",
    pattern: str | None = None,
    limit: int | None = None,
    rms_floor: float = DEFAULT_RMS_FLOOR,
    csv_columns: int | None = None,
    group_of: Callable[[Path], str] | None = None,
) -> LoadResult:
    """Load ``root/<class>/<file>``: the folder name is the label.

    The reader is chosen by suffix: wav/flac/mp3/ogg -> mono float32 at the file's native
    rate, which meta ``"sample_rate_hz"`` carries (audio is never resampled here: the audio
    front-end resamples; see ``read_audio`` for the header bounds and ``rms_floor``),
    png/npy -> 2-D float32 as stored, csv -> float32 matrix (``csv_columns`` enforces the
    width).

    Parameters
    ----------
    root : path-like
    modality : str
        Data key of every sample (``"audio"``, ``"thermal"``, ``"depth"``, ``"vibration"``).
    pattern : str, optional
        Glob inside each class folder (default: every file with a known suffix).
    limit : int, optional
        At most this many files per class (sorted by name).
    group_of : callable, optional
        File path -> group (e.g. a speaker id parsed from the name). Default: each file is its
        own group, ``"<class>/<stem>"``.

    Returns
    -------
    LoadResult
        Every readable file as a sample; every unreadable one as ``Skipped`` with its reason.
    """
    root = Path(root)
    pairs = class_files(root, pattern=pattern, limit=limit)

    def load_one(pair: tuple[str, Path]) -> list[Sample]:
        label, path = pair
        array, meta = _read_any(path, rms_floor=rms_floor, csv_columns=csv_columns)
        group = group_of(path) if group_of else f"{label}/{path.stem}"
        return [Sample(data={modality: array}, label=label, group=group,
                       key=f"{label}/{path.stem}", source=str(path), meta=meta)]

    samples, skipped = collect(pairs, load_one, path_of=lambda p: str(p[1]),
                               key_of=lambda p: f"{p[0]}/{p[1].stem}", desc=f"load {root.name}",
                               total=len(pairs))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped), name=f"folder:{root}")


def _read_any(path: Path, *, rms_floor: float,
              csv_columns: int | None) -> tuple[np.ndarray, tuple]:
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        signal, rate_hz = read_audio(path, rms_floor=rms_floor)
        return signal, (("sample_rate_hz", rate_hz),)
    if suffix in IMAGE_SUFFIXES:
        return read_image(path), ()
    if suffix == ".csv":
        return read_csv_matrix(path, n_columns=csv_columns).astype(np.float32), ()
    raise DataError(f"{path}: unsupported file type {suffix!r}")
