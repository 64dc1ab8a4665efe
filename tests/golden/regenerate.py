"""Regenerate the front-end golden vectors in this folder.

Run from the repository root after an intended change to a front-end:

    .venv/bin/python tests/golden/regenerate.py

Each case writes ``frontend_<case>_input.npy`` (a deterministic synthetic sample) and
``frontend_<case>_output.npy`` (``extract(spec, input)``). ``tests/sensors/
test_frontend_golden.py`` recomputes the outputs and compares them; the C front-ends compare
against the same files. The specs live in :data:`CASES` so the test and this script agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(GOLDEN_DIR.parent.parent))

from tinyfuse.sensors import extract  # noqa: E402
from tinyfuse.sensors.spec import (  # noqa: E402
    AudioSpec,
    FrontendSpec,
    ImageSpec,
    VectorSpec,
    VibrationSpec,
)

CASES: dict[str, FrontendSpec] = {
    "audio_mfcc": AudioSpec(),
    "audio_logmel": AudioSpec(feature="logmel", duration_s=0.5),
    "thermal_8x8": ImageSpec(height=8, width=8, min_value=15.0, max_value=40.0),
    "depth_16x16": ImageSpec(sensor="depth", height=16, width=16, min_value=0.5,
                             max_value=4.0, fill_holes=True),
    "vibration_3axis": VibrationSpec(n_axes=3),
    "vector_std": VectorSpec(size=4, mean=(1.0, 2.0, 3.0, 4.0), scale=(0.5, 1.0, 2.0, 4.0)),
}


def make_input(case: str) -> np.ndarray:
    """The deterministic synthetic input of one case (float32, like a loader's output)."""
    rng = np.random.default_rng(sum(map(ord, case)))
    spec = CASES[case]
    if isinstance(spec, AudioSpec):
        t = np.arange(spec.n_samples) / spec.sample_rate_hz
        tone = 0.3 * np.sin(2 * np.pi * 440.0 * t) * (t > 0.1) * (t < 0.4)
        x = tone + 0.01 * rng.standard_normal(t.size)
    elif isinstance(spec, ImageSpec) and spec.sensor == "thermal":
        x = 21.0 + 0.3 * rng.standard_normal((24, 32))
        x[8:16, 12:20] += 12.0
    elif isinstance(spec, ImageSpec):
        x = 1.0 + 2.0 * rng.random((48, 64))
        x[rng.random(x.shape) < 0.1] = 0.0
    elif isinstance(spec, VibrationSpec):
        t = np.arange(spec.n_samples) / spec.sample_rate_hz
        carrier = np.sin(2 * np.pi * 3000.0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 105.0 * t))
        x = np.stack([carrier, np.sin(2 * np.pi * 157.0 * t), rng.standard_normal(t.size)], 1)
    else:
        x = rng.standard_normal(spec.output_shape)
    return x.astype(np.float32)


def main() -> None:
    for case, spec in CASES.items():
        sample = make_input(case)
        np.save(GOLDEN_DIR / f"frontend_{case}_input.npy", sample)
        np.save(GOLDEN_DIR / f"frontend_{case}_output.npy", extract(spec, sample))


if __name__ == "__main__":
    main()
