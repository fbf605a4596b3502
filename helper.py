"""The course's answer key: linear quantization from scratch, in its final, tested form.

Every lesson builds some of these functions step by step and then imports them from here. The
sections follow the lessons, L2-A to L4-C, then L5-A, L6-A, L6-B (GPTQ) and L6-C (number
formats: FP8, FP4, NF4, MX); the checks of the arguments, written once and reused by the
``course`` package, close the file. The maths is the course's own:

    quantize      q  = clamp(round(r / s + z), q_min, q_max)
    dequantize    r' = s * (q - z)
    asymmetric    s  = (r_max - r_min) / (q_max - q_min),   z = round(q_min - r_min / s)
    symmetric     s  = max|r| / q_max,                      z = 0

Per-tensor, per-channel and per-group quantization are one operation (``quantize_blocks``):
they differ only by the shape of the block of values that shares one scale and zero point.

Two steps past the course, which the lessons explain: the asymmetric range is widened to
include 0, so that 0 is exact and an all-positive tensor (a ReLU output) keeps its resolution;
and a range of width 0 (an all-zero row) gets a tiny positive scale, never a division by 0.

This file is maths only (torch, NumPy and the standard library). The pictures, widgets, exercise
checkers and example data of the lessons live in the ``course`` package beside it.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import torch

# The public names, in lesson order.
__all__ = [  # noqa: RUF022 (in lesson order, not alphabetical)
    "Mode",
    "Granularity",
    # L2-A
    "dtype_bits",
    "q_range",
    "storage_dtype",
    "integer_dtype",
    "dtype_name",
    "linear_q_with_scale_and_zero_point",
    "linear_dequantization",
    "representable_range",
    "quantization_error",
    # L2-B
    "ZERO_RANGE_SCALE",
    "range_scale_and_zero_point",
    "get_q_scale_and_zero_point",
    "linear_quantization",
    # L3-A
    "get_q_scale_symmetric",
    "linear_q_symmetric",
    "levels_used",
    "quantize_per_tensor",
    "mode_errors",
    # L3-B, L3-C, L3-D, L3-E
    "block_size_for",
    "quantize_blocks",
    "dequantize_blocks",
    "expand_blocks",
    "fake_quantize_blocks",
    "linear_q_symmetric_per_channel",
    "linear_q_symmetric_per_group",
    "linear_dequantization_per_group",
    "bits_per_weight",
    "quantized_linear_W8A32_without_bias",
    # L4-A, L4-B, L4-C
    "INT8_PRODUCT_MAX",
    "int_mm_supported",
    "int8_matmul",
    "quantized_linear_W8A8_without_bias",
    "PACKABLE_BITS",
    "packed_length",
    "pack_weights",
    "unpack_weights",
    "tensor_bytes",
    "quantize_weight_symmetric",
    "QuantizedLinear",
    "convert_linears",
    "quantize_model",
    "model_bytes",
    # L5-A
    "sqnr_db",
    "paired_difference",
    "percentile_range",
    "clipped",
    "rounding_and_clipping_error",
    "CLIP_RATIOS",
    "search_clip_ratio",
    "clip_scale",
    "clip_sweep",
    # L6-A
    "byte_ids",
    "byte_windows",
    "bits_per_byte",
    "window_bits",
    "channel_absmax",
    "outlier_ratio",
    # L6-B
    "hessian_from_inputs",
    "layer_objective",
    "gptq_quantize",
    "gptq_quantize_model",
    # L6-C
    "FLOAT_FORMATS",
    "float_levels",
    "float_bits",
    "quantize_to_levels",
    "float_quantize",
    "NF4_LEVELS",
    "nf4_quantize",
    "nf4_dequantize",
    "nf4_bits_per_weight",
    "E8M0_BIAS",
    "mx_quantize",
    "mx_dequantize",
    # Checks on arguments, which the course package reuses
    "check_dtype",
    "check_int",
    "check_positive_int",
    "check_bits",
    "check_float_tensor",
    "check_scale",
    "check_zero_point",
    "check_broadcast",
    "check_divides",
]

Mode = Literal["symmetric", "asymmetric"]
Granularity = Literal["per-tensor", "per-channel", "per-group"]


# --- L2-A: integer data types and their ranges ---------------------------------------------------

# Sub-byte integer types: torch names them but cannot compute with them. The course holds their
# values in an 8-bit container (int8 for signed, uint8 for unsigned).
_SUB_BYTE = {
    **{getattr(torch, f"int{b}"): (b, True) for b in range(1, 8) if hasattr(torch, f"int{b}")},
    **{getattr(torch, f"uint{b}"): (b, False) for b in range(1, 8) if hasattr(torch, f"uint{b}")},
}


def dtype_bits(dtype: torch.dtype) -> int:
    """Number of bits of an integer ``dtype``: 8 for ``torch.int8``, 4 for ``torch.int4``."""
    dtype = check_dtype(dtype)
    return _SUB_BYTE[dtype][0] if dtype in _SUB_BYTE else torch.iinfo(dtype).bits


def q_range(dtype: torch.dtype = torch.int8) -> tuple[int, int]:
    """``(q_min, q_max)`` of an integer ``dtype``, sub-byte types included.

    A signed b-bit type holds ``[-2**(b-1), 2**(b-1) - 1]``, an unsigned one ``[0, 2**b - 1]``:
    ``q_range(torch.int8) == (-128, 127)``, ``q_range(torch.uint4) == (0, 15)``.
    """
    dtype = check_dtype(dtype)
    if dtype in _SUB_BYTE:
        bits, signed = _SUB_BYTE[dtype]
        return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def storage_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype that holds values of ``dtype``: itself, or int8/uint8 for a sub-byte type."""
    dtype = check_dtype(dtype)
    if dtype in _SUB_BYTE:
        return torch.int8 if _SUB_BYTE[dtype][1] else torch.uint8
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    """The short name of a torch dtype, as the lessons write it: ``"int8"``, ``"float16"``."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch dtype such as torch.int8, got {dtype!r}")
    return str(dtype).removeprefix("torch.")


def integer_dtype(bits: int, signed: bool = True) -> torch.dtype:
    """The torch dtype of a ``bits``-wide integer: ``integer_dtype(4) is torch.int4``."""
    check_int(bits, "bits", range(1, 65), "an int from 1 to 64")
    name = f"{'' if signed else 'u'}int{bits}"
    if not hasattr(torch, name):
        raise ValueError(f"torch has no {name} dtype")
    return getattr(torch, name)


# --- L2-A: quantize and dequantize with a given scale and zero point -----------------------------


def _work_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float64 stays float64; float16 and bfloat16 are computed in float32."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def _quantize(
    tensor: torch.Tensor,
    scale: float | torch.Tensor,
    zero_point: int | torch.Tensor,
    dtype: torch.dtype,
) -> torch.Tensor:
    """``clamp(round(r / s + z), q_min, q_max)`` on checked input, in one temporary."""
    q_min, q_max = q_range(dtype)
    work = torch.div(tensor.to(_work_dtype(tensor)), scale)
    if not (isinstance(zero_point, int) and zero_point == 0):
        work.add_(zero_point)
    return work.round_().clamp_(q_min, q_max).to(storage_dtype(dtype))


def linear_q_with_scale_and_zero_point(
    tensor: torch.Tensor,
    scale: float | torch.Tensor,
    zero_point: int | torch.Tensor,
    dtype: torch.dtype = torch.int8,
) -> torch.Tensor:
    """Quantize: ``q = clamp(round(r / s + z), q_min, q_max)``.

    ``scale`` and ``zero_point`` are numbers, or tensors that broadcast against ``tensor`` (one
    per channel or group). ``torch.round`` rounds halves to even. Values of a sub-byte ``dtype``
    come back in an int8 (signed) or uint8 (unsigned) container.
    """
    tensor = check_float_tensor(tensor)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError("tensor contains NaN or infinite values; they cannot be quantized")
    scale, zero_point = check_scale(scale), check_zero_point(zero_point)
    check_broadcast(scale, tensor.shape, "scale")
    check_broadcast(zero_point, tensor.shape, "zero_point")
    return _quantize(tensor, scale, zero_point, check_dtype(dtype))


def linear_dequantization(
    quantized_tensor: torch.Tensor, scale: float | torch.Tensor, zero_point: int | torch.Tensor
) -> torch.Tensor:
    """Dequantize: ``r' = s * (q - z)``, as a float32 tensor."""
    quantized_tensor = _check_int_tensor(quantized_tensor, "quantized_tensor")
    scale, zero_point = check_scale(scale), check_zero_point(zero_point)
    check_broadcast(scale, quantized_tensor.shape, "scale")
    check_broadcast(zero_point, quantized_tensor.shape, "zero_point")
    return quantized_tensor.to(torch.float32).sub_(zero_point).mul_(scale)


def representable_range(
    scale: float, zero_point: int, dtype: torch.dtype = torch.int8
) -> tuple[float, float]:
    """The real values a quantizer can give back: ``[s (q_min - z), s (q_max - z)]``.

    A value outside this range is clamped to ``q_min`` or ``q_max`` and comes back as one of
    the two ends: ``representable_range(3.5, -70) == (-203.0, 689.5)``.
    """
    if isinstance(scale, torch.Tensor) or isinstance(zero_point, torch.Tensor):
        raise TypeError("scale and zero_point must be numbers (one per tensor), not tensors")
    scale, zero_point = check_scale(scale), check_zero_point(zero_point)
    q_min, q_max = q_range(dtype)
    return scale * (q_min - zero_point), scale * (q_max - zero_point)


# --- L2-A: the quantization error, as one number -------------------------------------------------


def quantization_error(
    original: torch.Tensor | np.ndarray,
    dequantized: torch.Tensor | np.ndarray,
    error_type: Literal["mse", "mae"] = "mse",
) -> float:
    """Mean squared (``"mse"``) or mean absolute (``"mae"``) error, as a Python float.

    ``mse = mean((r - r')**2)``, ``mae = mean(|r - r'|)``. Both arguments are PyTorch tensors
    or both are NumPy arrays, of the same shape.
    """
    both_torch = isinstance(original, torch.Tensor) and isinstance(dequantized, torch.Tensor)
    both_numpy = isinstance(original, np.ndarray) and isinstance(dequantized, np.ndarray)
    if not (both_torch or both_numpy):
        raise TypeError(
            "original and dequantized must be of the same kind, both torch tensors or both NumPy "
            f"arrays, got {type(original).__name__} and {type(dequantized).__name__}"
        )
    if tuple(original.shape) != tuple(dequantized.shape):
        raise ValueError(f"shapes differ: {tuple(original.shape)} and {tuple(dequantized.shape)}")
    if error_type not in ("mse", "mae"):
        raise ValueError(f"error_type must be 'mse' or 'mae', got {error_type!r}")
    if math.prod(original.shape) == 0:
        raise ValueError("original is empty: the error of nothing is undefined")
    if isinstance(original, torch.Tensor):
        diff = original.double() - dequantized.double()
    else:
        diff = np.asarray(original, dtype=np.float64) - np.asarray(dequantized, dtype=np.float64)
    diff = abs(diff)
    return float((diff * diff if error_type == "mse" else diff).mean())


# --- L2-B: the scale and zero point from the data's range (asymmetric mode) ----------------------

# The smallest scale used (the smallest normal float32): what a block whose values are all 0
# gets, since any positive scale represents 0 exactly.
ZERO_RANGE_SCALE = float(torch.finfo(torch.float32).tiny)


def range_scale_and_zero_point(
    r_min: torch.Tensor,
    r_max: torch.Tensor,
    dtype: torch.dtype = torch.int8,
    mode: Mode = "asymmetric",
    include_zero: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, zero_point)`` for the ranges ``[r_min, r_max]`` (one range per block, or one).

    asymmetric: ``s = (r_max - r_min) / (q_max - q_min)`` over ``r_min <= 0 <= r_max`` (unless
    ``include_zero`` is False, as in the course), ``z = clamp(round(q_min - r_min / s), q_min,
    q_max)``; symmetric (L3-A): ``s = max(-r_min, r_max) / q_max``, ``z = 0``. No scale is below
    ``ZERO_RANGE_SCALE``, which is what a block of width 0 gets. Both come back in the ranges'
    precision; the zero point is a whole number held in a float tensor.
    """
    r_min, r_max = (check_float_tensor(torch.as_tensor(r), "r_min, r_max") for r in (r_min, r_max))
    if bool((r_min > r_max).any()):
        raise ValueError("r_min must not exceed r_max")
    q_min, q_max = q_range(dtype)
    if mode == "symmetric":
        if q_min >= 0 or q_max < 1:
            raise ValueError(
                f"symmetric mode needs a signed dtype of 2 bits or more, got dtype {dtype}"
            )
        scale = torch.maximum(-r_min, r_max).div_(q_max)
    elif mode == "asymmetric":
        if include_zero:
            r_min, r_max = r_min.clamp(max=0), r_max.clamp(min=0)
        scale = (r_max - r_min).div_(q_max - q_min)
    else:
        raise ValueError(f"mode must be 'symmetric' or 'asymmetric', got {mode!r}")
    # NaN and inf propagate into the scale: one cheap sum finds them.
    if not math.isfinite(scale.sum(dtype=torch.float64).item()):
        raise ValueError("tensor contains NaN or infinite values; they cannot be quantized")
    scale.clamp_(min=ZERO_RANGE_SCALE)
    if mode == "symmetric":
        return scale, torch.zeros_like(scale)
    return scale, (q_min - r_min / scale).round_().clamp_(q_min, q_max)


def _per_tensor_scale_and_zero_point(
    tensor: torch.Tensor, dtype: torch.dtype, mode: Mode, include_zero: bool = True
) -> tuple[float, int]:
    """One scale and zero point for the whole tensor, as Python numbers (float64 statistics)."""
    tensor = check_float_tensor(tensor)
    r_min, r_max = (t.to(torch.float64) for t in torch.aminmax(tensor))
    scale, zero_point = range_scale_and_zero_point(r_min, r_max, dtype, mode, include_zero)
    return scale.item(), int(zero_point.item())


def get_q_scale_and_zero_point(
    tensor: torch.Tensor, dtype: torch.dtype = torch.int8, include_zero: bool = True
) -> tuple[float, int]:
    """Asymmetric scale and zero point of the whole tensor.

    ``s = (r_max - r_min) / (q_max - q_min)``, ``z = clamp(round(q_min - r_min / s))``, with the
    range widened to include 0 so that 0 is exact (``include_zero=False``: the course's formula,
    on the data's own range). Returns ``(scale: float, zero_point: int)``.
    """
    return _per_tensor_scale_and_zero_point(tensor, dtype, "asymmetric", include_zero)


def linear_quantization(
    tensor: torch.Tensor, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, float, int]:
    """A full asymmetric linear quantizer: ``(quantized, scale, zero_point)`` of the tensor."""
    scale, zero_point = get_q_scale_and_zero_point(tensor, dtype)
    return _quantize(tensor, scale, zero_point, dtype), scale, zero_point


# --- L3-A: symmetric mode ------------------------------------------------------------------------


def get_q_scale_symmetric(tensor: torch.Tensor, dtype: torch.dtype = torch.int8) -> float:
    """Symmetric scale of the whole tensor: ``s = max|r| / q_max`` (the zero point is 0)."""
    return _per_tensor_scale_and_zero_point(tensor, dtype, "symmetric")[0]


def linear_q_symmetric(
    tensor: torch.Tensor, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, float]:
    """Symmetric per-tensor quantization: ``q = clamp(round(r / s))``; returns ``(q, scale)``."""
    scale = get_q_scale_symmetric(tensor, dtype)
    return _quantize(tensor, scale, 0, dtype), scale


def levels_used(quantized_tensor: torch.Tensor, dtype: torch.dtype = torch.int8) -> tuple[int, int]:
    """``(levels the data spans, levels of dtype)``.

    That is ``(q.max() - q.min() + 1, q_max - q_min + 1)``. Quantization keeps order, so every integer between the smallest and the largest ``q`` is
    a level some value inside the data's range would use; the others are never used.
    """
    quantized_tensor = _check_int_tensor(quantized_tensor, "quantized_tensor")
    q_min, q_max = q_range(dtype)
    return int(quantized_tensor.max()) - int(quantized_tensor.min()) + 1, q_max - q_min + 1


def quantize_per_tensor(
    tensor: torch.Tensor, dtype: torch.dtype = torch.int8, mode: Mode = "asymmetric"
) -> tuple[torch.Tensor, float, int]:
    """Per-tensor quantization in either mode: ``(quantized, scale, zero_point)``.

    asymmetric: ``linear_quantization``; symmetric: ``linear_q_symmetric``, with ``z = 0``.
    """
    if mode == "asymmetric":
        return linear_quantization(tensor, dtype)
    if mode == "symmetric":
        return (*linear_q_symmetric(tensor, dtype), 0)
    raise ValueError(f"mode must be 'symmetric' or 'asymmetric', got {mode!r}")


def mode_errors(tensor: torch.Tensor, bits: Sequence[int] = (8, 4, 2)) -> dict[str, list[float]]:
    """The MSE of per-tensor quantization in each mode, with a signed ``bits``-bit dtype.

    Returns ``{"bits": [...], "asymmetric": [mse, ...], "symmetric": [mse, ...]}``, one MSE
    (``quantization_error`` of ``quantize_per_tensor`` then ``linear_dequantization``) per width.
    """
    tensor = check_float_tensor(tensor)
    if isinstance(bits, int) or not bits:
        raise ValueError(f"bits must be a non-empty sequence of ints, got {bits!r}")
    table: dict[str, list[float]] = {"bits": list(bits), "asymmetric": [], "symmetric": []}
    for n_bits in bits:
        check_int(n_bits, "each entry of bits", range(2, 17), "an int from 2 to 16")
        dtype = integer_dtype(n_bits)
        for mode in ("asymmetric", "symmetric"):
            quantized, scale, zero_point = quantize_per_tensor(tensor, dtype, mode)
            restored = linear_dequantization(quantized, scale, zero_point)
            table[mode].append(quantization_error(tensor, restored))
    return table


# --- L3-B, L3-C, L3-D: one primitive for every granularity, the block of values sharing a scale ---


def block_size_for(
    shape: Sequence[int],
    granularity: Granularity,
    dim: int | None = None,
    group_size: int | None = None,
) -> tuple[int, ...]:
    """The block of values that shares one scale, for a tensor of ``shape``.

    per-tensor: the whole tensor; per-channel: one slice along ``dim`` (every axis but ``dim``);
    per-group: ``group_size`` consecutive values along the last axis.
    """
    shape = tuple(shape)
    if granularity == "per-tensor":
        return shape
    if granularity == "per-channel":
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"dim must be an int, got {dim!r}")
        if not -len(shape) <= dim < len(shape) or not shape:
            raise IndexError(f"dim {dim} is out of range for a tensor with {len(shape)} axes")
        return tuple(1 if axis == dim % len(shape) else size for axis, size in enumerate(shape))
    if granularity == "per-group":
        check_positive_int(group_size, "group_size")
        if not shape or shape[-1] % group_size:
            length = f"the length of the last axis, {shape[-1]}" if shape else "a last axis"
            raise ValueError(f"group_size {group_size} must divide {length}")
        return (1,) * (len(shape) - 1) + (group_size,)
    raise ValueError(
        f"granularity must be 'per-tensor', 'per-channel' or 'per-group', got {granularity!r}"
    )


def _block_view(tensor: torch.Tensor, block_size: Sequence[int]) -> tuple[torch.Tensor, tuple]:
    """View ``tensor`` as (n_0, b_0, n_1, b_1, ...), where block i spans b_i values of axis i.

    Reducing over the odd axes gives one number per block, shaped (n_0, 1, n_1, 1, ...).
    """
    block_size = tuple(block_size)
    if len(block_size) != tensor.dim():
        raise ValueError(
            f"block_size {block_size} must have one entry per axis of shape {tuple(tensor.shape)}"
        )
    if any(b <= 0 or size % b for size, b in zip(tensor.shape, block_size)):
        raise ValueError(f"block_size {block_size} does not tile shape {tuple(tensor.shape)}")
    grid = [size // b for size, b in zip(tensor.shape, block_size)]
    return tensor.reshape(_interleave(grid, block_size)), tuple(range(1, 2 * tensor.dim(), 2))


def _interleave(grid: Sequence[int], block_size: Sequence[int]) -> list[int]:
    """``[n_0, b_0, n_1, b_1, ...]``: the shape of a tensor seen as ``grid`` blocks of values."""
    return [n for g, b in zip(grid, block_size) for n in (g, b)]


def _block_min_max(view: torch.Tensor, axes: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-block minimum and maximum (keepdim), in one pass where one axis is reduced."""
    wide = [axis for axis in axes if view.shape[axis] > 1]
    if not wide:
        return view, view
    if len(wide) == 1:
        return torch.aminmax(view, dim=wide[0], keepdim=True)
    if view.numel() == math.prod(view.shape[axis] for axis in axes):  # one block: per tensor
        keep = [1] * view.dim()
        return tuple(t.reshape(keep) for t in torch.aminmax(view))
    return view.amin(dim=axes, keepdim=True), view.amax(dim=axes, keepdim=True)


def quantize_blocks(
    tensor: torch.Tensor,
    block_size: Sequence[int],
    dtype: torch.dtype = torch.int8,
    mode: Mode = "asymmetric",
    scale_dtype: torch.dtype | None = None,
    value_range: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize ``tensor`` with one scale and zero point per block of ``block_size`` values.

    Returns ``(quantized, scale, zero_point)``; ``scale`` (float32, or ``scale_dtype``) and
    ``zero_point`` (int32) have one entry per block, shaped ``[size_i // block_i for each
    axis]``, which broadcasts against the tensor for per-tensor and per-channel blocks.
    Per-tensor, per-channel and per-group quantization are this function with
    ``block_size_for(...)``. With ``scale_dtype`` (float16, say), the scale is rounded to that
    type first and ``q`` computed with the rounded scale: ``s q`` is what a reader of the stored
    numbers gets back. ``value_range`` (L5-A): a given ``(r_min, r_max)`` per block instead of
    the block's min and max; values outside it are clipped to ``q_min`` or ``q_max``.
    """
    tensor = check_float_tensor(tensor)
    dtype = check_dtype(dtype)
    view, axes = _block_view(tensor, block_size)
    # Asymmetric statistics in float64, as the course's Python-float arithmetic; a symmetric
    # scale max|r| / q_max is correctly rounded in float32 already.
    precision = torch.float64 if mode == "asymmetric" else _work_dtype(tensor)
    if value_range is None:
        r_min, r_max = (t.to(precision) for t in _block_min_max(view, axes))
    else:
        keep = [1 if axis in axes else size for axis, size in enumerate(view.shape)]
        r_min, r_max = (_per_block(t, keep, "value_range").to(precision) for t in value_range)
    scale, zero_point = range_scale_and_zero_point(r_min, r_max, dtype, mode)
    scale = scale.to(_work_dtype(tensor))
    if scale_dtype is not None:
        scale = _round_scale(scale, scale_dtype)
    zero_point = zero_point.to(torch.int32)
    quantized = _quantize(
        view, scale.to(_work_dtype(tensor)), 0 if mode == "symmetric" else zero_point, dtype
    )
    grid = tuple(size // b for size, b in zip(tensor.shape, block_size))
    return quantized.reshape(tensor.shape), scale.reshape(grid), zero_point.reshape(grid)


def _per_block(values: object, grid: Sequence[int], name: str) -> torch.Tensor:
    """``values`` (a tensor with one value per block, in block order) shaped as ``grid``."""
    values = check_float_tensor(torch.as_tensor(values), name)
    if values.numel() != math.prod(grid):
        raise ValueError(
            f"{name} has {values.numel()} values, but the tensor has {math.prod(grid)} blocks"
        )
    return values.reshape(grid)


def _round_scale(scale: torch.Tensor, scale_dtype: torch.dtype) -> torch.Tensor:
    """The scale as stored in ``scale_dtype``, never 0: at least its smallest positive value."""
    if scale_dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise TypeError(f"scale_dtype must be float16, bfloat16 or float32, got {scale_dtype!r}")
    info = torch.finfo(scale_dtype)
    if float(scale.max()) > info.max:
        raise ValueError(f"weights too large for {scale_dtype} scales; use torch.float32")
    return scale.to(scale_dtype).clamp_(min=info.smallest_normal * info.eps)


def dequantize_blocks(
    quantized_tensor: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor | int,
    block_size: Sequence[int],
) -> torch.Tensor:
    """Dequantize ``r' = s * (q - z)`` with one scale and zero point per block, as float32.

    ``scale`` and ``zero_point`` hold one value per block, in block order (any shape with that
    many values, such as the grid ``quantize_blocks`` returns).
    """
    quantized_tensor = _check_int_tensor(quantized_tensor, "quantized_tensor")
    view, axes = _block_view(quantized_tensor, block_size)
    grid = [1 if axis in axes else size for axis, size in enumerate(view.shape)]
    n_blocks = math.prod(grid)
    scale = _per_block(check_scale(torch.as_tensor(scale, dtype=torch.float32)), grid, "scale")
    zero_point = torch.as_tensor(zero_point)
    if zero_point.numel() not in (1, n_blocks):
        raise ValueError(f"zero_point has {zero_point.numel()} values, expected 1 or {n_blocks}")
    work = view.to(torch.float32).sub_(
        zero_point.reshape(grid) if zero_point.numel() > 1 else zero_point
    )
    return work.mul_(scale).reshape(quantized_tensor.shape)


def expand_blocks(per_block: torch.Tensor, block_size: Sequence[int]) -> torch.Tensor:
    """One entry per block (the grid ``quantize_blocks`` returns) spread to one per value.

    Each block's entry is repeated over the ``block_size`` values of its block: a per-group
    scale becomes a tensor of the weights' shape that multiplies them value by value.
    """
    grid = tuple(per_block.shape)
    if len(tuple(block_size)) != len(grid):
        raise ValueError(f"block_size {tuple(block_size)} must have one entry per axis of {grid}")
    spread = per_block.reshape(_interleave(grid, [1] * len(grid)))
    values = spread.expand(_interleave(grid, block_size))
    return values.reshape([g * b for g, b in zip(grid, block_size)])


def fake_quantize_blocks(
    tensor: torch.Tensor,
    block_size: Sequence[int],
    dtype: torch.dtype = torch.int8,
    mode: Mode = "asymmetric",
    value_range: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Quantize then dequantize per block: ``s (q - z)``, the tensor as quantization leaves it.

    ``dequantize_blocks(*quantize_blocks(tensor, block_size, dtype, mode, None, value_range),
    block_size)``, as float32 (torchao calls this ``fake_quantize_affine``).
    """
    quantized, scale, zero_point = quantize_blocks(
        tensor, block_size, dtype, mode, None, value_range
    )
    return dequantize_blocks(quantized, scale, zero_point, block_size)


# --- L3-C: per channel ---------------------------------------------------------------------------


def linear_q_symmetric_per_channel(
    r_tensor: torch.Tensor, dim: int, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization with one scale per slice along ``dim`` (``dim=0``: one per row).

    Returns ``(q, scale)``, where ``scale`` has the tensor's number of axes, with size 1 on all
    but ``dim``, so that ``scale * q`` broadcasts.
    """
    r_tensor = check_float_tensor(r_tensor, "r_tensor")
    block = block_size_for(r_tensor.shape, "per-channel", dim=dim)
    quantized, scale, _ = quantize_blocks(r_tensor, block, dtype, "symmetric")
    return quantized, scale


# --- L3-D: per group, and what a weight really costs ---------------------------------------------


def linear_q_symmetric_per_group(
    tensor: torch.Tensor, group_size: int, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization with one scale per group of ``group_size`` values of a row.

    Returns ``(q, scale)`` with ``scale`` shaped ``(*tensor.shape[:-1], n_groups_per_row)``.
    """
    tensor = check_float_tensor(tensor)
    block = block_size_for(tensor.shape, "per-group", group_size=group_size)
    quantized, scale, _ = quantize_blocks(tensor, block, dtype, "symmetric")
    return quantized, scale


def linear_dequantization_per_group(
    quantized_tensor: torch.Tensor, scale: torch.Tensor, group_size: int
) -> torch.Tensor:
    """Dequantize per-group symmetric values: ``r' = s_g * q`` for each group g, as float32."""
    quantized_tensor = _check_int_tensor(quantized_tensor, "quantized_tensor")
    block = block_size_for(quantized_tensor.shape, "per-group", group_size=group_size)
    return dequantize_blocks(quantized_tensor, scale, 0, block)


def bits_per_weight(
    bits: int, group_size: int | None, scale_bits: int = 16, zero_point_bits: int = 0
) -> float:
    """Real storage per weight: ``bits + (scale_bits + zero_point_bits) / group_size``.

    4-bit weights in groups of 32 with an fp16 scale cost ``4 + 16 / 32 = 4.5`` bits each.
    ``group_size=None`` means one scale for the whole (large) tensor: just ``bits``.
    """
    if group_size is None:
        return float(bits)
    check_positive_int(group_size, "group_size")
    return bits + (scale_bits + zero_point_bits) / group_size


# --- L3-E: inference with quantized weights (W8A32) ----------------------------------------------


def quantized_linear_W8A32_without_bias(
    input: torch.Tensor, q_w: torch.Tensor, s_w: float | torch.Tensor, z_w: int | torch.Tensor
) -> torch.Tensor:
    """A linear layer with int8 weights and float32 activations: ``y = x @ (s_w (q_w - z_w))^T``.

    The weights are dequantized, then the product is computed in floating point. (The course's
    notebook writes the dequantization as ``q_w * s_w + z_w``: it is ``s_w * (q_w - z_w)``.)
    """
    _check_tensor_dtype(input, "input", torch.float32)
    _check_tensor_dtype(q_w, "q_w", torch.int8)
    _check_linear_shapes(input, "input", q_w)
    weight = linear_dequantization(q_w, s_w, z_w)
    return torch.nn.functional.linear(input, weight)


# --- L4-A: integer inference (W8A8): int8 products accumulated in int32, one rescale -------------

# The largest magnitude of a product of two int8 values: (-128) * (-128) = 16384.
INT8_PRODUCT_MAX = 128 * 128

MatmulMethod = Literal["auto", "int_mm", "int32"]


def int_mm_supported(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``torch._int_mm`` can compute ``a @ b^T`` for ``a`` (m, k) and ``b`` (n, k).

    It takes two 2-D int8 matrices on one device. On CUDA it also needs m > 16 and k, n
    multiples of 8; the CPU kernel of torch 2.13 takes any sizes (the tests check it), given
    the strides ``int8_matmul`` hands it.
    """
    if not hasattr(torch, "_int_mm") or a.device != b.device:
        return False
    if a.dim() != 2 or b.dim() != 2 or a.dtype != torch.int8 or b.dtype != torch.int8:
        return False
    if a.device.type == "cuda":
        return a.shape[0] > 16 and a.shape[1] % 8 == 0 and b.shape[0] % 8 == 0
    return a.device.type == "cpu"


def _row_major(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` with the strides of a fresh row-major tensor, ``(columns, 1)``.

    torch 2.13's CPU ``_int_mm`` reads its leading dimensions from the strides, so an axis of
    size 1 with an unusual stride (``b.t()`` when k = 1, an expanded row) gives uninitialised
    memory back without an error (the family of pytorch/pytorch#195066). A copy fixes it.
    """
    if matrix.stride() == (matrix.shape[1], 1):
        return matrix
    return torch.empty(matrix.shape, dtype=matrix.dtype, device=matrix.device).copy_(matrix)


def int8_matmul(a: torch.Tensor, b: torch.Tensor, method: MatmulMethod = "auto") -> torch.Tensor:
    """``a @ b^T`` of int8 matrices ``a`` (m, k) and ``b`` (n, k), accumulated in int32: (m, n).

    ``"int_mm"``: ``torch._int_mm``, one kernel that multiplies int8 and adds in int32;
    ``"int32"``: widen both to int32, then an ordinary matmul; ``"auto"``: ``_int_mm`` where
    ``int_mm_supported`` says it applies, else the int32 matmul. Both give identical results.
    """
    for name, matrix in (("a", a), ("b", b)):
        _check_tensor_dtype(matrix, name, torch.int8)
        if matrix.dim() != 2:
            raise ValueError(f"{name} must be 2-D, got shape {tuple(matrix.shape)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"a {tuple(a.shape)} and b {tuple(b.shape)} must have the same number of columns"
        )
    if method not in ("auto", "int_mm", "int32"):
        raise ValueError(f"method must be 'auto', 'int_mm' or 'int32', got {method!r}")
    if method == "int_mm" and not int_mm_supported(a, b):
        raise ValueError(
            f"torch._int_mm does not apply to shapes {tuple(a.shape)}, {tuple(b.shape)}"
        )
    if method != "int32" and int_mm_supported(a, b):
        if a.device.type != "cpu":
            return torch._int_mm(a, b.t())
        b_t = _row_major(b).t() if b.shape[1] > 1 else _row_major(b.t())
        return torch._int_mm(_row_major(a), b_t)
    return a.to(torch.int32) @ b.to(torch.int32).t()


def _one_number(value: object, name: str, kind: str) -> float | int:
    """A Python number, or the value of a one-element tensor."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be one number ({kind}), got shape {tuple(value.shape)}")
        value = value.item()
    return value


def quantized_linear_W8A8_without_bias(
    q_x: torch.Tensor,
    s_x: float,
    z_x: int,
    q_w: torch.Tensor,
    s_w: float | torch.Tensor,
    *,
    method: MatmulMethod = "auto",
    w_row_sums: torch.Tensor | None = None,
) -> torch.Tensor:
    """A linear layer computed in integers: int8 activations and weights, int32 accumulation.

    Activations are asymmetric per tensor (``x ~ s_x (q_x - z_x)``), weights symmetric per
    tensor or per output channel (``W ~ s_w q_w``, ``s_w`` a float or shaped (out, 1)):

        y = s_x s_w (q_x - z_x) q_w^T = s_x s_w (q_x q_w^T - z_x sum_k q_w[:, k])

    The integer product ``q_x q_w^T`` is accumulated in int32 (``int8_matmul``), the
    zero-point correction ``z_x`` times the row sums of ``q_w`` is subtracted in int32, and the
    result is rescaled once, by ``s_x s_w``. Returns float32 of shape (..., out_features).
    ``w_row_sums``: the row sums of ``q_w`` (int32, shape (out_features,)), computed once by
    the caller for weights that do not change; computed here when omitted.
    """
    _check_tensor_dtype(q_x, "q_x (the quantized activations)", torch.int8)
    _check_tensor_dtype(q_w, "q_w (the quantized weights)", torch.int8)
    _check_linear_shapes(q_x, "q_x", q_w)
    if q_x.numel() == 0:
        raise ValueError(f"q_x is empty (shape {tuple(q_x.shape)})")
    s_x = _named(check_scale, _one_number(s_x, "s_x", "one activation scale"), "s_x")
    z_x = _named(check_zero_point, _one_number(z_x, "z_x", "one zero point"), "z_x")
    if not -128 <= z_x <= 127:
        raise ValueError(f"z_x must lie in the int8 range [-128, 127], got {z_x}")
    out_features = q_w.shape[0]
    s_w = _named(check_scale, s_w, "s_w")
    if isinstance(s_w, torch.Tensor):
        if s_w.numel() not in (1, out_features) or s_w.dim() > 2:
            raise ValueError(
                f"s_w must be a float or hold one scale per output channel, shaped "
                f"({out_features}, 1), got shape {tuple(s_w.shape)}"
            )
        s_w = s_w.to(torch.float32).reshape(1, -1)
    if w_row_sums is not None and (
        not isinstance(w_row_sums, torch.Tensor)
        or w_row_sums.dtype != torch.int32
        or w_row_sums.shape != (out_features,)
    ):
        raise ValueError(
            f"w_row_sums must be q_w.sum(dim=1, dtype=torch.int32), of shape ({out_features},)"
        )
    accumulator = int8_matmul(q_x.reshape(-1, q_x.shape[-1]), q_w, method)
    if z_x != 0:
        if w_row_sums is None:
            w_row_sums = q_w.sum(dim=1, dtype=torch.int32)
        accumulator -= z_x * w_row_sums
    output = accumulator.to(torch.float32).mul_(s_w * s_x)
    return output.reshape(*q_x.shape[:-1], out_features)


# --- L4-B: packing low-bit weights into bytes, and measuring real storage ------------------------

# Bit widths that tile a byte exactly: 8 // bits values per byte.
PACKABLE_BITS = (1, 2, 4)


def packed_length(n: int, bits: int) -> int:
    """Bytes that hold ``n`` values of ``bits`` bits each: ``ceil(n * bits / 8)``."""
    return -(-n * _check_packable_bits(bits) // 8)


def pack_weights(q: torch.Tensor, bits: int, signed: bool | None = None) -> torch.Tensor:
    """Pack integer values of ``bits`` bits (1, 2 or 4) into a 1-D uint8 tensor.

    Value i goes to byte ``i // (8 // bits)``, at bit offset ``bits * (i % (8 // bits))`` (the
    first value in the lowest bits); negative values are stored in two's complement within
    ``bits``. ``ceil(n * bits / 8)`` bytes for ``n = q.numel()``; the unused bits of the last
    byte are 0. ``signed`` (the range the values must lie in) defaults to the dtype's own:
    unsigned for uint8, signed for int8 and the wider types.
    """
    bits = _check_packable_bits(bits)
    q = _check_int_tensor(q, "q")
    signed = q.dtype.is_signed if signed is None else bool(signed)
    low, high = q_range(integer_dtype(bits, signed))
    q_min, q_max = (int(v) for v in torch.aminmax(q))
    if q_min < low or q_max > high:
        kind = "signed" if signed else "unsigned"
        raise ValueError(
            f"q holds values in [{q_min}, {q_max}], outside the {kind} {bits}-bit range "
            f"[{low}, {high}] (pass signed={not signed} if the values are {'un' * signed}signed)"
        )
    per_byte = 8 // bits
    n = q.numel()
    flat = q.reshape(-1).to(torch.uint8)  # two's complement bytes; keep the low `bits` bits
    if n % per_byte:
        flat = torch.cat([flat, flat.new_zeros(per_byte - n % per_byte)])
    fields = flat.reshape(-1, per_byte).bitwise_and_(2**bits - 1)
    packed = fields[:, 0].clone()
    for position in range(1, per_byte):  # a loop over the positions in a byte, not the values
        packed.bitwise_or_(fields[:, position] << (bits * position))
    return packed


def unpack_weights(
    packed: torch.Tensor, bits: int, shape: Sequence[int], signed: bool = False
) -> torch.Tensor:
    """Undo ``pack_weights``: the values of ``shape``, as uint8 (or int8 when ``signed``).

    Every byte is shifted right by ``0, bits, 2 bits, ...`` and masked to its low ``bits`` bits;
    signed values are sign-extended from bit ``bits - 1``.
    """
    bits = _check_packable_bits(bits)
    _check_tensor_dtype(packed, "packed", torch.uint8, " (from pack_weights)")
    if isinstance(shape, int) or not all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape
    ):
        raise ValueError(f"shape must be a sequence of non-negative ints, got {shape!r}")
    n = math.prod(shape)
    if packed.numel() != packed_length(n, bits):
        raise ValueError(
            f"packed has {packed.numel()} bytes but shape {tuple(shape)} needs "
            f"ceil({n} * {bits} / 8) = {packed_length(n, bits)} bytes of {bits}-bit values"
        )
    shifts = torch.arange(0, 8, bits, dtype=torch.uint8, device=packed.device)
    if signed:  # move each field to the top of the byte, then shift back arithmetically
        fields = (packed.reshape(-1, 1) << (8 - bits - shifts)).view(torch.int8) >> (8 - bits)
    else:
        fields = (packed.reshape(-1, 1) >> shifts).bitwise_and_(2**bits - 1)
    return fields.reshape(-1)[:n].reshape(tuple(shape))


def tensor_bytes(*tensors: torch.Tensor | None) -> int:
    """The bytes the tensors' data take: ``sum(t.numel() * t.element_size())`` (None counts 0)."""
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


# --- L4-C: quantizing a trained network: a linear layer that stores quantized weights ------------


def quantize_weight_symmetric(
    weight: torch.Tensor,
    bits: int = 8,
    granularity: Granularity = "per-channel",
    group_size: int | None = None,
    scale_dtype: torch.dtype = torch.float16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric weight quantization with the scale stored in ``scale_dtype``: ``(q, scale)``.

    ``s = max|w| / q_max`` per block (``block_size_for(weight.shape, granularity, dim=0,
    group_size)``), rounded to ``scale_dtype``; then ``q = clamp(round(w / s))`` with that stored
    scale, so that ``s * q`` is exactly what a reader of the stored numbers gets back. ``q`` is
    int8 (the container of a ``bits``-bit value); ``scale`` holds one value per block.
    """
    bits = check_bits(bits)
    weight = check_float_tensor(weight, "weight")
    block = block_size_for(weight.shape, granularity, dim=0, group_size=group_size)
    quantized, scale, _ = quantize_blocks(
        weight.float(), block, integer_dtype(bits), "symmetric", scale_dtype
    )
    return quantized, scale


class QuantizedLinear(torch.nn.Module):
    """A linear layer whose weights are stored quantized, symmetric (activations stay float).

    Buffers: ``weight_q``: the ``bits``-bit values (2 to 8: symmetric mode needs 2), packed into
    uint8 bytes (``pack_weights``) when bits is 2 or 4, else in an int8 container shaped
    (out, in); ``scale``: one per block (per tensor, per output channel, or per group of
    ``group_size`` inputs), float16 by default; ``bias``: float32 (or None). Forward:
    dequantize ``W' = s q``, then ``y = x W'^T + b`` (``F.linear``): W-only quantization,
    computed in float32 (A32).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bits: int = 8,
        granularity: Granularity = "per-channel",
        group_size: int | None = None,
        bias: bool = True,
        scale_dtype: torch.dtype = torch.float16,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.bits = check_bits(bits)
        self.granularity, self.group_size = granularity, group_size
        shape = (self.out_features, self.in_features)
        self.block_size = block_size_for(shape, granularity, dim=0, group_size=group_size)
        grid = tuple(size // b for size, b in zip(shape, self.block_size))
        if bits in PACKABLE_BITS:
            weight_q = torch.zeros(packed_length(math.prod(shape), bits), dtype=torch.uint8)
        else:
            weight_q = torch.zeros(shape, dtype=torch.int8)
        self.register_buffer("weight_q", weight_q)
        self.register_buffer("scale", torch.ones(grid, dtype=scale_dtype))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    def from_linear(
        cls,
        linear: torch.nn.Linear,
        bits: int = 8,
        granularity: Granularity = "per-channel",
        group_size: int | None = None,
        scale_dtype: torch.dtype = torch.float16,
    ) -> QuantizedLinear:
        """Quantize the weights of ``linear`` (``quantize_weight_symmetric``); keep its bias."""
        if not isinstance(linear, torch.nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
        layer = cls(
            linear.in_features,
            linear.out_features,
            bits,
            granularity,
            group_size,
            bias=linear.bias is not None,
            scale_dtype=scale_dtype,
        )
        q, layer.scale = quantize_weight_symmetric(
            linear.weight.detach(), bits, granularity, group_size, scale_dtype
        )
        layer.weight_q = pack_weights(q, bits) if bits in PACKABLE_BITS else q
        if linear.bias is not None:
            layer.bias = linear.bias.detach().to(torch.float32).clone()
        return layer

    def int_weight(self) -> torch.Tensor:
        """The quantized weights as an int8 (out, in) tensor (unpacked if they are packed)."""
        if self.bits in PACKABLE_BITS:
            shape = (self.out_features, self.in_features)
            return unpack_weights(self.weight_q, self.bits, shape, signed=True)
        return self.weight_q

    def dequantized_weight(self) -> torch.Tensor:
        """``W' = s q`` as float32 (out, in): what the forward pass multiplies by."""
        return dequantize_blocks(self.int_weight(), self.scale.float(), 0, self.block_size)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``y = input W'^T + b``, with ``W'`` dequantized on the fly (in the input's float type:
        ``s q`` is exact in float32, and so in float64)."""
        bias = None if self.bias is None else self.bias.to(input.dtype)
        return torch.nn.functional.linear(input, self.dequantized_weight().to(input.dtype), bias)

    @property
    def storage_bytes(self) -> int:
        """Bytes of the stored buffers (packed or int8 weights, scales, bias)."""
        return tensor_bytes(self.weight_q, self.scale, self.bias)

    def extra_repr(self) -> str:
        group = f", group_size={self.group_size}" if self.granularity == "per-group" else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bits={self.bits}, {self.granularity}{group}, scale={self.scale.dtype}, "
            f"bias={self.bias is not None}"
        )


def convert_linears(
    model: torch.nn.Module, convert: Callable[[str, torch.nn.Linear], torch.nn.Module]
) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by ``convert(name, linear)``.

    A bare linear layer gives ``convert("", model)``. The original model is left untouched.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, torch.nn.Linear):
        return convert("", model)
    copied = copy.deepcopy(model)
    for name, module in list(copied.named_modules()):
        if isinstance(module, torch.nn.Linear):
            parent_name, _, child = name.rpartition(".")
            setattr(copied.get_submodule(parent_name), child, convert(name, module))
    return copied


def quantize_model(
    model: torch.nn.Module,
    bits: int | Mapping[str, int],
    granularity: Granularity,
    group_size: int | None = None,
    scale_dtype: torch.dtype = torch.float16,
) -> torch.nn.Module:
    """A copy of ``model`` with its ``nn.Linear`` layers replaced by ``QuantizedLinear`` ones.

    ``bits`` is one width for every linear layer, or a mapping from layer names (as
    ``model.named_modules()`` gives them) to widths: then only the named layers are quantized,
    each to its own width, and the others stay float (mixed precision, lesson L6-A).
    """
    if isinstance(bits, Mapping) and isinstance(model, torch.nn.Module):
        names = {name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        unknown = sorted(set(bits) - names)
        if unknown:
            raise ValueError(
                f"bits names layers the model does not have: {unknown}; its linear layers are "
                f"{sorted(names)}"
            )
    widths = dict(bits) if isinstance(bits, Mapping) else None

    def convert(name: str, linear: torch.nn.Linear) -> torch.nn.Module:
        width = bits if widths is None else widths.get(name)
        if width is None:
            return linear
        return QuantizedLinear.from_linear(linear, width, granularity, group_size, scale_dtype)

    return convert_linears(model, convert)


def model_bytes(model: torch.nn.Module) -> int:
    """Bytes of a model's parameters and buffers (each tensor counted once)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    unique = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return tensor_bytes(*unique.values())


# --- L5-A: choosing the range: SQNR, clipping, calibration ---------------------------------------


def sqnr_db(original: torch.Tensor, dequantized: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB: ``10 log10(mean(r**2) / mse)``.

    ``inf`` if the two are equal. One bit more halves the step and quarters the noise: about
    6.02 dB per bit.
    """
    mse = quantization_error(original, dequantized)
    signal = float(torch.as_tensor(original).double().square().mean())
    return math.inf if mse == 0 else 10 * math.log10(signal / mse)


def paired_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """How much setting ``a`` scores above setting ``b`` on the same items, and the noise of it:
    ``d_i = a_i - b_i``, returned as ``(mean(d), std(d) / sqrt(n))`` (the paired standard error,
    ``std`` with ``n - 1``), in float64.

    ``a`` and ``b`` are per-item scores of the same ``n >= 2`` items (1.0 / 0.0 for a test digit
    right or wrong, a loss per window of text). Pairing removes what both share (an item hard
    for both), so the error is that of the difference itself. A difference within about two
    standard errors of 0 is not told apart from noise.
    """
    a = check_float_tensor(a, "a").double().flatten()
    b = check_float_tensor(b, "b").double().flatten()
    if a.shape != b.shape or a.numel() < 2:
        raise ValueError(
            f"a and b must hold the same number (at least 2) of paired scores, got {a.numel()} "
            f"and {b.numel()}"
        )
    d = a - b
    return float(d.mean()), float(d.std() / math.sqrt(d.numel()))


def _blocks_last(tensor: torch.Tensor, block_size: Sequence[int]) -> torch.Tensor:
    """``tensor`` as ``grid + (values of one block,)``: one row per block, in block order."""
    view, axes = _block_view(tensor, block_size)
    outer = [axis for axis in range(view.dim()) if axis not in axes]
    return view.permute(*outer, *axes).reshape(*(view.shape[axis] for axis in outer), -1)


def percentile_range(
    tensor: torch.Tensor, block_size: Sequence[int], percentile: float = 99.9
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(r_min, r_max)`` of each block: its ``100 - p`` and ``p`` percentiles, ``50 < p <= 100``.

    ``p = 100`` gives the min and max. Interpolated as ``numpy.percentile`` does: position
    ``p / 100 * (n - 1)`` of the block's ``n`` sorted values.
    """
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)):
        raise TypeError(f"percentile must be a number in (50, 100], got {percentile!r}")
    if not 50 < percentile <= 100:
        raise ValueError(f"percentile must lie in (50, 100], got {percentile}")
    ordered = _blocks_last(check_float_tensor(tensor), block_size).sort(dim=-1).values
    n = ordered.shape[-1]
    position = torch.tensor([100 - percentile, percentile], dtype=torch.float64) / 100 * (n - 1)
    low, fraction = position.floor().long(), position.frac().to(ordered.dtype)
    below, above = ordered[..., low], ordered[..., (low + 1).clamp(max=n - 1)]
    values = below + fraction * (above - below)
    return values[..., 0], values[..., 1]


def clipped(
    tensor: torch.Tensor,
    scale: float | torch.Tensor,
    zero_point: int | torch.Tensor,
    dtype: torch.dtype = torch.int8,
) -> torch.Tensor:
    """Which values quantizing with ``(s, z)`` clips: a boolean tensor of ``tensor``'s shape.

    A value is clipped when ``round(r / s + z)`` falls outside ``[q_min, q_max]``: the clamp,
    not the rounding, decides where it lands.
    """
    tensor = check_float_tensor(tensor)
    scale, zero_point = check_scale(scale), check_zero_point(zero_point)
    unclamped = torch.div(tensor.to(_work_dtype(tensor)), scale).add_(zero_point).round_()
    return unclamped != unclamped.clamp(*q_range(dtype))


def rounding_and_clipping_error(
    tensor: torch.Tensor,
    scale: float | torch.Tensor,
    zero_point: int | torch.Tensor,
    dtype: torch.dtype = torch.int8,
) -> tuple[float, float]:
    """The MSE of quantizing with ``(s, z)``, split in two: ``(rounding, clipping)``.

    Each is the sum of its values' squared errors over all ``n`` values, so the two add up to
    the MSE. A value is clipped when ``round(r / s + z)`` falls outside ``[q_min, q_max]``
    (``clipped``); a rounded one is off by at most ``s / 2`` (``s**2 / 12`` on average for
    smooth data).
    """
    q = linear_q_with_scale_and_zero_point(tensor, scale, zero_point, dtype)
    squared = (tensor.double() - linear_dequantization(q, scale, zero_point).double()).square()
    mask = clipped(tensor, scale, zero_point, dtype)
    return float(squared[~mask].sum()) / q.numel(), float(squared[mask].sum()) / q.numel()


# The clip ratios a search tries by default: 1.00, 0.99, ..., 0.05 of the min/max range.
CLIP_RATIOS = torch.arange(100, 4, -1, dtype=torch.float64) / 100


def search_clip_ratio(
    tensor: torch.Tensor,
    block_size: Sequence[int],
    dtype: torch.dtype = torch.int8,
    mode: Mode = "symmetric",
    ratios: Sequence[float] | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ratio, mse)`` per block: the clip ratio with the smallest MSE.

    Each ratio ``c`` of ``ratios`` (default ``CLIP_RATIOS``) quantizes the block as
    ``quantize_blocks`` does over the range ``[c r_min, c r_max]`` (so symmetric mode clips at
    ``c max|r|`` above and at ``q_min s`` below); the best is the first with the smallest MSE.
    All the candidates are computed at once, in slices of a few million values, never a loop
    over the blocks.
    """
    ratios = CLIP_RATIOS if ratios is None else torch.as_tensor(ratios, dtype=torch.float64)
    if ratios.dim() != 1 or ratios.numel() == 0 or not bool(((ratios > 0) & (ratios <= 1)).all()):
        raise ValueError("ratios must be a non-empty 1-D sequence of numbers in (0, 1]")
    blocks = _blocks_last(check_float_tensor(tensor), block_size)
    work, (r_min, r_max) = _work_dtype(blocks), blocks.aminmax(dim=-1, keepdim=True)
    precision = torch.float64 if mode == "asymmetric" else work
    mse = []
    for chunk in ratios.to(work).split(max(1, 2**20 // max(blocks.numel(), 1))):
        c = chunk.reshape(-1, *[1] * blocks.dim())  # (ratio, *grid, 1)
        low, high = ((c * r.to(work)).to(blocks.dtype).to(precision) for r in (r_min, r_max))
        scale, zero_point = range_scale_and_zero_point(low, high, dtype, mode)
        zero_point = zero_point.to(torch.int32)
        q = _quantize(blocks, scale.to(work), 0 if mode == "symmetric" else zero_point, dtype)
        restored = q.to(torch.float32).sub_(zero_point).mul_(scale.to(torch.float32))
        mse.append(restored.sub_(blocks).square_().mean(dim=-1, dtype=torch.float64))
    mse = torch.cat(mse)
    best = mse.argmin(dim=0, keepdim=True)  # the first of equal minima
    return ratios[best].squeeze(0), mse.gather(0, best).squeeze(0)


def clip_scale(tensor: torch.Tensor, clip_ratio: float, dtype: torch.dtype = torch.int8) -> float:
    """The symmetric scale that clips at ``alpha = c max|r|``: ``s = alpha / q_max``.

    ``c = clip_ratio`` in (0, 1]. The levels run from ``q_min s`` to ``q_max s = alpha``: since
    ``q_min = -(q_max + 1)``, values are clipped above ``alpha`` and below the lower end
    ``-(q_max + 1) / q_max alpha`` (``-2 alpha`` at 2 bits). A tensor of zeros gets
    ``ZERO_RANGE_SCALE``.
    """
    tensor = check_float_tensor(tensor)
    if isinstance(clip_ratio, bool) or not isinstance(clip_ratio, (int, float)):
        raise TypeError(f"clip_ratio must be a number in (0, 1], got {clip_ratio!r}")
    if not 0 < clip_ratio <= 1:
        raise ValueError(f"clip_ratio must lie in (0, 1], got {clip_ratio}")
    return max(clip_ratio * float(tensor.abs().max()) / q_range(dtype)[1], ZERO_RANGE_SCALE)


def clip_sweep(
    tensor: torch.Tensor, bits: int, ratios: Sequence[float] | torch.Tensor = CLIP_RATIOS
) -> dict[str, np.ndarray]:
    """The rounding and clipping parts of the MSE for each clip ratio ``c`` of ``ratios``.

    Symmetric per-tensor quantization of ``tensor`` with ``bits`` bits and ``clip_scale``:
    ``{"ratios": c, "rounding": ..., "clipping": ...}``, NumPy arrays of one entry per ratio
    (``rounding_and_clipping_error``); their sum is the MSE at each ratio.
    """
    dtype = integer_dtype(check_bits(bits))
    ratios = torch.as_tensor(ratios, dtype=torch.float64)
    parts = [
        rounding_and_clipping_error(tensor, clip_scale(tensor, c, dtype), 0, dtype)
        for c in ratios.tolist()
    ]
    rounding, clipping = (np.array(part) for part in zip(*parts))
    return {"ratios": ratios.numpy(), "rounding": rounding, "clipping": clipping}


# --- L6-A: a language model's loss in bits per byte ----------------------------------------------


def byte_ids(data: object, name: str = "data") -> torch.Tensor:
    """``data`` (``bytes`` or a 1-D integer tensor of values 0-255) as a 1-D LongTensor."""
    if isinstance(data, (bytes, bytearray)):
        if not data:  # torch.frombuffer refuses an empty buffer
            return torch.zeros(0, dtype=torch.long)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    if not isinstance(data, torch.Tensor) or data.dtype.is_floating_point or data.dim() != 1:
        raise TypeError(f"{name} must be bytes or a 1-D integer tensor of byte values")
    if data.numel() and (int(data.min()) < 0 or int(data.max()) > 255):
        raise ValueError(
            f"{name} must hold byte values 0 to 255, got values from {int(data.min())} "
            f"to {int(data.max())}"
        )
    return data.long()


def byte_windows(data: object, length: int) -> torch.Tensor:
    """The bytes of ``data`` cut into consecutive windows of ``length``: ``(n, length)``.

    Window ``i`` is ``x[i length : (i + 1) length]``; a shorter tail is left out.
    """
    ids = byte_ids(data)
    check_positive_int(length, "length")
    n = ids.numel() // length
    if n == 0:
        raise ValueError(f"data holds {ids.numel()} bytes, fewer than one window of {length}")
    return ids[: n * length].view(n, length)


def window_bits(
    model: torch.nn.Module, windows: torch.Tensor, batch_size: int = 64
) -> torch.Tensor:
    """Each window's bits per byte, float64, shape ``(n,)``: window ``(x_0, ..., x_L)`` (a row of
    ``windows``, ``L <= model.context_length``) is read up to ``x_{L-1}`` and scored on the next
    byte at each position,

        bits_i = -(1 / L) sum_t log2 p(x_{t+1} | x_0 .. x_t).

    Each byte's loss is summed in float64 in a fixed order, so the result does not depend on
    how a CPU orders a float32 sum. Comparing two models window by window gives the noise of
    their difference (``paired_difference``).
    """
    ids = windows if isinstance(windows, torch.Tensor) else None
    if ids is None or ids.dim() != 2 or ids.dtype.is_floating_point:
        raise TypeError("windows must be a 2-D integer tensor of byte values (n, length + 1)")
    context = check_positive_int(getattr(model, "context_length", None), "model.context_length")
    if not 2 <= ids.shape[1] <= context + 1:
        raise ValueError(f"windows must be 2 to {context + 1} bytes long, got {ids.shape[1]}")
    check_positive_int(batch_size, "batch_size")
    ids = byte_ids(ids.reshape(-1), "windows").view(ids.shape)
    with torch.no_grad():
        logits = torch.cat([model(batch) for batch in ids[:, :-1].split(batch_size)])
        nats = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1), reduction="none"
        )
    return nats.double().view(ids.shape[0], -1).mean(dim=1) / math.log(2)


def bits_per_byte(model: torch.nn.Module, data: object, batch_size: int = 64) -> float:
    """The model's mean cross-entropy over ``data``, in bits per byte.

        bits per byte = -(1 / N) sum_t log2 p(x_{t+1} | the bytes before it in its window)

    The bytes are cut into windows of ``model.context_length`` (the last one may be shorter):
    window ``i`` reads ``x[iT : iT + T]`` and is scored on the next byte at each position, so
    every byte but the first is predicted exactly once (N = len(data) - 1), batched, with no
    loop over bytes (``window_bits``; the mean is taken in float64). A model that knows nothing
    scores 8 bits per byte (256 equally likely bytes); 2 means it has narrowed each next byte
    to about 2^2 = 4 equally likely choices.
    """
    ids = byte_ids(data)
    if ids.numel() < 2:
        raise ValueError("data must hold at least 2 bytes: the first has nothing to predict it")
    context = check_positive_int(getattr(model, "context_length", None), "model.context_length")
    check_positive_int(batch_size, "batch_size")
    n_full = (ids.numel() - 1) // context
    total = torch.zeros((), dtype=torch.float64)
    if n_full:  # window i is x[iT : iT + T + 1]: read its first T bytes, score its last T
        full = ids[: n_full * context + 1].unfold(0, context + 1, context)
        total += window_bits(model, full, batch_size).sum() * context
    tail = ids[n_full * context :]
    if tail.numel() > 1:  # the shorter last window
        total += window_bits(model, tail[None], batch_size)[0] * (tail.numel() - 1)
    return float(total / (ids.numel() - 1))


def channel_absmax(x: torch.Tensor) -> torch.Tensor:
    """Each channel's largest magnitude over every token: ``max_t |x[t, c]|``, shape (channels,).

    ``x`` is a layer's input, shaped (..., channels); all leading axes count as tokens.
    """
    x = check_float_tensor(x, "x")
    if x.dim() == 0 or x.numel() == 0:
        raise ValueError(f"x must hold at least one token of channels, got shape {tuple(x.shape)}")
    return x.detach().reshape(-1, x.shape[-1]).abs().amax(dim=0)


def outlier_ratio(x: torch.Tensor) -> float:
    """How far the largest channel stands out: ``max_c absmax_c / median_c absmax_c``.

    With one scale for a whole token (per-tensor or per-token activation quantization), the
    channel of the largest magnitude sets the step, so a ratio of 20 leaves a typical channel
    about 1/20 of the levels.
    """
    absmax = channel_absmax(x)
    return float(absmax.max() / absmax.median().clamp_min(ZERO_RANGE_SCALE))


# --- L6-B: GPTQ, rounding that corrects its own errors on the layer's outputs --------------------


def hessian_from_inputs(x: torch.Tensor) -> torch.Tensor:
    """The Hessian of a linear layer's squared output error in its weights, from its inputs:

        H = 2 XᵀX / n        X: the n input vectors as rows, (n, in_features)

    ``x`` is shaped ``(..., in_features)`` (every leading axis counts as samples). For a change
    ``ΔW`` of the weights, the mean over the inputs of the squared output error is
    ``(1 / n) Σ ‖ΔW x‖² = ½ tr(ΔW H ΔWᵀ)`` (``layer_objective``). Computed in float64, whatever
    the inputs' type: a sum of thousands of float32 products comes out in the last bits as the
    CPU orders it, and GPTQ's rounding, a chain of decisions, would pass such a difference on.
    ``(in_features, in_features)``, symmetric, positive semi-definite.
    """
    x = check_float_tensor(x, "x")
    rows = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
    hessian = (rows.T @ rows).mul_(2 / rows.shape[0])
    if not math.isfinite(hessian.diagonal().sum().item()):  # NaN and inf reach the diagonal
        raise ValueError("x contains NaN or infinite values")
    return hessian


def layer_objective(
    weight: torch.Tensor, dequantized: torch.Tensor, hessian: torch.Tensor
) -> float:
    """GPTQ's objective for one layer: ``½ tr(ΔW H ΔWᵀ)``, ``ΔW = W - W'``, in float64.
    With ``H = hessian_from_inputs(X)`` it is the mean over the inputs ``x`` of
    ``‖W x - W' x‖²``, the squared error of the layer's outputs (summed over its outputs)."""
    delta = weight.detach().double() - dequantized.detach().double()
    return float(0.5 * ((delta @ hessian.detach().double()) * delta).sum())


def _inverse_hessian_factor(hessian: torch.Tensor, damp: float) -> torch.Tensor:
    """``U``, upper triangular with ``UᵀU = (H + λ I)⁻¹``, ``λ = damp × mean(diag H)``."""
    damped = hessian.clone()
    damped.diagonal().add_(damp * float(damped.diagonal().mean()))
    factor, info = torch.linalg.cholesky_ex(damped)
    if int(info):
        raise ValueError("hessian + damp is not positive definite: is it 2 XᵀX / n? raise damp")
    return torch.linalg.cholesky(torch.cholesky_inverse(factor), upper=True)


def gptq_quantize(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    bits: int = 4,
    granularity: Granularity = "per-channel",
    group_size: int | None = None,
    block_size: int = 128,
    damp: float = 0.01,
    scale_dtype: torch.dtype = torch.float16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GPTQ (Frantar et al., 2023): ``(q, scale)`` as ``quantize_weight_symmetric`` returns them,
    chosen to make the layer's output error ``½ tr(ΔW H ΔWᵀ)`` small, not the weights' error.

    The columns (inputs) are quantized one at a time, left to right. Column ``j`` is rounded to
    its grid, ``q_j = clamp(round(w_j / s))``, and its error, weighted by the inverse Hessian,
    is pushed onto the columns not yet quantized, which absorb it:

        e = (w_j - s q_j) / U_jj,        w_k  <-  w_k - e U_jk   for every k > j

    where ``U`` is the upper Cholesky factor of ``(H + λ I)⁻¹``, ``λ = damp × mean(diag H)``:
    ``U_jj U_j,j:`` is row ``j`` of the inverse Hessian with the columns ``< j`` removed (the
    Optimal Brain Surgeon update), so one factorisation serves every step. Updates are applied lazily, a block of
    ``block_size`` columns at a time (``W_rest -= E U_block,rest``); a block also ends where a
    group begins, so that every ``block_size`` gives the result of ``block_size=1``.

    Scales, symmetric (``s = max|w| / q_max`` rounded to ``scale_dtype``): per channel (or per
    tensor), from the whole rows before the first column; per group, from the group's weights
    as every earlier column has updated them, when its first column is reached. Inputs that
    are always 0 (``H_jj = 0``) get weight 0. With ``H = I`` nothing is pushed: round-to-nearest.
    """
    bits = check_bits(bits)
    weight = check_float_tensor(weight, "weight")
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got {weight.dim()}-D")
    hessian = _check_hessian(hessian, weight.shape[1])
    block_size = check_positive_int(block_size, "block_size")
    if isinstance(damp, bool) or not isinstance(damp, (int, float)) or not damp > 0:
        raise ValueError(f"damp must be a number > 0 (a fraction of mean(diag H)), got {damp!r}")
    block = block_size_for(weight.shape, granularity, dim=0, group_size=group_size)
    rows, columns = weight.shape
    # Held transposed, (columns, rows): column j of W is the contiguous row work[j].
    work = weight.detach().T.to(torch.float64, copy=True).contiguous()
    dead = hessian.diagonal() == 0
    hessian[dead, dead] = 1
    work[dead] = 0
    factor = _inverse_hessian_factor(hessian, float(damp))

    dtype, width = integer_dtype(bits), block[1]  # width: the columns that share a scale
    q_min, q_max = q_range(dtype)
    q = torch.empty((columns, rows), dtype=torch.float64, device=weight.device)
    scale = torch.empty((rows // block[0], columns // width), dtype=scale_dtype)
    pivots = factor.diagonal().tolist()  # U_jj
    starts = sorted({*range(0, columns, block_size), *range(0, columns, width)})
    for start, stop in zip(starts, [*starts[1:], columns]):
        if start % width == 0:  # a new scale: from the weights as updated so far
            part = work[start : start + width].T.float()
            _, group_scale, _ = quantize_blocks(
                part, (block[0], width), dtype, "symmetric", scale_dtype
            )
            scale[:, start // width] = group_scale.reshape(-1)
            row_scale = scale[:, start // width].double().repeat_interleave(block[0])
        errors = torch.empty((stop - start, rows), dtype=torch.float64, device=weight.device)
        for j in range(start, stop):
            torch.div(work[j], row_scale, out=q[j]).round_().clamp_(q_min, q_max)
            error = errors[j - start]
            torch.addcmul(work[j], row_scale, q[j], value=-1, out=error).div_(pivots[j])
            work[j + 1 : stop].addr_(factor[j, j + 1 : stop], error, alpha=-1)
        work[stop:].addmm_(factor[start:stop, stop:].T, errors, alpha=-1)
    return q.T.to(storage_dtype(dtype)).contiguous(), scale


def gptq_quantize_model(
    model: torch.nn.Module,
    calibration: torch.Tensor,
    bits: int,
    granularity: Granularity = "per-channel",
    group_size: int | None = None,
    block_size: int = 128,
    damp: float = 0.01,
) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` a ``QuantizedLinear`` holding GPTQ's weights.

    One forward pass over ``calibration`` (a batch the model's forward takes, such as byte
    windows ``(n, time)``), on a copy whose linear layers are stand-ins: each, when the pass
    reaches it, gets its Hessian ``H = 2 XᵀX / n`` from the inputs it receives, is quantized by
    ``gptq_quantize``, and hands the quantized layer's outputs on. So the layers are quantized
    in the order they run, each on the inputs that the already-quantized earlier layers
    produce. The pass runs in float64, so every ``H`` is the same bits on every CPU and for any
    number of threads, and so are GPTQ's integers. The model itself is unchanged;
    ``convert_linears`` makes both copies.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    options = (bits, granularity, group_size, block_size, damp)
    working = convert_linears(model, lambda _, linear: _QuantizeOnFirstCall(linear, options))
    working.double()
    with torch.no_grad():
        working(calibration)
    stand_ins = {n: m for n, m in working.named_modules() if isinstance(m, _QuantizeOnFirstCall)}
    missing = [name for name, stand_in in stand_ins.items() if stand_in.quantized is None]
    if missing:
        raise ValueError(f"the calibration pass never reached the linear layers {missing}")
    return convert_linears(model, lambda name, _: stand_ins[name].quantized)


class _QuantizeOnFirstCall(torch.nn.Module):
    """A linear layer's stand-in during ``gptq_quantize_model``'s calibration pass: on its first
    call, GPTQ quantizes the layer on the inputs it receives; every call returns the quantized
    layer's outputs."""

    def __init__(self, linear: torch.nn.Linear, options: tuple) -> None:
        super().__init__()
        self.linear, self.options, self.quantized = linear, options, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.quantized is None:
            bits, granularity, group_size, *_ = self.options
            layer = QuantizedLinear.from_linear(self.linear, bits, granularity, group_size)
            q, layer.scale = gptq_quantize(
                self.linear.weight, hessian_from_inputs(x), *self.options
            )
            layer.weight_q = pack_weights(q, bits) if bits in PACKABLE_BITS else q
            self.quantized = layer
        return self.quantized(x)


# --- L6-C: number formats: FP8, FP4, NF4 and MX against the integers -----------------------------

# Float formats by name: (exponent bits E, mantissa bits M). One sign bit, bias 2**(E-1) - 1.
# "e4m3" is torch's float8_e4m3fn (no infinities; only S.1111.111 is NaN); "e5m2" is IEEE-like
# (exponent all ones: inf and NaN); the MX element formats "e3m2", "e2m3" (FP6) and "e2m1"
# (FP4) have no special values at all.
FLOAT_FORMATS = {"e4m3": (4, 3), "e5m2": (5, 2), "e3m2": (3, 2), "e2m3": (2, 3), "e2m1": (2, 1)}
# What each format does with a value that is not finite (the error messages say it).
_NON_FINITE = {
    "e4m3": "e4m3 has a NaN but no infinity (torch's cast saturates inf to 448)",
    "e5m2": "e5m2 has inf and NaN codes",
    "e3m2": "e3m2 (FP6) has no NaN nor inf codes",
    "e2m3": "e2m3 (FP6) has no NaN nor inf codes",
    "e2m1": "e2m1 (FP4) has no NaN nor inf codes",
    "nf4": "NF4 has no NaN nor inf codes, and one would spoil its block's absmax scale",
    "mx": "MX marks a block whose max is NaN with the scale code 0xFF (NaN) for all 32 values",
}


def _float_table(fmt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, codes)``: every finite value of ``fmt``, sorted, and its magnitude code.

    Magnitude code ``c = (e << M) | f`` (e the exponent field, f the mantissa field):
    ``e == 0``: subnormal ``2**(1 - bias) * f / 2**M``; else ``2**(e - bias) * (1 + f / 2**M)``.
    """
    exponent_bits, mantissa_bits = _check_format(fmt)
    bias = 2 ** (exponent_bits - 1) - 1
    codes = torch.arange(2 ** (exponent_bits + mantissa_bits))
    e, f = codes >> mantissa_bits, codes & (2**mantissa_bits - 1)
    fraction = f.double() / 2**mantissa_bits
    magnitude = torch.where(
        e == 0, 2.0 ** (1 - bias) * fraction, torch.exp2((e - bias).double()) * (1 + fraction)
    )
    if fmt == "e5m2":  # IEEE: the top exponent holds inf and NaN
        keep = e < 2**exponent_bits - 1
    elif fmt == "e4m3":  # fn: only the all-ones code is NaN
        keep = codes < codes[-1]
    else:
        keep = torch.ones_like(codes, dtype=torch.bool)
    magnitude, codes = magnitude[keep], codes[keep]
    values = torch.cat([-magnitude[1:].flip(0), magnitude]).float()
    return values, torch.cat([codes[1:].flip(0), codes])


def float_levels(fmt: str) -> torch.Tensor:
    """Every finite value of the float format ``fmt`` (a key of ``FLOAT_FORMATS``), sorted, as
    float32, 0 once. With E exponent bits, M mantissa bits and bias ``b = 2**(E-1) - 1``:

        normal     (-1)**s * 2**(e - b) * (1 + f / 2**M),   e = 1 .. top
        subnormal  (-1)**s * 2**(1 - b) * (f / 2**M),       e = 0

    ``float_levels("e2m1")``: 0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6 (15 values); "e4m3" ends at
    ±448, "e5m2" at ±57344.
    """
    return _float_table(fmt)[0]


def float_bits(fmt: str) -> int:
    """Bits of one value of ``fmt``: ``1 + E + M`` (8 for FP8, 6 for FP6, 4 for FP4)."""
    exponent_bits, mantissa_bits = _check_format(fmt)
    return 1 + exponent_bits + mantissa_bits


def quantize_to_levels(
    tensor: torch.Tensor, levels: torch.Tensor, codes: torch.Tensor | None = None
) -> torch.Tensor:
    """The index (int64) of the level nearest to each value: ``argmin_i |r - levels[i]|``.

    ``levels`` is sorted ascending. Each value is placed among the midpoints
    ``m_i = (levels[i] + levels[i+1]) / 2`` by ``torch.bucketize`` (exact, in float64); a value
    exactly on a midpoint (a tie) goes to the level with the even code, ``codes[i]`` (default:
    ``i``, the index, as in a codebook such as NF4's), as the hardware's round-to-nearest-even
    does with a float format's mantissa. Values beyond the ends go to the end levels (saturate).
    ``levels[quantize_to_levels(r, levels)]`` is the quantized tensor.
    """
    tensor = check_float_tensor(tensor)
    if bool(torch.isnan(tensor).any()):
        raise ValueError("tensor contains NaN values: no level is nearest to NaN")
    levels, codes = _check_levels(levels, codes)
    wide = levels.double()
    midpoints = (wide[1:] + wide[:-1]) / 2
    values = tensor.double()
    index = torch.bucketize(values, midpoints)  # m_{i-1} < r <= m_i  ->  i
    on_midpoint = values == midpoints[index.clamp(max=midpoints.numel() - 1)]
    return index + (on_midpoint & (codes[index] % 2 == 1)).long()


def float_quantize(tensor: torch.Tensor, fmt: str) -> torch.Tensor:
    """``tensor`` rounded to the nearest value of the float format ``fmt``, ties to the even
    mantissa (round to nearest even), saturating at ±max; float32 of the tensor's shape.
    ``float_quantize(x, "e4m3")`` equals ``x.to(torch.float8_e4m3fn).float()``.
    """
    values, codes = _float_table(fmt)
    tensor = _check_finite(check_float_tensor(tensor), fmt)
    return values[quantize_to_levels(tensor, values, codes)]


def _nf4_levels(decimals: int = 4) -> torch.Tensor:
    """QLoRA's NF4 (``create_normal_map`` of bitsandbytes): the quantiles ``Phi^-1(p)`` of
    N(0, 1) at 9 probabilities from ``delta = 0.9677083`` (about ``1 - (1/32 + 1/30) / 2``) down to
    1/2 for the positive side and 8 for the negative (the 1/2 of each, 0, taken once), divided
    by the largest (so the ends are ±1) and rounded to ``decimals`` digits, as torchao's table.
    The probabilities are float32, as QLoRA's ``torch.linspace`` makes them: the 7th level,
    -0.091050003, lies on a rounding boundary that float64 probabilities move."""
    delta = 0.9677083
    positive = torch.special.ndtri(torch.linspace(delta, 0.5, 9)[:-1].double())
    negative = -torch.special.ndtri(torch.linspace(delta, 0.5, 8)[:-1].double())
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    levels = levels / positive.max()
    return (levels * 10**decimals).round() / 10**decimals


# NF4's 16 levels, code i for NF4_LEVELS[i]: -1, -0.6962, ..., 0 (code 7), ..., 0.723, 1.
NF4_LEVELS = _nf4_levels().float()


def nf4_quantize(
    tensor: torch.Tensor, block_size: int = 64, scaler_block_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """NF4 as QLoRA and torchao's ``to_nf4`` store it: ``(codes, q_scales, factors, mean)``.

    The flattened tensor is cut into blocks of ``block_size``; each block's absmax
    ``a_b = max|r|`` scales it to [-1, 1] and each value gets the code of its nearest NF4 level,
    ``code = nearest(r / a_b)`` (uint8, the tensor's shape). Double quantization: the absmaxes,
    less their mean ``m``, are quantized to int8 in blocks of ``scaler_block_size`` with
    ``factor = 256 / (2 max|a - m|)``: ``q_scale = clamp(round((a - m) * factor), -128, 127)``.
    """
    tensor = _check_finite(check_float_tensor(tensor), "nf4")
    check_divides(tensor.numel(), block_size, "block_size", "the number of values")
    n_blocks = tensor.numel() // block_size
    check_divides(n_blocks, scaler_block_size, "scaler_block_size", "the number of blocks")
    blocks = tensor.reshape(n_blocks, block_size).float()
    absmax = blocks.abs().amax(dim=1)
    scaled = torch.where(absmax[:, None] > 0, blocks / absmax[:, None], 0.0)
    codes = quantize_to_levels(scaled, NF4_LEVELS).to(torch.uint8).reshape(tensor.shape)
    mean = absmax.mean()
    centred = (absmax - mean).reshape(-1, scaler_block_size)
    spread = centred.abs().amax(dim=1)
    factors = torch.where(spread > 0, 256 / (2 * spread), 1.0)
    q_scales = (centred * factors[:, None]).round().clamp(-128, 127).to(torch.int8)
    return codes, q_scales.reshape(-1), factors, mean


def nf4_dequantize(
    codes: torch.Tensor,
    q_scales: torch.Tensor,
    factors: torch.Tensor,
    mean: torch.Tensor,
    block_size: int = 64,
    scaler_block_size: int = 256,
) -> torch.Tensor:
    """Undo ``nf4_quantize``: ``r' = NF4_LEVELS[code] * (q_scale / factor + m)``, float32 of the
    codes' shape: one q_scale per ``block_size`` codes, one factor per ``scaler_block_size``
    q_scales (``nf4_quantize``'s block sizes)."""
    _check_tensor_dtype(codes, "codes", torch.uint8, " (from nf4_quantize)")
    _check_tensor_dtype(q_scales, "q_scales", torch.int8, " (from nf4_quantize)")
    check_positive_int(block_size, "block_size")
    check_positive_int(scaler_block_size, "scaler_block_size")
    if (
        q_scales.numel() == 0
        or codes.numel() != q_scales.numel() * block_size
        or q_scales.numel() != len(factors) * scaler_block_size
    ):
        raise ValueError(
            f"codes, q_scales and factors do not come from one nf4_quantize with blocks of "
            f"{block_size} and {scaler_block_size}: {codes.numel()} codes, {q_scales.numel()} "
            f"q_scales, {len(factors)} factors"
        )
    scales = (q_scales.reshape(len(factors), -1) / factors[:, None]).reshape(-1) + mean
    values = NF4_LEVELS[codes.reshape(q_scales.numel(), -1).long()] * scales[:, None]
    return values.reshape(codes.shape)


def nf4_bits_per_weight(block_size: int = 64, scaler_block_size: int = 256) -> float:
    """NF4's storage per weight: ``4 + 8 / block_size + 32 / (block_size * scaler_block_size)``
    (a 4-bit code, an int8 scale per block, a float32 factor per block of scales): 4.127."""
    check_positive_int(block_size, "block_size")
    check_positive_int(scaler_block_size, "scaler_block_size")
    return 4 + 8 / block_size + 32 / (block_size * scaler_block_size)


# E8M0, the MX shared scale: 8 exponent bits, no sign, no mantissa: 2**(code - 127).
E8M0_BIAS = 127


def mx_quantize(
    tensor: torch.Tensor, fmt: str = "e2m1", block_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """OCP Microscaling (MX): blocks of ``block_size`` values along the last axis share one
    power-of-two scale ``X = 2**(floor(log2 max|r|) - emax)``, ``emax = floor(log2(max of fmt))``
    (2 for e2m1, 8 for e4m3), stored as its E8M0 code ``floor(log2 max|r|) - emax + 127``
    (clamped to 0..254). Each value is stored as ``float_quantize(r / X, fmt)`` (saturating).
    Returns ``(elements, scale_codes)``: the element values (float32, exactly of ``fmt``, the
    tensor's shape) and the uint8 codes, one per block (shape ``(..., last // block_size)``).
    """
    element_max = float(float_levels(fmt)[-1])
    tensor = _check_finite(check_float_tensor(tensor), "mx")
    if tensor.dim() == 0:
        raise ValueError("tensor must have at least one axis: MX blocks run along the last")
    check_divides(tensor.shape[-1], block_size, "block_size", "the length of the last axis")
    blocks = tensor.float().reshape(*tensor.shape[:-1], -1, block_size)
    absmax = blocks.abs().amax(dim=-1)
    floor_log2 = torch.where(absmax > 0, torch.frexp(absmax).exponent - 1, -E8M0_BIAS)
    exponent = (floor_log2 - math.floor(math.log2(element_max))).clamp(-E8M0_BIAS, E8M0_BIAS)
    scale = torch.exp2(exponent.float())[..., None]
    elements = float_quantize(blocks / scale, fmt).reshape(tensor.shape)
    return elements, (exponent + E8M0_BIAS).to(torch.uint8)


def mx_dequantize(elements: torch.Tensor, scale_codes: torch.Tensor) -> torch.Tensor:
    """Undo ``mx_quantize``: ``r' = element * 2**(code - 127)`` per block, float32. The code 255
    is E8M0's NaN (a block whose max was NaN): its 32 values come back NaN, as the spec says."""
    elements = check_float_tensor(elements, "elements")
    _check_tensor_dtype(scale_codes, "scale_codes", torch.uint8, " (E8M0 codes)")
    if (
        elements.dim() == 0
        or scale_codes.shape[:-1] != elements.shape[:-1]
        or elements.shape[-1] % scale_codes.shape[-1]
    ):
        raise ValueError("elements and scale_codes do not come from one mx_quantize")
    scale = torch.exp2(scale_codes.float() - E8M0_BIAS)
    scale = torch.where(scale_codes == 255, torch.nan, scale)[..., None]
    blocks = elements.float().reshape(*scale_codes.shape, -1)
    return (blocks * scale).reshape(elements.shape)


# --- Checks on arguments: one for each kind of argument, written once ----------------------------

# Every function above checks its arguments with these. The public ones are the course package's
# too (``helper.check_int``, ...): it reuses them rather than writing its own.

_POSITIVE = range(1, sys.maxsize)


def check_dtype(dtype: object) -> torch.dtype:
    """``dtype`` if it is a torch integer dtype (sub-byte ones included).

    Else a TypeError naming ``dtype`` and what was expected.
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch integer dtype such as torch.int8, got {dtype!r}")
    if dtype not in _SUB_BYTE and (
        dtype.is_floating_point or dtype.is_complex or dtype == torch.bool
    ):
        raise TypeError(
            f"dtype must be an integer dtype (torch.int8, torch.uint8, torch.int4, ...), "
            f"got {dtype}"
        )
    return dtype


def check_int(value: object, name: str, allowed: Sequence[int], expected: str) -> int:
    """``value`` if it is an int (not a bool) in ``allowed``.

    Else a ValueError: "``name`` must be ``expected``, got ``value``".
    """
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def check_positive_int(value: object, name: str) -> int:
    """``value`` if it is an int >= 1; else a ValueError naming ``name``."""
    return check_int(value, name, _POSITIVE, "a positive int")


def check_bits(bits: object, name: str = "bits") -> int:
    """``bits`` if it is an int from 2 to 8: a width that symmetric mode can use.

    Symmetric mode needs 2 bits at least (``q_max >= 1``); 8 is the widest container.
    """
    return check_int(bits, name, range(2, 9), "an int from 2 to 8 (symmetric needs 2 bits)")


def check_float_tensor(tensor: object, name: str = "tensor") -> torch.Tensor:
    """``tensor`` if it is a non-empty floating-point torch tensor.

    Else a TypeError (not a tensor, not floating point) or a ValueError (empty) naming ``name``.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}): nothing to quantize")
    return tensor


def _check_int_tensor(tensor: object, name: str) -> torch.Tensor:
    """``tensor`` if it is a non-empty integer torch tensor; else a TypeError or ValueError."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)})")
    return tensor


def _check_tensor_dtype(tensor: object, name: str, dtype: torch.dtype, note: str = "") -> None:
    """A TypeError unless ``tensor`` is a tensor of exactly ``dtype``."""
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != dtype:
        got = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        short = dtype_name(dtype)
        article = "an" if short.startswith("int") else "a"
        raise TypeError(f"{name} must be {article} {short} tensor{note}, got {got}")


def check_scale(scale: object) -> torch.Tensor | float:
    """``scale`` as a float, or the floating-point tensor it is, if finite and > 0 everywhere.

    Else a TypeError (not a number or a floating-point tensor) or a ValueError.
    """
    if isinstance(scale, torch.Tensor):
        if not scale.is_floating_point():
            raise TypeError(f"scale must be a float or a floating-point tensor, got {scale.dtype}")
        if scale.numel() == 0 or not bool((scale > 0).all()) or not bool(scale.isfinite().all()):
            raise ValueError("scale must be finite and > 0 everywhere")
        return scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a float or a tensor, got {type(scale).__name__}")
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    return float(scale)


def check_zero_point(zero_point: object) -> torch.Tensor | int:
    """``zero_point`` as an int, or the tensor it is, if it holds whole numbers.

    Else a TypeError (not a number or a tensor) or a ValueError (not whole).
    """
    if isinstance(zero_point, torch.Tensor):
        if zero_point.is_floating_point() and not bool((zero_point == zero_point.round()).all()):
            raise ValueError("zero_point must hold whole numbers")
        return zero_point
    if isinstance(zero_point, bool) or not isinstance(zero_point, (int, float)):
        raise TypeError(f"zero_point must be an int or a tensor, got {type(zero_point).__name__}")
    if not float(zero_point).is_integer():
        raise ValueError(f"zero_point must be a whole number, got {zero_point}")
    return int(zero_point)


def check_broadcast(value: object, shape: torch.Size, name: str) -> None:
    """A ValueError naming ``name`` if the tensor ``value`` does not broadcast to ``shape``.

    The broadcasting rule, right-aligned: each of the value's sizes is 1 or the tensor's size.
    A number always broadcasts.
    """
    if not isinstance(value, torch.Tensor):
        return
    sizes = tuple(value.shape)
    fits = len(sizes) <= len(shape) and all(
        size in (1, target) for size, target in zip(reversed(sizes), reversed(shape))
    )
    if not fits:
        raise ValueError(
            f"{name} of shape {tuple(value.shape)} does not broadcast to the tensor's shape "
            f"{tuple(shape)}"
        )


def _named(check: Callable, value: object, name: str):
    """``check(value)``, its TypeError or ValueError message starting with the argument's name."""
    try:
        return check(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}: {error}") from None


def _check_linear_shapes(x: torch.Tensor, x_name: str, q_w: torch.Tensor) -> None:
    """A ValueError unless ``x`` (..., k) fits weights ``q_w`` (out_features, k)."""
    if q_w.dim() != 2 or x.dim() < 1 or x.shape[-1] != q_w.shape[1]:
        raise ValueError(
            f"shapes do not match: {x_name} {tuple(x.shape)} needs q_w of shape "
            f"(out_features, {x.shape[-1] if x.dim() else '?'}), got {tuple(q_w.shape)}"
        )


def _check_packable_bits(bits: object) -> int:
    """``bits`` if it is 1, 2 or 4: a width that tiles a byte (``PACKABLE_BITS``)."""
    return check_int(bits, "bits", PACKABLE_BITS, "1, 2 or 4 (a width that tiles a byte)")


def _check_format(fmt: object) -> tuple[int, int]:
    """``(E, M)`` of a float format named in ``FLOAT_FORMATS``, else a ValueError listing them."""
    if fmt not in FLOAT_FORMATS:
        raise ValueError(f"fmt must be one of {list(FLOAT_FORMATS)}, got {fmt!r}")
    return FLOAT_FORMATS[fmt]


def _check_finite(tensor: torch.Tensor, fmt: str) -> torch.Tensor:
    """``tensor`` if every value is finite; else a ValueError saying what ``fmt`` does with one."""
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"tensor contains NaN or infinite values: {_NON_FINITE[fmt]}")
    return tensor


def _check_levels(levels: object, codes: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted, finite, distinct float ``levels`` (at least 2) and one integer code per level."""
    if not isinstance(levels, torch.Tensor) or levels.dim() != 1 or levels.numel() < 2:
        raise ValueError("levels must be a 1-D tensor of at least 2 values")
    levels = check_float_tensor(levels, "levels")
    if not bool(torch.isfinite(levels).all()) or not bool((levels[1:] > levels[:-1]).all()):
        raise ValueError("levels must be finite and strictly increasing (sorted, no repeats)")
    codes = torch.arange(levels.numel()) if codes is None else torch.as_tensor(codes)
    if codes.shape != levels.shape or codes.is_floating_point():
        raise ValueError(f"codes must be integers, one per level ({levels.numel()})")
    return levels, codes


def check_divides(size: int, block: object, name: str, what: str) -> int:
    """``block`` if it is a positive int that divides ``size``; else a ValueError naming ``name``
    and ``what`` it must divide."""
    check_positive_int(block, name)
    if size % block:
        raise ValueError(f"{name} {block} must divide {what}, {size}")
    return block


def _check_hessian(hessian: object, in_features: int) -> torch.Tensor:
    """``hessian`` as a float64 copy if it is a finite, symmetric (in_features, in_features)
    float tensor (L6-B); else a TypeError or ValueError naming ``hessian``."""
    hessian = check_float_tensor(hessian, "hessian")
    if tuple(hessian.shape) != (in_features, in_features):
        raise ValueError(
            f"hessian must be (in_features, in_features) = ({in_features}, {in_features}) for "
            f"this weight, got shape {tuple(hessian.shape)}"
        )
    hessian = hessian.detach().to(torch.float64, copy=True)
    if not bool(torch.isfinite(hessian).all()):
        raise ValueError("hessian contains NaN or infinite values")
    if float((hessian - hessian.T).abs().max()) > 1e-6 * float(hessian.abs().max()):
        raise ValueError("hessian must be symmetric (H = 2 XᵀX / n is): H != Hᵀ")
    return hessian
