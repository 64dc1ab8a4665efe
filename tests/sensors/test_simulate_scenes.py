"""Posture and factory simulators: determinism and known physics."""

from __future__ import annotations

import numpy as np
from scipy.signal import hilbert

from tinyfuse.sensors.simulate import bearing_frequencies, simulate_factory, simulate_posture
from tinyfuse.sensors.simulate.machine import vibration_signal
from tinyfuse.sensors.simulate.signals import seeded


def _blob_extent(image: np.ndarray) -> tuple[float, float]:
    """(height, width) second moments of the warm excess over the background."""
    excess = np.clip(image - np.median(image) - 1.0, 0, None)
    rows, cols = np.indices(image.shape)
    total = excess.sum()
    mean_r, mean_c = (rows * excess).sum() / total, (cols * excess).sum() / total
    return (float(((rows - mean_r) ** 2 * excess).sum() / total),
            float(((cols - mean_c) ** 2 * excess).sum() / total))


def test_posture_deterministic_and_shapes():
    a = simulate_posture(n_per_class=3, n_people=2, seed=1)
    b = simulate_posture(n_per_class=3, n_people=2, seed=1)
    c = simulate_posture(n_per_class=3, n_people=2, seed=2)
    assert a.modalities == ("depth", "thermal")
    assert a.samples[0].data["thermal"].shape == (8, 8)
    assert a.samples[0].data["depth"].shape == (16, 16)
    assert all(np.array_equal(x.data["thermal"], y.data["thermal"]) for x, y in zip(a, b,
                                                                                    strict=True))
    assert not np.array_equal(a.samples[0].data["depth"], c.samples[0].data["depth"])


def test_lying_is_wider_than_tall_and_standing_taller_than_wide():
    result = simulate_posture(n_per_class=8, seed=0, thermal_shape=(16, 16))
    for sample in result:
        thermal = sample.data["thermal"]
        if sample.meta_value("warm_bed"):
            continue  # the warm bed is its own blob (next test)
        if sample.label == "empty":
            assert thermal.max() - np.median(thermal) < 2.0
            continue
        assert 29.0 < thermal.max() < 35.0 and 19.0 < np.median(thermal) < 25.0
        height, width = _blob_extent(thermal)
        if sample.label == "lying":
            assert width > 2 * height
        if sample.label == "standing":
            assert height > 2 * width


def test_the_furniture_fools_one_sensor_each():
    """A warm bed looks like a lying body to the thermal array but sits at the back wall in
    depth; an armchair is invisible in thermal but stands in the room like a seated person."""
    result = simulate_posture(n_per_class=24, seed=3)
    empty = [s for s in result if s.label == "empty"]
    warm = [s for s in empty if s.meta_value("warm_bed")]
    cold = [s for s in empty if not s.meta_value("warm_bed")]
    assert warm and cold
    spot = {id(s): s.data["thermal"].max() - np.median(s.data["thermal"]) for s in empty}
    assert min(spot[id(s)] for s in warm) > max(spot[id(s)] for s in cold) + 1.0
    chairs = [s for s in empty if s.meta_value("armchair")]
    assert chairs and all(np.percentile(s.data["depth"][s.data["depth"] > 0], 5) < 2.9
                          for s in chairs)  # something as near as a person, yet cold
    assert all(spot[id(s)] < 2.0 for s in chairs if not s.meta_value("warm_bed"))


def test_thermal_and_depth_show_the_same_body():
    for sample in simulate_posture(n_per_class=5, seed=5).filter(lambda s: s.label != "empty"):
        thermal, depth = sample.data["thermal"], sample.data["depth"]
        hot = np.kron(thermal > np.median(thermal) + 3.0, np.ones((2, 2), bool))  # 8 -> 16 px
        at_body = np.abs(depth - sample.meta_value("body_m")) < 0.05
        above_floor = np.arange(16)[:, None] < 11
        assert (hot & at_body).sum() >= 4
        if sample.label != "lying":  # a lying body shares rows with the floor's depth ramp
            assert hot[at_body & above_floor].mean() > 0.7  # depth sees the body where thermal does
        assert (depth == 0).any()  # holes


def _envelope_peak_hz(signal: np.ndarray, rate_hz: float) -> float:
    spectrum = np.fft.rfft(signal)
    freqs_hz = np.fft.rfftfreq(signal.size, 1 / rate_hz)
    spectrum[(freqs_hz < 1500) | (freqs_hz > 4500)] = 0  # band around the resonance
    envelope = np.abs(hilbert(np.fft.irfft(spectrum, n=signal.size)))
    env_spec = np.abs(np.fft.rfft(envelope - envelope.mean()))
    band = (freqs_hz >= 40) & (freqs_hz <= 250)
    return float(freqs_hz[band][np.argmax(env_spec[band])])


def test_outer_and_inner_race_faults_peak_at_bpfo_and_bpfi_in_envelope_spectrum():
    shaft_hz = 25.0
    freqs = bearing_frequencies(shaft_hz)
    assert abs(freqs["bpfo_hz"] / shaft_hz - 3.585) < 0.01
    outer = vibration_signal(seeded(0, 7), "outer_race", shaft_hz=shaft_hz, duration_s=1.0)
    inner = vibration_signal(seeded(0, 8), "inner_race", shaft_hz=shaft_hz, duration_s=1.0)
    assert abs(_envelope_peak_hz(outer[:, 0], 12000) - freqs["bpfo_hz"]) <= 2.0
    assert abs(_envelope_peak_hz(inner[:, 0], 12000) - freqs["bpfi_hz"]) <= 2.0


def test_imbalance_raises_the_1x_harmonic():
    shaft_hz = 24.0

    def amplitude_1x(label: str, index: int) -> float:
        signal = vibration_signal(seeded(1, index), label, shaft_hz=shaft_hz, duration_s=1.0)
        spectrum = np.abs(np.fft.rfft(signal[:, 0])) * 2 / signal.shape[0]
        return float(spectrum[int(shaft_hz)])  # 1 Hz bins over 1 s

    for i in range(3):
        assert amplitude_1x("imbalance", i) > 3 * amplitude_1x("normal", i)


def test_factory_result_dry_bearing_heats_and_is_deterministic():
    a = simulate_factory(n_per_class=4, n_machines=2, seed=0)
    b = simulate_factory(n_per_class=4, n_machines=2, seed=0)
    assert a.modalities == ("audio", "thermal", "vibration")
    assert a.samples[0].data["vibration"].shape == (3000, 1)
    assert a.samples[0].data["audio"].shape == (16000,)
    assert set(a.counts_by_group()) == {"machine_00", "machine_01"}
    assert all(np.array_equal(x.data["vibration"], y.data["vibration"])
               for x, y in zip(a, b, strict=True))
    hottest = {label: np.mean([s.data["thermal"].max() - np.median(s.data["thermal"])
                               for s in a if s.label == label]) for label in a.classes}
    assert hottest["lubrication"] > hottest["normal"] + 4.0
    many = simulate_factory(n_per_class=16, n_machines=4, seed=2)
    rise = {label: np.array([s.data["thermal"].max() - np.median(s.data["thermal"])
                             for s in many if s.label == label]) for label in many.classes}
    # imbalance warms the bearing less than machines and halls differ from each other
    assert abs(rise["imbalance"].mean() - rise["normal"].mean()) < rise["normal"].std()


def test_each_factory_fault_hides_from_some_sensors():
    """Vibration cannot see a dry bearing or cavitation; sound carries cavitation's crackle;
    the thermal view does not see imbalance (the physics notes of the machine simulator)."""
    from tinyfuse.sensors.simulate.machine import crackle, sound_signal

    def high_band_energy(signal: np.ndarray, rate_hz: float, low_hz: float) -> float:
        spectrum = np.abs(np.fft.rfft(signal)) ** 2
        freqs = np.fft.rfftfreq(signal.size, 1 / rate_hz)
        return float(spectrum[freqs > low_hz].sum() / spectrum.sum())

    def rms(label: str, index: int) -> float:
        return float(np.std(vibration_signal(seeded(3, index), label, shaft_hz=25.0,
                                             duration_s=0.5)))

    for i in range(3):
        assert abs(rms("lubrication", i) - rms("normal", i)) < 0.15 * rms("normal", i)
        quiet = sound_signal(seeded(4, i), "normal", shaft_hz=25.0, duration_s=0.5)
        loud = sound_signal(seeded(4, i), "cavitation", shaft_hz=25.0, duration_s=0.5)
        assert high_band_energy(loud, 16000, 1000) > 2 * high_band_energy(quiet, 16000, 1000)
    bursts = crackle(seeded(5), 16000, sample_rate_hz=16000)
    assert 0 < np.mean(bursts != 0) < 0.5  # intermittent, not a continuous hiss


def test_simulated_samples_fit_the_default_front_ends():
    from tinyfuse.sensors import extract
    from tinyfuse.sensors.spec import AudioSpec, ImageSpec, ModalitySpec, VibrationSpec

    factory = simulate_factory(n_per_class=1, seed=0).samples[0]
    posture = simulate_posture(n_per_class=1, seed=0).samples[0]
    specs = {"vibration": VibrationSpec(), "thermal": ImageSpec(sensor="thermal"),
             "audio": AudioSpec(), "depth": ImageSpec(sensor="depth", min_value=0.0,
                                                      max_value=5.0, fill_holes=True)}
    for sample in (factory, posture):
        for name, array in sample.data.items():
            features = extract(ModalitySpec(name=name, frontend=specs[name]), array)
            assert features.shape == specs[name].output_shape
            assert np.isfinite(features).all()
