"""int8 .tflite -> C99 compiler with a static memory plan, bit-exact with TFLite Micro.

Public API: :func:`estimate` (flash/RAM/MACs without generating code), :func:`compile_model`
(generated ``model.c``/``model.h`` as strings), :func:`compile_bundle` (the same, with
the bundle's hash, modality names and class labels in ``model.h``), :func:`runtime_dir`,
:func:`runtime_sources`.
"""

from __future__ import annotations

from pathlib import Path

from tinyfuse.firmware.compiler.codegen import (
    CompiledModel,
    TensorInfo,
    compile_bundle,
    compile_model,
)
from tinyfuse.firmware.compiler.estimate import Footprint, LayerFootprint, estimate

__all__ = [
    "CompiledModel", "Footprint", "LayerFootprint", "TensorInfo", "compile_bundle", "compile_model",
    "estimate",
    "runtime_dir", "runtime_sources",
]


def runtime_dir() -> Path:
    """Folder holding the portable C99 int8 kernels (``*.c`` and ``*.h``)."""
    return Path(__file__).resolve().parent.parent / "runtime"


def runtime_sources() -> list[Path]:
    """The runtime's ``.c`` files; compile them with ``model.c`` and ``-I runtime_dir()``."""
    return sorted(runtime_dir().glob("tf_*.c"))
