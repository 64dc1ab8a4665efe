"""The model's identity and I/O table in the generated C: the bundle hash, each input's
modality name, shape and int8 quantisation (in input order), each output's, and the class
labels. A board or a host wrapper reads these instead of trusting that it was linked with the
right model."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import ExportError

MAX_RANK = 6
_HASH = re.compile(r"^([0-9a-f]{64})?$")
_IDENT = re.compile(r"[^A-Za-z0-9]")


def c_string(text: str) -> str:
    """``text`` as a C99 string literal: printable ASCII kept, everything else (quotes,
    backslashes, ``?`` against trigraphs, UTF-8 bytes) as three-digit octal escapes."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if 0x20 <= byte < 0x7F and char not in '"\\?':
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


@dataclass(frozen=True, slots=True, kw_only=True)
class IoTable:
    bundle_hash: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    labels: tuple[str, ...]
    inputs: tuple
    outputs: tuple

    @classmethod
    def of(cls, inputs, outputs, bundle: Bundle | None) -> IoTable:
        """The table of a compiled model's ``inputs``/``outputs`` (``TensorInfo``), named
        from ``bundle`` when there is one."""
        for info in (*inputs, *outputs):
            if len(info.shape) > MAX_RANK:
                raise ExportError(f"tensor {info.name!r}: rank {len(info.shape)} is above "
                                  f"{MAX_RANK}")
        if bundle is None:
            return cls(bundle_hash="", input_names=tuple(i.name for i in inputs),
                       output_names=tuple(o.name for o in outputs), labels=(),
                       inputs=tuple(inputs), outputs=tuple(outputs))
        if len(bundle.inputs) != len(inputs):
            raise ExportError(f"bundle: {len(bundle.inputs)} modalities for a model of "
                              f"{len(inputs)} inputs")
        if not outputs or outputs[0].bytes != len(bundle.classes):
            raise ExportError(f"bundle: {len(bundle.classes)} classes for a model output of "
                              f"{outputs[0].bytes if outputs else 0} values")
        table = cls(bundle_hash=bundle.bundle_hash, input_names=bundle.modalities,
                    output_names=("scores",) + tuple(o.name for o in outputs[1:]),
                    labels=bundle.classes, inputs=tuple(inputs), outputs=tuple(outputs))
        if not _HASH.match(table.bundle_hash):
            raise ExportError(f"bundle hash {table.bundle_hash!r} is not SHA-256 hex")
        return table

    def header(self, prefix: str) -> str:
        upper = prefix.upper()
        return f"""/* The bundle this model belongs to (SHA-256 hex; "" for a bare .tflite). */
#define {upper}_BUNDLE_HASH {c_string(self.bundle_hash)}
#ifndef TINYFUSE_BUNDLE_HASH
#define TINYFUSE_BUNDLE_HASH {upper}_BUNDLE_HASH
#endif
#define {upper}_NUM_CLASSES {len(self.labels)}

#ifndef TINYFUSE_IO_INFO_DEFINED
#define TINYFUSE_IO_INFO_DEFINED
/* One model input (a modality) or output: its name, shape (batch included), int8
 * quantisation (real = scale * (q - zero_point)) and size in bytes. */
typedef struct {{
  const char *name;
  int32_t rank;
  int32_t shape[{MAX_RANK}];
  float scale;
  int32_t zero_point;
  int32_t bytes;
}} tinyfuse_io_info;
#endif

{self.index_defines(prefix)}
extern const char {prefix}_bundle_hash[];
extern const tinyfuse_io_info {prefix}_inputs[];
extern const tinyfuse_io_info {prefix}_outputs[];
/* {upper}_NUM_CLASSES labels of output 0, in score order. */
extern const char *const {prefix}_class_labels[];
"""

    def index_defines(self, prefix: str) -> str:
        """``#define PREFIX_INPUT_<NAME> i`` (and ``_OUTPUT_``) for each name that is a
        distinct C identifier once upper-cased and non-alphanumerics made ``_``."""
        lines = ["/* Index of each input and output by name. */"]
        for kind, names in (("INPUT", self.input_names), ("OUTPUT", self.output_names)):
            macros = [f"{prefix.upper()}_{kind}_{_IDENT.sub('_', name).upper()}"
                      for name in names]
            for index, macro in enumerate(macros):
                if macros.count(macro) == 1:
                    lines.append(f"#define {macro} {index}")
        return "\n".join(lines) + "\n"

    def source(self, prefix: str) -> list[str]:
        labels = ", ".join(c_string(label) for label in self.labels) or "0"
        return [
            f"const char {prefix}_bundle_hash[] = {prefix.upper()}_BUNDLE_HASH;",
            f"const tinyfuse_io_info {prefix}_inputs[] = {{",
            *[_row(name, info) for name, info in zip(self.input_names, self.inputs,
                                                     strict=True)],
            "};",
            f"const tinyfuse_io_info {prefix}_outputs[] = {{",
            *[_row(name, info) for name, info in zip(self.output_names, self.outputs,
                                                     strict=True)],
            "};",
            f"const char *const {prefix}_class_labels[] = {{{labels}}};",
        ]


def _row(name: str, info) -> str:
    dims = list(info.shape) + [0] * (MAX_RANK - len(info.shape))
    return (f"  {{{c_string(name)}, {len(info.shape)}, {{{', '.join(map(str, dims))}}}, "
            f"{float(info.scale)!r}f, {int(info.zero_point)}, {int(info.bytes)}}},")
