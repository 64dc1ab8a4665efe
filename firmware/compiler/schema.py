"""Constants of the TFLite flatbuffer schema (tensorflow/lite/schema/schema.fbs) that the reader
needs: builtin operator codes, tensor types, field ids and the builtin options it decodes."""

from __future__ import annotations

FILE_IDENTIFIER = b"TFL3"

# BuiltinOperator values (schema.fbs), in code order 0..161: names are needed for ops we do
# not compile too, so that an unsupported op is reported by name.
_OP_ORDER = """
ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE
EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D
LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6
RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM CALL
CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND
SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE
BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST
PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN
TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW
ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK
REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR
LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS
WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE
NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM
BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D IMAG
REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL
CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL
BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD
UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR
RIGHT_SHIFT
"""
OP_NAMES: dict[int, str] = dict(enumerate(_OP_ORDER.split()))

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
OPTION_FIELDS: dict[str, tuple[tuple[str, int, str, int | float | bool], ...]] = {
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
    "REDUCE_MAX": (("keep_dims", 0, "bool", False),),
    "SUB": (("activation", 0, "int8", 0),),
    "MUL": (("activation", 0, "int8", 0),),
    "LEAKY_RELU": (("alpha", 0, "float32", 0.0),),
    "SPLIT": (("num_splits", 0, "int32", 0),),
    "SPLIT_V": (("num_splits", 0, "int32", 0),),
    "PACK": (("values_count", 0, "int32", 0), ("axis", 1, "int32", 0)),
    "UNPACK": (("num", 0, "int32", 0), ("axis", 1, "int32", 0)),
    "STRIDED_SLICE": (
        ("begin_mask", 0, "int32", 0), ("end_mask", 1, "int32", 0),
        ("ellipsis_mask", 2, "int32", 0), ("new_axis_mask", 3, "int32", 0),
        ("shrink_axis_mask", 4, "int32", 0), ("offset", 5, "bool", False),
    ),
    "RESIZE_NEAREST_NEIGHBOR": (
        ("align_corners", 0, "bool", False), ("half_pixel_centers", 1, "bool", False),
    ),
}

# Field ids of the tables the reader walks.
MODEL_VERSION, MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 0, 1, 2, 4
MODEL_DESCRIPTION, MODEL_METADATA, METADATA_NAME = 3, 6, 0
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
SUBGRAPH_NAME = 4
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANT = 0, 1, 2, 3, 4
TENSOR_SPARSITY = 6
QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DIMENSION = 2, 3, 6
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
OPCODE_DEPRECATED, OPCODE_CUSTOM, OPCODE_BUILTIN = 0, 1, 3
OPERATOR_OPCODE, OPERATOR_INPUTS, OPERATOR_OUTPUTS, OPERATOR_OPTIONS = 0, 1, 2, 4
OPERATOR_OPTIONS_TYPE = 3
# The BuiltinOptions union member each op's options must be (the schema's enum values): a
# table of another type is read by TFLite Micro as that type, so a mismatch is refused.
OPTIONS_TYPE = {
    "CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "AVERAGE_POOL_2D": 5, "MAX_POOL_2D": 5,
    "FULLY_CONNECTED": 8, "SOFTMAX": 9, "CONCATENATION": 10, "ADD": 11, "MUL": 21,
    "MEAN": 27, "REDUCE_MAX": 27, "SUB": 28, "STRIDED_SLICE": 32, "SPLIT": 35, "PACK": 59,
    "UNPACK": 64, "RESIZE_NEAREST_NEIGHBOR": 74, "LEAKY_RELU": 75, "SPLIT_V": 79,
}
