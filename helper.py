"""The course's answer key, front page: ``import helper`` gives every function the lessons build.

Every lesson builds some of these functions step by step, then imports them from here. The
maths lives in the ``answer_key`` package, one module per lesson group, each read top to bottom
in lesson order; ``helper.name??`` in a notebook shows the source where it is.

Formula sheet (the course's own):

    quantize      q  = clamp(round(r / s + z), q_min, q_max)
    dequantize    r' = s * (q - z)
    asymmetric    s  = (r_max - r_min) / (q_max - q_min),   z = round(q_min - r_min / s)
    symmetric     s  = max|r| / q_max,                      z = 0
    error         MSE = mean((r - r')^2)
    SQNR          10 log10(mean(r^2) / MSE)  dB
    storage       bits + (scale_bits + zero_point_bits) / group_size  bits per weight

Per-tensor, per-channel and per-group quantization are one operation (``quantize_blocks``):
they differ only by the shape of the block of values that shares one scale and zero point.
Two steps past the course, which the lessons explain: the asymmetric range is widened to
include 0, so that 0 is exact and an all-positive tensor (a ReLU output) keeps its resolution;
and a range of width 0 (an all-zero row) gets a tiny positive scale, never a division by 0.

Lesson -> file (in ``answer_key/``):

    types, dtypes, argument checks       basics.py
    L2-A, L2-B                           l2_linear_I.py
    L3-A .. L3-E                         l3_linear_II.py
    L4-A  integer inference (W8A8)       l4a_integer_inference.py
    L4-B  packing low-bit weights        l4b_packing.py
    L4-C  quantize a trained network     l4c_quantize_a_network.py
    L5-A  calibration and clipping       l5a_calibration.py
    L6-A  a language model               l6a_language_model.py
    L6-B  GPTQ                           l6b_gptq.py
    L6-C  number formats                 l6c_number_formats.py
    L7-A  fast quantized inference       l7a_fast_inference.py
    L7-B  quantization-aware training    l7b_qat.py

Maths only (torch, NumPy and the standard library): the pictures, widgets, exercise checkers
and example data of the lessons live in the ``course`` package.
"""

# ruff: noqa: F401 (each import is a re-export: ``__all__`` below lists them all)
from answer_key.basics import (
    Granularity,
    Mode,
    check_bits,
    check_broadcast,
    check_divides,
    check_dtype,
    check_float_tensor,
    check_int,
    check_positive_int,
    check_scale,
    check_zero_point,
    dtype_bits,
    dtype_name,
    integer_dtype,
    q_range,
    storage_dtype,
)
from answer_key.l2_linear_I import (
    ZERO_RANGE_SCALE,
    get_q_scale_and_zero_point,
    linear_dequantization,
    linear_q_with_scale_and_zero_point,
    linear_quantization,
    quantization_error,
    range_scale_and_zero_point,
    representable_range,
)
from answer_key.l3_linear_II import (
    bits_per_weight,
    block_size_for,
    choose_block_scale_and_zero_point,
    dequantize_blocks,
    expand_blocks,
    fake_quantize_blocks,
    get_q_scale_symmetric,
    levels_used,
    linear_dequantization_per_group,
    linear_q_symmetric,
    linear_q_symmetric_per_channel,
    linear_q_symmetric_per_group,
    mode_errors,
    quantize_blocks,
    quantize_per_tensor,
    quantize_with_block_scale,
    quantized_linear_W8A32_without_bias,
)
from answer_key.l4a_integer_inference import (
    INT8_PRODUCT_MAX,
    MatmulMethod,
    int8_matmul,
    int_mm_supported,
    quantized_linear_W8A8_without_bias,
)
from answer_key.l4b_packing import (
    PACKABLE_BITS,
    pack_weights,
    packed_length,
    tensor_bytes,
    unpack_weights,
)
from answer_key.l4c_quantize_a_network import (
    QuantizedLinear,
    convert_linears,
    layer_like,
    linear_layers,
    model_bytes,
    quantize_model,
    quantize_weight_symmetric,
)
from answer_key.l5a_calibration import (
    CLIP_RATIOS,
    clip_scale,
    clip_sweep,
    clipped,
    min_max_range,
    moving_average_range,
    paired_difference,
    percentile_range,
    rounding_and_clipping_error,
    search_clip_ratio,
    sqnr_db,
)
from answer_key.l6a_language_model import (
    bits_per_byte,
    byte_ids,
    byte_windows,
    channel_absmax,
    logit_bits,
    outlier_ratio,
    window_bits,
)
from answer_key.l6b_gptq import (
    gptq_quantize,
    gptq_quantize_model,
    hessian_from_inputs,
    layer_objective,
)
from answer_key.l6c_number_formats import (
    BLOCK_FORMATS,
    E8M0_BIAS,
    FLOAT_FORMATS,
    NF4_LEVELS,
    BlockFormat,
    FormatRoundTrip,
    block_format,
    float_bits,
    float_levels,
    float_quantize,
    format_bits_per_weight,
    format_round_trip,
    mx_dequantize,
    mx_quantize,
    nf4_bits_per_weight,
    nf4_dequantize,
    nf4_quantize,
    quantize_to_levels,
    scaler_block_size,
)
from answer_key.l7a_fast_inference import (
    INT4_GROUP_SIZES,
    PACKED_BITS,
    Capability,
    PackedLinear,
    int4_block_rows,
    linear_flops,
    pack_int4_for_cpu,
    pack_linear,
    pack_model,
    packed_kernel_available,
    roofline_seconds,
)
from answer_key.l7b_qat import (
    FakeQuantize,
    QATLinear,
    RoundStraightThrough,
    convert_qat,
    fake_quantize,
    fake_quantize_like_torchao,
    prepare_qat,
    straight_through_mask,
    torchao_weight_scale,
)

# The public names: every name imported above, module by module in lesson order.
__all__ = [name for name in dict(globals()) if not name.startswith("_")]
