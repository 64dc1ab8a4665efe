"""Constants of the TFLite flatbuffer schema (tensorflow/lite/schema/schema.fbs) that the reader
needs: builtin operator codes, tensor types, field ids and the builtin options it decodes."""

from __future__ import annotations

FILE_IDENTIFIER = b"TFL3"

# BuiltinOperator values (schema.fbs). Only names are needed for ops we do not compile, so that
# an unsupported op is reported by name.
OP_NAMES: dict[int, str] = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 7: "EMBEDDING_LOOKUP", 8: "FLOOR",
    9: "FULLY_CONNECTED", 10: "HASHTABLE_LOOKUP", 11: "L2_NORMALIZATION", 12: "L2_POOL_2D",
    13: "LOCAL_RESPONSE_NORMALIZATION", 14: "LOGISTIC", 15: "LSH_PROJECTION", 16: "LSTM",
    17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6", 22: "RESHAPE",
    23: "RESIZE_BILINEAR", 24: "RNN", 25: "SOFTMAX", 26: "SPACE_TO_DEPTH", 27: "SVDF",
    28: "TANH", 32: "CUSTOM", 34: "PAD", 36: "GATHER", 37: "BATCH_TO_SPACE_ND",
    38: "SPACE_TO_BATCH_ND", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV", 43: "SQUEEZE",
    44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 45: "STRIDED_SLICE", 47: "EXP", 49: "SPLIT",
    50: "LOG_SOFTMAX", 53: "CAST", 54: "PRELU", 55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM",
    60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV", 70: "EXPAND_DIMS", 74: "SUM",
    82: "REDUCE_MAX", 83: "PACK", 87: "UNPACK", 96: "RESIZE_NEAREST_NEIGHBOR",
    97: "LEAKY_RELU", 114: "QUANTIZE", 117: "HARD_SWISH", 126: "BATCH_MATMUL",
}

# TensorType values -> numpy dtype names.
TENSOR_TYPES: dict[int, str] = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
    7: "int16", 9: "int8", 10: "float64",
}

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}

# Builtin options we decode: op name -> tuple of (option name, field id, scalar kind, default).
# Enum-valued options are decoded with PADDING / ACTIVATIONS afterwards.
_POOL = (
    ("padding", 0, "int8", 0), ("stride_w", 1, "int32", 0), ("stride_h", 2, "int32", 0),
    ("filter_width", 3, "int32", 0), ("filter_height", 4, "int32", 0),
    ("activation", 5, "int8", 0),
)
OPTION_FIELDS: dict[str, tuple[tuple[str, int, str, object], ...]] = {
    "CONV_2D": (
        ("padding", 0, "int8", 0), ("stride_w", 1, "int32", 0), ("stride_h", 2, "int32", 0),
        ("activation", 3, "int8", 0), ("dilation_w", 4, "int32", 1),
        ("dilation_h", 5, "int32", 1),
    ),
    "DEPTHWISE_CONV_2D": (
        ("padding", 0, "int8", 0), ("stride_w", 1, "int32", 0), ("stride_h", 2, "int32", 0),
        ("depth_multiplier", 3, "int32", 0), ("activation", 4, "int8", 0),
        ("dilation_w", 5, "int32", 1), ("dilation_h", 6, "int32", 1),
    ),
    "FULLY_CONNECTED": (
        ("activation", 0, "int8", 0), ("weights_format", 1, "int8", 0),
        ("keep_num_dims", 2, "bool", False),
    ),
    "MAX_POOL_2D": _POOL,
    "AVERAGE_POOL_2D": _POOL,
    "SOFTMAX": (("beta", 0, "float32", 0.0),),
    "CONCATENATION": (("axis", 0, "int32", 0), ("activation", 1, "int8", 0)),
    "ADD": (("activation", 0, "int8", 0),),
    "MEAN": (("keep_dims", 0, "bool", False),),
}

# Field ids of the tables the reader walks.
MODEL_VERSION, MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 0, 1, 2, 4
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANT = 0, 1, 2, 3, 4
TENSOR_SPARSITY = 6
QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DIMENSION = 2, 3, 6
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
OPCODE_DEPRECATED, OPCODE_CUSTOM, OPCODE_BUILTIN = 0, 1, 3
OPERATOR_OPCODE, OPERATOR_INPUTS, OPERATOR_OUTPUTS, OPERATOR_OPTIONS = 0, 1, 2, 4
