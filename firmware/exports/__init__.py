"""Folders a user builds in their own toolchain: the generated model C, the runtime kernels it
needs and a thin build layer (:data:`FORMATS`: a plain CMake library, an Arduino library, an
ESP-IDF component, a Pico SDK project), or the whole app as a flashable board image
(``stm32``, ``nrf52``: :mod:`tinyfuse.firmware.exports.image`).

:func:`export_files` returns the folder as ``{relative path: text}`` (strings only);
:func:`write_export` is the separate step that writes it.

Examples
--------
>>> from tinyfuse.firmware.exports import FORMATS
>>> FORMATS
('cmake', 'arduino', 'esp-idf', 'pico', 'stm32', 'nrf52')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.exports import arduino, cmake, esp_idf, image, pico
from tinyfuse.firmware.exports.sources import ModelSources, load_sources

__all__ = ["FORMATS", "ModelSources", "export_files", "load_sources", "write_export"]

_LAYERS: dict[str, Callable[[ModelSources], dict[str, str]]] = {
    "cmake": cmake.files,
    "arduino": arduino.files,
    "esp-idf": esp_idf.files,
    "pico": pico.files,
}
FORMATS = (*_LAYERS, *image.IMAGE_FORMATS)


def export_files(path: str | Path, *, format: str, board: str | None = None
                 ) -> dict[str, str]:
    """The files of one export of the bundle (or bare int8 ``.tflite``) at ``path``.

    Parameters
    ----------
    path : path
        A bundle folder (``bundle.json`` + ``model.tflite``, what ``tinyfuse build`` writes)
        or an int8 ``.tflite`` file.
    format : {"cmake", "arduino", "esp-idf", "pico", "stm32", "nrf52"}
        The build layer.
    board : str, optional
        With ``stm32`` or ``nrf52``: one of that format's ``image.BOARDS`` (default
        ``image.DEFAULT_BOARD``).

    Returns
    -------
    dict of str to str
        Relative POSIX path -> file text.

    Raises
    ------
    ExportError
        An unknown format, or a model the compiler cannot compile.
    DataError
        A folder without a valid bundle.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of "
                          f"{', '.join(FORMATS)}")
    if board is not None and format not in image.IMAGE_FORMATS:
        raise ExportError(f"--board goes with --format {'|'.join(image.IMAGE_FORMATS)}, not "
                          f"{format}")
    if format in image.IMAGE_FORMATS:
        return image.files(load_sources(path), format=format, board=board)
    return _LAYERS[format](load_sources(path))


def write_export(files: Mapping[str, str], out_dir: str | Path) -> list[Path]:
    """Write ``files`` (from :func:`export_files`) under ``out_dir`` (created); returns the
    paths written, sorted.

    Raises
    ------
    ExportError
        A path that leaves ``out_dir``, or a file that cannot be written.
    """
    root = Path(out_dir)
    written = []
    for name in sorted(files):
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise ExportError(f"export file {name!r} is not inside the output folder")
        target = root / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[name])
        except OSError as exc:
            raise ExportError(f"cannot write {target}: {exc}") from exc
        written.append(target)
    return written
