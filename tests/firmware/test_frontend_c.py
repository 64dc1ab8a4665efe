"""C front-ends (firmware/runtime/tf_frontend*.c + tables from tinyfuse.firmware.frontend_c)
against the Python front-ends: tables, known-answer signals, streaming, real recordings on the
host (gcc + ctypes) and on the emulated Cortex-M4F (mps2-an386 under QEMU).

Tolerances (max |C float32 - Python float64|), per feature family, in the features' units:
"""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest

from bench import frontend_c as bench
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware import frontend_c
from tinyfuse.firmware.compiler import runtime_dir
from tinyfuse.sensors.frontends import audio, image, vibration
from tinyfuse.sensors.spec import AudioSpec, ImageSpec, VibrationSpec, frontend_to_dict

#: max |C - Python| per feature family (measured worst on the bench recordings, in brackets)
TOLERANCE = {
    "mfcc": 2e-3,                       # [3e-4]  MFCC of dB values (|c0| up to ~1000)
    "logmel": 2e-3,                     # [2e-4]  dB
    "mfcc_fixed": 2e-3,                 # [4e-4]  integer-only front-end, same int16 PCM in
    "logmel_fixed": 2e-3,               # [4e-4]
    "band_power_log10": 1e-2,           # [2e-3]  log10 of units^2 (float32 IIR near 10 Hz)
    "rms_peak_log10": 1e-4,             # [1.5e-5]
    "crest_factor": 1e-3,               # [2.3e-4]
    "kurtosis": 1e-3,                   # [7e-5]
    "envelope_band_power_log10": 1e-3,  # [6e-5]
    "image": 1e-6,                      # [1.2e-7] normalised [0, 1]
}
#: band powers this far (decades of power) below the strongest band are float32 residue
DYNAMIC_RANGE_DECADES = 5.0
__doc__ += "\n".join(f"    {family}: {value:g}" for family, value in TOLERANCE.items())

AUDIO = AudioSpec(sample_rate_hz=8000, duration_s=1.0, n_fft=256, hop_length=128, n_mels=32,
                  n_mfcc=13, fmin_hz=20.0, fmax_hz=4000.0)
CWRU = VibrationSpec(sample_rate_hz=12000.0, window_s=0.25)
FAN = VibrationSpec(sample_rate_hz=200.0, window_s=1.0, n_axes=3, n_fft=128, n_bands=16,
                    fmin_hz=1.0, fmax_hz=95.0, n_envelope_bands=8, envelope_fmax_hz=40.0)
HAVE_ARM = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))


def host(spec, tmp_path, *, name="fe", sensor_shape=None) -> frontend_c.HostFrontend:
    generated = frontend_c.generate(name, frontend_to_dict(spec), sensor_shape=sensor_shape)
    return frontend_c.HostFrontend(generated, tmp_path / name)


def assert_within(spec, ours, reference) -> None:
    worst = bench.max_differences(spec, ours, reference)
    for family, value in worst.items():
        assert value <= TOLERANCE[family], f"{family}: max |C - Python| {value:.3g}"


# ------------------------------------------------------------------ tables


def test_the_tables_are_the_host_front_ends_tables():
    tables = frontend_c.audio_tables(frontend_to_dict(AUDIO))
    host_tables = audio.tables(AUDIO)
    np.testing.assert_array_equal(tables["window"], host_tables["window"])
    np.testing.assert_array_equal(tables["mel_basis"], host_tables["mel_basis"])
    np.testing.assert_allclose(tables["dct"], host_tables["dct"], atol=1e-7)
    assert list(host_tables["log"][1:]) == [frontend_c.AUDIO_REF, frontend_c.AUDIO_AMIN,
                                             frontend_c.AUDIO_TOP_DB]
    assert (vibration.POWER_FLOOR, vibration.AMPLITUDE_FLOOR, vibration.FILTER_ORDER) == (
        frontend_c.VIBRATION_POWER_FLOOR, frontend_c.VIBRATION_AMPLITUDE_FLOOR,
        frontend_c.VIBRATION_FILTER_ORDER)
    freqs = np.fft.rfftfreq(1024, 1 / 12000.0)
    np.testing.assert_array_equal(
        frontend_c.band_weights(freqs, fmin_hz=10.0, fmax_hz=5000.0, n_bands=32),
        vibration.band_matrix(freqs, fmin_hz=10.0, fmax_hz=5000.0, n_bands=32))


def test_sparse_mel_rows_rebuild_the_dense_filter_bank():
    tables = frontend_c.audio_tables(frontend_to_dict(AUDIO))
    sparse, dense = tables["mel"], tables["mel_basis"]
    rebuilt = np.zeros_like(dense)
    for b, (start, count, offset) in enumerate(
            zip(sparse["start"], sparse["count"], sparse["offset"], strict=True)):
        rebuilt[b, start:start + count] = sparse["weights"][offset:offset + count]
    np.testing.assert_array_equal(rebuilt, dense)
    assert sparse["weights"].size < dense.size / 4  # sparse, not a dense matrix


@pytest.mark.parametrize(("n_in", "n_out"), [(4, 8), (32, 8), (24, 8), (5, 3), (4, 4)])
def test_resize_weights_reproduce_the_host_resize(rng, n_in, n_out):
    frame = rng.random((n_in, 7))
    weights = frontend_c.resize_weights(n_in, n_out)
    np.testing.assert_allclose(weights @ frame, image.to_grid(frame, height=n_out, width=7),
                               atol=1e-12)


def test_the_bundle_gives_one_front_end_per_input_with_its_hash():
    from tinyfuse.core.bundle import Bundle, BundleInput, BundleOutput

    thermal = ImageSpec(height=8, width=8)
    inputs = tuple(
        BundleInput(name=name, frontend=frontend_to_dict(spec), index=index,
                    shape=(1, *spec.output_shape), mean=(0.0,), std_scale=(1.0,), scale=0.1,
                    zero_point=0)
        for index, (name, spec) in enumerate([("audio", AUDIO), ("thermal", thermal)]))
    bundle = Bundle(app="demo", classes=("a", "b"), inputs=inputs,
                    output=BundleOutput(scale=1 / 256, zero_point=-128, shape=(1, 2)),
                    tflite=b"\0")
    generated = frontend_c.generate_bundle(bundle, sensor_shapes={"thermal": (24, 32)})
    assert [(g.name, g.kind) for g in generated] == [("audio", "audio"), ("thermal", "image")]
    assert all(f'_BUNDLE_HASH "{bundle.bundle_hash}"' in g.header for g in generated)
    assert generated[0].output_shape == AUDIO.output_shape
    assert generated[1].input_shape == (24, 32)
    assert generated[1].output_shape == thermal.output_shape


def test_the_module_examples_run():
    import doctest

    result = doctest.testmod(frontend_c)
    assert result.attempted > 0 and result.failed == 0


def test_bad_specs_are_refused_with_the_reason():
    with pytest.raises(ExportError, match="audio only"):
        frontend_c.generate("v", frontend_to_dict(CWRU), fixed_point=True)
    with pytest.raises(ExportError, match="even window"):
        frontend_c.generate("v", frontend_to_dict(VibrationSpec(
            sample_rate_hz=1000.0, window_s=0.101, fmax_hz=400.0, envelope_fmax_hz=100.0,
            n_fft=64)))  # 101 samples
    with pytest.raises(ExportError, match="missing field 'n_fft'"):
        frontend_c.generate("a", {k: v for k, v in frontend_to_dict(AUDIO).items()
                                  if k != "n_fft"})
    with pytest.raises(ExportError, match="no C front-end"):
        frontend_c.generate("x", {"kind": "radar"})
    with pytest.raises(ExportError, match="must match"):
        frontend_c.generate("Bad-Name", frontend_to_dict(AUDIO))


# ------------------------------------------------------------------ FFT


class _Plan(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("n_factors", ctypes.c_int32),
                ("stride", ctypes.c_int32), ("factors", ctypes.POINTER(ctypes.c_int16)),
                ("twiddle", ctypes.POINTER(ctypes.c_float))]


@pytest.mark.parametrize("n", [16, 200, 512, 3000])
def test_real_fft_and_its_inverse_match_numpy(tmp_path, rng, n):
    lib = host(FAN, tmp_path)._lib
    factors = np.array(frontend_c.fft_factors(n // 2), np.int16)
    table = frontend_c.twiddles(n)
    plan = _Plan(n // 2, len(factors), 2, factors.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)),
                 table.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
    x = rng.standard_normal(n).astype(np.float32)
    spec = np.zeros(n + 2, np.float32)
    back = np.zeros(n, np.float32)
    as_float = ctypes.POINTER(ctypes.c_float)
    assert lib.tf_rfft(ctypes.byref(plan), x.ctypes.data_as(as_float),
                       spec.ctypes.data_as(as_float)) == 0
    expected = np.fft.rfft(x.astype(np.float64))
    np.testing.assert_allclose(spec[0::2] + 1j * spec[1::2], expected, atol=2e-5 * math.sqrt(n))
    assert lib.tf_irfft(ctypes.byref(plan), spec.ctypes.data_as(as_float),
                        back.ctypes.data_as(as_float)) == 0
    np.testing.assert_allclose(back, x, atol=1e-5)


# ------------------------------------------------------------------ known answers


def test_audio_silence_and_a_tone_match_python(tmp_path, rng):
    fe = host(AUDIO, tmp_path)
    silence = fe.run(np.zeros(8000))
    np.testing.assert_allclose(silence[:, 0], -100.0 * math.sqrt(32), rtol=1e-6)
    np.testing.assert_allclose(silence[:, 1:], 0.0, atol=1e-3)
    t = np.arange(8000) / 8000.0
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.01 * rng.standard_normal(8000)
    assert_within(AUDIO, [fe.run(tone)], [audio.features(tone, spec=AUDIO)])
    short = tone[:5000]  # zero-padded at the end, like fix_length
    padded = audio.fix_length(short, n_samples=8000)
    assert_within(AUDIO, [fe.run(short)], [audio.features(padded, spec=AUDIO)])


@pytest.mark.parametrize("fixed_point", [False, True], ids=["float", "fixed"])
def test_streaming_in_any_chunks_gives_the_same_features(tmp_path, rng, fixed_point):
    generated = frontend_c.generate("stream", frontend_to_dict(AUDIO), fixed_point=fixed_point)
    fe = frontend_c.HostFrontend(generated, tmp_path)
    x = frontend_c.c_input(generated, 0.3 * rng.standard_normal(8000))
    whole = fe.run(x)
    lib, pointer = fe._lib, ctypes.c_void_p
    assert lib.tf_fe_stream_reset() == 0
    start = 0
    while start < x.size:
        size = int(rng.integers(1, 700))
        chunk = np.ascontiguousarray(x[start:start + size])
        assert lib.tf_fe_stream_push(chunk.ctypes.data_as(pointer), chunk.size) == 0
        start += size
    out = np.zeros(whole.size, np.int32 if fixed_point else np.float32)
    assert lib.tf_fe_stream_finish(out.ctypes.data_as(pointer)) == 0
    np.testing.assert_array_equal(out.reshape(whole.shape) * generated.output_scale, whole)
    assert lib.tf_fe_stream_finish(out.ctypes.data_as(pointer)) == -2  # TF_FE_ERR_STATE


@pytest.mark.parametrize("feature", ["mfcc", "logmel"])
def test_the_fixed_point_audio_front_end_matches_python(tmp_path, rng, feature):
    spec = AudioSpec(sample_rate_hz=8000, duration_s=1.0, n_fft=256, hop_length=128,
                     n_mels=32, n_mfcc=13, fmin_hz=20.0, fmax_hz=4000.0, feature=feature)
    generated = frontend_c.generate("fixed", frontend_to_dict(spec), fixed_point=True)
    assert "float" not in generated.source and generated.input_ctype == "int16_t"
    fe = frontend_c.HostFrontend(generated, tmp_path)
    t = np.arange(8000) / 8000.0
    for signal in (0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.01 * rng.standard_normal(8000),
                   0.001 * rng.standard_normal(8000), np.zeros(8000)):
        pcm = frontend_c.c_input(generated, signal)
        reference = audio.features(pcm / 32768.0, spec=spec)
        worst = bench.max_differences(spec, [fe.run(pcm)], [reference], fixed_point=True)
        assert worst[f"{feature}_fixed"] <= TOLERANCE[f"{feature}_fixed"], worst


def test_vibration_known_answers(tmp_path):
    """A pure tone's crest factor and kurtosis; an amplitude-modulated tone's bands and
    envelope bands. Band powers more than ``DYNAMIC_RANGE_DECADES`` below the strongest band of
    their kind are float32 rounding residue (a pure tone's far bands, its constant envelope's
    whole spectrum), so those are left out of the comparison."""
    fe = host(CWRU, tmp_path)
    t = np.arange(3000) / 12000.0
    sine = np.sin(2 * np.pi * 1000.0 * t)[:, None]
    crest, kurt = fe.run(sine)[0, 32 + 2:32 + 4]
    host_crest, host_kurt = vibration.vibration_features(sine, spec=CWRU)[0, 32 + 2:32 + 4]
    assert abs(crest - host_crest) <= TOLERANCE["crest_factor"]
    assert abs(kurt - host_kurt) <= TOLERANCE["kurtosis"]
    assert abs(crest - math.sqrt(2)) < 0.05 and abs(kurt - 1.5) < 0.05  # band-pass edges
    tone = ((1.0 + 0.5 * np.sin(2 * np.pi * 30.0 * t)) * np.sin(2 * np.pi * 1000.0 * t))[:, None]
    ours, theirs = fe.run(tone)[0], vibration.vibration_features(tone, spec=CWRU)[0]
    for part, family in ((slice(0, 32), "band_power_log10"),
                         (slice(36, 52), "envelope_band_power_log10")):
        strong = theirs[part] >= theirs[part].max() - DYNAMIC_RANGE_DECADES
        assert strong.sum() >= 2
        assert np.abs(ours[part] - theirs[part])[strong].max() <= TOLERANCE[family]
    assert np.abs(ours[32:34] - theirs[32:34]).max() <= TOLERANCE["rms_peak_log10"]
    silent = fe.run(np.zeros((3000, 1)))
    np.testing.assert_allclose(silent[0, :32], -12.0)
    np.testing.assert_allclose(silent[0, 32:36], [-6.0, -6.0, 0.0, 0.0])


@pytest.mark.parametrize("spec", [
    VibrationSpec(sample_rate_hz=1000.0, window_s=0.5, n_axes=2, n_fft=256, n_bands=8,
                  fmin_hz=0.0, fmax_hz=200.0, n_envelope_bands=4, envelope_fmax_hz=50.0),
    VibrationSpec(sample_rate_hz=1000.0, window_s=0.5, n_fft=128, n_bands=8, fmin_hz=20.0,
                  fmax_hz=500.0, n_envelope_bands=0, envelope_fmax_hz=50.0),
    VibrationSpec(sample_rate_hz=1000.0, window_s=0.1, n_fft=256, n_bands=8, fmin_hz=0.0,
                  fmax_hz=500.0, n_envelope_bands=4, envelope_fmax_hz=100.0),
], ids=["lowpass-2-axes", "highpass-no-envelope", "no-filter-window-below-n_fft"])
def test_vibration_filter_and_window_variants(tmp_path, rng, spec):
    fe = host(spec, tmp_path)
    window = rng.standard_normal((spec.n_samples, spec.n_axes)) * [1.0, 3.0][:spec.n_axes]
    window += np.linspace(0.0, 2.0, spec.n_samples)[:, None]  # a trend the detrend removes
    assert fe.run(window).shape == spec.output_shape
    assert_within(spec, [fe.run(window)], [vibration.vibration_features(window, spec=spec)])


def test_images_known_answers(tmp_path, rng):
    spec = ImageSpec(height=8, width=8, min_value=15.0, max_value=40.0)
    frame = 15.0 + 25.0 * rng.random((24, 32))
    blocks = frame.reshape(8, 3, 8, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(host(spec, tmp_path, sensor_shape=(24, 32)).run(frame),
                               (blocks - 15.0) / 25.0, atol=1e-6)
    minmax = ImageSpec(height=3, width=5, normalize="minmax", subtract_background=True,
                       min_value=0.0, max_value=10.0)
    fe = host(minmax, tmp_path, name="mm", sensor_shape=(7, 9))
    frame, background = 20.0 + 5.0 * rng.random((7, 9)), 20.0 + rng.random((7, 9))
    for ref in (None, background):
        np.testing.assert_allclose(fe.run(frame, background=ref),
                                   image.process_image(frame, spec=minmax, background=ref),
                                   atol=1e-6)


def test_depth_holes_take_the_nearest_valid_pixel(tmp_path, rng):
    spec = ImageSpec(sensor="depth", height=16, width=16, min_value=0.5, max_value=4.0,
                     fill_holes=True)
    depth = 0.5 + 3.5 * rng.random((16, 16))
    holes = np.zeros((16, 16), bool)
    holes[3, 4] = holes[10, 11] = holes[0, 0] = True
    depth[holes] = 0.0
    # every nearest valid pixel of a hole holds the same value, so however a tie between them
    # is broken (scipy's order is its own) the filled value is the same
    for r, c in zip(*np.nonzero(holes), strict=True):
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            if 0 <= r + dr < 16 and 0 <= c + dc < 16:
                depth[r + dr, c + dc] = 9.0
    ours = host(spec, tmp_path, sensor_shape=(16, 16)).run(depth)
    np.testing.assert_allclose(ours, image.process_image(depth, spec=spec), atol=1e-6)
    np.testing.assert_allclose(ours[holes], 1.0)


def test_vector_front_end_standardises(tmp_path):
    fe = frontend_c.HostFrontend(frontend_c.generate(
        "vec", {"kind": "vector", "size": 3, "mean": [1.0, 2.0, 3.0], "scale": [1.0, 2.0, 4.0]}),
        tmp_path)
    np.testing.assert_allclose(fe.run(np.array([1.0, 4.0, 11.0])), [0.0, 1.0, 2.0])


def test_a_cpp_caller_links_the_generated_header(tmp_path):
    generated = frontend_c.generate("audio", frontend_to_dict(AUDIO))
    frontend_c.write_frontend(generated, tmp_path)
    (tmp_path / "caller.cpp").write_text(
        '#include "tf_fe_audio.h"\n#include <cstdio>\n'
        "static float in[TF_FE_AUDIO_INPUT_FLOATS], out[TF_FE_AUDIO_OUTPUT_FLOATS];\n"
        'int main() { std::printf("%d\\n", tf_fe_audio_run(in, out)); return 0; }\n')
    objects = []
    for source in [tmp_path / "tf_fe_audio.c", *frontend_c.runtime_sources()]:
        objects.append(str(tmp_path / f"{source.stem}.o"))
        subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-c",
                        str(source), f"-I{runtime_dir()}", f"-I{tmp_path}", "-o", objects[-1]],
                       check=True)
    subprocess.run(["g++", "-Wall", "-Werror", str(tmp_path / "caller.cpp"), *objects,
                    f"-I{runtime_dir()}", f"-I{tmp_path}", "-o", str(tmp_path / "caller")],
                   check=True)
    assert subprocess.run([str(tmp_path / "caller")], check=True, capture_output=True,
                          text=True).stdout.strip() == "0"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_the_fixed_point_audio_runs_on_the_cortex_m0_in_fewer_instructions(tmp_path, rng):
    spec = AudioSpec(sample_rate_hz=8000, duration_s=0.25, n_fft=128, hop_length=64,
                     n_mels=20, n_mfcc=10, fmax_hz=4000.0)
    t = np.arange(2000) / 8000.0
    signal = 0.3 * np.sin(2 * np.pi * 700.0 * t) + 0.05 * rng.standard_normal(2000)
    counts = {}
    for fixed in (True, False):
        generated = frontend_c.generate("m0", frontend_to_dict(spec), fixed_point=fixed)
        pcm = frontend_c.c_input(generated, signal)
        run = frontend_c.run_on_qemu(generated, [pcm], work_dir=tmp_path / str(fixed),
                                     board="microbit")
        reference = audio.features(pcm / 32768.0 if fixed else pcm.astype(np.float64),
                                   spec=spec)
        family = "mfcc_fixed" if fixed else "mfcc"
        assert np.abs(run.outputs[0] - reference).max() <= TOLERANCE[family]
        counts[fixed] = run.instructions[0]
    assert counts[True] * 2 < counts[False]  # no FPU: soft float costs (3.4x here)


@pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_the_runtime_is_warning_free_for_the_cortex_m4():
    for source in frontend_c.runtime_sources():
        subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                        "-mfpu=fpv4-sp-d16", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-c", str(source), "-o", "/dev/null"], check=True)


# ------------------------------------------------------------------ real recordings


def _cases(*names: str) -> list[bench.Case]:
    return [case for case in bench.CASES if case.name in names]


REAL = ("coswara_sound_mfcc", "cough_logmel", "cough_logmel_fixed", "cwru_vibration",
        "ceiling_fan_vibration", "d6t_thermal_8x8", "d6t_thermal_3x3_background")


@pytest.mark.realdata
@pytest.mark.parametrize("case", _cases(*REAL), ids=lambda case: case.name)
def test_c_matches_python_on_real_recordings_on_the_host(datasets_dir, tmp_path, case):
    samples = case.samples(datasets_dir, 2)
    assert samples, f"no recordings for {case.name}"
    result = bench.measure(case, samples, tmp_path, boards=())
    for family, value in result["host_max_abs_diff"].items():
        assert value <= TOLERANCE[family], f"{case.name} {family}: {value:.3g}"


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
@pytest.mark.parametrize("case", _cases("coswara_sound_mfcc", "coswara_sound_mfcc_fixed",
                                        "cwru_vibration", "d6t_thermal_8x8"),
                         ids=lambda case: case.name)
def test_c_matches_python_on_real_recordings_on_the_emulated_m4(datasets_dir, tmp_path, case):
    samples = case.samples(datasets_dir, 2)
    board = bench.measure(case, samples, tmp_path)["boards"]["mps2-an386"]
    assert board["ran"], board
    for family, value in board["max_abs_diff"].items():
        assert value <= TOLERANCE[family], f"{case.name} {family} on the board: {value:.3g}"
    # integer arithmetic is bit for bit; float32 the same operations in the same order (no FMA
    # contraction under -std=c99) but libm's log10f/sqrtf (glibc vs newlib) differ by an ulp
    if case.fixed_point:
        assert board["values_differing_from_host_c"] == 0
    else:
        assert board["max_abs_diff_vs_host_c"] <= 1e-5
    assert board["instructions_per_run"] > 0
    assert 64 <= board["stack_bytes"] < 4096
