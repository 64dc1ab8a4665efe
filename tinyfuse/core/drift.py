"""The drift reference a bundle keeps: what its inputs looked like in training, and how far
from that a window of the validation split went.

For each modality the build stores, in the bundle's standardised units, the mean and
standard deviation of every feature over the training windows (:func:`summarize` first
averages a feature larger than :data:`MAX_DRIFT_FEATURES` values down to that many blocks),
and the distribution of the per-window drift score on the validation split. The score of one
window (:func:`window_scores`, the one formula, used by the build and by the runner) is the
root mean square of the per-feature z-scores, each clipped at :data:`Z_CLIP`::

    score = sqrt(mean_j(min(((v_j - mean_j) / std_j) ** 2, Z_CLIP ** 2)))

About 1 on training windows; a shifted sensor (an offset, a gain, a new background) moves
many features at once and the score with them. ``level`` is the :data:`LEVEL_QUANTILE`
quantile of the validation scores (windows the standardisation never saw), and at least their
mean + :data:`LEVEL_SIGMAS` standard deviations, the same quantile of a normal distribution
(a small validation split puts the empirical quantile too low); ``clear_level``
their :data:`CLEAR_QUANTILE` quantile (at most halfway from ``level`` back to their mean):
``tinyfuse.apps.drift`` raises a model-health alert
when its running score passes ``level`` and clears it below ``clear_level``.

Examples
--------
>>> import numpy as np
>>> gen = np.random.default_rng(0)
>>> ref = fit_modality("vec", gen.normal(size=(400, 8)), gen.normal(size=(100, 8)))
>>> bool(ref.window_score(gen.normal(size=8) + 4.0) > ref.level)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyfuse.core.errors import DataError, SpecError

MAX_DRIFT_FEATURES = 4096  # features kept per modality (bundle.json stays small)
Z_CLIP = 10.0              # one feature can add at most Z_CLIP ** 2 to a window's mean square
STD_FLOOR = 0.05           # std floor, standardised units (also >= 0.1 x the median std)
LEVEL_QUANTILE = 0.995
LEVEL_SIGMAS = 2.576       # at least the 99.5 % quantile of a normal of the same mean and std
CLEAR_QUANTILE = 0.9
SUMMARY_QUANTILES = {"q50": 0.5, "q90": 0.9, "q99": 0.99, "q995": 0.995}
NOTES = {"score": "rms of per-feature z-scores against the training windows, each clipped at "
                  "z_clip", "level": f"max(q{LEVEL_QUANTILE * 100:g}, mean + {LEVEL_SIGMAS:g} "
                                     f"std) of the validation windows' scores",
         "clear_level": f"min(q{CLEAR_QUANTILE * 100:g}, (level + mean) / 2)"}


def n_summary_features(size: int) -> int:
    """How many values :func:`summarize` keeps of a feature of ``size`` values."""
    return min(int(size), MAX_DRIFT_FEATURES)


def summarize(standardized: np.ndarray) -> np.ndarray:
    """``(n, *shape)`` standardised features -> ``(n, k)`` float64, ``k =
    n_summary_features(prod(shape))``: the flattened feature, or the means of ``k``
    contiguous blocks of it when it is larger."""
    array = np.asarray(standardized, np.float64)
    flat = array.reshape(len(array), -1)
    size = flat.shape[1]
    keep = n_summary_features(size)
    if keep == size:
        return flat
    edges = np.linspace(0, size, keep + 1).astype(np.int64)
    return np.add.reduceat(flat, edges[:-1], axis=1) / np.diff(edges)


def window_scores(summarized: np.ndarray, *, mean: np.ndarray, std: np.ndarray,
                  z_clip: float = Z_CLIP) -> np.ndarray:
    """The drift score of each row of ``summarized`` ``(n, k)`` (see the module doc)."""
    z2 = ((np.asarray(summarized, np.float64) - mean) / std) ** 2
    return np.sqrt(np.minimum(z2, z_clip ** 2).mean(axis=1))


@dataclass(frozen=True, slots=True, kw_only=True)
class ModalityDrift:
    """One modality's reference: per-feature ``mean`` / ``std`` (training windows,
    standardised units), the raise / clear levels of the window score, and the summary of the
    validation scores they came from (``n``, ``mean``, ``std``, ``q50`` ... ``max``);
    ``source`` says which windows set the levels."""

    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    level: float
    clear_level: float
    validation: Mapping[str, float]
    source: str = "validation"
    z_clip: float = Z_CLIP

    def __post_init__(self) -> None:
        where = f"bundle.drift[{self.name!r}]"
        if not self.name or not self.mean or len(self.mean) != len(self.std):
            raise SpecError(f"{where}: needs a name and as many means as stds (at least one)")
        if len(self.mean) > MAX_DRIFT_FEATURES:
            raise SpecError(f"{where}: {len(self.mean)} features, at most {MAX_DRIFT_FEATURES}")
        values = (*self.mean, *self.std, self.level, self.clear_level, self.z_clip)
        if not all(math.isfinite(v) for v in values) or min(self.std) <= 0:
            raise SpecError(f"{where}: values must be finite and every std > 0")
        if not 0 < self.clear_level <= self.level:
            raise SpecError(f"{where}: needs 0 < clear_level <= level, got "
                            f"{self.clear_level} and {self.level}")

    def window_score(self, standardized: np.ndarray) -> float:
        """The drift score of one window (its standardised feature, any shape)."""
        row = summarize(np.asarray(standardized)[None])
        if row.shape[1] != len(self.mean):
            raise DataError(f"drift[{self.name!r}]: feature of {row.shape[1]} values, the "
                            f"reference has {len(self.mean)}")
        return float(window_scores(row, mean=np.asarray(self.mean), std=np.asarray(self.std),
                                   z_clip=self.z_clip)[0])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mean": list(self.mean), "std": list(self.std),
                "level": self.level, "clear_level": self.clear_level,
                "validation": dict(self.validation), "source": self.source,
                "z_clip": self.z_clip}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ModalityDrift:
        if not isinstance(data, Mapping):
            raise DataError(f"{where}: expected an object, got {type(data).__name__}")
        try:
            validation = data.get("validation", {})
            return cls(name=str(data["name"]), mean=_floats(data["mean"]),
                       std=_floats(data["std"]), level=float(data["level"]),
                       clear_level=float(data["clear_level"]),
                       validation={str(k): float(v) for k, v in dict(validation).items()},
                       source=str(data.get("source", "validation")),
                       z_clip=float(data.get("z_clip", Z_CLIP)))
        except SpecError as exc:
            raise DataError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: missing or malformed field ({exc})") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftReference:
    """The drift references of a bundle's modalities (``bundle.drift``); ``notes`` says how
    they were made (kept as read, so a bundle's hash survives a change of the defaults)."""

    modalities: tuple[ModalityDrift, ...]
    notes: Mapping[str, Any] = field(default_factory=lambda: dict(NOTES))

    def get(self, name: str) -> ModalityDrift | None:
        return next((m for m in self.modalities if m.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modalities)

    def to_dict(self) -> dict[str, Any]:
        return {**self.notes, "modalities": [m.to_dict() for m in self.modalities]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "bundle.drift") -> DriftReference:
        if not isinstance(data, Mapping) or not isinstance(data.get("modalities"), list):
            raise DataError(f"{where}: expected an object with a 'modalities' list")
        return cls(modalities=tuple(ModalityDrift.from_dict(m, f"{where}.modalities[{i}]")
                                    for i, m in enumerate(data["modalities"])),
                   notes={str(k): v for k, v in data.items() if k != "modalities"})


def fit_modality(name: str, train: np.ndarray, validation: np.ndarray) -> ModalityDrift:
    """The reference of one modality from its standardised features: training windows
    ``(n, *shape)`` (n >= 2) set the per-feature mean / std, validation windows ``(m,
    *shape)`` the levels (the training windows when ``m == 0``, which ``source`` says: they
    score lower than new windows, so the levels are then too low)."""
    rows = summarize(train)
    if len(rows) < 2:
        raise DataError(f"drift[{name!r}]: needs at least 2 training windows, got {len(rows)}")
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    std = np.maximum(std, max(STD_FLOOR, 0.1 * float(np.median(std))))
    held_out = summarize(validation) if len(validation) else rows
    source = "validation" if len(validation) else "training (no validation windows)"
    scores = window_scores(held_out, mean=mean, std=std)
    summary = {"n": float(len(scores)), "mean": float(scores.mean()),
               "std": float(scores.std()), "max": float(scores.max()),
               **{key: float(np.quantile(scores, q)) for key, q in SUMMARY_QUANTILES.items()}}
    level = max(float(np.quantile(scores, LEVEL_QUANTILE)),
                float(scores.mean() + LEVEL_SIGMAS * scores.std()), 1e-6)
    # hysteresis: below the 90 % quantile and at least halfway back from level to the mean
    clear = max(min(float(np.quantile(scores, CLEAR_QUANTILE)),
                    0.5 * (level + float(scores.mean()))), 1e-6)
    return ModalityDrift(name=name, mean=tuple(map(float, mean)), std=tuple(map(float, std)),
                         level=level, clear_level=clear, validation=summary,
                         source=source)


def _floats(values: Any) -> tuple[float, ...]:
    if not isinstance(values, list | tuple):
        raise TypeError(f"expected a list, got {type(values).__name__}")
    return tuple(float(v) for v in values)
