r"""Generic folder-per-class loader: ``root/<class>/<file>`` or ``root/<class>/<group>/<file>``.

A group is what must never sit on both sides of a split (a patient, a recording, a user).
``groups="file"`` (the default) makes every file its own group; ``groups="folder"`` takes the
first sub-folder under the class folder (``cough/patient07/a.wav`` -> ``patient07``), so
``<class>/<recording>/<frame>.png`` keeps a video's frames together; ``group_regex`` takes
the first capture group of a regular expression searched in the path relative to the root
(``r"(p\d+)_"`` -> ``p07`` for ``cough/p07_take2.wav``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, Skipped, collect, spread
from tinyfuse.sensors.sources.readers import (
    AUDIO_SUFFIXES,
    DEFAULT_RMS_FLOOR,
    IMAGE_SUFFIXES,
    as_float32,
    read_audio,
    read_csv_columns,
    read_image,
    read_npz,
)

SUFFIXES = (*AUDIO_SUFFIXES, *IMAGE_SUFFIXES, ".npz", ".csv")


GROUPINGS = ("file", "folder")


def _class_folder_files(root: Path, *, nested: bool, pattern: str = "*"):
    """``(class folder, its files sorted)`` for every class folder of ``root``."""
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        search = class_dir.rglob if nested else class_dir.glob
        yield class_dir, [f for f in sorted(search(pattern)) if f.is_file()]


def class_files(root: Path, *, pattern: str | None, limit: int | None,
                nested: bool = False) -> list[tuple[str, Path]]:
    """``(class, file)`` pairs under ``root/<class>/`` (and its sub-folders when ``nested``),
    sorted; at most ``limit`` per class, spread over the class's files (``base.spread``)."""
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    pairs: list[tuple[str, Path]] = []
    for class_dir, files in _class_folder_files(root, nested=nested, pattern=pattern or "*"):
        readable = [f for f in files if pattern or f.suffix.lower() in SUFFIXES]
        pairs.extend((class_dir.name, f) for f in spread(readable, limit))
    return pairs


def ignored_files(root: Path, *, nested: bool) -> list[Path]:
    """Files in the class folders that no reader takes (listed as skipped, never silently
    dropped)."""
    return [f for _, files in _class_folder_files(root, nested=nested) for f in files
            if f.suffix.lower() not in SUFFIXES and not f.name.startswith(".")]


def _grouping(root: Path, groups: str, group_regex: str | None) -> Callable[[str, Path], str]:
    """``(class, file) -> group`` for the ``groups`` / ``group_regex`` options."""
    if groups not in GROUPINGS:
        raise DataError(f"load_folder: groups={groups!r} must be one of {GROUPINGS}")
    if group_regex is not None:
        try:
            compiled = re.compile(group_regex)
        except re.error as exc:
            raise DataError(f"load_folder: group_regex {group_regex!r}: {exc}") from None
        if compiled.groups < 1:
            raise DataError(f"load_folder: group_regex {group_regex!r} needs a capture group")

        def by_regex(label: str, path: Path) -> str:
            match = compiled.search(path.relative_to(root).as_posix())
            if match is None or not match.group(1):
                raise DataError(f"{path}: group_regex {group_regex!r} does not match its path")
            return match.group(1)

        return by_regex
    if groups == "folder":
        def by_folder(label: str, path: Path) -> str:
            parts = path.relative_to(root / label).parts
            return f"{label}/{parts[0]}" if len(parts) > 1 else f"{label}/{path.stem}"

        return by_folder
    return lambda label, path: f"{label}/{path.stem}"


def load_folder(
    root: str | Path,
    *,
    modality: str = "audio",
    pattern: str | None = None,
    limit: int | None = None,
    rms_floor: float = DEFAULT_RMS_FLOOR,
    csv_columns: int | None = None,
    columns: tuple[str | int, ...] | list | str = (),
    npz_key: str = "",
    group_of: Callable[[Path], str] | None = None,
    groups: str = "file",
    group_regex: str | None = None,
) -> LoadResult:
    """Load ``root/<class>/<file>``: the folder name is the label.

    The reader is chosen by suffix: wav/flac/mp3/ogg -> mono float32 at the file's native
    rate, which meta ``"sample_rate_hz"`` carries (audio is never resampled here: the audio
    front-end resamples; see ``read_audio`` for the header bounds and ``rms_floor``),
    png/npy -> 2-D float32 as stored, npz -> the array ``npz_key`` (the only one by
    default), csv -> float32 matrix: a header line is recognised, ``columns`` keeps the named
    (or 0-based) columns so timestamp and text columns can stay in the file, ``csv_columns``
    enforces the width.

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
        File path -> group (e.g. a speaker id parsed from the name); overrides ``groups``.
    groups : {"file", "folder"}
        ``"file"``: each file is its own group, ``"<class>/<stem>"``; ``"folder"``: files may
        sit in sub-folders of the class folder and the first one names the group.
    group_regex : str, optional
        A regular expression with one capture group, searched in the path relative to
        ``root``: the group (a file it does not match is skipped, with the reason).

    Returns
    -------
    LoadResult
        Every readable file as a sample; every unreadable one as ``Skipped`` with its reason.
    """
    root = Path(root)
    picked = tuple(c.strip() for c in columns.split(",")) if isinstance(columns, str) \
        else tuple(columns)
    grouping = _grouping(root, groups, group_regex)
    pairs = class_files(root, pattern=pattern, limit=limit,
                        nested=groups == "folder" or group_regex is not None)

    def load_one(pair: tuple[str, Path]) -> list[Sample]:
        label, path = pair
        group = group_of(path) if group_of else grouping(label, path)
        array, meta = read_any(path, rms_floor=rms_floor, csv_columns=csv_columns,
                               columns=picked, npz_key=npz_key)
        key = path.relative_to(root).with_suffix("").as_posix()
        return [Sample(data={modality: array}, label=label, group=group, key=key,
                       source=str(path), meta=meta)]

    nested = groups == "folder" or group_regex is not None
    unread = [] if pattern else [
        Skipped(str(f), f"unsupported file type {f.suffix.lower() or '(none)'!r}; readable: "
                        f"{', '.join(SUFFIXES)}") for f in ignored_files(root, nested=nested)]
    samples, skipped = collect(pairs, load_one, path_of=lambda p: str(p[1]),
                               key_of=lambda p: p[1].relative_to(root).with_suffix("").as_posix(),
                               desc=f"load {root.name}",
                               total=len(pairs))
    return LoadResult(samples=tuple(samples), skipped=(*skipped, *unread),
                      name=f"folder:{root}")


def read_any(path: Path, *, rms_floor: float, csv_columns: int | None,
             columns: tuple[str | int, ...] = (), npz_key: str = "") -> tuple[np.ndarray, tuple]:
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        signal, rate_hz = read_audio(path, rms_floor=rms_floor)
        return signal, (("sample_rate_hz", rate_hz),)
    if suffix in IMAGE_SUFFIXES:
        return read_image(path), ()
    if suffix == ".npz":
        return as_float32(path, read_npz(path, key=npz_key)), ()
    if suffix == ".csv":
        return as_float32(path, read_csv_columns(path, columns=columns,
                                                 n_columns=csv_columns)), ()
    raise DataError(f"{path}: unsupported file type {suffix!r}")
