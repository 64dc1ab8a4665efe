"""`tinyfuse features`: one raw file -> the front-end's features, saved as .npy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tinyfuse.apps.cli import numbers
from tinyfuse.core.errors import DataError, SpecError
from tinyfuse.sensors.sources import read_audio, read_csv_matrix, read_image, read_mat
from tinyfuse.sensors.sources.base import Sample
from tinyfuse.sensors.sources.readers import as_float32
from tinyfuse.sensors.spec import (
    AudioSpec,
    ImageSpec,
    ModalitySpec,
    VibrationSpec,
    frontend_from_dict,
)

MODALITIES = ("audio", "thermal", "depth", "vibration")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "features", help="run a front-end on one file and save its features",
        description="Read one file, run the default front-end for the modality (or --spec), "
        "save the float32 features as .npy and print their shape. Inputs: audio wav/flac/mp3/"
        "ogg; thermal/depth png, npy or csv grid; vibration csv/npy (n_samples, n_axes) or a "
        "CWRU .mat (its *_time channels).")
    parser.add_argument("--modality", required=True, choices=MODALITIES)
    parser.add_argument("--input", required=True, metavar="PATH", help="raw sample file")
    parser.add_argument("--out", required=True, metavar="FILE.npy", help="where to save")
    parser.add_argument("--spec", metavar="SPEC.json",
                        help="ModalitySpec JSON ({name, frontend}) or a bare front-end JSON")
    parser.add_argument("--sample-rate-hz", type=numbers.rate_hz, default=None,
                        help="vibration only: the input's rate; the default spec then uses "
                        "the whole file as one window with bands scaled to this rate "
                        "(default: VibrationSpec defaults, 12 kHz, 0.25 s)")
    parser.set_defaults(handler=run)


def default_spec(modality: str, sample: np.ndarray, *,
                 sample_rate_hz: float | None = None) -> ModalitySpec:
    """The default front-end for ``modality`` (vibration: one axis per input column; with
    ``sample_rate_hz`` the whole sample is one window and the bands fit that rate)."""
    if modality == "audio":
        return ModalitySpec(name="audio", frontend=AudioSpec())
    if modality == "thermal":
        return ModalitySpec(name="thermal", frontend=ImageSpec(sensor="thermal"))
    if modality == "depth":
        return ModalitySpec(name="depth", frontend=ImageSpec(
            sensor="depth", min_value=0.0, max_value=5.0, fill_holes=True))
    n_axes = 1 if sample.ndim == 1 else sample.shape[1]
    if sample_rate_hz is None:
        return ModalitySpec(name="vibration", frontend=VibrationSpec(n_axes=n_axes))
    n_fft = min(1024, 1 << (int(sample.shape[0]).bit_length() - 1))
    return ModalitySpec(name="vibration", frontend=VibrationSpec(
        sample_rate_hz=sample_rate_hz, window_s=sample.shape[0] / sample_rate_hz, n_axes=n_axes,
        n_fft=n_fft, n_bands=min(32, n_fft // 2), fmin_hz=min(10.0, sample_rate_hz / 20),
        fmax_hz=min(5000.0, 0.45 * sample_rate_hz),
        envelope_fmax_hz=min(500.0, sample_rate_hz / 2)))


def load_spec(path: str, modality: str) -> ModalitySpec:
    """Read a ModalitySpec JSON, or a bare front-end JSON named after ``modality``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: unreadable spec JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a JSON object")
    if "frontend" in data:
        return ModalitySpec.from_dict(data)
    return ModalitySpec(name=modality, frontend=frontend_from_dict(data))


def read_sample(modality: str, path: Path) -> tuple[np.ndarray, int | None]:
    """The raw sample in physical units and (audio only) its native sample rate."""
    suffix = path.suffix.lower()
    if modality == "audio":
        return read_audio(path, rms_floor=0.0)
    if suffix == ".csv":
        matrix = as_float32(path, read_csv_matrix(path))
        return (matrix[:, 0] if matrix.shape[1] == 1 and modality == "vibration" else matrix), None
    if modality == "vibration" and suffix == ".mat":
        channels = {k: v for k, v in read_mat(path).items() if k.endswith("_time")}
        if not channels:
            raise DataError(f"{path}: no *_time channels")
        return np.stack([np.ravel(channels[k]) for k in sorted(channels)], axis=1), None
    if modality == "vibration" and suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    return read_image(path), None


def file_sample(spec: ModalitySpec, raw: np.ndarray, *, path: Path,
                rate_hz: float | None) -> Sample:
    """One file as the loaders give a sample: the raw array under the modality's name, the
    native rate (audio) in the meta."""
    meta = (("sample_rate_hz", float(rate_hz)),) if rate_hz else ()
    return Sample(data={spec.name: np.asarray(raw)}, label="", group=str(path),
                  key=str(path), source=str(path), meta=meta)


def run(args: argparse.Namespace) -> int:
    from tinyfuse.sensors.preprocess import Preprocessor

    raw, rate_hz = read_sample(args.modality, Path(args.input))
    if args.spec:
        spec = load_spec(args.spec, args.modality)
    else:
        spec = default_spec(args.modality, raw, sample_rate_hz=args.sample_rate_hz)
    sample = file_sample(spec, raw, path=Path(args.input), rate_hz=rate_hz)
    features = Preprocessor((spec,)).feature(spec, sample)
    if features is None:
        raise DataError(f"{args.input}: no {spec.name} data read")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, features)
    print(f"{args.input} -> {args.out}: {spec.name} ({spec.frontend.kind}) features "
          f"{features.dtype} {features.shape}")
    return 0
