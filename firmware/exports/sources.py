"""What every export carries: the compiled model (``model.c``/``model.h``, through the same
compiler call as ``tinyfuse compile`` and ``deploy``) and the runtime files it needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import CompiledModel, compile_bundle, compile_model, runtime_dir

KERNEL_HEADER = "tf_kernels.h"
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
_NAME = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSources:
    """A compiled model and the runtime sources it needs, as text.

    ``name`` is a lower-case C identifier for the library (``tinyfuse_<app>`` for a bundle,
    ``tinyfuse_<file stem>`` for a bare ``.tflite``); ``labels`` the class labels.
    """

    name: str
    compiled: CompiledModel
    runtime: dict[str, str]
    labels: tuple[str, ...]
    bundle: Any = None  # the Bundle, when the source was a bundle folder

    def c_files(self, folder: str) -> dict[str, str]:
        """``model.c``, ``model.h`` and the runtime files, each under ``folder``."""
        files = {**self.compiled.sources, **self.runtime}
        return {f"{folder}/{name}": text for name, text in sorted(files.items())}

    @property
    def c_sources(self) -> list[str]:
        """File names of the ``.c`` files, sorted."""
        return sorted(n for n in (*self.compiled.sources, *self.runtime) if n.endswith(".c"))


def load_sources(path: str | Path) -> ModelSources:
    """Compile the bundle folder or ``.tflite`` file at ``path`` (see ``export_files``)."""
    from tinyfuse.core.bundle import Bundle

    source = Path(path)
    if source.is_file() and source.suffix == ".tflite":
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ExportError(f"cannot read {source}: {exc}") from exc
        return ModelSources(name=library_name(source.stem), compiled=compile_model(data),
                            runtime=kernel_files(), labels=())
    if not source.is_dir():
        raise ExportError(f"{source}: not a bundle folder or an int8 .tflite file")
    bundle = Bundle.read(source)
    return ModelSources(name=library_name(bundle.app), compiled=compile_bundle(bundle),
                        runtime=kernel_files(), labels=tuple(bundle.classes), bundle=bundle)


def library_name(text: str) -> str:
    """``tinyfuse_<text>`` lower-cased, runs of other characters made ``_``."""
    stem = _NAME.sub("_", text.lower()).strip("_")
    return f"tinyfuse_{stem}" if stem else "tinyfuse_model"


def kernel_files() -> dict[str, str]:
    """The runtime's model kernels: every ``.c`` file that includes ``tf_kernels.h``
    (directly or through a runtime header) and every runtime header those files include.
    The C front-ends and the policy, which the model does not call, are left out."""
    folder = runtime_dir()
    texts = {p.name: p.read_text() for p in sorted(folder.glob("tf_*.[ch]"))}

    def closure(name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current in seen or current not in texts:
                continue
            seen.add(current)
            todo.extend(_INCLUDE.findall(texts[current]))
        return seen

    if KERNEL_HEADER not in texts:
        raise ExportError(f"{folder}: no {KERNEL_HEADER} (a broken installation)")
    chosen = {KERNEL_HEADER}
    for name in texts:
        if name.endswith(".c") and KERNEL_HEADER in closure(name):
            chosen |= closure(name)
    return {name: texts[name] for name in sorted(chosen)}
