"""Build generated C into a shared library with gcc and run it from Python via ctypes.

``HostModel.build(tflite_bytes)`` compiles ``model.c`` + the runtime (``-O2 -std=c99 -Wall
-Werror``) into a cache folder keyed by the sources' hash; ``run(inputs) -> outputs``.
Float-I/O models take/return float32: quantization is done here exactly as TFLite Micro's
QUANTIZE/DEQUANTIZE do it.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DeployError, ExportError
from tinyfuse.core.quant import dequantize, quantize
from tinyfuse.firmware.compiler import compile_model, runtime_dir, runtime_sources
from tinyfuse.firmware.compiler.codegen import CompiledModel, TensorInfo

log = logging.getLogger(__name__)
CFLAGS = ("-O2", "-std=c99", "-Wall", "-Werror", "-fPIC", "-shared")


def cache_dir() -> Path:
    root = os.environ.get("TINYFUSE_CACHE") or os.path.join(tempfile.gettempdir(),
                                                           "tinyfuse-host")
    return Path(root)


def quantize_input(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """float32 -> int8 as TFLite Micro's QUANTIZE (``tinyfuse.core.quant.quantize``)."""
    return quantize(values, scale=info.scale, zero_point=info.zero_point)


def dequantize_output(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """int8 -> float32 as TFLite Micro's DEQUANTIZE (``tinyfuse.core.quant.dequantize``)."""
    return dequantize(values, scale=info.scale, zero_point=info.zero_point)


class HostModel:
    """A compiled model loaded into this process."""

    def __init__(self, compiled: CompiledModel, library: Path) -> None:
        self.compiled = compiled
        self.library_path = library
        self._lib = ctypes.CDLL(str(library))
        self._invoke = getattr(self._lib, f"{compiled.prefix}_invoke")
        self._invoke.restype = ctypes.c_int
        hash_symbol = ctypes.c_char * 65
        self.bundle_hash = hash_symbol.in_dll(self._lib, f"{compiled.prefix}_bundle_hash"
                                              ).value.decode("ascii")

    @classmethod
    def build(cls, tflite_bytes: bytes, *, prefix: str = "tinyfuse_model",
              bundle: Bundle | None = None) -> HostModel:
        """Compile the model (with ``bundle``'s hash and names, when given) to C, then to a
        shared library (cached), and load it."""
        compiled = compile_model(tflite_bytes, prefix=prefix, bundle=bundle)
        return cls(compiled, build_library(compiled))

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One inference. ``inputs``: one array per model input, int8 (or float32 for float-I/O
        inputs), in the input's shape. Returns one array per output (int8 or float32)."""
        infos = self.compiled.inputs
        if len(inputs) != len(infos):
            raise ExportError(f"the model takes {len(infos)} inputs, got {len(inputs)}")
        in_bufs = []
        for index, (array, info) in enumerate(zip(inputs, infos, strict=True)):
            array = np.asarray(array)
            if array.size != info.bytes:
                raise ExportError(f"input {index} ({info.name}): expected {info.bytes} values "
                                  f"of shape {list(info.shape)}, got shape {list(array.shape)}")
            if info.float_io:
                array = quantize_input(array, info)
            elif array.dtype != np.int8:
                raise ExportError(f"input {index} ({info.name}) must be int8, got {array.dtype}")
            in_bufs.append(np.ascontiguousarray(array.reshape(-1)))
        out_bufs = [np.zeros(info.bytes, np.int8) for info in self.compiled.outputs]
        in_ptrs = (ctypes.c_void_p * len(in_bufs))(*[b.ctypes.data for b in in_bufs])
        out_ptrs = (ctypes.c_void_p * len(out_bufs))(*[b.ctypes.data for b in out_bufs])
        status = self._invoke(in_ptrs, out_ptrs)
        if status != 0:
            raise DeployError(f"{self.compiled.prefix}_invoke returned {status}")
        results = []
        for buf, info in zip(out_bufs, self.compiled.outputs, strict=True):
            value = buf.reshape(info.shape)
            results.append(dequantize_output(value, info) if info.float_io else value)
        return results


def build_library(compiled: CompiledModel) -> Path:
    """gcc the generated sources and the runtime into a shared library; returns its path."""
    digest = hashlib.sha256()
    for name, text in sorted(compiled.sources.items()):
        digest.update(name.encode() + b"\0" + text.encode())
    for path in runtime_sources() + sorted(runtime_dir().glob("*.h")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    folder = cache_dir() / digest.hexdigest()[:20]
    library = folder / "libmodel.so"
    if library.exists():
        return library
    work = Path(tempfile.mkdtemp(prefix="build-", dir=_ensure(cache_dir())))
    try:
        compiled.write(work)
        command = ["gcc", *CFLAGS, "-I", str(runtime_dir()), "-I", str(work),
                   str(work / "model.c"), *[str(p) for p in runtime_sources()],
                   "-o", str(work / "libmodel.so")]
        log.debug("building %s", " ".join(command))
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ExportError(f"gcc failed on the generated C:\n{result.stderr[-4000:]}")
        _ensure(folder.parent)
        try:
            work.rename(folder)
        except OSError:  # another process built the same model meanwhile
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return library


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
