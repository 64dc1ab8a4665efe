"""The second half of the compiler fuzzer: every mutant the compiler accepts must compile with
gcc and give TFLite Micro's outputs, bit for bit, or it is a bug.

Accepted mutants run in a worker process (``python bench/fuzz_parity.py --worker``), one after
the other, because either side may die on a damaged model: TFLite Micro aborts on some, and
generated C could crash. The worker says which stage it is in before each step, so when it
dies the parent knows on which side and restarts it for the next mutant. Verdicts:

* ``bit_exact``: gcc built the C and its outputs equal TFLite Micro's on every input set;
* ``tflm_rejects``: TFLite Micro refuses (or aborts on) a model the compiler accepted;
* ``gcc_refuses``: the generated C does not compile;
* ``mismatch``: both run, outputs differ;
* ``c_crashes``: the generated C died (a signal) or hung;
* ``error``: anything else (the detail says what).

Only ``bit_exact`` is clean; ``bench/fuzz_compiler.py`` reports every other verdict as a
failure.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VECTORS = 3
TIME_LIMIT_S = 60.0
CLEAN = ("bit_exact",)


def check(data: bytes, say) -> tuple[str, str]:
    """``(verdict, detail)`` of one accepted mutant; ``say(stage)`` before each step."""
    import numpy as np

    from tinyfuse.core.errors import ExportError
    from tinyfuse.firmware.compiler import compile_model
    from tinyfuse.firmware.host import HostModel, build_library
    from tinyfuse.firmware.parity import random_inputs, reference_outputs

    compiled = compile_model(data)
    inputs = random_inputs(compiled.inputs, count=VECTORS, seed=0)
    say("tflm")
    try:
        reference = reference_outputs(data, inputs)
    except Exception as exc:  # noqa: BLE001 - TFLite Micro's refusals come in many types
        return "tflm_rejects", f"{type(exc).__name__}: {str(exc)[:160]}"
    say("gcc")
    try:
        library = build_library(compiled)
    except ExportError as exc:
        return "gcc_refuses", str(exc).splitlines()[-1][:200] if str(exc) else "gcc failed"
    say("c")
    model = HostModel(compiled, library)
    for vector, values in enumerate(inputs):
        got = model.run(values)
        for index, (want, have) in enumerate(zip(reference[vector], got, strict=True)):
            want, have = np.asarray(want).reshape(-1), np.asarray(have).reshape(-1)
            if want.shape != have.shape or not np.array_equal(want, have):
                return "mismatch", f"vector {vector}, output {index}"
    return "bit_exact", f"{VECTORS} vectors"


def worker() -> int:
    """Read ``{"path": ...}`` lines on stdin; answer stage and verdict lines on stdout."""
    def say(stage: str) -> None:
        print(json.dumps({"stage": stage}), flush=True)

    for line in sys.stdin:
        path = json.loads(line)["path"]
        try:
            verdict, detail = check(Path(path).read_bytes(), say)
        except Exception as exc:  # noqa: BLE001 - classifying every failure is the point
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            verdict = "error"
            detail = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}: " \
                     f"{str(exc)[:120]}"
        print(json.dumps({"verdict": verdict, "detail": detail}), flush=True)
    return 0


class Worker:
    """The parent's handle on one worker process (restarted after a death); a thread reads
    its stdout into a queue, so the parent can wait for a line with a time limit."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue[str] = queue.Queue()

    def _start(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None:
            self.lines = queue.Queue()
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=REPO,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, bufsize=1)
            threading.Thread(target=_pump, args=(self.process.stdout, self.lines),
                             daemon=True).start()
        return self.process

    def check(self, path: Path, *, time_limit_s: float = TIME_LIMIT_S) -> tuple[str, str]:
        process = self._start()
        if process.stdin is None:
            raise RuntimeError("the parity worker has no stdin")
        process.stdin.write(json.dumps({"path": str(path)}) + "\n")
        process.stdin.flush()
        stage, deadline = "compile", time.monotonic() + time_limit_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                return ("c_crashes" if stage == "c" else "error"), \
                    f"hung in stage {stage} for {time_limit_s:g} s"
            if not line:  # the worker died
                code = process.wait()
                self.process = None
                if stage == "tflm":
                    return "tflm_rejects", f"TFLite Micro died (exit {code})"
                return ("c_crashes" if stage == "c" else "error"), \
                    f"worker died in stage {stage} (exit {code})"
            message = json.loads(line)
            if "stage" in message:
                stage = message["stage"]
                continue
            return message["verdict"], message["detail"]

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _pump(stream, lines: queue.Queue[str]) -> None:
    """Every line of ``stream`` into ``lines``, then ``""`` at its end."""
    for line in stream:
        lines.put(line)
    lines.put("")


def verdicts(mutants: Iterator[tuple[dict[str, Any], bytes]]) -> Iterator[dict[str, Any]]:
    """``record`` + ``verdict``/``verdict_detail`` for each ``(record, accepted bytes)``."""
    handle = Worker()
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "mutant.tflite"
            for record, data in mutants:
                path.write_bytes(data)
                verdict, detail = handle.check(path)
                yield {**record, "verdict": verdict, "verdict_detail": detail}
    finally:
        handle.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.path.insert(0, str(REPO))
        raise SystemExit(worker())
    raise SystemExit("bench/fuzz_parity.py is run by bench/fuzz_compiler.py --parity")
