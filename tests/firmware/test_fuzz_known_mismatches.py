"""Damaged models found by ``bench/fuzz_compiler.py`` (mutants of ``bench/models.py``'s fusion
and conv models: the seeds are not byte-identical between Keras sessions, so the mutants are
kept as files) that the compiler once accepted although their C disagreed with TFLite Micro.

``fuzz_refused_*``: now refused with one line (per-channel scales without zero points, a
builtin-options table of another union type than the op's, a pool window larger than its
input, a depthwise ``depth_multiplier`` that does not match the channels, a softmax output of
another shape than its input; structural damage in fields the compiler does not use, which
TFLite Micro's loader refuses: a signature def's vector or tensor-map name, a buffer's data
length, a quantization ``min`` offset; a concatenation input quantized unlike its output).
``fuzz_mismatch_*``: a mutant still accepted and not bit-exact (a known bug); none is left. A
new one gets a strict-xfail test that runs ``bench/fuzz_parity.py``'s ``check`` on it until it
is refused or fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import compile_model

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
REFUSED = sorted(GOLDEN.glob("fuzz_refused_*.tflite"))
MISMATCHED = sorted(GOLDEN.glob("fuzz_mismatch_*.tflite"))


@pytest.mark.parametrize("path", REFUSED, ids=[p.stem for p in REFUSED])
def test_a_damaged_model_that_disagreed_is_refused_in_one_line(path):
    with pytest.raises(ExportError) as caught:
        compile_model(path.read_bytes())
    assert "\n" not in str(caught.value)


def test_the_known_mutants_are_present():
    assert (len(REFUSED), len(MISMATCHED)) == (13, 0)
