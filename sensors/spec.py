"""What a modality is: frozen front-end specs and the ModalitySpec that names one.

Every spec is a frozen, slotted, keyword-only dataclass, validated on creation (``SpecError``
names the field) and round-trips through JSON (``to_dict`` / ``spec_from_dict``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from tinyfuse.core.errors import SpecError
from tinyfuse.core.specs import check

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

#: Native rates (Hz) an audio recording may have: what readers accept from a file header and
#: what the audio front-end accepts as the rate of a sample it resamples to the spec's rate.
AUDIO_NATIVE_RATE_RANGE_HZ = (1000, 384000)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioSpec:
    """Audio front-end: resample -> fixed-length window -> log-mel or MFCC.

    Output shape is ``(n_frames, n_mfcc)`` for ``feature="mfcc"`` and ``(n_frames, n_mels)``
    for ``feature="logmel"``, float32, with ``n_frames = 1 + n_samples // hop_length``
    (centred frames, as librosa does).
    """

    kind: ClassVar[str] = "audio"
    sample_rate_hz: int = 16000
    duration_s: float = 1.0
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 40
    n_mfcc: int = 13
    fmin_hz: float = 20.0
    fmax_hz: float = 8000.0
    feature: str = "mfcc"

    def __post_init__(self) -> None:
        check(8000 <= self.sample_rate_hz <= 96000, "sample_rate_hz", "must be in [8000, 96000]")
        check(0.05 <= self.duration_s <= 60.0, "duration_s", "must be in [0.05, 60] s")
        check(self.n_fft >= 16 and self.n_fft & (self.n_fft - 1) == 0, "n_fft",
               "must be a power of two >= 16")
        check(0 < self.hop_length <= self.n_fft, "hop_length", "must be in (0, n_fft]")
        check(1 <= self.n_mels <= self.n_fft // 2 + 1, "n_mels", "must be in [1, n_fft/2+1]")
        check(1 <= self.n_mfcc <= self.n_mels, "n_mfcc", "must be in [1, n_mels]")
        check(0.0 <= self.fmin_hz < self.fmax_hz, "fmin_hz", "must be >= 0 and below fmax_hz")
        check(self.fmax_hz <= self.sample_rate_hz / 2, "fmax_hz", "must not exceed Nyquist")
        check(self.feature in ("mfcc", "logmel"), "feature", "must be 'mfcc' or 'logmel'")

    @property
    def n_samples(self) -> int:
        return int(round(self.duration_s * self.sample_rate_hz))

    @property
    def output_shape(self) -> tuple[int, ...]:
        n_frames = 1 + self.n_samples // self.hop_length
        return (n_frames, self.n_mfcc if self.feature == "mfcc" else self.n_mels)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSpec:
    """Thermal or depth image front-end: any grid -> ``(height, width)`` float32 in [0, 1].

    Values are mapped with fixed physical ranges (``min_value``..``max_value``: degC for
    thermal, metres for depth), not per-image min-max, unless ``normalize="minmax"``.
    """

    kind: ClassVar[str] = "image"
    sensor: str = "thermal"
    height: int = 8
    width: int = 8
    min_value: float = 15.0
    max_value: float = 40.0
    normalize: str = "fixed"
    subtract_background: bool = False
    fill_holes: bool = False

    def __post_init__(self) -> None:
        check(self.sensor in ("thermal", "depth"), "sensor", "must be 'thermal' or 'depth'")
        check(1 <= self.height <= 512, "height", "must be in [1, 512]")
        check(1 <= self.width <= 512, "width", "must be in [1, 512]")
        check(self.min_value < self.max_value, "min_value", "must be below max_value")
        check(self.normalize in ("fixed", "minmax"), "normalize", "must be 'fixed' or 'minmax'")

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.height, self.width)


@dataclass(frozen=True, slots=True, kw_only=True)
class VibrationSpec:
    """Vibration front-end: per axis, detrend -> band-pass -> Welch band powers on fixed bins,
    time statistics (log10 RMS, log10 peak, crest factor, Pearson kurtosis) and
    envelope-spectrum band powers (details in ``tinyfuse.sensors.frontends.vibration``).

    Input is ``(n_samples, n_axes)``; output is ``(n_axes, n_bands + 4 + n_envelope_bands)``
    float32 (log10 band powers, then the four statistics, then log10 envelope band powers).
    """

    kind: ClassVar[str] = "vibration"
    sample_rate_hz: float = 12000.0
    window_s: float = 0.25
    n_axes: int = 1
    n_fft: int = 1024
    n_bands: int = 32
    fmin_hz: float = 10.0
    fmax_hz: float = 5000.0
    n_envelope_bands: int = 16
    envelope_fmax_hz: float = 500.0

    def __post_init__(self) -> None:
        check(10.0 <= self.sample_rate_hz <= 200000.0, "sample_rate_hz", "must be in [10, 2e5]")
        check(self.window_s > 0, "window_s", "must be positive")
        check(1 <= self.n_axes <= 16, "n_axes", "must be in [1, 16]")
        check(self.n_fft >= 16 and self.n_fft & (self.n_fft - 1) == 0, "n_fft",
               "must be a power of two >= 16")
        check(self.n_samples >= 16, "window_s", "gives fewer than 16 samples")
        check(1 <= self.n_bands <= self.n_fft // 2, "n_bands", "must be in [1, n_fft/2]")
        check(0.0 <= self.fmin_hz < self.fmax_hz, "fmin_hz", "must be >= 0 and below fmax_hz")
        check(self.fmax_hz <= self.sample_rate_hz / 2, "fmax_hz", "must not exceed Nyquist")
        check(0 <= self.n_envelope_bands <= 256, "n_envelope_bands", "must be in [0, 256]")
        check(0.0 < self.envelope_fmax_hz <= self.sample_rate_hz / 2, "envelope_fmax_hz",
               "must be in (0, Nyquist]")

    @property
    def n_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate_hz))

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.n_axes, self.n_bands + 4 + self.n_envelope_bands)


@dataclass(frozen=True, slots=True, kw_only=True)
class VectorSpec:
    """Precomputed per-sample feature vectors (e.g. URFD depth features): passed through,
    optionally standardised with fixed ``mean``/``scale`` learnt on training data."""

    kind: ClassVar[str] = "vector"
    size: int = 8
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check(1 <= self.size <= 4096, "size", "must be in [1, 4096]")
        check(len(self.mean) in (0, self.size), "mean", "must be empty or have `size` values")
        check(len(self.scale) in (0, self.size), "scale", "must be empty or have `size` values")
        check(all(s > 0 for s in self.scale), "scale", "values must be positive")

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.size,)


FrontendSpec = AudioSpec | ImageSpec | VibrationSpec | VectorSpec
_FRONTENDS: dict[str, type] = {
    cls.kind: cls for cls in (AudioSpec, ImageSpec, VibrationSpec, VectorSpec)
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModalitySpec:
    """One modality: its ``name`` (the one key used in specs, Keras input names, bundle files
    and MQTT topics) and the front-end that turns its raw samples into features."""

    name: str
    frontend: FrontendSpec

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and bool(_NAME.match(self.name)), "name",
               f"{self.name!r} must match {_NAME.pattern}")
        check(type(self.frontend) in _FRONTENDS.values(), "frontend",
               f"must be one of {sorted(_FRONTENDS)} specs, got {type(self.frontend).__name__}")

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.frontend.output_shape

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "frontend": frontend_to_dict(self.frontend)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModalitySpec:
        try:
            return cls(name=data["name"], frontend=frontend_from_dict(data["frontend"]))
        except KeyError as exc:
            raise SpecError(f"modality: missing field {exc.args[0]!r}") from None


def frontend_to_dict(spec: FrontendSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": spec.kind}
    for field in dataclasses.fields(spec):
        value = getattr(spec, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def frontend_from_dict(data: dict[str, Any]) -> FrontendSpec:
    kind = data.get("kind")
    if kind not in _FRONTENDS:
        raise SpecError(f"frontend.kind: {kind!r} is not one of {sorted(_FRONTENDS)}")
    cls = _FRONTENDS[kind]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known - {"kind"})
    if unknown:
        raise SpecError(f"frontend ({kind}): unknown fields {unknown}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "kind"}
    try:
        return cls(**values)
    except TypeError as exc:
        raise SpecError(f"frontend ({kind}): {exc}") from None
