"""File readers (I/O only). Each returns plain arrays or raises ``DataError`` naming the file
and what is wrong: empty, truncated, corrupt, absurd header, NaN/inf, ragged rows, near-silent.

Sample-rate policy (``read_audio``): audio is returned at its native rate, never resampled;
the rate travels in the sample's meta (``"sample_rate_hz"``) and the audio front-end
(``tinyfuse.sensors.frontends.extract``) is the one place that resamples, so training and
serving compute the same features. The header is checked before anything is decoded: a rate
outside ``AUDIO_NATIVE_RATE_RANGE_HZ``, a length over ``max_duration_s`` or a decoded size over
``MAX_AUDIO_VALUES`` is rejected, so no header can make a reader (or a later step) allocate
without bound.
"""

from __future__ import annotations

import math
import struct
import zipfile
from pathlib import Path

import numpy as np

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.spec import AUDIO_NATIVE_RATE_RANGE_HZ

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
IMAGE_SUFFIXES = (".png", ".npy")
DEFAULT_RMS_FLOOR = 1e-4  # -80 dBFS: below this a recording is treated as silent
MAX_AUDIO_DURATION_S = 600.0  # 10 min: longer recordings are rejected before decoding
MAX_NPZ_BYTES = 1 << 28  # 256 MiB inflated at most
MAX_AUDIO_VALUES = 1 << 27  # frames x channels decoded at most: 512 MiB of float32


def _fail(path: str | Path, problem: str) -> DataError:
    return DataError(f"{path}: {problem}")


def check_nonempty(path: str | Path) -> Path:
    """Return ``path`` as a Path; raise ``DataError`` when missing or 0 bytes."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "not found or not a regular file")
    if path.stat().st_size == 0:
        raise _fail(path, "empty file (0 bytes)")
    return path


def check_finite(path: str | Path, array: np.ndarray) -> np.ndarray:
    """Raise ``DataError`` naming the first NaN/inf position; return ``array`` otherwise."""
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise _fail(path, f"{int(bad.sum())} NaN/inf value(s), first at index {where}")
    return array


def as_float32(path: str | Path, array: np.ndarray) -> np.ndarray:
    """``array`` as float32, refusing values the cast turns into inf (beyond +-3.4e38)."""
    values = np.asarray(array)
    with np.errstate(over="ignore"):
        cast = values.astype(np.float32)
    if np.isfinite(values).all() and not np.isfinite(cast).all():
        raise _fail(path, "values beyond the float32 range (about 3.4e38)")
    return check_finite(path, cast)


def read_audio(
    path: str | Path,
    *,
    rms_floor: float = DEFAULT_RMS_FLOOR,
    min_duration_s: float = 0.0,
    max_duration_s: float = MAX_AUDIO_DURATION_S,
) -> tuple[np.ndarray, int]:
    """Read a wav/flac/mp3/ogg file as mono float32 in [-1, 1] at its native rate.

    Parameters
    ----------
    path : path-like
    rms_floor : float
        Recordings whose RMS is below this are rejected as near-silent (0 disables).
    min_duration_s : float
        Recordings shorter than this are rejected.
    max_duration_s : float
        Recordings whose header claims more than this are rejected before decoding.

    Returns
    -------
    (signal, rate_hz) : tuple of np.ndarray and int
        ``signal`` has shape ``(n_samples,)``, float32 (channels averaged), at the file's own
        rate ``rate_hz`` (in ``AUDIO_NATIVE_RATE_RANGE_HZ``); it is never resampled.

    Raises
    ------
    DataError
        Empty, truncated or corrupt file, a header claiming a rate outside
        ``AUDIO_NATIVE_RATE_RANGE_HZ`` or a length over ``max_duration_s`` or
        ``MAX_AUDIO_VALUES``, NaN/inf samples, no frames, too short, or near-silent.
    """
    import soundfile

    path = check_nonempty(path)
    if path.suffix.lower() == ".wav":
        _check_wav_complete(path)
    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate_hz, n_frames = int(handle.samplerate), int(handle.frames)
            _check_audio_header(path, rate_hz=rate_hz, n_frames=n_frames,
                                n_channels=int(handle.channels), max_duration_s=max_duration_s)
            signal = handle.read(frames=n_frames, dtype="float32", always_2d=True)
    except DataError:
        raise
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        detail = _short(str(exc).replace(f"Error opening {str(path)!r}: ", "").split(".[")[0])
        raise _fail(path, f"corrupt or undecodable audio ({path.stat().st_size} bytes; "
                          f"libsndfile: {detail})") from None
    if signal.shape[0] == 0:
        raise _fail(path, "no audio frames (header only)")
    signal = check_finite(path, signal.mean(axis=1, dtype=np.float32))
    _check_level(path, signal, rate_hz, rms_floor=rms_floor, min_duration_s=min_duration_s)
    return signal, rate_hz


def _check_audio_header(path: Path, *, rate_hz: int, n_frames: int, n_channels: int,
                        max_duration_s: float) -> None:
    """Bound what a header claims before anything is decoded (``DataError`` naming the file)."""
    low, high = AUDIO_NATIVE_RATE_RANGE_HZ
    if not low <= rate_hz <= high:
        raise _fail(path, f"header claims sample rate {rate_hz} Hz, outside [{low}, {high}] Hz")
    if n_frames / rate_hz > max_duration_s:
        raise _fail(path, f"too long: header claims {n_frames} frames at {rate_hz} Hz "
                          f"({n_frames / rate_hz:.1f} s > {max_duration_s} s)")
    if n_frames * max(n_channels, 1) > MAX_AUDIO_VALUES:
        raise _fail(path, f"too large: header claims {n_frames} frames x {n_channels} channels "
                          f"(> {MAX_AUDIO_VALUES} values)")


def _check_level(path: Path, signal: np.ndarray, rate_hz: float, *, rms_floor: float,
                 min_duration_s: float) -> None:
    duration_s = signal.shape[0] / rate_hz
    if duration_s < min_duration_s:
        raise _fail(path, f"too short: {duration_s:.3f} s < {min_duration_s} s")
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    if rms < rms_floor:
        level = "all zeros" if rms == 0.0 else f"RMS {rms:.2e}"
        raise _fail(path, f"near-silent: {level} below RMS floor {rms_floor:.1e}")


def _check_wav_complete(path: Path) -> None:
    """Walk the RIFF chunks; raise when the data chunk is cut short or missing."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            raise _fail(path, "corrupt WAV: no RIFF/WAVE header")
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_bytes = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_bytes not in (0, 0xFFFFFFFF) and chunk_bytes > available:
                    raise _fail(path, f"truncated WAV: data chunk declares {chunk_bytes} "
                                      f"bytes, only {available} present")
                return
            offset += 8 + chunk_bytes + (chunk_bytes & 1)
    raise _fail(path, "corrupt WAV: no data chunk")


def _short(exc: BaseException | str) -> str:
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return text.splitlines()[0][:160]


def read_image(path: str | Path) -> np.ndarray:
    """Read a 2-D image (png via OpenCV, unchanged depth; npy via numpy) as float32.

    Colour PNGs are converted to grey (OpenCV luma weights). Values are returned as stored:
    the caller maps them to physical units.

    Returns
    -------
    np.ndarray
        Shape ``(height, width)``, float32.

    Raises
    ------
    DataError
        Empty/corrupt file, not 2-D, or NaN/inf values.
    """
    path = check_nonempty(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        image = _read_npy(path)
    elif suffix == ".png":
        image = _read_png(path)
    else:
        raise _fail(path, f"unsupported image type {suffix!r} (expected .png or .npy)")
    if image.ndim != 2 or min(image.shape) == 0:
        raise _fail(path, f"expected a non-empty 2-D image, got shape {image.shape}")
    return check_finite(path, image.astype(np.float32))


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _fail(path, f"corrupt or truncated .npy ({_short(exc)})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise _fail(path, "expected a numeric array")
    return array


def _read_png(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise _fail(path, "corrupt or unreadable PNG")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    return image


def read_csv_matrix(
    path: str | Path,
    *,
    n_columns: int | None = None,
    skip_rows: int = 0,
    delimiter: str = ",",
    allow_nonfinite: bool = False,
) -> np.ndarray:
    """Read a numeric CSV matrix, checking every row.

    Parameters
    ----------
    path : path-like
    n_columns : int, optional
        Required number of columns; by default the first data row sets it.
    skip_rows : int
        Lines to skip at the top (headers, stamps).
    delimiter : str
    allow_nonfinite : bool
        Accept NaN/inf cells (rejected by default).

    Returns
    -------
    np.ndarray
        Shape ``(n_rows, n_columns)``, float64.

    Raises
    ------
    DataError
        Empty file, no data rows, ragged rows (names the line), non-numeric cells, NaN/inf.
    """
    path = check_nonempty(path)
    rows = _csv_rows(path, skip_rows=skip_rows, delimiter=delimiter)
    _check_width(path, rows, n_columns if n_columns is not None else len(rows[0][1]))
    return _to_float(path, rows, allow_nonfinite)


def _csv_rows(path: Path, *, skip_rows: int = 0,
              delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of every non-blank line after ``skip_rows``."""
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()[skip_rows:]
    except UnicodeDecodeError:
        raise _fail(path, "not a text CSV (undecodable bytes)") from None
    rows = [(n, line.split(delimiter)) for n, line in enumerate(lines, skip_rows + 1)
            if line.strip()]
    if not rows:
        raise _fail(path, "no data rows")
    return rows


def _check_width(path: Path, rows: list[tuple[int, list[str]]], width: int) -> None:
    for line_number, cells in rows:
        if len(cells) != width:
            raise _fail(path, f"ragged rows: line {line_number} has {len(cells)} columns, "
                              f"expected {width}")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_csv_columns(path: str | Path, *, columns: tuple[str | int, ...] = (),
                     n_columns: int | None = None, delimiter: str = ",") -> np.ndarray:
    """Read a CSV whose first line may be a header, keeping ``columns`` (names from the
    header, or 0-based indices; all columns when empty). Columns not kept may hold anything
    (timestamps, ids, text); kept columns must be numbers on every row. ``delimiter``
    separates the cells (``";"`` for the semicolon CSVs of European locales).

    Returns
    -------
    np.ndarray
        Shape ``(n_rows, len(columns) or n_columns)``, float64.

    Raises
    ------
    DataError
        A named column missing from the header, an index out of range, ragged rows, or a
        non-numeric cell in a kept column (naming the line and the column).
    """
    path = check_nonempty(path)
    rows = [(n, [c.strip() for c in cells])
            for n, cells in _csv_rows(path, delimiter=delimiter)]
    header: list[str] = []
    if not all(_is_number(c) for c in rows[0][1]):  # a header line
        header, rows = rows[0][1], rows[1:]
    if not rows:
        raise _fail(path, "a header but no data rows")
    width = len(header) or len(rows[0][1])
    picked: list[int] = []
    for column in columns:
        if isinstance(column, int) or str(column).lstrip("-").isdigit():
            index = int(column)
            if not 0 <= index < width:
                raise _fail(path, f"column {index} out of range (the file has {width})")
        else:
            if str(column) not in header:
                raise _fail(path, f"no column {column!r} (header: {header[:12]})")
            index = header.index(str(column))
        picked.append(index)
    _check_width(path, rows, width)
    if n_columns is not None and len(picked or range(width)) != n_columns:
        raise _fail(path, f"{len(picked or range(width))} columns, expected {n_columns}")
    if picked:
        rows = [(n, [cells[i] for i in picked]) for n, cells in rows]
    for line_number, cells in rows:
        for position, cell in enumerate(cells):
            if not _is_number(cell):
                name = (header[picked[position] if picked else position] if header
                        else f"column {picked[position] if picked else position}")
                hint = "" if picked else "; choose numeric columns with the columns option"
                raise _fail(path, f"line {line_number}, {name}: non-numeric cell "
                                  f"{cell[:20]!r}{hint}")
    return _to_float(path, rows, False)


def read_npz(path: str | Path, *, key: str = "") -> np.ndarray:
    """One named numeric array of an ``.npz`` archive (``key``; the only one when empty)."""
    path = check_nonempty(path)
    try:
        with zipfile.ZipFile(path) as listing:  # refuse a zip bomb before inflating it
            inflated = sum(info.file_size for info in listing.infolist())
        if inflated > MAX_NPZ_BYTES:
            raise _fail(path, f"the archive inflates to {inflated:,} bytes (more than "
                              f"{MAX_NPZ_BYTES:,})")
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not key and len(names) != 1:
                raise _fail(path, f"holds arrays {names[:12]}: name one with the npz_key "
                                  f"option")
            if key and key not in names:
                raise _fail(path, f"no array {key!r} (it holds {names[:12]})")
            array = archive[key or names[0]]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"corrupt or truncated .npz ({_short(exc)})") from None
    if array.dtype.kind not in "biuf":
        raise _fail(path, f"array {key or names[0]!r} is not numeric ({array.dtype})")
    return array


def _to_float(path: Path, rows: list[tuple[int, list[str]]], allow_nonfinite: bool) -> np.ndarray:
    try:
        matrix = np.array([cells for _, cells in rows], dtype=np.float64)
    except ValueError:
        for line_number, cells in rows:
            for cell in cells:
                if not _is_number(cell):
                    raise _fail(path, f"line {line_number}: non-numeric cell "
                                      f"{cell.strip()[:20]!r}") from None
        raise _fail(path, "non-numeric cells") from None
    if not allow_nonfinite and not np.isfinite(matrix).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(matrix))[0])
        raise _fail(path, f"NaN/inf at line {rows[row][0]}, column {col + 1}")
    return matrix


def read_mat(path: str | Path, *, keys: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Read a MATLAB ``.mat`` file (v4-v7.2) with ``scipy.io.loadmat``.

    Returns
    -------
    dict[str, np.ndarray]
        Every variable not starting with ``__``; ``keys`` must all be present.

    Raises
    ------
    DataError
        Empty/corrupt file or missing keys.
    """
    from scipy.io import loadmat

    path = check_nonempty(path)
    try:
        content = loadmat(str(path))
    except Exception as exc:  # scipy raises IndexError/MatReadError/ValueError... on junk
        raise _fail(path, f"corrupt or unreadable .mat ({_short(exc)})") from None
    variables = {k: v for k, v in content.items() if not k.startswith("__")}
    absent = [k for k in keys if k not in variables]
    if absent:
        raise _fail(path, f"missing variables {absent} (has {sorted(variables)})")
    return variables


def decimation_factor(from_hz: float, to_hz: float) -> int:
    """Integer factor ``from_hz / to_hz``; ``DataError`` when it is not an integer."""
    factor = from_hz / to_hz
    if factor < 1 or not math.isclose(factor, round(factor)):
        raise DataError(f"cannot decimate {from_hz} Hz to {to_hz} Hz by an integer factor")
    return int(round(factor))
