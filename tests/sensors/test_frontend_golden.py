"""Golden vectors: every front-end still produces what ``tests/golden/regenerate.py`` stored.

After an intended change, rerun the script and review the diff of the ``.npy`` files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.golden.regenerate import CASES, make_input
from tinyfuse.sensors import extract

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
# dB-scale audio features reach |600|: float32 rounding plus library drift stays far below.
TOLERANCE = {"audio": 1e-3, "image": 1e-6, "vibration": 1e-4, "vector": 1e-7}


@pytest.mark.parametrize("case", sorted(CASES))
def test_frontend_matches_its_golden_vector(case):
    spec = CASES[case]
    stored_input = np.load(GOLDEN_DIR / f"frontend_{case}_input.npy")
    expected = np.load(GOLDEN_DIR / f"frontend_{case}_output.npy")
    np.testing.assert_array_equal(make_input(case), stored_input)
    out = extract(spec, stored_input)
    assert out.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOLERANCE[spec.kind])
