"""The CI slice of ``bench/fuzz_compiler.py``: 500 seeded mutants of two valid int8 models
(bit flips, truncations, zeroed regions, extreme int32 words, swapped words, copied regions)
each end in a one-line ExportError or in generated C, within the time limit."""

from __future__ import annotations

from collections import Counter

from bench.fuzz_compiler import MODELS, run
from bench.models import cached_tflite


def test_500_mutants_are_refused_or_compiled_never_crash_or_hang():
    models = {name: cached_tflite(name) for name in MODELS}
    records = list(run(models, count=500, seed=7))
    outcomes = Counter(r["outcome"] for r in records)
    failures = [r for r in records if r["outcome"] in ("crash", "hang")]
    assert not failures, failures[:5]
    assert outcomes["refused"] > 100 and outcomes["accepted"] > 50  # both paths exercised
