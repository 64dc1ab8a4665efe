"""The only module that imports the TFLite converter and the TFLite Micro interpreter.

The ``tflite_micro`` interpreter is the reference (oracle) for every compiled model: it gives the
expected int8 outputs (`reference_invoke`) and the arena a TFLM deployment needs
(`tflm_arena_bytes`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from sensors.errors import ExportError

_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def _micro_runtime():
    from tflite_micro.python.tflite_micro import runtime

    return runtime


def _micro_interpreter(tflite_bytes: bytes, *, arena_size_bytes: int | None = None):
    runtime = _micro_runtime()
    try:
        return runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=arena_size_bytes)
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"tflite_micro cannot load the model: {exc}") from exc


def reference_invoke(tflite_bytes: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run one inference in the ``tflite_micro`` reference interpreter.

    Parameters
    ----------
    tflite_bytes : bytes
        A ``.tflite`` flatbuffer.
    inputs : sequence of ndarray
        One array per model input, already in the input tensor's dtype (int8 for int8 models)
        and shape (batch 1 included).

    Returns
    -------
    list of ndarray
        One array per model output, in the output tensor's dtype and shape.
    """
    interpreter = _micro_interpreter(tflite_bytes)
    for index, array in enumerate(inputs):
        details = interpreter.get_input_details(index)
        want_shape = tuple(int(d) for d in details["shape"])
        if tuple(array.shape) != want_shape or array.dtype != details["dtype"]:
            raise ExportError(
                f"input {index}: expected {np.dtype(details['dtype']).name}{list(want_shape)}, "
                f"got {array.dtype.name}{list(array.shape)}"
            )
        interpreter.set_input(np.ascontiguousarray(array), index)
    interpreter.invoke()
    return [np.array(interpreter.get_output(i)) for i in range(_output_count(interpreter))]


def _output_count(interpreter) -> int:
    count = 0
    with _captured_fd2():  # the probe past the last output logs a C++ error line
        while True:
            try:
                interpreter.get_output_details(count)
            except (IndexError, RuntimeError, ValueError):
                return count
            count += 1


@contextmanager
def _captured_fd2():
    """Capture what C++ code writes to file descriptor 2 (Python's sys.stderr cannot)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        captured: list[str] = []
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def tflm_arena_bytes(tflite_bytes: bytes) -> int:
    """Arena bytes the TFLite Micro interpreter allocates for this model (its recording
    allocator's total, head plus tail), measured after one inference on zero inputs."""
    interpreter = _micro_interpreter(tflite_bytes)
    with _captured_fd2() as captured:
        interpreter.print_allocations()
    match = _ARENA_TOTAL.search(captured[0])
    if match is None:
        raise ExportError("tflite_micro did not report its arena allocation")
    return int(match.group(1))
