"""Train/serve parity: the same recordings through the training path (loader -> FeatureStore ->
fitted standardisation -> int8 as the evaluation quantises it) and the serving path (the file
read as `tinyfuse features` / `tinyfuse run` read it -> a bundle written and read back ->
``Preprocessor.from_bundle`` -> ``int8_inputs``) give identical int8 model inputs.

Recordings: 48 kHz and 8 kHz covid19-cough mp3 files, a Coswara cough written at 44.1 kHz,
Omron D6T 4x4 thermal frames, 8x8 simulated thermal frames, CWRU drive-end windows from the
``.mat`` files and ceiling-fan CSV windows. Skipped when ``../shared/datasets`` is absent,
except the simulated 8x8 case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinyfuse.apps.cli.features import file_sample, read_sample
from tinyfuse.core.bundle import Bundle, BundleInput, BundleOutput
from tinyfuse.core.quant import quantize
from tinyfuse.fusion.features import FeatureStore, fit_stats, model_inputs
from tinyfuse.fusion.spec import FusionSpec
from tinyfuse.sensors.preprocess import Preprocessor
from tinyfuse.sensors.sources import (
    LoadResult,
    load_ceiling_fan,
    load_cwru,
    load_folder,
    load_thermal_d6t,
)
from tinyfuse.sensors.spec import AudioSpec, ImageSpec, ModalitySpec, VibrationSpec

pytestmark = pytest.mark.realdata

AUDIO = ModalitySpec(name="audio", frontend=AudioSpec(sample_rate_hz=16000, duration_s=1.0,
                                                      n_mfcc=13, hop_length=512))


def quantization_of(standardised: np.ndarray) -> tuple[float, int]:
    """An int8 (scale, zero point) covering the values, as a converter would choose."""
    low, high = min(float(standardised.min()), 0.0), max(float(standardised.max()), 0.0)
    scale = max((high - low) / 255.0, 1e-6)
    return scale, int(np.clip(round(-128 - low / scale), -128, 127))


def both_paths(modality: ModalitySpec, training: LoadResult, served: list, tmp_path: Path):
    """int8 inputs of every sample by the training path and by the serving path."""
    spec = FusionSpec(modalities=(modality,), classes=("a", "b"))
    store = FeatureStore.of(training)
    rows = np.arange(len(training.samples))
    stats = fit_stats(store, spec, rows)
    [standardised] = model_inputs(store, spec, rows, stats)
    scale, zero_point = quantization_of(standardised)
    trained = [quantize(row, scale=scale, zero_point=zero_point) for row in standardised]
    mean, std = stats[modality.name]
    bundle = Bundle(app="parity", classes=("a", "b"), inputs=(BundleInput(
        name=modality.name, frontend=modality.to_dict()["frontend"], index=0,
        shape=(1, *modality.output_shape), mean=tuple(map(float, mean)),
        std_scale=tuple(map(float, std)), scale=scale, zero_point=zero_point),),
        output=BundleOutput(scale=1 / 256, zero_point=-128, shape=(1, 2)),
        tflite=b"not a model: the preprocessor never reads it")
    bundle.write(tmp_path / "bundle")
    serving = Preprocessor.from_bundle(Bundle.read(tmp_path / "bundle"))
    return trained, [serving.int8_inputs(serving.features(sample))[0] for sample in served]


def assert_identical(trained, served) -> None:
    assert len(trained) == len(served) >= 2
    for row, (want, got) in enumerate(zip(trained, served, strict=True)):
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=f"sample {row}")


def served_files(modality: ModalitySpec, kind: str, paths: list[Path]) -> list:
    """The files as the `features` command reads them (native rate in the sample)."""
    out = []
    for path in paths:
        raw, rate = read_sample(kind, path)
        out.append(file_sample(modality, raw, path=path, rate_hz=rate))
    return out


def _covid_files(datasets_dir: Path, rate_hz: int, count: int) -> list[Path]:
    import soundfile

    root = datasets_dir / "covid19_cough"
    found = []
    for entry in json.loads((root / "metadata.json").read_text()):
        path = root / "raw" / entry["filename"]
        try:
            if path.is_file() and soundfile.info(str(path)).samplerate == rate_hz:
                found.append(path)
        except RuntimeError:
            continue
        if len(found) == count:
            return found
    pytest.skip(f"fewer than {count} covid19-cough files at {rate_hz} Hz")


@pytest.mark.parametrize("rate_hz", [48000, 8000])
def test_covid_cough_audio_at_its_native_rate(datasets_dir, tmp_path, rate_hz):
    files = _covid_files(datasets_dir, rate_hz, 4)
    folder = tmp_path / "set" / "cough"
    folder.mkdir(parents=True)
    for path in files:
        (folder / path.name).symlink_to(path)
    training = load_folder(tmp_path / "set", modality="audio", rms_floor=0.0)
    assert {s.meta_value("sample_rate_hz") for s in training.samples} == {rate_hz}
    served = served_files(AUDIO, "audio", sorted(folder.iterdir()))
    assert_identical(*both_paths(AUDIO, training, served, tmp_path))


def test_coswara_cough_written_at_44100_hz(datasets_dir, tmp_path):
    import soundfile
    from scipy.signal import resample_poly

    sources = sorted((datasets_dir / "coswara_20200413").glob("*/cough-heavy.wav"))[:6]
    folder = tmp_path / "set" / "cough"
    folder.mkdir(parents=True)
    for index, path in enumerate(sources):
        signal, rate = soundfile.read(str(path), dtype="float32")
        assert rate == 16000
        louder = resample_poly(signal, 441, 160).astype(np.float32)  # 16 kHz -> 44.1 kHz
        soundfile.write(str(folder / f"{index}.wav"), louder, 44100, subtype="PCM_16")
    training = load_folder(tmp_path / "set", modality="audio", rms_floor=0.0)
    assert {s.meta_value("sample_rate_hz") for s in training.samples} == {44100}
    served = served_files(AUDIO, "audio", sorted(folder.iterdir()))
    assert_identical(*both_paths(AUDIO, training, served, tmp_path))


def test_d6t_4x4_thermal_frames(datasets_dir, tmp_path):
    thermal = ModalitySpec(name="thermal", frontend=ImageSpec(
        sensor="thermal", height=8, width=8, min_value=15.0, max_value=40.0))
    frames = load_thermal_d6t(datasets_dir / "thermal_d6t_posture", limit=3)
    samples = frames.samples[:12]
    assert samples[0].data["thermal"].shape == (4, 4)
    paths = []
    for index, sample in enumerate(samples):  # each frame as a sensor grid file
        path = tmp_path / f"frame{index}.csv"
        np.savetxt(path, sample.data["thermal"], delimiter=",", fmt="%.1f")
        paths.append(path)
    served = served_files(thermal, "thermal", paths)
    training = LoadResult(samples=tuple(samples), name="d6t")
    assert_identical(*both_paths(thermal, training, served, tmp_path))


def test_simulated_8x8_thermal_frames(tmp_path):
    from tinyfuse.sensors.simulate import simulate_posture

    thermal = ModalitySpec(name="thermal", frontend=ImageSpec(
        sensor="thermal", height=8, width=8, min_value=15.0, max_value=40.0))
    data = simulate_posture(n_per_class=3, n_people=2, seed=4)
    paths = []
    for index, sample in enumerate(data.samples):
        assert sample.data["thermal"].shape == (8, 8)
        paths.append(tmp_path / f"frame{index}.npy")
        np.save(paths[-1], sample.data["thermal"])
    served = served_files(thermal, "thermal", paths)
    assert_identical(*both_paths(thermal, data, served, tmp_path))


def test_cwru_mat_windows(datasets_dir, tmp_path):
    vibration = ModalitySpec(name="vibration", frontend=VibrationSpec(
        sample_rate_hz=12000.0, window_s=0.25, n_bands=32, n_envelope_bands=16))
    data = load_cwru(datasets_dir / "cwru_0hp", limit=3)
    mats = {s.source for s in data.samples}
    assert all(source.endswith(".mat") for source in mats) and len(mats) > 3
    # `tinyfuse run --source` reads a recorded set with the same loader as the build
    served = list(load_cwru(datasets_dir / "cwru_0hp", limit=3).samples)
    assert_identical(*both_paths(vibration, data, served, tmp_path))


def test_ceiling_fan_csv_windows(datasets_dir, tmp_path):
    vibration = ModalitySpec(name="vibration", frontend=VibrationSpec(
        sample_rate_hz=200.0, window_s=1.0, n_axes=3, n_fft=128, n_bands=16, fmin_hz=1.0,
        fmax_hz=90.0, envelope_fmax_hz=50.0, n_envelope_bands=8))
    data = load_ceiling_fan(datasets_dir / "ceiling_fan", limit=2)
    samples = data.samples[:12]
    paths = [Path(s.source) for s in samples]
    assert all(path.suffix == ".csv" and path.is_file() for path in paths)
    served = served_files(vibration, "vibration", paths)
    training = LoadResult(samples=tuple(samples), name="ceiling_fan")
    assert_identical(*both_paths(vibration, training, served, tmp_path))
