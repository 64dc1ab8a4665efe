"""Generate ``model.c`` / ``model.h`` (strings) for an int8 .tflite; :meth:`CompiledModel.write`
is the separate step that writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import iotable, ops, ops_act, ops_misc, ops_move
from tinyfuse.firmware.compiler.lower import Boundary, Program, lower
from tinyfuse.firmware.compiler.plan import ALIGN_BYTES, MemoryPlan, plan_memory
from tinyfuse.firmware.compiler.reader import read_model

LOWERINGS = {
    "CONV_2D": ops.conv_2d,
    "DEPTHWISE_CONV_2D": ops.depthwise_conv_2d,
    "FULLY_CONNECTED": ops.fully_connected,
    "MAX_POOL_2D": ops.max_pool_2d,
    "AVERAGE_POOL_2D": ops.average_pool_2d,
    "MEAN": ops_misc.mean,
    "CONCATENATION": ops_misc.concatenation,
    "SOFTMAX": ops_misc.softmax,
    "LOGISTIC": ops_misc.logistic,
    "ADD": ops_misc.add,
    "QUANTIZE": ops_misc.quantize,
    "SUB": ops_act.sub,
    "MUL": ops_act.mul,
    "MAXIMUM": ops_act.maximum,
    "MINIMUM": ops_act.minimum,
    "RELU": ops_act.relu,
    "RELU6": ops_act.relu6,
    "LEAKY_RELU": ops_act.leaky_relu,
    "TANH": ops_act.tanh,
    "HARD_SWISH": ops_act.hard_swish,
    "PAD": ops_move.pad,
    "PADV2": ops_move.pad,
    "TRANSPOSE": ops_move.transpose,
    "STRIDED_SLICE": ops_move.strided_slice,
    "SLICE": ops_move.slice_op,
    "SPLIT": ops_move.split,
    "SPLIT_V": ops_move.split_v,
    "PACK": ops_move.pack,
    "UNPACK": ops_move.unpack,
    "TILE": ops_move.tile,
    "RESIZE_NEAREST_NEIGHBOR": ops_move.resize_nearest_neighbor,
    "REDUCE_MAX": ops_move.reduce_max,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorInfo:
    """A model input or output as the C code sees it (int8); ``float_io`` when the .tflite
    itself takes/returns float32 and the caller must (de)quantize."""

    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    bytes: int
    float_io: bool = False


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CompiledModel:
    sources: dict[str, str]
    prefix: str
    arena_bytes: int
    weights_bytes: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    ops_used: tuple[str, ...]
    bundle_hash: str = ""

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``model.c`` and ``model.h`` into ``out_dir`` (created); returns the paths."""
        folder = Path(out_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            paths = []
            for name, text in sorted(self.sources.items()):
                path = folder / name
                path.write_text(text)
                paths.append(path)
        except OSError as exc:
            raise ExportError(f"cannot write the generated C to {folder}: {exc}") from exc
        return paths


def compile_bundle(bundle: Bundle, *, prefix: str = "tinyfuse_model") -> CompiledModel:
    """Compile a bundle's model; ``model.h`` then carries the bundle's hash, its modality
    names in input order and its class labels."""
    return compile_model(bundle.tflite, prefix=prefix, bundle=bundle)


def compile_model(tflite_bytes: bytes, *, prefix: str = "tinyfuse_model",
                  bundle: Bundle | None = None) -> CompiledModel:
    """Compile an int8 .tflite to C99 (see the module doc of :mod:`firmware.compiler`).

    With ``bundle`` (whose ``tflite`` must be ``tflite_bytes``) the header's tables use the
    bundle's modality names and class labels and ``TINYFUSE_BUNDLE_HASH`` is its hash; without
    one the names are the tensor names, the labels empty and the hash ``""``.

    Raises
    ------
    ExportError
        Malformed model, unsupported op (named), or parameters the kernels cannot reproduce.
    """
    if not prefix.isidentifier() or not prefix.isascii():
        raise ExportError(f"prefix {prefix!r} is not a C identifier")
    if bundle is not None and bytes(bundle.tflite) != bytes(tflite_bytes):
        raise ExportError("bundle: its model is not the .tflite being compiled")
    program = lower(read_model(tflite_bytes))
    plan = plan_memory(program)

    def pointer(tensor_id: int) -> str:
        return f"A({plan.offset(tensor_id)})"

    decls: list[str] = []
    calls: list[str] = []
    for step, op in enumerate(program.steps):
        scratch = plan.scratch_offset(step)
        ctx = ops.OpContext(op=op, tensors=program.graph.tensors, name=f"op{step}",
                            pointer=pointer, scratch="0" if scratch is None else f"A({scratch})")
        code = LOWERINGS[op.op](ctx)
        decls.extend(code.decls)
        calls.append(f"  /* {op.label()} -> {ctx.output.name[:60]} */\n  {code.call}")
    inputs = tuple(_info(b) for b in program.inputs)
    outputs = tuple(_info(b) for b in program.outputs)
    table = iotable.IoTable.of(inputs, outputs, bundle)
    header = _header(prefix, inputs, outputs, plan.arena_bytes, table)
    source = _source(prefix, program, plan, decls, calls, inputs, outputs, table)
    weights = sum(_const_bytes(d) for d in decls)
    return CompiledModel(
        sources={"model.c": source, "model.h": header}, prefix=prefix,
        arena_bytes=plan.arena_bytes, weights_bytes=weights, inputs=inputs, outputs=outputs,
        ops_used=tuple(sorted({op.op for op in program.graph.operators})),
        bundle_hash=table.bundle_hash,
    )


_WEIGHT_SUFFIXES = ("_filter", "_bias", "_mult", "_shift", "_const")


def _const_bytes(decl: str) -> int:
    """Flash bytes of one weight/bias/requantization array declaration (0 for others)."""
    for ctype, size in (("int8_t", 1), ("int32_t", 4)):
        head = decl.split("[", 1)[0]
        if decl.startswith(f"static const {ctype} ") and head.endswith(_WEIGHT_SUFFIXES):
            count = int(decl.split("[", 1)[1].split("]", 1)[0])
            return count * size
    return 0


def _info(boundary: Boundary) -> TensorInfo:
    tensor = boundary.tensor
    if tensor.quant is None:
        raise ExportError(f"tensor {tensor.name!r}: a model input or output needs int8 "
                          f"quantization parameters")
    return TensorInfo(
        name=(boundary.float_tensor or tensor).name, shape=tensor.shape,
        scale=float(tensor.quant.scale[0]), zero_point=int(tensor.quant.zero_point[0]),
        bytes=tensor.nbytes, float_io=boundary.float_tensor is not None,
    )


def _floats(values) -> str:
    return ", ".join(f"{float(v)!r}f" for v in values)


def _header(prefix: str, inputs, outputs, arena_bytes: int, table: iotable.IoTable) -> str:
    upper = prefix.upper()
    guard = f"{upper}_H"
    return f"""/* Generated by tinyfuse compile: do not edit. */
#ifndef {guard}
#define {guard}

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

{table.header(prefix)}
#define {upper}_NUM_INPUTS {len(inputs)}
#define {upper}_NUM_OUTPUTS {len(outputs)}
#define {upper}_ARENA_BYTES {arena_bytes}
/* A caller's arena (see {prefix}_init) must start on this boundary. */
#define {upper}_ARENA_ALIGN {ALIGN_BYTES}

{_STATUS_ENUM}
extern const int32_t {prefix}_input_bytes[];
extern const int32_t {prefix}_output_bytes[];
extern const float {prefix}_input_scale[];
extern const int32_t {prefix}_input_zero_point[];
extern const float {prefix}_output_scale[];
extern const int32_t {prefix}_output_zero_point[];

/* The arena holds every intermediate tensor, the inputs and the outputs. By default it is a
 * static array in model.c (place it with -D'{upper}_ARENA_ATTRIBUTE=...', e.g. a section
 * attribute). Compile model.c with -D{upper}_EXTERNAL_ARENA to drop that array: then
 * {prefix}_init must bind a caller's buffer before anything else runs. */
size_t {prefix}_arena_bytes(void);

/* Use the caller's arena: at least {prefix}_arena_bytes() bytes, aligned to
 * {upper}_ARENA_ALIGN, in any section. NULL returns to the static arena
 * (TINYFUSE_ERROR_NO_ARENA when model.c was built without one). Returns a tinyfuse_status:
 * TINYFUSE_ERROR_ARENA_TOO_SMALL, TINYFUSE_ERROR_ARENA_MISALIGNED, or TINYFUSE_OK. */
int {prefix}_init(void *arena, size_t arena_bytes);

/* Where input (output) `index` lives in the arena: write {prefix}_input_bytes[index] int8
 * values there, call {prefix}_invoke_in_place, read the outputs there. The inputs are
 * overwritten by an inference: write them again before the next one. *buffer is set to NULL
 * on error; returns TINYFUSE_ERROR_BAD_INDEX, TINYFUSE_ERROR_NULL_POINTER (buffer),
 * TINYFUSE_ERROR_NO_ARENA, or TINYFUSE_OK. */
int {prefix}_input_buffer(int index, int8_t **buffer);
int {prefix}_output_buffer(int index, int8_t **buffer);
/* The same pointers, NULL on any error. */
int8_t *{prefix}_input(int index);
int8_t *{prefix}_output(int index);

/* One inference on the inputs already in the arena, outputs left in the arena: no copy.
 * Returns TINYFUSE_OK or TINYFUSE_ERROR_NO_ARENA. */
int {prefix}_invoke_in_place(void);

/* One inference with copies: in[i] holds {prefix}_input_bytes[i] int8 values, out[i]
 * receives {prefix}_output_bytes[i]; neither may overlap the arena. Returns TINYFUSE_OK,
 * TINYFUSE_ERROR_NULL_POINTER (-1: a null array or element) or TINYFUSE_ERROR_NO_ARENA. */
int {prefix}_invoke(const int8_t *in[], int8_t *out[]);

#ifdef __cplusplus
}}
#endif

#endif
"""


_STATUS_ENUM = """#ifndef TINYFUSE_STATUS_DEFINED
#define TINYFUSE_STATUS_DEFINED
/* What every entry point returns (as int). */
typedef enum {
  TINYFUSE_OK = 0,
  TINYFUSE_ERROR_NULL_POINTER = -1,
  TINYFUSE_ERROR_NO_ARENA = -2,
  TINYFUSE_ERROR_ARENA_TOO_SMALL = -3,
  TINYFUSE_ERROR_ARENA_MISALIGNED = -4,
  TINYFUSE_ERROR_BAD_INDEX = -5
} tinyfuse_status;
#endif
"""


def _arena_api(prefix: str, arena: int, in_offsets, out_offsets) -> list[str]:
    """The arena binding and the input/output pointer functions of ``model.c``."""
    upper = prefix.upper()
    lines = [
        f"#ifndef {upper}_ARENA_ATTRIBUTE",
        f"#define {upper}_ARENA_ATTRIBUTE",
        "#endif",
        f"#ifndef {upper}_EXTERNAL_ARENA",
        f"static int8_t {prefix}_static_arena[{arena}] TF_ALIGN16 {upper}_ARENA_ATTRIBUTE;",
        "#endif",
        f"static int8_t *{prefix}_caller_arena; /* set by {prefix}_init, else 0 */",
        f"static const int32_t {prefix}_input_offset[] = {{{', '.join(in_offsets)}}};",
        f"static const int32_t {prefix}_output_offset[] = {{{', '.join(out_offsets)}}};",
        "",
        f"static int8_t *{prefix}_arena(void) {{",
        f"#ifdef {upper}_EXTERNAL_ARENA",
        f"  return {prefix}_caller_arena;",
        "#else",
        f"  return {prefix}_caller_arena != 0 ? {prefix}_caller_arena : {prefix}_static_arena;",
        "#endif",
        "}",
        "",
        f"size_t {prefix}_arena_bytes(void) {{ return (size_t){upper}_ARENA_BYTES; }}",
        "",
        f"int {prefix}_init(void *arena, size_t arena_bytes) {{",
        "  if (arena == 0) {",
        f"    {prefix}_caller_arena = 0;",
        f"    return {prefix}_arena() != 0 ? TINYFUSE_OK : TINYFUSE_ERROR_NO_ARENA;",
        "  }",
        f"  if (arena_bytes < (size_t){upper}_ARENA_BYTES) return TINYFUSE_ERROR_ARENA_TOO_SMALL;",
        f"  if (((uintptr_t)arena % {upper}_ARENA_ALIGN) != 0) "
        "return TINYFUSE_ERROR_ARENA_MISALIGNED;",
        f"  {prefix}_caller_arena = (int8_t *)arena;",
        "  return TINYFUSE_OK;",
        "}",
        "",
    ]
    for kind, count in (("input", f"{upper}_NUM_INPUTS"), ("output", f"{upper}_NUM_OUTPUTS")):
        lines += [
            f"int {prefix}_{kind}_buffer(int index, int8_t **buffer) {{",
            f"  int8_t *arena = {prefix}_arena();",
            "  if (buffer == 0) return TINYFUSE_ERROR_NULL_POINTER;",
            "  *buffer = 0;",
            f"  if (index < 0 || index >= {count}) return TINYFUSE_ERROR_BAD_INDEX;",
            "  if (arena == 0) return TINYFUSE_ERROR_NO_ARENA;",
            f"  *buffer = arena + {prefix}_{kind}_offset[index];",
            "  return TINYFUSE_OK;",
            "}",
            "",
            f"int8_t *{prefix}_{kind}(int index) {{",
            "  int8_t *buffer = 0;",
            f"  (void){prefix}_{kind}_buffer(index, &buffer);",
            "  return buffer;",
            "}",
            "",
        ]
    return lines


def _source(prefix: str, program: Program, plan: MemoryPlan, decls, calls, inputs,
            outputs, table: iotable.IoTable) -> str:
    arena = max(plan.arena_bytes, 16)
    in_offsets = [str(plan.offset(b.tensor.index)) for b in program.inputs]
    out_offsets = [str(plan.offset(b.tensor.index)) for b in program.outputs]
    copy_in = [f"    memcpy(A({plan.offset(b.tensor.index)}), in[{i}], {b.tensor.nbytes});"
               for i, b in enumerate(program.inputs)]
    # bench/mlperf_tiny.py cuts op calls up to the first line that starts "  memcpy(out"
    copy_out = [f"  memcpy(out[{i}], A({plan.offset(b.tensor.index)}), {b.tensor.nbytes});"
                for i, b in enumerate(program.outputs)]
    checks = [f"in[{i}] == 0" for i in range(len(inputs))]
    checks += [f"out[{i}] == 0" for i in range(len(outputs))]
    lines = [
        "/* Generated by tinyfuse compile: do not edit. */",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include <string.h>",
        "",
        '#include "model.h"',
        '#include "tf_kernels.h"',
        "",
        "#if defined(__GNUC__)",
        "#define TF_ALIGN16 __attribute__((aligned(16)))",
        "#else",
        "#define TF_ALIGN16",
        "#endif",
        "",
        f"const int32_t {prefix}_input_bytes[] = {{{', '.join(str(i.bytes) for i in inputs)}}};",
        f"const int32_t {prefix}_output_bytes[] = "
        f"{{{', '.join(str(o.bytes) for o in outputs)}}};",
        f"const float {prefix}_input_scale[] = {{{_floats(i.scale for i in inputs)}}};",
        f"const int32_t {prefix}_input_zero_point[] = "
        f"{{{', '.join(str(i.zero_point) for i in inputs)}}};",
        f"const float {prefix}_output_scale[] = {{{_floats(o.scale for o in outputs)}}};",
        f"const int32_t {prefix}_output_zero_point[] = "
        f"{{{', '.join(str(o.zero_point) for o in outputs)}}};",
        *table.source(prefix),
        "",
        *_arena_api(prefix, arena, in_offsets, out_offsets),
        "#define A(offset) (arena + (offset))",
        "",
        *decls,
        "",
        "/* The inference: copies the inputs from in (unless 0), runs every op, copies the",
        " * outputs to out (unless 0). */",
        f"static int {prefix}_run(int8_t *arena, const int8_t *in[], int8_t *out[]) {{",
        "  if (in != 0) {",
        *copy_in,
        "  }",
        *calls,
        "  if (out == 0) return TINYFUSE_OK;",
        *copy_out,
        "  return TINYFUSE_OK;",
        "}",
        "",
        f"int {prefix}_invoke_in_place(void) {{",
        f"  int8_t *arena = {prefix}_arena();",
        "  if (arena == 0) return TINYFUSE_ERROR_NO_ARENA;",
        f"  return {prefix}_run(arena, 0, 0);",
        "}",
        "",
        f"int {prefix}_invoke(const int8_t *in[], int8_t *out[]) {{",
        f"  int8_t *arena = {prefix}_arena();",
        "  if (in == 0 || out == 0) return TINYFUSE_ERROR_NULL_POINTER;",
        f"  if ({' || '.join(checks)}) return TINYFUSE_ERROR_NULL_POINTER;",
        "  if (arena == 0) return TINYFUSE_ERROR_NO_ARENA;",
        f"  return {prefix}_run(arena, in, out);",
        "}",
        "",
    ]
    return "\n".join(lines)
