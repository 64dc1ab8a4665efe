"""Turn a read :class:`Graph` into the program the C code runs.

- float graph inputs feeding a QUANTIZE, and float graph outputs made by a DEQUANTIZE, are peeled
  off: the compiled model's boundary is always int8 (the host wrapper quantizes/dequantizes
  exactly as TFLite Micro does);
- RESHAPE / SQUEEZE / EXPAND_DIMS become views: their output shares its input's bytes;
- every other op must be one the runtime implements.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyfuse.core.errors import ExportError
from tinyfuse.firmware.compiler.fold import fold_constants
from tinyfuse.firmware.compiler.reader import Graph, Operator, Tensor

VIEW_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
KERNEL_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D",
    "MEAN", "CONCATENATION", "SOFTMAX", "ADD", "LOGISTIC", "QUANTIZE",
    "SUB", "MUL", "MAXIMUM", "MINIMUM", "RELU", "RELU6", "LEAKY_RELU", "TANH", "HARD_SWISH",
    "PAD", "PADV2", "TRANSPOSE", "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK",
    "TILE", "RESIZE_NEAREST_NEIGHBOR", "REDUCE_MAX",
})
SUPPORTED_OPS = VIEW_OPS | KERNEL_OPS | {"DEQUANTIZE"}
# Inputs that are parameters of the op rather than data (never planned, never emitted as data).
PARAM_INPUTS = {
    "MEAN": (1,), "REDUCE_MAX": (1,), "RESHAPE": (1,), "EXPAND_DIMS": (1,), "SQUEEZE": (),
    "PAD": (1,), "PADV2": (1, 2), "TRANSPOSE": (1,), "STRIDED_SLICE": (1, 2, 3),
    "SLICE": (1, 2), "SPLIT": (0,), "SPLIT_V": (1, 2), "TILE": (1,),
    "RESIZE_NEAREST_NEIGHBOR": (1,),
}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Boundary:
    """One model input or output: ``tensor`` is the int8 tensor the C code sees; ``float_tensor``
    the float32 tensor of the .tflite when the model has float I/O (else None)."""

    tensor: Tensor
    float_tensor: Tensor | None = None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Program:
    graph: Graph
    steps: tuple[Operator, ...]          # kernel ops in execution order
    inputs: tuple[Boundary, ...]
    outputs: tuple[Boundary, ...]
    alias: dict[int, int]                # view tensor id -> tensor id that owns the bytes

    def root(self, tensor_id: int) -> int:
        while tensor_id in self.alias:
            tensor_id = self.alias[tensor_id]
        return tensor_id

    def data_inputs(self, op: Operator) -> list[Tensor]:
        """The op's non-constant, present input tensors."""
        skip = PARAM_INPUTS.get(op.op, ())
        return [
            self.graph.tensors[t] for i, t in enumerate(op.inputs)
            if t >= 0 and i not in skip and not self.graph.tensors[t].is_const
        ]


def lower(graph: Graph) -> Program:
    """Check every op is supported and build the :class:`Program`.

    Raises
    ------
    ExportError
        An op is unsupported (named with its index), or a float tensor appears inside the graph.
    """
    graph = fold_constants(graph)
    check_supported(graph)
    peeled: set[int] = set()
    inputs = tuple(_boundary_input(graph, t, peeled) for t in graph.inputs)
    outputs = tuple(_boundary_output(graph, t, peeled) for t in graph.outputs)
    alias: dict[int, int] = {}
    steps = []
    for op in graph.operators:
        if op.index in peeled:
            continue
        if op.op == "DEQUANTIZE":
            raise ExportError(
                f"{op.label()}: DEQUANTIZE inside the graph - the converter left part of the "
                "model in float32 (typically an op whose outputs are not all used); only "
                "fully int8 graphs (float32 only at the model inputs/outputs) are supported")
        if op.op in VIEW_OPS:
            alias[op.outputs[0]] = _view_source(graph, op)
            continue
        steps.append(op)
    return Program(graph=graph, steps=tuple(steps), inputs=inputs, outputs=outputs, alias=alias)


def unsupported_ops(graph: Graph) -> dict[str, list[int]]:
    """Op name -> indexes of the graph's ops the compiler cannot compile (empty when none)."""
    missing: dict[str, list[int]] = {}
    for op in graph.operators:
        if op.op not in SUPPORTED_OPS:
            missing.setdefault(op.op, []).append(op.index)
    return missing


def check_supported(graph: Graph) -> None:
    """Raise one :class:`ExportError` that names every unsupported op of the graph."""
    missing = unsupported_ops(graph)
    if not missing:
        return
    listed = "; ".join(
        f"{name} (op {', '.join(str(i) for i in indexes[:5])}"
        f"{', ...' if len(indexes) > 5 else ''})" for name, indexes in sorted(missing.items()))
    raise ExportError(
        f"the model uses {len(missing)} op type(s) the tinyfuse compiler does not support: "
        f"{listed}. Supported: {', '.join(sorted(SUPPORTED_OPS))}"
    )


def _consumers(graph: Graph, tensor_id: int) -> list[Operator]:
    return [op for op in graph.operators if tensor_id in op.inputs]


def _boundary_input(graph: Graph, tensor_id: int, peeled: set[int]) -> Boundary:
    tensor = graph.tensors[tensor_id]
    if tensor.dtype == "int8":
        _need_quant(tensor, "model input")
        return Boundary(tensor=tensor)
    users = _consumers(graph, tensor_id)
    if tensor.dtype == "float32" and len(users) == 1 and users[0].op == "QUANTIZE":
        quantized = graph.tensors[users[0].outputs[0]]
        if quantized.dtype == "int8":
            _need_quant(quantized, "model input")
            peeled.add(users[0].index)
            return Boundary(tensor=quantized, float_tensor=tensor)
    raise ExportError(f"model input {tensor.label()} is {tensor.dtype}; only int8 inputs (or "
                      "float32 inputs feeding one QUANTIZE) are supported")


def _boundary_output(graph: Graph, tensor_id: int, peeled: set[int]) -> Boundary:
    tensor = graph.tensors[tensor_id]
    if tensor.dtype == "int8":
        _need_quant(tensor, "model output")
        return Boundary(tensor=tensor)
    makers = [op for op in graph.operators if tensor_id in op.outputs]
    if tensor.dtype == "float32" and len(makers) == 1 and makers[0].op == "DEQUANTIZE":
        source = graph.tensors[makers[0].inputs[0]]
        if source.dtype == "int8":
            _need_quant(source, "model output")
            peeled.add(makers[0].index)
            return Boundary(tensor=source, float_tensor=tensor)
    raise ExportError(f"model output {tensor.label()} is {tensor.dtype}; only int8 outputs (or "
                      "float32 outputs made by one DEQUANTIZE) are supported")


def _need_quant(tensor: Tensor, what: str) -> None:
    if tensor.quant is None or tensor.quant.per_channel:
        raise ExportError(f"{what} {tensor.label()} needs per-tensor quantization parameters")


def _view_source(graph: Graph, op: Operator) -> int:
    if not op.inputs or op.inputs[0] < 0:
        raise ExportError(f"{op.label()}: missing data input")
    source = graph.tensors[op.inputs[0]]
    target = graph.tensors[op.outputs[0]]
    if source.elements != target.elements or source.dtype != target.dtype:
        raise ExportError(f"{op.label()}: {source.label()} {source.dtype}{list(source.shape)} "
                          f"cannot be viewed as {target.dtype}{list(target.shape)}")
    if source.is_const:
        raise ExportError(f"{op.label()}: reshaping a constant tensor is not supported")
    return source.index
