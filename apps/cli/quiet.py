"""Keep TensorFlow's and absl's C++ log lines off the terminal (unless ``-v``).

TensorFlow writes straight to file descriptor 2 from C++ (oneDNN and CUDA notices, a
``cuInit`` error on machines without a GPU, the converter's ``fully_quantize`` dumps), where
Python's ``logging`` cannot reach. :func:`filter_native_stderr` puts a pipe in front of file
descriptor 2 and a thread that forwards every line except those; :func:`restore` puts the
terminal back and drains the pipe. TensorFlow's Python loggers are set to errors only.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

NOISE = re.compile(rb"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] |WARNING: All log "
                   rb"messages before absl::InitializeLog|fully_quantize: |To enable the "
                   rb"following instructions: )")


class _Filter:
    """The saved terminal descriptor and the forwarding thread, while filtering."""

    saved: int | None = None
    thread: threading.Thread | None = None


_filter = _Filter()


def filter_native_stderr() -> bool:
    """Start filtering file descriptor 2; ``False`` (nothing done) when stderr is not the
    process's file descriptor 2 (under a test runner's capture, for example)."""
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if sys.stderr.fileno() != 2 or _filter.saved is not None:
            return False
    except (AttributeError, OSError, ValueError):
        return False
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not NOISE.match(line):
                    os.write(saved, line)

    _filter.saved = saved
    _filter.thread = threading.Thread(target=forward, name="tinyfuse-stderr", daemon=True)
    _filter.thread.start()
    return True


def restore() -> None:
    """Put file descriptor 2 back and forward what is still in the pipe."""
    saved, thread = _filter.saved, _filter.thread
    if saved is None or thread is None:
        return
    sys.stderr.flush()
    os.dup2(saved, 2)  # closes the pipe's last write end: the thread sees end of file
    thread.join(timeout=5.0)
    os.close(saved)
    _filter.saved = _filter.thread = None
