"""C front-ends from the bundle: tables for ``runtime/tf_frontend*.c``, host and board runs.

The runtime's front-ends (``tf_frontend.h``) are generic C99 routines; what makes one of them
a given modality's front-end is a const config of tables. :func:`generate` builds those tables
from a front-end spec *as stored in the bundle* (the JSON dict of
``tinyfuse.sensors.spec.frontend_to_dict``: this layer does not import ``tinyfuse.sensors``) and
returns the C as strings; :func:`write_frontend` writes them. The tables come from the same
library calls the host front-ends make (librosa's mel filter bank, SciPy's Hann window,
Butterworth design and DCT, OpenCV's resize applied to unit impulses), so there is one
definition of each; ``tests/firmware/test_frontend_c.py`` checks them against the host's.

Generated per modality ``name``: ``tf_fe_<name>.h`` / ``tf_fe_<name>.c`` with
``tf_fe_<name>_run(const float *input, float *output)`` (audio also ``_reset``, ``_push``,
``_finish`` for streaming; images ``_run_background``), the static buffers it needs and
``TF_FE_<NAME>_{INPUT,OUTPUT}_FLOATS`` and ``TF_FE_<NAME>_RAM_BYTES``. Audio has an
integer-only option (``fixed_point=True``: int16 PCM in, Q16 out, ``tf_frontend_audio_q.c``)
for cores without an FPU.

The rest of the module runs what it generates: :class:`HostFrontend` (the host's gcc and
ctypes) and :func:`run_on_qemu` (any board of ``tinyfuse.firmware.boards`` under QEMU, with
``firmware/boards/harness/frontend_main.c`` and the boards' harness services).

Examples
--------
>>> fe = generate("audio", {"kind": "audio", "sample_rate_hz": 8000, "duration_s": 1.0,
...                         "n_fft": 256, "hop_length": 128, "n_mels": 32, "n_mfcc": 13,
...                         "fmin_hz": 20.0, "fmax_hz": 4000.0, "feature": "mfcc"})
>>> fe.output_shape, fe.input_floats
((63, 13), 8000)
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import librosa
import numpy as np
import scipy.fft
import scipy.signal

from tinyfuse.core.errors import ExportError

#: power_to_db constants of the host audio front-end (``audio.tables(spec)["log"]``).
AUDIO_AMIN = 1e-10
AUDIO_REF = 1.0
AUDIO_TOP_DB = 80.0
#: Floors and the Butterworth order of the host vibration front-end.
VIBRATION_POWER_FLOOR = 1e-12
VIBRATION_AMPLITUDE_FLOOR = 1e-6
VIBRATION_FILTER_ORDER = 4
MAX_RADIX = 32  # TF_FFT_MAX_RADIX in tf_frontend_fft.c
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedFrontend:
    """The generated C of one modality's front-end.

    Attributes
    ----------
    name, kind : str
        Modality name (C prefix ``tf_fe_<name>``) and front-end kind.
    header, source : str
        ``tf_fe_<name>.h`` and ``tf_fe_<name>.c``.
    input_shape, output_shape : tuple of int
        What ``tf_fe_<name>_run`` reads and writes (float32, row major).
    ram_bytes, table_bytes : int
        Static buffers (RAM) and const tables (flash) the generated file declares.
    frames : int
        Frames per run (audio: ``n_frames``; 1 for the other kinds).
    signal_s : float
        Seconds of signal one run covers (0 for images and vectors).
    fixed_point : bool
        Integer-only front-end (audio): int16 PCM in, int32 Q16 out (``output_scale``).
    """

    name: str
    kind: str
    header: str
    source: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    ram_bytes: int
    table_bytes: int
    frames: int
    signal_s: float
    fixed_point: bool = False

    @property
    def input_ctype(self) -> str:
        return "int16_t" if self.fixed_point else "float"

    @property
    def output_ctype(self) -> str:
        return "int32_t" if self.fixed_point else "float"

    @property
    def output_scale(self) -> float:
        """Output value = stored value x this (1/65536 for the Q16 fixed-point outputs)."""
        return 1.0 / 65536.0 if self.fixed_point else 1.0

    @property
    def input_floats(self) -> int:
        return math.prod(self.input_shape)

    @property
    def output_floats(self) -> int:
        return math.prod(self.output_shape)

    @property
    def files(self) -> dict[str, str]:
        return {f"tf_fe_{self.name}.h": self.header, f"tf_fe_{self.name}.c": self.source}


# ------------------------------------------------------------------ spec access and tables


def _field(spec: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in spec:
        raise ExportError(f"front-end spec ({spec.get('kind')}): missing field {key!r}")
    value = spec[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ExportError(f"front-end spec ({spec.get('kind')}): {key} must be "
                          f"{kind.__name__}, got {value!r}")
    return value


def fft_factors(n: int) -> list[int]:
    """Radices of an ``n``-point complex FFT: fours, then a two, then odd primes ascending."""
    factors, rest = [], n
    while rest % 4 == 0:
        factors.append(4)
        rest //= 4
    if rest % 2 == 0:
        factors.append(2)
        rest //= 2
    p = 3
    while rest > 1:
        while rest % p == 0:
            factors.append(p)
            rest //= p
        p += 2
    if any(f > MAX_RADIX for f in factors):
        raise ExportError(f"FFT of {n} points: prime factor {max(factors)} > {MAX_RADIX}")
    return factors or [1]


def twiddles(n_table: int) -> np.ndarray:
    """``exp(-2 pi i k / n_table)``, k < n_table, as interleaved cos/sin, float32."""
    angle = -2.0 * np.pi * np.arange(n_table) / n_table
    return np.stack([np.cos(angle), np.sin(angle)], axis=1).reshape(-1).astype(np.float32)


def sparse_rows(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Each row of a weight matrix as its nonzero span: ``start``, ``count``, ``offset``
    (into ``weights``) and the concatenated ``weights`` (float32)."""
    starts: list[int] = []
    counts: list[int] = []
    offsets: list[int] = []
    weights: list[float] = []
    for row in np.asarray(matrix, dtype=np.float64):
        nonzero = np.flatnonzero(row)
        first, last = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
        offsets.append(sum(counts))
        starts.append(first)
        counts.append(last - first)
        weights.extend(row[first:last])
    if max(starts + counts, default=0) > np.iinfo(np.int16).max:
        raise ExportError(f"a table span of {max(starts + counts)} exceeds the C front-ends' "
                          "int16 indices")
    return {"start": np.array(starts, np.int16), "count": np.array(counts, np.int16),
            "offset": np.array(offsets, np.int32),
            "weights": np.array(weights if weights else [0.0], np.float32)}


def band_weights(freqs_hz: np.ndarray, *, fmin_hz: float, fmax_hz: float,
                 n_bands: int) -> np.ndarray:
    """Band-integration weights over PSD bins (the host's ``vibration.band_matrix``): bin ``k``
    counts by the width of ``[f_k - df/2, f_k + df/2]`` (clipped at 0) inside band ``b``.

    Returns
    -------
    np.ndarray, shape (n_bands, len(freqs_hz)), float64
    """
    df = float(freqs_hz[1] - freqs_hz[0])
    edges = np.linspace(fmin_hz, fmax_hz, n_bands + 1)
    low = np.maximum(freqs_hz - df / 2.0, 0.0)[np.newaxis, :]
    high = (freqs_hz + df / 2.0)[np.newaxis, :]
    overlap = np.minimum(high, edges[1:, None]) - np.maximum(low, edges[:-1, None])
    return np.clip(overlap, 0.0, None)


def audio_tables(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Every table and size of the C audio front-end for a bundle's audio spec dict."""
    rate = _field(spec, "sample_rate_hz", int)
    n_fft, hop = _field(spec, "n_fft", int), _field(spec, "hop_length", int)
    n_mels, n_mfcc = _field(spec, "n_mels", int), _field(spec, "n_mfcc", int)
    feature = _field(spec, "feature", str)
    n_samples = int(round(_field(spec, "duration_s", float) * rate))
    mel = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels,
                              fmin=_field(spec, "fmin_hz", float),
                              fmax=_field(spec, "fmax_hz", float), htk=False, norm="slaney",
                              dtype=np.float32)
    dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    return {"n_samples": n_samples, "n_fft": n_fft, "hop_length": hop,
            "n_frames": 1 + n_samples // hop, "n_mels": n_mels,
            "n_out": n_mfcc if feature == "mfcc" else n_mels, "mfcc": int(feature == "mfcc"),
            "window": scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32),
            "mel_basis": mel, "mel": sparse_rows(mel), "dct": dct.astype(np.float32),
            "fft_factors": fft_factors(n_fft // 2), "twiddle": twiddles(n_fft),
            "sample_rate_hz": rate}


def _butterworth(rate_hz: float, low_hz: float, high_hz: float) -> np.ndarray:
    """Second-order sections of the host's band-pass (empty: no filtering)."""
    nyquist = rate_hz / 2.0
    has_low, has_high = low_hz > 0.0, high_hz < nyquist
    order = VIBRATION_FILTER_ORDER
    if has_low and has_high:
        return scipy.signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=rate_hz,
                                   output="sos")
    if has_low or has_high:
        return scipy.signal.butter(order, low_hz if has_low else high_hz,
                                   btype="highpass" if has_low else "lowpass", fs=rate_hz,
                                   output="sos")
    return np.zeros((0, 6))


def vibration_tables(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Every table and size of the C vibration front-end for a bundle's vibration spec dict."""
    rate = _field(spec, "sample_rate_hz", float)
    n_fft = _field(spec, "n_fft", int)
    n = int(round(_field(spec, "window_s", float) * rate))
    if n % 2 or n < 16:
        raise ExportError(f"vibration: the C front-end needs an even window of >= 16 samples "
                          f"(the Hilbert transform uses a real FFT), got {n}")
    fmin, fmax = _field(spec, "fmin_hz", float), _field(spec, "fmax_hz", float)
    sos = _butterworth(rate, fmin, fmax)
    length = min(n_fft, n)
    step = length - length // 2
    n_segments = (n - length) // step + 1
    window = scipy.signal.get_window("hann", length, fftbins=True)
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / rate)
    density = np.full(len(freqs), 2.0 / (rate * float(np.sum(window**2)) * n_segments))
    density[[0, -1]] /= 2.0  # one-sided: DC and Nyquist are not doubled
    n_bands, n_env = _field(spec, "n_bands", int), _field(spec, "n_envelope_bands", int)
    bands = band_weights(freqs, fmin_hz=fmin, fmax_hz=fmax, n_bands=n_bands) * density
    envelope = band_weights(freqs, fmin_hz=0.0, fmax_hz=_field(spec, "envelope_fmax_hz", float),
                            n_bands=max(n_env, 1)) * density
    return {"n_samples": n, "n_axes": _field(spec, "n_axes", int), "n_fft": n_fft,
            "n_bands": n_bands, "n_envelope_bands": n_env, "n_out": n_bands + 4 + n_env,
            "sos": sos.astype(np.float32).reshape(-1),
            "zi": (scipy.signal.sosfilt_zi(sos).astype(np.float32).reshape(-1) if len(sos)
                   else np.zeros(0, np.float32)),
            "n_sections": len(sos), "seg_length": length, "seg_step": step,
            "n_segments": n_segments, "seg_window": window.astype(np.float32),
            "welch_factors": fft_factors(n_fft // 2), "welch_twiddle": twiddles(n_fft),
            "signal_factors": fft_factors(n // 2), "signal_twiddle": twiddles(n),
            "bands": sparse_rows(bands), "envelope_bands": sparse_rows(envelope[:n_env]),
            "band_matrix": bands, "sample_rate_hz": rate}


def resize_weights(n_in: int, n_out: int) -> np.ndarray:
    """Weights of the host's one-axis resize (``cv2.INTER_AREA`` shrinking, ``INTER_LINEAR``
    growing, identity otherwise), read off OpenCV by resizing unit impulses.

    Returns
    -------
    np.ndarray, shape (n_out, n_in), float64: ``out = W @ in``
    """
    if n_in == n_out:
        return np.eye(n_in)
    interpolation = cv2.INTER_AREA if n_out < n_in else cv2.INTER_LINEAR
    return cv2.resize(np.eye(n_in), (n_in, n_out), interpolation=interpolation)


def image_tables(spec: Mapping[str, Any], sensor_shape: Sequence[int]) -> dict[str, Any]:
    """Every table and size of the C image front-end for a bundle's image spec dict and the
    sensor's ``(rows, cols)``."""
    rows_in, cols_in = (int(v) for v in sensor_shape)
    if not (1 <= rows_in <= 4096 and 1 <= cols_in <= 4096):
        raise ExportError(f"image: sensor shape {tuple(sensor_shape)} out of [1, 4096]^2")
    height, width = _field(spec, "height", int), _field(spec, "width", int)
    return {"in_rows": rows_in, "in_cols": cols_in, "out_rows": height, "out_cols": width,
            "fill_holes": int(_field(spec, "sensor", str) == "depth"
                              and _field(spec, "fill_holes", bool)),
            "subtract_background": int(_field(spec, "subtract_background", bool)),
            "minmax": int(_field(spec, "normalize", str) == "minmax"),
            "min_value": _field(spec, "min_value", float),
            "max_value": _field(spec, "max_value", float),
            "rows": sparse_rows(resize_weights(rows_in, height)),
            "cols": sparse_rows(resize_weights(cols_in, width))}


# ------------------------------------------------------------------ C text


def _c_float(value: float) -> str:
    text = f"{float(np.float32(value)):.9g}"
    if "e" not in text and "." not in text and "n" not in text:
        text += ".0"
    return f"{text}f"


def _c_array(ctype: str, name: str, values: np.ndarray | Sequence[float]) -> str:
    """``static const <ctype> <name>[n] = {...};``, eight values a line."""
    array = np.asarray(values).reshape(-1)
    if array.size == 0:
        array = np.zeros(1)
    cells = [_c_float(v) if ctype == "float" else str(int(v)) for v in array]
    lines = [", ".join(cells[i:i + 8]) for i in range(0, len(cells), 8)]
    body = ",\n  ".join(lines)
    return f"static const {ctype} {name}[{array.size}] = {{\n  {body}\n}};\n"


_CTYPE_BYTES = {"float": 4, "int16_t": 2, "int32_t": 4, "uint32_t": 4, "uint64_t": 8}


class _Tables:
    """Collects the const arrays of one generated file and their flash bytes."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.parts: list[str] = []
        self.bytes = 0

    def add(self, ctype: str, name: str, values: np.ndarray | Sequence[float]) -> str:
        symbol = f"{self.prefix}_{name}"
        self.parts.append(_c_array(ctype, symbol, values))
        self.bytes += max(np.asarray(values).size, 1) * _CTYPE_BYTES[ctype]
        return symbol

    def bands(self, name: str, sparse: Mapping[str, np.ndarray]) -> str:
        """A ``tf_bands`` initializer over the sparse rows ``sparse``."""
        start = self.add("int16_t", f"{name}_start", sparse["start"])
        count = self.add("int16_t", f"{name}_count", sparse["count"])
        offset = self.add("int32_t", f"{name}_offset", sparse["offset"])
        weights = self.add("float", f"{name}_weights", sparse["weights"])
        return f"{{{len(sparse['start'])}, {start}, {count}, {offset}, {weights}}}"

    def rfft(self, name: str, factors: Sequence[int], twiddle: np.ndarray) -> str:
        """A ``tf_rfft_plan`` initializer for a real FFT of ``len(twiddle) / 2`` points."""
        symbol = self.add("int16_t", f"{name}_factors", factors)
        table = self.add("float", f"{name}_twiddle", twiddle)
        return f"{{{{{len(twiddle) // 4}, {len(factors)}, 2, {symbol}, {table}}}}}"


def _buffers(prefix: str, sizes: Mapping[str, int], ctypes: Mapping[str, str] | None = None,
             ) -> tuple[str, int]:
    """Static buffers ``<prefix>_<name>[size]`` (float unless ``ctypes`` names another type)
    and their bytes."""
    kinds = {name: (ctypes or {}).get(name, "float") for name in sizes}
    lines = [f"static {kinds[name]} {prefix}_{name}[{max(size, 1)}];"
             for name, size in sizes.items()]
    total = sum(max(size, 1) * _CTYPE_BYTES[kinds[name]] for name, size in sizes.items())
    return "\n".join(lines) + "\n", total


def _header(name: str, kind: str, input_shape: tuple[int, ...], output_shape: tuple[int, ...],
            ram_bytes: int, bundle_hash: str, extra: str,
            io_types: tuple[str, str] = ("float", "float")) -> str:
    upper, prefix = name.upper(), f"tf_fe_{name}"
    kind_words = f"{kind} front-end" + (" (integer only)" if io_types[0] != "float" else "")
    return f"""/* Generated by tinyfuse.firmware.frontend_c: the {kind_words} of modality
 * "{name}" (input {input_shape} {io_types[0]}, output {output_shape} {io_types[1]}, row
 * major). Do not edit. */
#ifndef TF_FE_{upper}_H
#define TF_FE_{upper}_H

#include "tf_frontend.h"

#ifdef __cplusplus
extern "C" {{
#endif

#define TF_FE_{upper}_INPUT_FLOATS {math.prod(input_shape)}
#define TF_FE_{upper}_OUTPUT_FLOATS {math.prod(output_shape)}
#define TF_FE_{upper}_RAM_BYTES {ram_bytes}
#define TF_FE_{upper}_BUNDLE_HASH "{bundle_hash}"

/* input: TF_FE_{upper}_INPUT_FLOATS values; output: TF_FE_{upper}_OUTPUT_FLOATS values. */
int {prefix}_run(const {io_types[0]} *input, {io_types[1]} *output);
{extra}
#ifdef __cplusplus
}}
#endif

#endif
"""


def _source(name: str, kind: str, tables: _Tables, buffers: str, body: str) -> str:
    return (f"/* Generated by tinyfuse.firmware.frontend_c: tables and buffers of the {kind} "
            f"front-end\n * of modality \"{name}\". Do not edit. */\n"
            f"#include \"tf_fe_{name}.h\"\n\n" + "\n".join(tables.parts) + "\n" + buffers
            + "\n" + body)


def _audio(name: str, spec: Mapping[str, Any], bundle_hash: str) -> GeneratedFrontend:
    t = audio_tables(spec)
    prefix = f"tf_fe_{name}"
    tables = _Tables(prefix)
    window = tables.add("float", "window", t["window"])
    fft = tables.rfft("fft", t["fft_factors"], t["twiddle"])
    mel = tables.bands("mel", t["mel"])
    dct = tables.add("float", "dct", t["dct"]) if t["mfcc"] else "0"
    buffers, ram = _buffers(prefix, {
        "frame": t["n_fft"], "scratch": 2 * t["n_fft"] + 2,
        "log_mel": t["n_frames"] * t["n_mels"]})
    body = f"""const tf_audio_config {prefix}_config = {{
  {t['n_samples']}, {t['n_fft']}, {t['hop_length']}, {t['n_frames']}, {t['n_mels']}, \
{t['n_out']}, {t['mfcc']},
  {_c_float(AUDIO_AMIN)}, {_c_float(10.0 * math.log10(AUDIO_REF))}, {_c_float(AUDIO_TOP_DB)},
  {window}, {fft}, {mel}, {dct}}};

static tf_audio_state {prefix}_state = {{{prefix}_frame, {prefix}_scratch, {prefix}_log_mel,
                                        0, 0, 0, 1, 0.0f}};

int {prefix}_reset(void) {{ return tf_audio_reset(&{prefix}_config, &{prefix}_state); }}

int {prefix}_push(const float *samples, int32_t count) {{
  return tf_audio_push(&{prefix}_config, &{prefix}_state, samples, count);
}}

int {prefix}_finish(float *output) {{
  return tf_audio_finish(&{prefix}_config, &{prefix}_state, output);
}}

int {prefix}_run(const float *input, float *output) {{
  int status = {prefix}_reset();
  if (status == TF_FE_OK) status = {prefix}_push(input, {t['n_samples']});
  return status == TF_FE_OK ? {prefix}_finish(output) : status;
}}
"""
    extra = f"""#define TF_FE_{name.upper()}_N_FRAMES {t['n_frames']}
extern const tf_audio_config {prefix}_config;
/* Streaming: reset, push samples as they arrive (each full frame is analysed at once), finish
 * (zero-pads the clip, applies the clip-wide dB floor, writes the output). */
int {prefix}_reset(void);
int {prefix}_push(const float *samples, int32_t count);
int {prefix}_finish(float *output);
"""
    output_shape = (t["n_frames"], t["n_out"])
    header = _header(name, "audio", (t["n_samples"],), output_shape, ram, bundle_hash, extra)
    return GeneratedFrontend(
        name=name, kind="audio", header=header,
        source=_source(name, "audio", tables, buffers, body), input_shape=(t["n_samples"],),
        output_shape=output_shape, ram_bytes=ram, table_bytes=tables.bytes,
        frames=t["n_frames"], signal_s=t["n_samples"] / t["sample_rate_hz"])


Q16 = 65536.0
WINDOW_Q = 2**31 - 1  # Hann window scale (1.0 does not fit int32)


def audio_q_tables(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The integer tables of ``tf_frontend_audio_q.c`` (module docs there), on top of
    :func:`audio_tables`."""
    t = audio_tables(spec)
    n_fft = t["n_fft"]
    weights = t["mel"]["weights"].astype(np.float64)
    w_max = float(weights.max()) or 1.0
    # dB = 10 log10(2) (log2(sum) + shift - 2 norm) + offset; offset folds in the FFT's 1/n_fft,
    # the PCM (2^15) and window scales, the weight scale and -10 log10(REF)
    weight_full = 2.0**32 - 1.0
    offset = (20.0 * math.log10(n_fft) - 20.0 * math.log10(32768.0 * WINDOW_Q)
              + 10.0 * math.log10(w_max * 65536.0 / weight_full) - 10.0 * math.log10(AUDIO_REF))
    widest = max(int(t["mel"]["count"].max()), 1)
    angle = -2.0 * np.pi * np.arange(n_fft) / n_fft
    return {**t,
            "window_q": np.round(t["window"].astype(np.float64) * WINDOW_Q).astype(np.int32),
            "twiddle_q": np.round(np.stack([np.cos(angle), np.sin(angle)], axis=1).reshape(-1)
                                  * 2.0**30).astype(np.int32),
            "mel_weights_q": np.round(weights / w_max * weight_full).astype(np.uint32),
            "power_bits": 63 - 16 - math.ceil(math.log2(widest)),
            "log2_table": np.round(np.log2(1.0 + np.arange(257) / 256.0) * Q16).astype(np.int32),
            "dct_q": np.round(t["dct"].astype(np.float64) * 2.0**30).astype(np.int32),
            "amin_db_q16": round(10.0 * math.log10(AUDIO_AMIN) * Q16),
            "top_db_q16": round(AUDIO_TOP_DB * Q16), "db_offset_q16": round(offset * Q16)}


def _audio_q(name: str, spec: Mapping[str, Any], bundle_hash: str) -> GeneratedFrontend:
    t = audio_q_tables(spec)
    prefix = f"tf_fe_{name}"
    tables = _Tables(prefix)
    window = tables.add("int32_t", "window", t["window_q"])
    twiddle = tables.add("int32_t", "twiddle", t["twiddle_q"])
    mel = {key: tables.add(ctype, f"mel_{key}", t["mel"][key] if key != "weights"
                           else t["mel_weights_q"])
           for key, ctype in (("start", "int16_t"), ("count", "int16_t"),
                              ("offset", "int32_t"), ("weights", "uint32_t"))}
    log2_table = tables.add("int32_t", "log2_table", t["log2_table"])
    dct = tables.add("int32_t", "dct", t["dct_q"]) if t["mfcc"] else "0"
    n_fft = t["n_fft"]
    buffers, ram = _buffers(
        prefix, {"frame": n_fft, "spectrum": n_fft + 2, "power": n_fft // 2 + 1,
                 "log_mel": t["n_frames"] * t["n_mels"]},
        {"frame": "int16_t", "spectrum": "int32_t", "power": "uint64_t", "log_mel": "int32_t"})
    body = f"""const tf_audio_q_config {prefix}_config = {{
  {t['n_samples']}, {n_fft}, {t['hop_length']}, {t['n_frames']}, {t['n_mels']}, {t['n_out']}, \
{t['mfcc']},
  {t['amin_db_q16']}, {t['top_db_q16']}, {t['db_offset_q16']}, {t['power_bits']},
  {window}, {twiddle}, {mel['start']}, {mel['count']}, {mel['offset']}, {mel['weights']},
  {log2_table}, {dct}}};

static tf_audio_q_state {prefix}_state = {{{prefix}_frame, {prefix}_spectrum, {prefix}_power,
                                          {prefix}_log_mel, 0, 0, 0, 1, 0}};

int {prefix}_reset(void) {{ return tf_audio_q_reset(&{prefix}_config, &{prefix}_state); }}

int {prefix}_push(const int16_t *samples, int32_t count) {{
  return tf_audio_q_push(&{prefix}_config, &{prefix}_state, samples, count);
}}

int {prefix}_finish(int32_t *output) {{
  return tf_audio_q_finish(&{prefix}_config, &{prefix}_state, output);
}}

int {prefix}_run(const int16_t *input, int32_t *output) {{
  int status = {prefix}_reset();
  if (status == TF_FE_OK) status = {prefix}_push(input, {t['n_samples']});
  return status == TF_FE_OK ? {prefix}_finish(output) : status;
}}
"""
    extra = f"""#define TF_FE_{name.upper()}_N_FRAMES {t['n_frames']}
extern const tf_audio_q_config {prefix}_config;
/* Streaming, as the float front-end; outputs are Q16 (dB x 65536, MFCC x 65536). */
int {prefix}_reset(void);
int {prefix}_push(const int16_t *samples, int32_t count);
int {prefix}_finish(int32_t *output);
"""
    output_shape = (t["n_frames"], t["n_out"])
    header = _header(name, "audio", (t["n_samples"],), output_shape, ram, bundle_hash, extra,
                     io_types=("int16_t", "int32_t"))
    return GeneratedFrontend(
        name=name, kind="audio", header=header,
        source=_source(name, "audio", tables, buffers, body), input_shape=(t["n_samples"],),
        output_shape=output_shape, ram_bytes=ram, table_bytes=tables.bytes,
        frames=t["n_frames"], signal_s=t["n_samples"] / t["sample_rate_hz"], fixed_point=True)


def _vibration(name: str, spec: Mapping[str, Any], bundle_hash: str) -> GeneratedFrontend:
    t = vibration_tables(spec)
    prefix = f"tf_fe_{name}"
    tables = _Tables(prefix)
    sos = tables.add("float", "sos", t["sos"])
    zi = tables.add("float", "zi", t["zi"])
    seg_window = tables.add("float", "seg_window", t["seg_window"])
    welch = tables.rfft("welch_fft", t["welch_factors"], t["welch_twiddle"])
    signal = tables.rfft("signal_fft", t["signal_factors"], t["signal_twiddle"])
    bands = tables.bands("bands", t["bands"])
    envelope = tables.bands("envelope_bands", t["envelope_bands"])
    n, n_fft = t["n_samples"], t["n_fft"]
    buffers, ram = _buffers(prefix, {
        "signal": 2 * n, "segment": n_fft, "spectrum": max(n_fft, n) + 2,
        "psd": n_fft // 2 + 1})
    body = f"""const tf_vibration_config {prefix}_config = {{
  {n}, {t['n_axes']}, {n_fft}, {t['n_sections']}, {t['n_bands']}, {t['n_envelope_bands']}, \
{t['n_out']},
  {_c_float(VIBRATION_POWER_FLOOR)}, {_c_float(VIBRATION_AMPLITUDE_FLOOR)}, {sos}, {zi},
  {t['seg_length']}, {t['seg_step']}, {t['n_segments']}, {seg_window},
  {welch},
  {signal},
  {bands},
  {envelope}}};

static tf_vibration_state {prefix}_state = {{{prefix}_signal, {prefix}_segment,
                                            {prefix}_spectrum, {prefix}_psd}};

int {prefix}_run(const float *input, float *output) {{
  return tf_vibration_run(&{prefix}_config, &{prefix}_state, input, output);
}}
"""
    extra = f"extern const tf_vibration_config {prefix}_config;\n"
    input_shape, output_shape = (n, t["n_axes"]), (t["n_axes"], t["n_out"])
    header = _header(name, "vibration", input_shape, output_shape, ram, bundle_hash, extra)
    return GeneratedFrontend(
        name=name, kind="vibration", header=header,
        source=_source(name, "vibration", tables, buffers, body), input_shape=input_shape,
        output_shape=output_shape, ram_bytes=ram, table_bytes=tables.bytes, frames=1,
        signal_s=n / t["sample_rate_hz"])


def _resize_axis(tables: _Tables, name: str, sparse: Mapping[str, np.ndarray],
                 n_in: int) -> str:
    inner = tables.bands(name, sparse)[1:]  # "{n_out, start, count, offset, weights}"
    return "{" + f"{n_in}, " + inner


def _image(name: str, spec: Mapping[str, Any], bundle_hash: str,
           sensor_shape: Sequence[int] | None) -> GeneratedFrontend:
    shape = sensor_shape or (_field(spec, "height", int), _field(spec, "width", int))
    t = image_tables(spec, shape)
    prefix = f"tf_fe_{name}"
    tables = _Tables(prefix)
    rows = _resize_axis(tables, "rows", t["rows"], t["in_rows"])
    cols = _resize_axis(tables, "cols", t["cols"], t["in_cols"])
    pixels = t["in_rows"] * t["in_cols"]
    buffers, ram = _buffers(prefix, {
        "work": pixels, "sorted": pixels if t["subtract_background"] else 0,
        "half": t["out_rows"] * t["in_cols"]})
    body = f"""const tf_image_config {prefix}_config = {{
  {t['in_rows']}, {t['in_cols']}, {t['out_rows']}, {t['out_cols']},
  {t['fill_holes']}, {t['subtract_background']}, {t['minmax']},
  0.0f, {_c_float(t['min_value'])}, {_c_float(t['max_value'])},
  {rows},
  {cols}}};

static tf_image_state {prefix}_state = {{{prefix}_work, {prefix}_sorted, {prefix}_half}};

int {prefix}_run_background(const float *input, const float *background, float *output) {{
  return tf_image_run(&{prefix}_config, &{prefix}_state, input, background, output);
}}

int {prefix}_run(const float *input, float *output) {{
  return {prefix}_run_background(input, 0, output);
}}
"""
    extra = (f"extern const tf_image_config {prefix}_config;\n"
             f"/* background: a sensor-sized frame, or null for the frame's own median. */\n"
             f"int {prefix}_run_background(const float *input, const float *background,\n"
             f"                            float *output);\n")
    input_shape = (t["in_rows"], t["in_cols"])
    output_shape = (t["out_rows"], t["out_cols"])
    header = _header(name, "image", input_shape, output_shape, ram, bundle_hash, extra)
    return GeneratedFrontend(
        name=name, kind="image", header=header,
        source=_source(name, "image", tables, buffers, body), input_shape=input_shape,
        output_shape=output_shape, ram_bytes=ram, table_bytes=tables.bytes, frames=1,
        signal_s=0.0)


def _vector(name: str, spec: Mapping[str, Any], bundle_hash: str) -> GeneratedFrontend:
    size = _field(spec, "size", int)
    prefix = f"tf_fe_{name}"
    tables = _Tables(prefix)
    mean, scale = spec.get("mean") or [], spec.get("scale") or []
    mean_symbol = tables.add("float", "mean", mean) if mean else "0"
    scale_symbol = tables.add("float", "scale", scale) if scale else "0"
    body = f"""const tf_vector_config {prefix}_config = {{{size}, {mean_symbol}, {scale_symbol}}};

int {prefix}_run(const float *input, float *output) {{
  return tf_vector_run(&{prefix}_config, input, output);
}}
"""
    extra = f"extern const tf_vector_config {prefix}_config;\n"
    header = _header(name, "vector", (size,), (size,), 0, bundle_hash, extra)
    return GeneratedFrontend(
        name=name, kind="vector", header=header, source=_source(name, "vector", tables, "", body),
        input_shape=(size,), output_shape=(size,), ram_bytes=0, table_bytes=tables.bytes,
        frames=1, signal_s=0.0)


def generate(name: str, frontend: Mapping[str, Any], *, sensor_shape: Sequence[int] | None = None,
             bundle_hash: str = "", fixed_point: bool = False) -> GeneratedFrontend:
    """The C front-end of one modality from its spec dict (``BundleInput.frontend``).

    Parameters
    ----------
    name : str
        Modality name, the C prefix ``tf_fe_<name>``.
    frontend : mapping
        The front-end spec as the bundle stores it (``kind`` plus every field).
    sensor_shape : (rows, cols), optional
        Image only: the sensor's grid (the bundle does not record it); default the model grid.
    bundle_hash : str
        Written into the header as ``TF_FE_<NAME>_BUNDLE_HASH``.
    fixed_point : bool
        Audio only: the integer-only front-end (int16 PCM in, Q16 out) for cores without an
        FPU; the other kinds are float32 only.

    Returns
    -------
    GeneratedFrontend

    Raises
    ------
    ExportError
        An unknown kind, a missing or mistyped field, or a size the C front-end refuses.
    """
    if not _NAME.match(name):
        raise ExportError(f"front-end name {name!r} must match {_NAME.pattern}")
    kind = frontend.get("kind")
    if fixed_point and kind != "audio":
        raise ExportError(f"front-end {name!r}: the fixed-point option exists for audio only, "
                          f"not {kind!r}")
    if kind == "audio":
        return (_audio_q if fixed_point else _audio)(name, frontend, bundle_hash)
    if kind == "vibration":
        return _vibration(name, frontend, bundle_hash)
    if kind == "image":
        return _image(name, frontend, bundle_hash, sensor_shape)
    if kind == "vector":
        return _vector(name, frontend, bundle_hash)
    raise ExportError(f"front-end {name!r}: no C front-end for kind {kind!r}")


def generate_bundle(bundle: Any, *, sensor_shapes: Mapping[str, Sequence[int]] | None = None,
                    ) -> list[GeneratedFrontend]:
    """The C front-end of every input of a ``tinyfuse.core.bundle.Bundle``, in input order."""
    shapes = dict(sensor_shapes or {})
    return [generate(item.name, item.frontend, sensor_shape=shapes.get(item.name),
                     bundle_hash=bundle.bundle_hash) for item in bundle.inputs]


def write_frontend(generated: GeneratedFrontend, out_dir: str | Path) -> list[Path]:
    """Write ``tf_fe_<name>.h`` and ``.c`` into ``out_dir`` (created); returns the paths."""
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for filename, text in generated.files.items():
            (folder / filename).write_text(text)
            paths.append(folder / filename)
    except OSError as exc:
        raise ExportError(f"{folder}: cannot write the front-end: {exc}") from None
    return paths


# ------------------------------------------------------------------ host and board runs

HOST_CFLAGS = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared")
HARNESS_SOURCE = "frontend_main.c"


def runtime_sources() -> list[Path]:
    """The front-end runtime's ``.c`` files (``tf_frontend*.c``)."""
    from tinyfuse.firmware.compiler import runtime_dir

    return sorted(runtime_dir().glob("tf_frontend*.c"))


def _run_tool(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ExportError(f"{what} failed:\n{result.stderr[-4000:]}")


def c_input(generated: GeneratedFrontend, sample: np.ndarray) -> np.ndarray:
    """One raw sample as the flat input of ``tf_fe_<name>_run``: float32, or int16 PCM for a
    fixed-point front-end (floats in [-1, 1] are scaled by 32768, rounded and saturated). Audio
    is trimmed or zero-padded at the end to ``n_samples`` (as the host's ``fix_length``); any
    other kind must have ``input_shape``'s size (``(n_samples, n_axes)``, ``(rows, cols)``)."""
    data = np.asarray(sample).reshape(-1)
    if generated.fixed_point:
        data = data if data.dtype == np.int16 else np.clip(
            np.round(data.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    else:
        data = data.astype(np.float32)
    size = generated.input_floats
    if generated.kind == "audio":
        data = np.pad(data[:size], (0, max(0, size - data.size)))
    if data.size != size:
        raise ExportError(f"{generated.name}: expected {generated.input_shape} inputs, got "
                          f"{np.shape(sample)}")
    return np.ascontiguousarray(data)


class HostFrontend:
    """A generated front-end compiled with the host's gcc and called through ctypes.

    Parameters
    ----------
    generated : GeneratedFrontend
    work_dir : path
        Where the sources and ``libfrontend_<name>.so`` go (created).
    """

    def __init__(self, generated: GeneratedFrontend, work_dir: str | Path) -> None:
        from tinyfuse.firmware.compiler import runtime_dir

        self.generated = generated
        folder = Path(work_dir)
        write_frontend(generated, folder)
        digest = hashlib.sha256((generated.header + generated.source).encode()).hexdigest()
        library = folder / f"libfrontend_{generated.name}_{digest[:12]}.so"  # dlopen caches
        _run_tool(["gcc", *HOST_CFLAGS, f"-I{runtime_dir()}", f"-I{folder}",
                   str(folder / f"tf_fe_{generated.name}.c"), *map(str, runtime_sources()),
                   "-lm", "-o", str(library)], f"gcc on the {generated.name} front-end")
        self._lib = ctypes.CDLL(str(library))
        self._run = getattr(self._lib, f"tf_fe_{generated.name}_run")
        self._background = (getattr(self._lib, f"tf_fe_{generated.name}_run_background")
                            if generated.kind == "image" else None)

    def run(self, sample: np.ndarray, *, background: np.ndarray | None = None) -> np.ndarray:
        """Features of one raw sample (shape ``input_shape``; audio shorter or longer is
        zero-padded or trimmed like the host), float32 of ``output_shape``."""
        fe = self.generated
        data = c_input(fe, sample)
        out = np.zeros(fe.output_floats, np.int32 if fe.fixed_point else np.float32)
        args = [data.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p)]
        if background is not None and self._background is not None:
            ref = np.ascontiguousarray(background, dtype=np.float32).reshape(-1)
            status = self._background(args[0], ref.ctypes.data_as(ctypes.c_void_p), args[1])
        else:
            status = self._run(*args)
        if status != 0:
            raise ExportError(f"tf_fe_{fe.name}_run returned {status}")
        return (out * fe.output_scale).astype(np.float32).reshape(fe.output_shape)


def harness_header(generated: GeneratedFrontend) -> str:
    """``tf_fe_harness.h``: names the front-end ``frontend_main.c`` runs."""
    upper = generated.name.upper()
    return (f"/* Generated by tinyfuse.firmware.frontend_c: the front-end the harness runs. */\n"
            f"#include \"tf_fe_{generated.name}.h\"\n"
            f"#define TF_FE_HARNESS_RUN tf_fe_{generated.name}_run\n"
            f"#define TF_FE_HARNESS_INPUT_FLOATS TF_FE_{upper}_INPUT_FLOATS\n"
            f"#define TF_FE_HARNESS_OUTPUT_FLOATS TF_FE_{upper}_OUTPUT_FLOATS\n"
            f"#define TF_FE_HARNESS_RAM_BYTES TF_FE_{upper}_RAM_BYTES\n"
            f"#define TF_FE_HARNESS_INPUT_T {generated.input_ctype}\n"
            f"#define TF_FE_HARNESS_OUTPUT_T {generated.output_ctype}\n")


def build_for_qemu(generated: GeneratedFrontend, out_dir: str | Path, *,
                   board: str = "mps2-an386") -> Path:
    """Compile a front-end + the runtime + ``frontend_main.c`` and the board's harness services
    into ``frontend.elf`` with ``tinyfuse.firmware.deploy``'s flags; returns the ELF.

    Raises
    ------
    ExportError
        The compiler or the linker failed (a front-end too big for the board's RAM, say).
    """
    from tinyfuse.firmware import deploy
    from tinyfuse.firmware.boards import find_board
    from tinyfuse.firmware.compiler import runtime_dir

    target = find_board(board)
    folder = Path(out_dir)
    write_frontend(generated, folder)
    (folder / "tf_fe_harness.h").write_text(harness_header(generated))
    (folder / "board.ld").write_text(target.linker_script())
    services = [p for p in target.harness_sources() if p.name != "main.c"]
    elf = folder / "frontend.elf"
    _run_tool([deploy._tool(f"{target.toolchain_prefix}gcc", target.family), *target.gcc_flags,
               *deploy.C_FLAGS, *target.harness_defines(), f"-I{folder}",
               f"-I{deploy.HARNESS_DIR}", f"-I{runtime_dir()}",
               str(folder / f"tf_fe_{generated.name}.c"), *map(str, runtime_sources()),
               str(deploy.HARNESS_DIR / HARNESS_SOURCE), *map(str, services),
               *deploy.LINK_FLAGS[target.family], f"-L{deploy.HARNESS_DIR}",
               f"-T{folder / 'board.ld'}", "-lm", "-o", str(elf)],
              f"{target.toolchain_prefix}gcc on the {generated.name} front-end for {board}")
    return elf


@dataclass(frozen=True, slots=True, kw_only=True)
class QemuFrontendRun:
    """What one emulator run of a front-end reported: ``outputs[v]`` (float32, the
    front-end's output shape), ``instructions[v]`` per run (exact multiples of
    the board's ``instructions_per_tick``), the stack high-water mark and the static RAM."""

    outputs: list[np.ndarray]
    instructions: tuple[int, ...]
    stack_bytes: int
    ram_bytes: int


def run_on_qemu(generated: GeneratedFrontend, samples: Sequence[np.ndarray], *,
                work_dir: str | Path, board: str = "mps2-an386",
                timeout_s: float = 120.0) -> QemuFrontendRun:
    """Run every sample through the front-end on an emulated board (one QEMU run).

    Samples are float32 of the front-end's ``input_shape`` (audio is zero-padded or trimmed).
    Instruction counts use the board's ``instructions_per_tick`` (40 on mps2-an386,
    ``deploy.INSTRUCTIONS_PER_TICK``).
    """
    from tinyfuse.firmware import deploy
    from tinyfuse.firmware.boards import find_board

    folder = Path(work_dir)
    elf = build_for_qemu(generated, folder / "build", board=board)
    target = find_board(board)
    run_dir = folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    with (run_dir / "inputs.bin").open("wb") as sink:
        for sample in samples:
            data = c_input(generated, sample)
            sink.write(data.astype("<i2" if generated.fixed_point else "<f4").tobytes())
    deploy._qemu(elf, run_dir, target, timeout_s=timeout_s)
    words = np.fromfile(run_dir / "header.bin", dtype="<u4")
    if len(words) < 8 or words[0] != 0x45464654 or words[2] != len(samples):
        raise ExportError(f"{run_dir / 'header.bin'}: missing or incomplete front-end header")
    stored = np.fromfile(run_dir / "outputs.bin",
                         dtype="<i4" if generated.fixed_point else "<f4")
    flat = (stored * generated.output_scale).astype(np.float32).reshape(len(samples), -1)
    ticks = np.fromfile(run_dir / "ticks.bin", dtype="<u4").astype(np.int64)
    return QemuFrontendRun(
        outputs=[row.reshape(generated.output_shape) for row in flat],
        instructions=tuple(round(int(t) * target.instructions_per_tick) for t in ticks),
        stack_bytes=int(words[5]), ram_bytes=int(words[6]))
