"""Read a .tflite flatbuffer into a small, validated graph (no TFLite interpreter involved).

``read_model(tflite_bytes) -> Graph``: tensors (shape, dtype, quantization, constant data) and
operators (op name, input/output tensor ids, decoded builtin options) of the main subgraph.
Malformed files raise :class:`ExportError` naming the table, tensor or field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler import schema as S
from tinyfuse.firmware.compiler.flatbuf import Table, root_table
from tinyfuse.firmware.compiler.validate import check_graph
from tinyfuse.firmware.compiler.verify import verify_model

MAX_ELEMENTS = 1 << 28  # larger tensors cannot be meant for a microcontroller


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Quant:
    """Affine quantization of a tensor: real = scale * (q - zero_point).

    ``scale`` float32[k] and ``zero_point`` int64[k]; k == 1 is per-tensor, otherwise
    per-channel along ``axis``.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Tensor:
    """One tensor: ``data`` holds the constant values (dtype ``dtype``, shape ``shape``) or None."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.elements * np.dtype(self.dtype).itemsize

    @property
    def is_const(self) -> bool:
        return self.data is not None

    def label(self) -> str:
        return tensor_label(self.index, self.name)


def tensor_label(index: int, name: str) -> str:
    """``tensor N 'name'`` for messages: printable, one line, at most 60 characters of the
    name (a corrupt file's name can be any bytes)."""
    shown = "".join(c if c.isprintable() else "?" for c in name)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"tensor {index} '{shown}'"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Operator:
    """One operator of the graph; ``inputs`` may hold -1 for an omitted optional input."""

    index: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)

    def label(self) -> str:
        return f"op {self.index} ({self.op})"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Graph:
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def read_model(tflite_bytes: bytes) -> Graph:
    """Parse a .tflite flatbuffer into a :class:`Graph` (its first subgraph).

    Raises
    ------
    ExportError
        The bytes are not a TFLite model, a table/field (any of the schema's, see
        ``tinyfuse.firmware.compiler.verify``) is out of bounds or inconsistent, or the graph
        breaks a rule of ``tinyfuse.firmware.compiler.validate``.
    """
    buf = bytes(tflite_bytes)
    verify_model(buf)  # the whole flatbuffer, fields the compiler does not read included
    model = root_table(buf, S.FILE_IDENTIFIER, "TFLite model")
    version = model.scalar(S.MODEL_VERSION, "uint32")
    if version != 3:
        raise ExportError(f"unsupported TFLite schema version {version} (expected 3)")
    subgraphs = model.tables(S.MODEL_SUBGRAPHS, "subgraphs")
    if not subgraphs:
        raise ExportError("corrupt model: it has no subgraph")
    buffers = model.tables(S.MODEL_BUFFERS, "buffers")
    opcodes = [_opcode_name(t) for t in model.tables(S.MODEL_OPCODES, "operator_codes")]
    _check_strings(model, subgraphs)
    sub = subgraphs[0]
    tensors = tuple(
        _tensor(t, i, buffers, buf) for i, t in enumerate(sub.tables(S.SUBGRAPH_TENSORS, "tensors"))
    )
    operators = tuple(
        _operator(t, i, opcodes, len(tensors))
        for i, t in enumerate(sub.tables(S.SUBGRAPH_OPERATORS, "operators"))
    )
    inputs = _tensor_ids(sub, S.SUBGRAPH_INPUTS, "subgraph inputs", len(tensors))
    outputs = _tensor_ids(sub, S.SUBGRAPH_OUTPUTS, "subgraph outputs", len(tensors))
    if not inputs or not outputs:
        raise ExportError("corrupt model: the subgraph declares no inputs or no outputs")
    if min(inputs + outputs) < 0:
        raise ExportError("corrupt model: a subgraph input or output tensor id is -1")
    graph = Graph(tensors=tensors, operators=operators, inputs=inputs, outputs=outputs)
    check_graph(graph)
    return graph


def _check_strings(model: Table, subgraphs: list[Table]) -> None:
    """Read the strings the compiler does not use (the model's description, the subgraph and
    metadata names), so that an offset of theirs out of the file is refused here, as TFLite
    Micro's loader refuses it, instead of compiling a model the reference cannot load."""
    model.string(S.MODEL_DESCRIPTION, "description")
    for table in subgraphs:
        table.string(S.SUBGRAPH_NAME, "name")
    for table in model.tables(S.MODEL_METADATA, "metadata"):
        table.string(S.METADATA_NAME, "name")


def _opcode_name(table: Table) -> str:
    code = max(
        int(table.scalar(S.OPCODE_DEPRECATED, "int8")),
        int(table.scalar(S.OPCODE_BUILTIN, "int32")),
    )
    if code == 32:  # CUSTOM
        return f"CUSTOM:{table.string(S.OPCODE_CUSTOM, 'custom_code')}"
    return S.OP_NAMES.get(code, f"BUILTIN_{code}")


def _tensor_ids(table: Table, field_id: int, name: str, count: int) -> tuple[int, ...]:
    ids = tuple(int(v) for v in table.array(field_id, name, "int32"))
    for value in ids:
        if value < -1 or value >= count:
            raise ExportError(f"corrupt model: {table.where}.{name} refers to tensor {value}, "
                              f"but there are {count} tensors")
    return ids


def _tensor(table: Table, index: int, buffers: list[Table], buf: bytes) -> Tensor:
    name = table.string(S.TENSOR_NAME, "name")
    where = tensor_label(index, name)
    type_code = int(table.scalar(S.TENSOR_TYPE, "int8"))
    if type_code not in S.TENSOR_TYPES:
        raise ExportError(f"{where}: unknown tensor type code {type_code}")
    dtype = S.TENSOR_TYPES[type_code]
    shape = tuple(int(d) for d in table.array(S.TENSOR_SHAPE, "shape", "int32"))
    if any(d < 1 for d in shape):
        raise ExportError(f"{where}: shape {list(shape)} has a dimension below 1 "
                          "(dynamic shapes are not supported)")
    if int(np.prod(shape, dtype=np.float64)) > MAX_ELEMENTS:
        raise ExportError(f"{where}: shape {list(shape)} is too large for a microcontroller")
    if table.has(S.TENSOR_SPARSITY):
        raise ExportError(f"{where}: sparse tensors are not supported")
    quant_table = table.table(S.TENSOR_QUANT, "quantization")
    quant = _quant(quant_table, where, shape) if quant_table else None
    data = _const_data(table, buffers, buf, where, shape, dtype)
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, quant=quant, data=data)


def _quant(table: Table, where: str, shape: tuple[int, ...]) -> Quant | None:
    scale = table.array(S.QUANT_SCALE, "scale", "float32")
    zero_point = table.array(S.QUANT_ZERO_POINT, "zero_point", "int64")
    if scale.size == 0:
        return None
    axis = int(table.scalar(S.QUANT_DIMENSION, "int32"))
    if zero_point.size != scale.size:  # TFLite Micro reads one zero point per scale
        raise ExportError(f"{where}: {scale.size} scales but {zero_point.size} zero points")
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ExportError(f"{where}: quantization scale must be finite and > 0, got "
                          f"{scale[:4].tolist()}")
    if scale.size > 1 and (axis < 0 or axis >= len(shape) or shape[axis] != scale.size):
        raise ExportError(f"{where}: {scale.size} per-channel scales do not match quantized "
                          f"dimension {axis} of shape {list(shape)}")
    return Quant(scale=scale, zero_point=zero_point, axis=axis)


def _const_data(table: Table, buffers: list[Table], buf: bytes, where: str,
                shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
    buffer_index = int(table.scalar(S.TENSOR_BUFFER, "uint32"))
    if buffer_index == 0:
        return None
    if buffer_index >= len(buffers):
        raise ExportError(f"{where}: buffer {buffer_index} does not exist "
                          f"({len(buffers)} buffers)")
    buffer = buffers[buffer_index]
    offset = int(buffer.scalar(S.BUFFER_OFFSET, "uint64"))
    if offset > 1:
        size = int(buffer.scalar(S.BUFFER_SIZE, "uint64"))
        if offset + size > len(buf):
            raise ExportError(f"{where}: external buffer {buffer_index} lies outside the file")
        raw = buf[offset : offset + size]
    else:
        raw = buffer.array(S.BUFFER_DATA, "data", "uint8").tobytes()
    if not raw:
        return None
    if dtype == "string":
        raise ExportError(f"{where}: constant string tensors are not supported")
    want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(raw) != want:
        raise ExportError(f"{where}: constant data has {len(raw)} bytes, shape {list(shape)} "
                          f"of {dtype} needs {want}")
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


def _operator(table: Table, index: int, opcodes: list[str], tensor_count: int) -> Operator:
    opcode_index = int(table.scalar(S.OPERATOR_OPCODE, "uint32"))
    if opcode_index >= len(opcodes):
        raise ExportError(f"corrupt model: op {index} uses operator code {opcode_index}, "
                          f"but there are {len(opcodes)}")
    op = opcodes[opcode_index]
    inputs = _tensor_ids(table, S.OPERATOR_INPUTS, "inputs", tensor_count)
    outputs = _tensor_ids(table, S.OPERATOR_OUTPUTS, "outputs", tensor_count)
    if not outputs or min(outputs) < 0:
        raise ExportError(f"corrupt model: op {index} ({op}) has no valid output tensor")
    options = _options(table, op, index)
    return Operator(index=index, op=op, inputs=inputs, outputs=outputs, options=options)


def _options(table: Table, op: str, index: int) -> dict:
    fields = S.OPTION_FIELDS.get(op, ())
    options_table = table.table(S.OPERATOR_OPTIONS, "builtin_options") if fields else None
    if options_table is not None:
        union_type = int(table.scalar(S.OPERATOR_OPTIONS_TYPE, "uint8"))
        if union_type != S.OPTIONS_TYPE[op]:
            raise ExportError(f"op {index} ({op}): builtin options of union type {union_type}, "
                              f"expected {S.OPTIONS_TYPE[op]}")
    options: dict = {}
    for name, field_id, kind, default in fields:
        value = options_table.scalar(field_id, kind, default) if options_table else default
        options[name] = value
    for name, table_map in (("padding", S.PADDING), ("activation", S.ACTIVATIONS)):
        if name in options:
            if options[name] not in table_map:
                raise ExportError(f"op {index} ({op}): unknown {name} code {options[name]}")
            options[name] = table_map[options[name]]
    return options
