"""C front-ends vs the Python front-ends on real recordings: accuracy, instructions, RAM.

For each benchmark front-end spec (the ones the bench configs and apps use) this runs a handful
of real recordings from ``../shared/datasets`` through the host reference
(``tinyfuse.sensors.frontends``), through the generated C compiled with the host's gcc, and
through the same C on every emulated board of the board table (``mps2-an386`` Cortex-M4F and
the others, under QEMU with ``-icount shift=0``), and writes ``bench/results/frontend_c.json``:
per feature family the max |C - Python| on the host and on each board, instructions per run,
per frame and per second of signal, and the static RAM and const tables of each front-end.

    .venv/bin/python -m bench.frontend_c [--datasets ../shared/datasets] [--recordings 4]
                                         [--boards mps2-an386 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.core.errors import TinyfuseError
from tinyfuse.firmware import frontend_c
from tinyfuse.firmware.boards import board_names
from tinyfuse.sensors.frontends import audio, image, vibration
from tinyfuse.sensors.sources import read_audio, read_csv_matrix, read_mat
from tinyfuse.sensors.sources.thermal_d6t import read_d6t_csv
from tinyfuse.sensors.spec import (
    AudioSpec,
    FrontendSpec,
    ImageSpec,
    VibrationSpec,
    frontend_to_dict,
)

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
RESULTS = REPO / "bench" / "results" / "frontend_c.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One front-end spec, the recordings it is measured on, and the sensor grid (images)."""

    name: str
    spec: FrontendSpec
    dataset: str
    samples: Callable[[Path, int], list[np.ndarray]]
    sensor_shape: tuple[int, int] | None = None
    fixed_point: bool = False


def _coswara(rate_hz: int, duration_s: float) -> Callable[[Path, int], list[np.ndarray]]:
    def load(root: Path, count: int) -> list[np.ndarray]:
        out = []
        for path in sorted((root / "coswara_20200413").glob("*/cough-heavy.wav")):
            try:
                signal, native_hz = read_audio(path)
            except Exception as exc:  # a defective recording: skip it, as the loaders do
                log.info("skipping %s: %s", path, exc)
                continue
            n_samples = int(round(duration_s * rate_hz))
            out.append(audio.resample_window(signal, orig_hz=native_hz, target_hz=rate_hz,
                                             n_samples=n_samples))
            if len(out) == count:
                break
        return out
    return load


def _cwru(root: Path, count: int) -> list[np.ndarray]:
    out = []
    for path in sorted((root / "cwru_0hp" / "12k_DE").glob("*.mat"))[:count]:
        variables = read_mat(path)
        key = next(k for k in variables if k.endswith("_DE_time"))
        signal = np.asarray(variables[key], np.float64).reshape(-1)
        out.append(signal[12000:15000, np.newaxis])  # 0.25 s, one second in
    return out


def _fan(root: Path, count: int) -> list[np.ndarray]:
    folders = sorted((root / "ceiling_fan" / "ceiling-fan").glob("fan_*"))
    return [read_csv_matrix(sorted(folder.glob("*.csv"))[0], n_columns=3)
            for folder in folders[:count]]


def _thermal(root: Path, count: int) -> list[np.ndarray]:
    paths = sorted((root / "thermal_d6t_posture" / "Dataset").glob("*/*.csv"))
    frames = []
    for path in paths[:: max(1, len(paths) // count)][:count]:
        frames_c = read_d6t_csv(path)[0]
        frames.append(frames_c[len(frames_c) // 2])
    return frames


#: small enough for the 16 KiB micro:bit (Cortex-M0, no FPU): float vs fixed point there
SMALL_AUDIO = AudioSpec(sample_rate_hz=8000, duration_s=0.25, n_fft=128, hop_length=64,
                        n_mels=20, n_mfcc=10, fmin_hz=20.0, fmax_hz=4000.0)
CASES: tuple[Case, ...] = (
    Case(name="coswara_sound_mfcc", dataset="coswara_20200413", samples=_coswara(8000, 3.0),
         spec=AudioSpec(sample_rate_hz=8000, duration_s=3.0, n_fft=256, hop_length=256,
                        n_mels=32, n_mfcc=13, fmin_hz=20.0, fmax_hz=4000.0)),
    Case(name="cough_app_mfcc", dataset="coswara_20200413", samples=_coswara(16000, 1.0),
         spec=AudioSpec(sample_rate_hz=16000, duration_s=1.0, n_mfcc=13, hop_length=512)),
    Case(name="cough_logmel", dataset="coswara_20200413", samples=_coswara(16000, 1.0),
         spec=AudioSpec(sample_rate_hz=16000, duration_s=1.0, hop_length=256,
                        feature="logmel")),
    Case(name="coswara_sound_mfcc_fixed", dataset="coswara_20200413", fixed_point=True,
         samples=_coswara(8000, 3.0),
         spec=AudioSpec(sample_rate_hz=8000, duration_s=3.0, n_fft=256, hop_length=256,
                        n_mels=32, n_mfcc=13, fmin_hz=20.0, fmax_hz=4000.0)),
    Case(name="cough_logmel_fixed", dataset="coswara_20200413", samples=_coswara(16000, 1.0),
         fixed_point=True, spec=AudioSpec(sample_rate_hz=16000, duration_s=1.0,
                                          hop_length=256, feature="logmel")),
    Case(name="coswara_small_mfcc", dataset="coswara_20200413", samples=_coswara(8000, 0.25),
         spec=SMALL_AUDIO),
    Case(name="coswara_small_mfcc_fixed", dataset="coswara_20200413", fixed_point=True,
         samples=_coswara(8000, 0.25), spec=SMALL_AUDIO),
    Case(name="cwru_vibration", dataset="cwru_0hp", samples=_cwru,
         spec=VibrationSpec(sample_rate_hz=12000.0, window_s=0.25, n_axes=1)),
    Case(name="ceiling_fan_vibration", dataset="ceiling_fan", samples=_fan,
         spec=VibrationSpec(sample_rate_hz=200.0, window_s=1.0, n_axes=3, n_fft=128,
                            n_bands=16, fmin_hz=1.0, fmax_hz=95.0, n_envelope_bands=8,
                            envelope_fmax_hz=40.0)),
    Case(name="d6t_thermal_4x4", dataset="thermal_d6t_posture", samples=_thermal,
         sensor_shape=(4, 4), spec=ImageSpec(height=4, width=4)),
    Case(name="d6t_thermal_8x8", dataset="thermal_d6t_posture", samples=_thermal,
         sensor_shape=(4, 4), spec=ImageSpec(height=8, width=8, min_value=15.0,
                                             max_value=80.0)),
    Case(name="d6t_thermal_3x3_background", dataset="thermal_d6t_posture", samples=_thermal,
         sensor_shape=(4, 4), spec=ImageSpec(height=3, width=3, min_value=0.0, max_value=10.0,
                                             subtract_background=True)),
)


def python_features(spec: FrontendSpec, sample: np.ndarray) -> np.ndarray:
    """The host reference of one sample (already at the spec rate and length for audio)."""
    if isinstance(spec, AudioSpec):
        return audio.features(np.asarray(sample, np.float64), spec=spec)
    if isinstance(spec, VibrationSpec):
        return vibration.vibration_features(sample, spec=spec)
    assert isinstance(spec, ImageSpec)
    return image.process_image(sample, spec=spec)


def families(spec: FrontendSpec, features: np.ndarray, *,
             fixed_point: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """``(family, values)`` of one feature map: the groups a tolerance is stated for (the
    fixed-point audio front-end's are ``<feature>_fixed``)."""
    if isinstance(spec, AudioSpec):
        yield spec.feature + ("_fixed" if fixed_point else ""), features
    elif isinstance(spec, VibrationSpec):
        bands = spec.n_bands
        yield "band_power_log10", features[:, :bands]
        yield "rms_peak_log10", features[:, bands:bands + 2]
        yield "crest_factor", features[:, bands + 2]
        yield "kurtosis", features[:, bands + 3]
        if spec.n_envelope_bands:
            yield "envelope_band_power_log10", features[:, bands + 4:]
    else:
        yield "image", features


def max_differences(spec: FrontendSpec, ours: list[np.ndarray], reference: list[np.ndarray],
                    *, fixed_point: bool = False) -> dict[str, float]:
    """Max |ours - reference| per feature family over every sample."""
    worst: dict[str, float] = {}
    for a, b in zip(ours, reference, strict=True):
        for (family, x), (_, y) in zip(families(spec, a, fixed_point=fixed_point),
                                       families(spec, b), strict=True):
            diff = float(np.max(np.abs(np.asarray(x, np.float64) - y)))
            worst[family] = max(worst.get(family, 0.0), diff)
    return worst


def board_result(generated: frontend_c.GeneratedFrontend, case: Case,
                 samples: list[np.ndarray], reference: list[np.ndarray],
                 on_host: list[np.ndarray], work_dir: Path, board: str) -> dict[str, Any]:
    """Accuracy and costs of one front-end on one emulated board (or why it did not run);
    ``on_host`` is the same C's output on the host, to say whether the board differs."""
    try:
        run = frontend_c.run_on_qemu(generated, samples, work_dir=work_dir, board=board)
    except TinyfuseError as exc:
        lines = str(exc).strip().splitlines()
        why = [line for line in lines if "overflow" in line or "not fit" in line] or lines[-1:]
        reason = why[0].split(": ", 1)[-1].replace(f"{work_dir}/", "")
        return {"ran": False, "reason": reason[:300]}
    per_run = float(np.mean(run.instructions))
    return {
        "ran": True,
        "max_abs_diff": max_differences(case.spec, run.outputs, reference,
                                        fixed_point=case.fixed_point),
        "max_abs_diff_vs_host_c": max(float(np.max(np.abs(a - b)))
                                      for a, b in zip(run.outputs, on_host, strict=True)),
        "values_differing_from_host_c": sum(int(np.sum(a != b))
                                            for a, b in zip(run.outputs, on_host, strict=True)),
        "instructions_per_run": round(per_run),
        "instructions_per_frame": round(per_run / generated.frames),
        "instructions_per_second_of_signal": (round(per_run / generated.signal_s)
                                              if generated.signal_s else None),
        "stack_bytes": run.stack_bytes,
    }


def measure(case: Case, samples: list[np.ndarray], work_dir: Path, *,
            boards: tuple[str, ...] = ("mps2-an386",)) -> dict[str, Any]:
    """Host and emulated-board accuracy and costs of one case."""
    generated = frontend_c.generate(case.name, frontend_to_dict(case.spec),
                                    sensor_shape=case.sensor_shape, fixed_point=case.fixed_point)
    if case.fixed_point:  # int16 PCM in: the reference sees the same quantised signal
        samples = [frontend_c.c_input(generated, s) for s in samples]
        reference = [python_features(case.spec, s / 32768.0) for s in samples]
    else:
        reference = [python_features(case.spec, s) for s in samples]
    host = frontend_c.HostFrontend(generated, work_dir / "host")
    on_host = [host.run(s) for s in samples]
    return {
        "kind": generated.kind, "dataset": case.dataset, "recordings": len(samples),
        "spec": frontend_to_dict(case.spec), "sensor_shape": case.sensor_shape,
        "input_shape": list(generated.input_shape),
        "output_shape": list(generated.output_shape), "frames_per_run": generated.frames,
        "ram_bytes": generated.ram_bytes, "table_bytes": generated.table_bytes,
        "fixed_point": case.fixed_point,
        "host_max_abs_diff": max_differences(case.spec, on_host, reference,
                                             fixed_point=case.fixed_point),
        "boards": {board: board_result(generated, case, samples, reference, on_host,
                                       work_dir / board, board) for board in boards},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--recordings", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--boards", nargs="*", default=list(board_names()),
                        help="emulated boards (default: every row of the board table)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tinyfuse-fe-") as scratch:
        for case in CASES:
            samples = case.samples(args.datasets, args.recordings)
            results[case.name] = measure(case, samples, Path(scratch) / case.name,
                                         boards=tuple(args.boards))
            log.info("%s: %s", case.name, json.dumps(results[case.name]["host_max_abs_diff"]))
    report = {"command": "python -m bench.frontend_c", "datasets": str(args.datasets),
              "instructions_method": "QEMU -icount shift=0 (one instruction per virtual ns), "
                                     "board tick counter x Board.instructions_per_tick "
                                     "(mps2-an386: CMSDK timer 0, "
                                     "deploy.INSTRUCTIONS_PER_TICK = 40)",
              "ram_bytes": "static buffers of the generated front-end (state arrays)",
              "table_bytes": "const tables of the generated front-end (flash)",
              "cases": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
