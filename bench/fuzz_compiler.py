"""Seeded mutation fuzzing of the compiler: valid int8 models, damaged in many small ways, go
through ``compile_model``; each must end in a clean ``ExportError`` or in generated C, within a
time limit, never in another exception or a hang.

Mutations (each mutant draws one kind and its parameters from ``(seed, index)``):

* ``flip``: 1-4 random bits flipped;
* ``truncate``: the file cut at a random length;
* ``zero``: a region of 4-64 bytes zeroed;
* ``word``: one 4-byte-aligned int32 replaced by an extreme value (0, 1, -1, 2**31-1, -2**31,
  the file length, 2**16-1, a random int32): vector lengths, offsets, indices, shapes,
  strides and dilations all live in such words;
* ``swap``: two aligned words exchanged (swapped offsets, reordered indices);
* ``copy``: a region copied over another (duplicated tables and vectors).

Outcomes: ``refused`` (ExportError), ``accepted`` (C generated), ``crash`` (any other
exception; the location is kept) and ``hang`` (over ``TIME_LIMIT_S``). Every accepted mutant
is then built with gcc and run against TFLite Micro on the same inputs
(``bench/fuzz_parity.py``, in a worker process): ``bit_exact`` or a failure. Usage::

    python bench/fuzz_compiler.py [--count 10000] [--seed 0] [--no-parity] [--out PATH]

The CI slice is ``tests/firmware/test_fuzz_mutants.py`` (500 mutants).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "fuzz_compiler.json"
KINDS = ("flip", "truncate", "zero", "word", "swap", "copy")
MODELS = ("fusion", "conv")
TIME_LIMIT_S = 5.0
EXTREMES = (0, 1, -1, 2**31 - 1, -2**31, 2**16 - 1)


def mutate(data: bytes, seed: int, index: int) -> tuple[str, bytes]:
    """The ``index``-th mutant of ``data`` under ``seed``: ``(kind, bytes)``."""
    rng = np.random.default_rng((seed, index))
    kind = KINDS[int(rng.integers(len(KINDS)))]
    out = bytearray(data)
    n = len(out)
    words = n // 4
    if kind == "flip":
        for _ in range(int(rng.integers(1, 5))):
            out[int(rng.integers(n))] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        out = out[:int(rng.integers(n))]
    elif kind == "zero":
        start, size = int(rng.integers(n)), int(rng.integers(4, 65))
        out[start:start + size] = bytes(len(out[start:start + size]))
    elif kind == "word":
        at = 4 * int(rng.integers(words))
        choice = int(rng.integers(len(EXTREMES) + 2))
        value = (EXTREMES[choice] if choice < len(EXTREMES) else
                 n if choice == len(EXTREMES) else int(rng.integers(-2**31, 2**31)))
        out[at:at + 4] = int(value).to_bytes(4, "little", signed=True)
    elif kind == "swap":
        a, b = (4 * int(i) for i in rng.integers(words, size=2))
        out[a:a + 4], out[b:b + 4] = out[b:b + 4], out[a:a + 4]
    else:  # copy
        size = int(rng.integers(4, 65))
        src, dst = (int(i) for i in rng.integers(max(1, n - size), size=2))
        out[dst:dst + size] = data[src:src + size]
    return kind, bytes(out)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def outcome(data: bytes, *, time_limit_s: float = TIME_LIMIT_S) -> tuple[str, str]:
    """``(outcome, detail)`` of compiling ``data`` (see the module docstring)."""
    from tinyfuse.core.errors import ExportError
    from tinyfuse.firmware.compiler import compile_model

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit_s)
    try:
        compiled = compile_model(data)
    except ExportError as exc:
        message = str(exc)
        return ("refused", message) if "\n" not in message else ("crash", "multi-line error")
    except _Timeout:
        return "hang", f"over {time_limit_s:g} s"
    except Exception as exc:  # noqa: BLE001 - classifying every failure is the point
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return "crash", f"{type(exc).__name__} at {where}: {str(exc)[:120]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if "int tinyfuse_model_invoke" not in compiled.sources["model.c"]:
        return "crash", "generated C without tinyfuse_model_invoke"
    return "accepted", f"arena {compiled.arena_bytes} B"


def run(models: dict[str, bytes], *, count: int, seed: int) -> Iterator[dict[str, Any]]:
    """One record per mutant: model, index, kind, outcome, detail."""
    names = sorted(models)
    for index in range(count):
        name = names[index % len(names)]
        kind, data = mutate(models[name], seed, index)
        result, detail = outcome(data)
        yield {"model": name, "index": index, "kind": kind, "outcome": result,
               "detail": detail}


def with_parity(models: dict[str, bytes], records: list[dict[str, Any]], *, seed: int,
                limit: int | None = None, keep: Path | None = None) -> list[dict[str, Any]]:
    """``records`` with a parity ``verdict`` on every accepted mutant (of the first ``limit``
    mutants); the failing mutants' bytes are written to ``keep`` (the seed models are not
    byte-identical from one Keras session to the next, so a failure is kept as a file)."""
    from bench.fuzz_parity import CLEAN, verdicts

    accepted = ((r, mutate(models[r["model"]], seed, r["index"])[1]) for r in records
                if r["outcome"] == "accepted" and (limit is None or r["index"] < limit))
    checked = {}
    for record in verdicts(accepted):
        checked[record["index"]] = record
        if keep is not None and record["verdict"] not in CLEAN:
            keep.mkdir(parents=True, exist_ok=True)
            path = keep / f"{record['model']}-{seed}-{record['index']}.tflite"
            path.write_bytes(mutate(models[record["model"]], seed, record["index"])[1])
            record["kept"] = str(path.relative_to(REPO))
    return [checked.get(r["index"], r) for r in records]


def summarise(records: list[dict[str, Any]], *, seed: int, seconds: float) -> dict[str, Any]:
    from bench.fuzz_parity import CLEAN

    bad = [r for r in records if r["outcome"] in ("crash", "hang")
           or r.get("verdict", "bit_exact") not in CLEAN]
    by_kind: dict[str, Counter] = {}
    for record in records:
        by_kind.setdefault(record["kind"], Counter())[record["outcome"]] += 1
    return {"seed": seed, "mutants": len(records), "seconds": round(seconds, 1),
            "outcomes": dict(Counter(r["outcome"] for r in records)),
            "accepted_verdicts": dict(Counter(r["verdict"] for r in records if "verdict" in r)),
            "parity_checked": sum("verdict" in r for r in records),
            "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
            "failures": bad[:50],
            "reproduce": "bench.fuzz_compiler.mutate(cached_tflite(model), seed, index)"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-parity", action="store_true",
                        help="only compile (skip gcc and TFLite Micro on accepted mutants)")
    parser.add_argument("--parity-limit", type=int, default=None, metavar="N",
                        help="check parity on the accepted mutants among the first N only")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from bench.models import cached_tflite

    models = {name: cached_tflite(name) for name in MODELS}
    started = time.monotonic()
    records = list(run(models, count=args.count, seed=args.seed))
    if not args.no_parity:
        records = with_parity(models, records, seed=args.seed, limit=args.parity_limit,
                              keep=REPO / "build" / "fuzz_failures")
    summary = summarise(records, seed=args.seed, seconds=time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("mutants", "outcomes", "accepted_verdicts",
                                              "seconds")}))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
