"""The course's one library: linear quantization from scratch, in its final, tested form.

Every lesson builds these functions step by step and then imports them from here. The maths is
the course's own:

    quantize      q  = clamp(round(r / s + z), q_min, q_max)
    dequantize    r' = s * (q - z)
    asymmetric    s  = (r_max - r_min) / (q_max - q_min),   z = round(q_min - r_min / s)
    symmetric     s  = max|r| / q_max,                      z = 0

Per-tensor, per-channel and per-group quantization are one operation (``quantize_blocks``):
they differ only by the shape of the block of values that shares one scale and zero point.

Two deliberate steps past the course, both explained in the lessons:

* the asymmetric range is widened to include 0 (``r_min <= 0 <= r_max``), so that 0 is
  represented exactly and an all-positive tensor (a ReLU output) keeps its full resolution;
* a range of width 0 (an all-zero tensor or row) gets a tiny positive scale, never a division by 0.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

import ipywidgets as widgets
import numpy as np
import torch

Mode = Literal["symmetric", "asymmetric"]

# The smallest scale used (the smallest normal float32): what a block whose values are all 0
# gets, since any positive scale represents 0 exactly.
ZERO_RANGE_SCALE = float(torch.finfo(torch.float32).tiny)

# Sub-byte integer types: torch names them but cannot compute with them. The course holds their
# values in an 8-bit container (int8 for signed, uint8 for unsigned).
_SUB_BYTE = {
    **{getattr(torch, f"int{b}"): (b, True) for b in range(1, 8) if hasattr(torch, f"int{b}")},
    **{getattr(torch, f"uint{b}"): (b, False) for b in range(1, 8) if hasattr(torch, f"uint{b}")},
}


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------


def _check_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch integer dtype such as torch.int8, got {dtype!r}")
    if dtype in _SUB_BYTE:
        return dtype
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
        raise TypeError(
            f"dtype must be an integer dtype (torch.int8, torch.uint8, torch.int4, ...), "
            f"got {dtype}"
        )
    return dtype


def dtype_bits(dtype: torch.dtype) -> int:
    """Number of bits of an integer ``dtype``: 8 for ``torch.int8``, 4 for ``torch.int4``."""
    dtype = _check_dtype(dtype)
    if dtype in _SUB_BYTE:
        return _SUB_BYTE[dtype][0]
    return torch.iinfo(dtype).bits


def q_range(dtype: torch.dtype = torch.int8) -> tuple[int, int]:
    """``(q_min, q_max)`` of an integer ``dtype``, sub-byte types included.

    A signed b-bit type holds ``[-2**(b-1), 2**(b-1) - 1]``, an unsigned one ``[0, 2**b - 1]``:
    ``q_range(torch.int8) == (-128, 127)``, ``q_range(torch.uint4) == (0, 15)``.
    """
    dtype = _check_dtype(dtype)
    if dtype in _SUB_BYTE:
        bits, signed = _SUB_BYTE[dtype]
        return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def storage_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype that holds values of ``dtype``: itself, or int8/uint8 for a sub-byte type."""
    dtype = _check_dtype(dtype)
    if dtype in _SUB_BYTE:
        return torch.int8 if _SUB_BYTE[dtype][1] else torch.uint8
    return dtype


def integer_dtype(bits: int, signed: bool = True) -> torch.dtype:
    """The torch dtype of a ``bits``-wide integer: ``integer_dtype(4) is torch.int4``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 64:
        raise ValueError(f"bits must be an int from 1 to 64, got {bits!r}")
    name = f"{'' if signed else 'u'}int{bits}"
    if not hasattr(torch, name):
        raise ValueError(f"torch has no {name} dtype")
    return getattr(torch, name)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_float_tensor(tensor: object, name: str = "tensor") -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}): nothing to quantize")
    return tensor


def _check_int_tensor(tensor: object, name: str) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)})")
    return tensor


def _check_scale(scale: object) -> torch.Tensor | float:
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


def _check_zero_point(zero_point: object) -> torch.Tensor | int:
    if isinstance(zero_point, torch.Tensor):
        if zero_point.is_floating_point() and not bool((zero_point == zero_point.round()).all()):
            raise ValueError("zero_point must hold whole numbers")
        return zero_point
    if isinstance(zero_point, bool) or not isinstance(zero_point, (int, float)):
        raise TypeError(f"zero_point must be an int or a tensor, got {type(zero_point).__name__}")
    if not float(zero_point).is_integer():
        raise ValueError(f"zero_point must be a whole number, got {zero_point}")
    return int(zero_point)


def _work_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float64 stays float64; float16 and bfloat16 are computed in float32."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def _check_broadcast(value: object, shape: torch.Size, name: str) -> None:
    if not isinstance(value, torch.Tensor):
        return
    # Broadcasting rule, right-aligned: each of the value's sizes is 1 or the tensor's size.
    sizes = tuple(value.shape)
    fits = len(sizes) <= len(shape) and all(
        size in (1, target) for size, target in zip(reversed(sizes), reversed(shape))
    )
    if not fits:
        raise ValueError(
            f"{name} of shape {tuple(value.shape)} does not broadcast to the tensor's shape "
            f"{tuple(shape)}"
        )


# --------------------------------------------------------------------------------------------
# Quantize and dequantize with a given scale and zero point (L2-A)
# --------------------------------------------------------------------------------------------


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
    tensor = _check_float_tensor(tensor)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError("tensor contains NaN or infinite values; they cannot be quantized")
    scale, zero_point = _check_scale(scale), _check_zero_point(zero_point)
    _check_broadcast(scale, tensor.shape, "scale")
    _check_broadcast(zero_point, tensor.shape, "zero_point")
    return _quantize(tensor, scale, zero_point, _check_dtype(dtype))


def linear_dequantization(
    quantized_tensor: torch.Tensor,
    scale: float | torch.Tensor,
    zero_point: int | torch.Tensor,
) -> torch.Tensor:
    """Dequantize: ``r' = s * (q - z)``, as a float32 tensor."""
    quantized_tensor = _check_int_tensor(quantized_tensor, "quantized_tensor")
    scale, zero_point = _check_scale(scale), _check_zero_point(zero_point)
    _check_broadcast(scale, quantized_tensor.shape, "scale")
    _check_broadcast(zero_point, quantized_tensor.shape, "zero_point")
    return quantized_tensor.to(torch.float32).sub_(zero_point).mul_(scale)


# --------------------------------------------------------------------------------------------
# One primitive for every granularity: the block of values that shares a scale
# --------------------------------------------------------------------------------------------


def block_size_for(
    shape: Sequence[int],
    granularity: Literal["per-tensor", "per-channel", "per-group"],
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
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size <= 0:
            raise ValueError(f"group_size must be a positive int, got {group_size!r}")
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
    if tensor.dim() == 0:
        return tensor.reshape(1, 1), (1,)
    shape = [n for size, b in zip(tensor.shape, block_size) for n in (size // b, b)]
    return tensor.reshape(shape), tuple(range(1, 2 * tensor.dim(), 2))


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


def _scale_and_zero_point(
    r_min: torch.Tensor, r_max: torch.Tensor, dtype: torch.dtype, mode: Mode
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scale and zero point from per-block ranges, in the ranges' precision.

    asymmetric: ``s = (r_max - r_min) / (q_max - q_min)`` over ``r_min <= 0 <= r_max``,
    ``z = clamp(round(q_min - r_min / s), q_min, q_max)``; symmetric: ``s = max|r| / q_max``,
    and ``None`` for the zero point, which is 0. No scale is below ``ZERO_RANGE_SCALE``, which
    is what a block of width 0 (all zeros) gets.
    """
    q_min, q_max = q_range(dtype)
    if mode == "symmetric":
        if q_min >= 0 or q_max < 1:
            raise ValueError(
                f"symmetric mode needs a signed dtype of 2 bits or more, got dtype {dtype}"
            )
        scale = torch.maximum(-r_min, r_max).div_(q_max)
    elif mode == "asymmetric":
        r_min, r_max = r_min.clamp(max=0), r_max.clamp(min=0)
        scale = (r_max - r_min).div_(q_max - q_min)
    else:
        raise ValueError(f"mode must be 'symmetric' or 'asymmetric', got {mode!r}")
    # NaN and inf propagate into the scale: one cheap sum finds them.
    if not math.isfinite(scale.sum(dtype=torch.float64).item()):
        raise ValueError("tensor contains NaN or infinite values; they cannot be quantized")
    scale.clamp_(min=ZERO_RANGE_SCALE)
    if mode == "symmetric":
        return scale, None
    return scale, (q_min - r_min / scale).round_().clamp_(q_min, q_max)


def quantize_blocks(
    tensor: torch.Tensor,
    block_size: Sequence[int],
    dtype: torch.dtype = torch.int8,
    mode: Mode = "asymmetric",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize ``tensor`` with one scale and zero point per block of ``block_size`` values.

    Returns ``(quantized, scale, zero_point)``; ``scale`` (float32) and ``zero_point`` (int32)
    have one entry per block, shaped ``[size_i // block_i for each axis]``, which broadcasts
    against the tensor for per-tensor and per-channel blocks. Per-tensor, per-channel and
    per-group quantization are this function with ``block_size_for(...)``.
    """
    tensor = _check_float_tensor(tensor)
    dtype = _check_dtype(dtype)
    view, axes = _block_view(tensor, block_size)
    # Asymmetric statistics in float64, as the course's Python-float arithmetic; a symmetric
    # scale max|r| / q_max is correctly rounded in float32 already.
    precision = torch.float64 if mode == "asymmetric" else _work_dtype(tensor)
    r_min, r_max = (t.to(precision) for t in _block_min_max(view, axes))
    scale, zero_point = _scale_and_zero_point(r_min, r_max, dtype, mode)
    scale = scale.to(_work_dtype(tensor))
    zero_point = torch.zeros_like(scale) if zero_point is None else zero_point
    zero_point = zero_point.to(torch.int32)
    quantized = _quantize(view, scale, 0 if mode == "symmetric" else zero_point, dtype)
    grid = tuple(size // b for size, b in zip(tensor.shape, block_size))
    return quantized.reshape(tensor.shape), scale.reshape(grid), zero_point.reshape(grid)


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
    scale = _check_scale(torch.as_tensor(scale, dtype=torch.float32))
    if scale.numel() != n_blocks:
        raise ValueError(
            f"scale has {scale.numel()} values but the tensor has {n_blocks} blocks of "
            f"{tuple(block_size)}"
        )
    zero_point = torch.as_tensor(zero_point)
    if zero_point.numel() not in (1, n_blocks):
        raise ValueError(f"zero_point has {zero_point.numel()} values, expected 1 or {n_blocks}")
    work = view.to(torch.float32).sub_(
        zero_point.reshape(grid) if zero_point.numel() > 1 else zero_point
    )
    return work.mul_(scale.reshape(grid)).reshape(quantized_tensor.shape)


# --------------------------------------------------------------------------------------------
# Asymmetric mode, per tensor (L2-B)
# --------------------------------------------------------------------------------------------


def _per_tensor_scale_and_zero_point(
    tensor: torch.Tensor, dtype: torch.dtype, mode: Mode
) -> tuple[float, int]:
    tensor = _check_float_tensor(tensor)
    view, axes = _block_view(tensor, tensor.shape)
    r_min, r_max = (t.to(torch.float64) for t in _block_min_max(view, axes))
    scale, zero_point = _scale_and_zero_point(r_min, r_max, _check_dtype(dtype), mode)
    return scale.item(), 0 if zero_point is None else int(zero_point.item())


def get_q_scale_and_zero_point(
    tensor: torch.Tensor, dtype: torch.dtype = torch.int8
) -> tuple[float, int]:
    """Asymmetric scale and zero point of the whole tensor.

    ``s = (r_max - r_min) / (q_max - q_min)``, ``z = clamp(round(q_min - r_min / s))``, with the
    range widened to include 0 so that 0 is exact. Returns ``(scale: float, zero_point: int)``.
    """
    return _per_tensor_scale_and_zero_point(tensor, dtype, "asymmetric")


def linear_quantization(
    tensor: torch.Tensor, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, float, int]:
    """A full asymmetric linear quantizer: ``(quantized, scale, zero_point)`` of the tensor."""
    scale, zero_point = get_q_scale_and_zero_point(tensor, dtype)
    return _quantize(tensor, scale, zero_point, dtype), scale, zero_point


# --------------------------------------------------------------------------------------------
# Symmetric mode (L3-A), per channel (L3-C) and per group (L3-D)
# --------------------------------------------------------------------------------------------


def get_q_scale_symmetric(tensor: torch.Tensor, dtype: torch.dtype = torch.int8) -> float:
    """Symmetric scale of the whole tensor: ``s = max|r| / q_max`` (the zero point is 0)."""
    return _per_tensor_scale_and_zero_point(tensor, dtype, "symmetric")[0]


def linear_q_symmetric(
    tensor: torch.Tensor, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, float]:
    """Symmetric per-tensor quantization: ``q = clamp(round(r / s))``; returns ``(q, scale)``."""
    scale = get_q_scale_symmetric(tensor, dtype)
    return _quantize(tensor, scale, 0, dtype), scale


def linear_q_symmetric_per_channel(
    r_tensor: torch.Tensor, dim: int, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization with one scale per slice along ``dim`` (``dim=0``: one per row).

    Returns ``(q, scale)``, where ``scale`` has the tensor's number of axes, with size 1 on all
    but ``dim``, so that ``scale * q`` broadcasts.
    """
    r_tensor = _check_float_tensor(r_tensor, "r_tensor")
    block = block_size_for(r_tensor.shape, "per-channel", dim=dim)
    quantized, scale, _ = quantize_blocks(r_tensor, block, dtype, "symmetric")
    return quantized, scale


def linear_q_symmetric_per_group(
    tensor: torch.Tensor, group_size: int, dtype: torch.dtype = torch.int8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantization with one scale per group of ``group_size`` values of a row.

    Returns ``(q, scale)`` with ``scale`` shaped ``(*tensor.shape[:-1], n_groups_per_row)``.
    """
    tensor = _check_float_tensor(tensor)
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
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size <= 0:
        raise ValueError(f"group_size must be a positive int or None, got {group_size!r}")
    return bits + (scale_bits + zero_point_bits) / group_size


# --------------------------------------------------------------------------------------------
# Inference with quantized weights (L3-E)
# --------------------------------------------------------------------------------------------


def quantized_linear_W8A32_without_bias(
    input: torch.Tensor,
    q_w: torch.Tensor,
    s_w: float | torch.Tensor,
    z_w: int | torch.Tensor,
) -> torch.Tensor:
    """A linear layer with int8 weights and float32 activations: ``y = x @ (s_w (q_w - z_w))^T``.

    The weights are dequantized, then the product is computed in floating point. (The course's
    notebook writes the dequantization as ``q_w * s_w + z_w``: it is ``s_w * (q_w - z_w)``.)
    """
    if not isinstance(input, torch.Tensor) or input.dtype != torch.float32:
        got = input.dtype if isinstance(input, torch.Tensor) else type(input).__name__
        raise TypeError(f"input must be a float32 tensor, got {got}")
    if not isinstance(q_w, torch.Tensor) or q_w.dtype != torch.int8:
        got = q_w.dtype if isinstance(q_w, torch.Tensor) else type(q_w).__name__
        raise TypeError(f"q_w must be an int8 tensor, got {got}")
    if q_w.dim() != 2 or input.dim() < 1 or input.shape[-1] != q_w.shape[1]:
        raise ValueError(
            f"shapes do not match: input {tuple(input.shape)} needs q_w of shape "
            f"(out_features, {input.shape[-1] if input.dim() else '?'}), got {tuple(q_w.shape)}"
        )
    weight = linear_dequantization(q_w, s_w, z_w)
    return torch.nn.functional.linear(input, weight)


# --------------------------------------------------------------------------------------------
# Measuring the error
# --------------------------------------------------------------------------------------------


def quantization_error(
    original: torch.Tensor | np.ndarray,
    dequantized: torch.Tensor | np.ndarray,
    error_type: Literal["mse", "mae"] = "mse",
) -> float:
    """Mean squared (``"mse"``) or mean absolute (``"mae"``) error, as a Python float.

    ``mse = mean((r - r')**2)``, ``mae = mean(|r - r'|)``. Both arguments are PyTorch tensors
    or both are NumPy arrays, of the same shape.
    """
    kinds = (torch.Tensor, np.ndarray)
    if not isinstance(original, kinds) or not isinstance(dequantized, kinds):
        raise TypeError(
            "original and dequantized must be torch tensors or NumPy arrays, got "
            f"{type(original).__name__} and {type(dequantized).__name__}"
        )
    if isinstance(original, torch.Tensor) != isinstance(dequantized, torch.Tensor):
        raise TypeError(
            "original and dequantized must be of the same kind (both torch or both NumPy), got "
            f"{type(original).__name__} and {type(dequantized).__name__}"
        )
    if tuple(original.shape) != tuple(dequantized.shape):
        raise ValueError(
            f"shapes differ: original {tuple(original.shape)}, dequantized "
            f"{tuple(dequantized.shape)}"
        )
    if error_type not in ("mse", "mae"):
        raise ValueError(f"error_type must be 'mse' or 'mae', got {error_type!r}")
    if original.size == 0 if isinstance(original, np.ndarray) else original.numel() == 0:
        raise ValueError("original is empty: the error of nothing is undefined")
    if isinstance(original, torch.Tensor):
        diff = original.double() - dequantized.double()
    else:
        diff = np.asarray(original, dtype=np.float64) - np.asarray(dequantized, dtype=np.float64)
    diff = abs(diff)
    return float((diff * diff if error_type == "mse" else diff).mean())


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------

# Tensors with at most this many values get their numbers written in the cells.
MAX_ANNOTATED_CELLS = 64


def _as_matrix(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    """A tensor as a 2-D float NumPy array: a vector becomes one row, N-D keeps its last axis."""
    array = (
        tensor.detach().cpu().double().numpy()
        if isinstance(tensor, torch.Tensor)
        else (np.asarray(tensor, dtype=np.float64))
    )
    return array.reshape(1, -1) if array.ndim < 2 else array.reshape(-1, array.shape[-1])


def _heatmap(ax, matrix: np.ndarray, title: str, cmap: str, vmin: float, vmax: float, fmt: str):
    """One annotated (small) or colour-barred (large) heatmap on ``ax``."""
    image = ax.imshow(
        matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if matrix.size <= MAX_ANNOTATED_CELLS:
        middle = (vmin + vmax) / 2
        for (row, col), value in np.ndenumerate(matrix):
            ax.text(
                col,
                row,
                format(value, fmt),
                ha="center",
                va="center",
                fontsize=8,
                color="black" if value > middle else "white",
            )
    else:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return image


def plot_quantization_errors(
    original_tensor: torch.Tensor,
    quantized_tensor: torch.Tensor,
    dequantized_tensor: torch.Tensor,
    dtype: torch.dtype = torch.int8,
    n_bits: int = 8,
):
    """Original, quantized, dequantized and |original - dequantized|, side by side.

    Small tensors have their values written in the cells; large ones get a colour bar instead.
    The quantized panel's colours span the range of ``dtype``, narrowed to ``n_bits`` when the
    values use fewer bits than their container. Returns the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    original, dequantized = _as_matrix(original_tensor), _as_matrix(dequantized_tensor)
    quantized = _as_matrix(quantized_tensor)
    if not original.shape == quantized.shape == dequantized.shape:
        raise ValueError(
            f"the three tensors must have one shape, got {tuple(original_tensor.shape)}, "
            f"{tuple(quantized_tensor.shape)} and {tuple(dequantized_tensor.shape)}"
        )
    q_min, q_max = q_range(dtype)
    if n_bits < dtype_bits(dtype):
        q_min, q_max = q_range(integer_dtype(n_bits, signed=q_min < 0))
    error = np.abs(original - dequantized)
    low, high = min(original.min(), dequantized.min()), max(original.max(), dequantized.max())
    width = max(3.0, min(4.5, 0.9 * original.shape[1] + 1))
    fig, axes = plt.subplots(
        1,
        4,
        figsize=(4 * width, width * original.shape[0] / original.shape[1] + 0.8),
        layout="constrained",
    )
    _heatmap(axes[0], original, "Original tensor", "viridis", low, high, ".4g")
    _heatmap(
        axes[1],
        quantized,
        f"Quantized tensor ({str(dtype).removeprefix('torch.')})",
        "viridis",
        q_min,
        q_max,
        ".0f",
    )
    _heatmap(axes[2], dequantized, "Dequantized tensor", "viridis", low, high, ".4g")
    _heatmap(
        axes[3], error, "Quantization error |r - r'|", "cividis", 0, max(error.max(), 1e-12), ".3g"
    )
    plt.close(fig)
    return fig


# --------------------------------------------------------------------------------------------
# "Your turn": checking a learner's function against the reference
# --------------------------------------------------------------------------------------------


class Verdict:
    """The outcome of ``check_exercise``: ``status`` is "pass", "mismatch", "not done yet"
    or "error", and ``message`` says plainly what happened. It displays as its message."""

    def __init__(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    def __bool__(self) -> bool:
        return self.status == "pass"

    def __repr__(self) -> str:
        return self.message


def _describe(value: object) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "NumPy array"
        return f"{kind} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return repr(value)


def _difference(expected: object, got: object, where: str = "the result") -> str | None:
    """None when ``got`` equals ``expected`` (floats within 1e-6 relative), else how it differs."""
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            return f"{where} should be a tuple of {len(expected)} values, got {_describe(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            if (found := _difference(e, g, f"{where}[{i}]")) is not None:
                return found
        return None
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"{where} should be a {_describe(expected)}, got {_describe(got)}"
        if got.shape != expected.shape or got.dtype != expected.dtype:
            return f"{where} should be a {_describe(expected)}, got a {_describe(got)}"
        close = (
            torch.isclose(got, expected, rtol=1e-6, atol=0)
            if expected.is_floating_point()
            else got == expected
        )
        if bool(close.all()):
            return None
        index = tuple(int(i) for i in torch.nonzero(~close)[0])
        return (
            f"{where} differs at index {index}: expected {expected[index].item()}, "
            f"got {got[index].item()}"
        )
    if isinstance(got, (torch.Tensor, np.ndarray)):
        return f"{where} should be {expected!r}, got a {_describe(got)}"
    if isinstance(expected, float) and isinstance(got, (int, float)):
        return (
            None
            if math.isclose(got, expected, rel_tol=1e-6)
            else (f"{where} should be {expected!r}, got {got!r}")
        )
    return None if got == expected else f"{where} should be {expected!r}, got {got!r}"


def check_exercise(
    learner_function: Callable,
    reference_function: Callable,
    cases: Sequence[tuple],
    name: str = "your function",
) -> Verdict:
    """Run ``learner_function`` and ``reference_function`` on each tuple of arguments in ``cases``.

    Returns a ``Verdict``: "pass" when every result matches, otherwise the first case where
    it does not ("mismatch"), raised an exception ("error"), or raised ``NotImplementedError``
    ("not done yet": the exercise as shipped).
    """
    for number, args in enumerate(cases, start=1):
        expected = reference_function(*args)
        try:
            got = learner_function(*args)
        except NotImplementedError:
            return Verdict("not done yet", f"Not done yet: fill in {name} and run this cell again.")
        except Exception as error:  # noqa: BLE001 (a learner's bug is reported, not raised)
            return Verdict(
                "error",
                f"{name} raised {type(error).__name__}: {error} on input {number} of {len(cases)}.",
            )
        if (difference := _difference(expected, got)) is not None:
            return Verdict(
                "mismatch", f"{name} differs on input {number} of {len(cases)}: {difference}."
            )
    return Verdict("pass", f"Well done: {name} matches the reference on all {len(cases)} inputs.")


# --------------------------------------------------------------------------------------------
# Lesson figures and checkers: L2-A, L2-B, L3-A
# --------------------------------------------------------------------------------------------

# Okabe-Ito colours (colour-blind safe) for the lesson figures.
_DATA_COLOUR, _WINDOW_COLOUR, _CLIPPED_COLOUR = "#0072B2", "#E69F00", "#D55E00"
_INTEGER_COLOUR, _USED_COLOUR, _GREY = "#009E73", "#009E73", "#555555"

# The course's worked example (lessons L2-A and L2-B).
COURSE_TENSOR = ((191.6, -13.5, 728.6), (92.14, 295.5, -184.0), (0.0, 684.6, 245.5))


def course_tensor() -> torch.Tensor:
    """The course's 3x3 worked example, ``[[191.6, -13.5, 728.6], [92.14, 295.5, -184],
    [0, 684.6, 245.5]]``, as a new float32 tensor."""
    return torch.tensor(COURSE_TENSOR)


def skewed_tensor(n: int = 10_000, seed: int = 0) -> torch.Tensor:
    """A one-sided (ReLU-like) tensor: ``|x|`` for ``n`` seeded standard normal draws, all >= 0."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=generator).abs()


def representable_range(
    scale: float, zero_point: int, dtype: torch.dtype = torch.int8
) -> tuple[float, float]:
    """The real values a quantizer can give back: ``[s (q_min - z), s (q_max - z)]``.

    A value outside this range is clamped to ``q_min`` or ``q_max`` and comes back as one of
    the two ends: ``representable_range(3.5, -70) == (-203.0, 689.5)``.
    """
    if isinstance(scale, torch.Tensor) or isinstance(zero_point, torch.Tensor):
        raise TypeError("scale and zero_point must be numbers (one per tensor), not tensors")
    scale, zero_point = _check_scale(scale), _check_zero_point(zero_point)
    q_min, q_max = q_range(dtype)
    return scale * (q_min - zero_point), scale * (q_max - zero_point)


def _check_real(value: object, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _mode_parameters(
    r_min: float, r_max: float, dtype: torch.dtype, mode: Mode
) -> tuple[float, int, int, int]:
    """``(scale, zero_point, q_low, q_high)`` of helper's quantizer for the range; ``q_low`` is
    ``-q_max`` in symmetric mode (``q_min`` is never produced there)."""
    ends = torch.tensor([r_min, r_max], dtype=torch.float64)
    q_min, q_max = q_range(dtype)
    if mode == "asymmetric":
        return (*get_q_scale_and_zero_point(ends, dtype), q_min, q_max)
    if mode == "symmetric":
        return get_q_scale_symmetric(ends, dtype), 0, -q_max, q_max
    raise ValueError(f"mode must be 'symmetric' or 'asymmetric', got {mode!r}")


def _format_number(value: float) -> str:
    return f"{value:.4g}".replace("-", "\N{MINUS SIGN}")


class _NumberLineLayout(NamedTuple):
    """Where things go on a number-line figure: the real line on top, the integers below."""

    r_min: float
    r_max: float
    scale: float
    zero_point: int
    q_low: int
    q_high: int
    window: tuple[float, float]  # the real values the integers stand for
    lo: float  # the real value at the left edge
    hi: float  # the real value at the right edge

    def x_real(self, value: float) -> float:
        return (value - self.lo) / (self.hi - self.lo)

    def x_int(self, q: float) -> float:
        return 0.1 + 0.8 * (q - self.q_low) / (self.q_high - self.q_low)

    def clamped(self) -> list[tuple[float, float]]:
        """The parts of the data more than half a step outside the window (they are clamped)."""
        low, high = self.window[0] - self.scale / 2, self.window[1] + self.scale / 2
        parts = [(self.r_min, min(self.r_max, low)), (max(self.r_min, high), self.r_max)]
        return [(start, end) for start, end in parts if end > start]


def _number_line_layout(
    r_min: object,
    r_max: object,
    scale: float | None,
    zero_point: int | None,
    dtype: torch.dtype,
    mode: Mode,
) -> _NumberLineLayout:
    r_min, r_max = _check_real(r_min, "r_min"), _check_real(r_max, "r_max")
    if r_min > r_max:
        raise ValueError(f"r_min must be <= r_max, got r_min={r_min} and r_max={r_max}")
    if (scale is None) != (zero_point is None):
        raise ValueError("give both scale and zero_point, or neither (to compute them)")
    auto_scale, auto_zero, q_low, q_high = _mode_parameters(r_min, r_max, dtype, mode)
    if scale is None:
        scale, zero_point = auto_scale, auto_zero
    window = representable_range(scale, zero_point, dtype)
    window = (float(scale) * (q_low - zero_point), window[1])
    lo, hi = min(r_min, window[0], 0.0), max(r_max, window[1], 0.0)
    pad = 0.04 * (hi - lo or 1.0)
    return _NumberLineLayout(
        r_min, r_max, float(scale), int(zero_point), q_low, q_high, window, lo - pad, hi + pad
    )


def _draw_number_line_bars(ax, line: _NumberLineLayout) -> None:
    """The real axis, the window (orange), the data (blue, red where clamped), the integers
    (green) and dashed links from q_low, z and q_high to their real values."""
    top, bottom, bar = 1.0, 0.0, {"solid_capstyle": "butt"}
    x_real, x_int = line.x_real, line.x_int
    ax.plot([0, 1], [top, top], color=_GREY, lw=1)
    window = [x_real(end) for end in line.window]
    ax.plot(window, [top, top], color=_WINDOW_COLOUR, lw=14, alpha=0.55, **bar)
    ax.plot([x_real(line.r_min), x_real(line.r_max)], [top, top], color=_DATA_COLOUR, lw=5, **bar)
    for start, end in line.clamped():
        ax.plot([x_real(start), x_real(end)], [top, top], color=_CLIPPED_COLOUR, lw=5, **bar)
    ax.plot(
        [x_int(line.q_low), x_int(line.q_high)], [bottom] * 2, color=_INTEGER_COLOUR, lw=5, **bar
    )
    ax.plot([x_real(0.0)] * 2, [top - 0.09, top + 0.09], color="black", lw=1.5)
    links = ((line.q_low, line.window[0]), (line.zero_point, 0.0), (line.q_high, line.window[1]))
    for q, real in links:
        if line.q_low <= q <= line.q_high:
            ax.plot(
                [x_int(q), x_real(real)], [bottom + 0.05, top - 0.07], ls="--", color=_GREY, lw=1
            )


def _label_number_line(ax, line: _NumberLineLayout, dtype: torch.dtype, mode: Mode) -> None:
    """Data ends and 0 above the real line, window ends below it, integers below theirs."""
    top, bottom = 1.0, 0.0
    text = {"ha": "center", "fontsize": 10}
    for name, value in (("r_min", line.r_min), ("r_max", line.r_max)):
        label = f"{name} = {_format_number(value)}"
        ax.text(line.x_real(value), top + 0.12, label, va="bottom", color=_DATA_COLOUR, **text)
    if min(abs(line.x_real(0.0) - line.x_real(end)) for end in (line.r_min, line.r_max)) > 0.06:
        ax.text(line.x_real(0.0), top + 0.12, "0", va="bottom", **text)
    white = {"facecolor": "white", "edgecolor": "none", "pad": 1}
    for end in line.window:
        if abs(line.x_real(end) - line.x_real(0.0)) > 0.01:
            label = _format_number(end)
            ax.text(
                line.x_real(end), top - 0.12, label, va="top", color="#A05A00", bbox=white, **text
            )
    low_name = "\N{MINUS SIGN}q_max" if mode == "symmetric" else "q_min"
    labels = {
        line.q_low: f"{low_name} = {_format_number(line.q_low)}",
        line.q_high: f"q_max = {line.q_high}",
    }
    z_label = f"z = {_format_number(line.zero_point)}"
    if line.zero_point in labels:
        labels[line.zero_point] = f"z = {labels[line.zero_point]}"
    elif line.q_low < line.zero_point < line.q_high:
        labels[line.zero_point] = z_label
    for q, label in labels.items():
        ax.text(line.x_int(q), bottom - 0.12, label, va="top", color="#00664A", **text)
    ax.text(-0.01, top, "real r", ha="right", va="center", fontsize=10)
    integers = f"integer q\n({str(dtype).removeprefix('torch.')})"
    ax.text(-0.01, bottom, integers, ha="right", va="center", fontsize=10)


def _number_line_legend(ax, line: _NumberLineLayout) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=_DATA_COLOUR, label="data [r_min, r_max]"),
        Patch(
            color=_WINDOW_COLOUR,
            alpha=0.55,
            label="values it can give back, s (q \N{MINUS SIGN} z)",
        ),
        Patch(color=_INTEGER_COLOUR, label="integers"),
    ]
    if line.clamped():
        handles.insert(1, Patch(color=_CLIPPED_COLOUR, label="data clamped (lost)"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=len(handles),
        frameon=False,
        fontsize=9,
    )


def plot_number_line(
    r_min: float,
    r_max: float,
    scale: float | None = None,
    zero_point: int | None = None,
    dtype: torch.dtype = torch.int8,
    mode: Mode = "asymmetric",
    title: str | None = None,
    ax=None,
):
    """How linear quantization maps the real line onto the integers of ``dtype``.

    Top line: the real values, with the data's range ``[r_min, r_max]`` (blue) and the range
    the quantizer gives back, ``[s (q_low - z), s (q_high - z)]`` (orange); data more than half
    a step outside it (red) is clamped. Bottom line: the integers ``q_low .. q_high`` and the
    zero point ``z``. Dashed lines join ``q_low``, ``z`` and ``q_high`` to their real values
    ``r = s (q - z)`` (``z`` to the real 0).

    ``q_low, q_high`` are ``q_min, q_max``, or ``-q_max, q_max`` in symmetric mode. Without
    ``scale`` and ``zero_point``, they are the ones ``helper`` computes for ``mode`` (asymmetric:
    ``get_q_scale_and_zero_point``; symmetric: ``s = max(|r_min|, |r_max|) / q_max``, ``z = 0``).
    Draws on ``ax`` when given; returns the Figure.
    """
    import matplotlib.pyplot as plt

    line = _number_line_layout(r_min, r_max, scale, zero_point, dtype, mode)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
        plt.close(fig)
    _draw_number_line_bars(ax, line)
    _label_number_line(ax, line, dtype, mode)
    _number_line_legend(ax, line)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.45, 1.45)
    ax.axis("off")
    window = f"[{_format_number(line.window[0])}, {_format_number(line.window[1])}]"
    integers = f"[{_format_number(line.q_low)}, {line.q_high}]"
    default = (
        f"s = {line.scale:.4g}, z = {_format_number(line.zero_point)}: "
        f"{window} \N{RIGHTWARDS ARROW} {integers}"
    )
    ax.set_title(title or default, fontsize=11)
    return ax.figure


def _quantize_mode(
    tensor: torch.Tensor, dtype: torch.dtype, mode: Mode
) -> tuple[torch.Tensor, float, int]:
    """``(quantized, scale, zero_point)`` of per-tensor quantization in ``mode``."""
    if mode == "asymmetric":
        return linear_quantization(tensor, dtype)
    if mode == "symmetric":
        return (*linear_q_symmetric(tensor, dtype), 0)
    raise ValueError(f"mode must be 'symmetric' or 'asymmetric', got {mode!r}")


def levels_used(quantized_tensor: torch.Tensor, dtype: torch.dtype = torch.int8) -> tuple[int, int]:
    """``(levels the data spans, levels of dtype)``: ``(q.max() - q.min() + 1, q_max - q_min + 1)``.

    Quantization keeps order, so every integer between the smallest and the largest ``q`` is
    a level some value inside the data's range would use; the others are never used.
    """
    quantized_tensor = _check_int_tensor(quantized_tensor, "quantized_tensor")
    q_min, q_max = q_range(dtype)
    return int(quantized_tensor.max()) - int(quantized_tensor.min()) + 1, q_max - q_min + 1


def _levels_panel(ax, tensor: torch.Tensor, dtype: torch.dtype, mode: Mode, bins: int) -> None:
    """One panel of ``plot_levels_histogram``: the histogram and the levels of one mode."""
    quantized, scale, zero_point = _quantize_mode(tensor, dtype, mode)
    used, total = levels_used(quantized, dtype)
    q_min, q_max = q_range(dtype)
    levels = np.arange(q_min, q_max + 1)
    inside = (levels >= int(quantized.min())) & (levels <= int(quantized.max()))
    at = scale * (levels - zero_point)
    ax.hist(tensor.detach().double().flatten().numpy(), bins=bins, color=_DATA_COLOUR, alpha=0.8)
    along = {"transform": ax.get_xaxis_transform(), "alpha": 0.9}
    ax.vlines(at[inside], 0, 1, color=_USED_COLOUR, lw=1.2, **along)
    ax.vlines(at[~inside], 0, 1, color=_CLIPPED_COLOUR, linestyles="--", lw=1.0, **along)
    ax.set_title(
        f"{mode.capitalize()} mode, {str(dtype).removeprefix('torch.')}: "
        f"{used} of {total} levels fall inside the data",
        fontsize=11,
    )
    ax.set_ylabel("count")


def plot_levels_histogram(
    tensor: torch.Tensor,
    dtype: torch.dtype = torch.int4,
    modes: Sequence[Mode] = ("asymmetric", "symmetric"),
    bins: int = 60,
):
    """A histogram of ``tensor`` and the real value ``s (q - z)`` of every level of ``dtype``.

    One panel per mode (per-tensor quantization). Levels inside the data's range are solid
    green; the others (dashed red) are never used. Each title counts the levels used, as
    ``levels_used`` does. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    tensor = _check_float_tensor(tensor)
    if isinstance(modes, str) or not modes:
        raise ValueError(f"modes must be a non-empty sequence of mode names, got {modes!r}")
    fig, axes = plt.subplots(
        len(modes),
        1,
        figsize=(10, 2.6 * len(modes) + 0.6),
        sharex=True,
        layout="constrained",
        squeeze=False,
    )
    for ax, mode in zip(axes[:, 0], modes):
        _levels_panel(ax, tensor, dtype, mode, bins)
    axes[-1, 0].set_xlabel("real value r (vertical lines: the levels s (q \N{MINUS SIGN} z))")
    axes[0, 0].legend(
        handles=[
            Line2D([], [], color=_USED_COLOUR, label="level inside the data's range"),
            Line2D([], [], color=_CLIPPED_COLOUR, ls="--", label="level never used"),
        ],
        loc="upper right",
        fontsize=9,
    )
    plt.close(fig)
    return fig


def mode_errors(tensor: torch.Tensor, bits: Sequence[int] = (8, 4, 2)) -> dict[str, list[float]]:
    """MSE of per-tensor asymmetric and symmetric quantization with a signed ``bits``-bit dtype.

    Returns ``{"bits": [...], "asymmetric": [mse, ...], "symmetric": [mse, ...]}``.
    """
    tensor = _check_float_tensor(tensor)
    if isinstance(bits, int) or not bits:
        raise ValueError(f"bits must be a non-empty sequence of ints, got {bits!r}")
    table: dict[str, list[float]] = {"bits": list(bits), "asymmetric": [], "symmetric": []}
    for n_bits in bits:
        if isinstance(n_bits, bool) or not isinstance(n_bits, int) or not 2 <= n_bits <= 16:
            raise ValueError(f"each entry of bits must be an int from 2 to 16, got {n_bits!r}")
        dtype = integer_dtype(n_bits)
        for mode in ("asymmetric", "symmetric"):
            quantized, scale, zero_point = _quantize_mode(tensor, dtype, mode)
            restored = linear_dequantization(quantized, scale, zero_point)
            table[mode].append(quantization_error(tensor, restored))
    return table


def plot_mode_errors(tensor: torch.Tensor, bits: Sequence[int] = (2, 3, 4, 5, 6, 7, 8)):
    """The MSE of each mode (``mode_errors``) against the number of bits, on a log scale.

    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    table = mode_errors(tensor, bits)
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for mode, colour, marker in (
        ("asymmetric", _DATA_COLOUR, "o"),
        ("symmetric", _WINDOW_COLOUR, "s"),
    ):
        ax.plot(table["bits"], table[mode], marker=marker, color=colour, lw=2, label=mode)
    ax.set_yscale("log")
    ax.set_xticks(table["bits"])
    ax.set_xlabel("bits per value (signed integer dtype)")
    ax.set_ylabel("quantization error (MSE, log scale)")
    ax.set_title("Quantization error of each mode, by number of bits", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    plt.close(fig)
    return fig


# Lesson figures (images/<name>.png, made by tools/make_images.py).


def figure_l2a_number_line():
    """L2-A: scale 3.5 and zero point -70 on the course's tensor: 728.6 falls off the end."""
    return plot_number_line(
        -184.0,
        728.6,
        3.5,
        -70,
        title="s = 3.5, z = \N{MINUS SIGN}70: the largest value, 728.6, is past what int8 can "
        "give back (689.5)",
    )


def figure_l2b_number_line():
    """L2-B: the asymmetric mapping of the course's tensor, [r_min, r_max] onto [q_min, q_max]."""
    return plot_number_line(
        -184.0,
        728.6,
        title="Asymmetric mode: r_min \N{RIGHTWARDS ARROW} q_min, r_max \N{RIGHTWARDS ARROW} "
        "q_max, 0 \N{RIGHTWARDS ARROW} z (s \u2248 3.58, z = \N{MINUS SIGN}77)",
    )


def figure_l2b_clamped_zero_point():
    """L2-B: an all-positive range [2, 10]: the course's clamped zero point against helper's fix."""
    import matplotlib.pyplot as plt

    q_min, q_max = q_range(torch.int8)
    scale = (10.0 - 2.0) / (q_max - q_min)
    zero_point = min(max(round(q_min - 2.0 / scale), q_min), q_max)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), layout="constrained")
    plot_number_line(
        2.0,
        10.0,
        scale,
        zero_point,
        ax=top,
        title=f"The course: s = 8/255, z = round(\N{MINUS SIGN}191.75) = \N{MINUS SIGN}192, "
        f"clamped to {_format_number(zero_point)}: values above 8 are lost",
    )
    plot_number_line(
        2.0,
        10.0,
        ax=bottom,
        title="helper: the range widened to [0, 10], s = 10/255, z = \N{MINUS SIGN}128: "
        "nothing is lost, 0 is exact",
    )
    plt.close(fig)
    return fig


def figure_l3a_number_line():
    """L3-A: the same data in symmetric mode: [-r_max, r_max] onto [-q_max, q_max], z = 0."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), layout="constrained")
    plot_number_line(
        -184.0,
        728.6,
        ax=top,
        title="Asymmetric: [r_min, r_max] \N{RIGHTWARDS ARROW} [q_min, q_max], z = \N{MINUS SIGN}77",
    )
    plot_number_line(
        -184.0,
        728.6,
        mode="symmetric",
        ax=bottom,
        title="Symmetric: [\N{MINUS SIGN}max|r|, max|r|] \N{RIGHTWARDS ARROW} "
        "[\N{MINUS SIGN}q_max, q_max], z = 0",
    )
    plt.close(fig)
    return fig


def figure_l3a_levels_histogram():
    """L3-A: a ReLU-like tensor and the 16 levels of int4 in each mode: symmetric wastes half."""
    return plot_levels_histogram(skewed_tensor(), torch.int4)


# "Your turn" checkers.


def _seeded_randn(seed: int, *shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """Seeded normal values from a private generator (the global seed is untouched)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator) * scale + shift


def _result_as_float(function: Callable) -> Callable:
    """``function`` with a one-value tensor result turned into a Python float; a result of
    several values raises a TypeError saying so (``check_exercise`` reports it)."""

    def wrapped(*args):
        result = function(*args)
        if isinstance(result, (torch.Tensor, np.ndarray)) and math.prod(result.shape) != 1:
            shape = tuple(result.shape)
            raise TypeError(f"it returned a tensor of shape {shape}, not one number")
        if isinstance(result, torch.Tensor) and result.is_floating_point():
            return result.item()
        return result

    return wrapped


def check_mean_absolute_error(learner_function: Callable) -> Verdict:
    """L2-A "Your turn": ``learner_function(original, dequantized)`` must return
    ``mean(|r - r'|)`` as a float (a one-value tensor is accepted), on several seeded inputs."""
    original = course_tensor()
    restored = linear_dequantization(
        linear_q_with_scale_and_zero_point(original, 3.5, -70), 3.5, -70
    )
    cases = [(original, restored)]
    for seed in (1, 2, 3):
        tensor = _seeded_randn(seed, 4, 4, scale=10.0)
        cases.append((tensor, linear_dequantization(*linear_quantization(tensor, torch.int4))))
    cases.append((original, original.clone()))
    return check_exercise(
        _result_as_float(learner_function),
        lambda r, d: quantization_error(r, d, "mae"),
        cases,
        name="mean_absolute_error",
    )


def check_scale_and_zero_point(learner_function: Callable) -> Verdict:
    """L2-B "Your turn": ``learner_function(tensor, dtype)`` must return helper's
    ``get_q_scale_and_zero_point(tensor, dtype)``: the range widened to include 0, any dtype
    (int8, uint8, int4, uint4, ...), and ``ZERO_RANGE_SCALE`` for an all-zero tensor."""
    cases = [
        (course_tensor(), torch.int8),
        (torch.linspace(2.0, 10.0, 9), torch.int8),
        (torch.linspace(2.0, 10.0, 9), torch.uint8),
        (_seeded_randn(4, 4, 4), torch.int4),
        (_seeded_randn(5, 3, 5).abs(), torch.uint4),
        (-_seeded_randn(6, 6).abs() - 1.0, torch.int8),
        (torch.zeros(2, 3), torch.int8),
    ]
    return check_exercise(
        learner_function,
        get_q_scale_and_zero_point,
        cases,
        name="get_q_scale_and_zero_point_with_zero",
    )


def check_symmetric_quantization(learner_function: Callable) -> Verdict:
    """L3-A "Your turn": ``learner_function(tensor, bits)`` must return ``(quantized, scale)``
    of symmetric per-tensor quantization with a signed ``bits``-bit integer, the values held in
    an int8 tensor, as ``helper.linear_q_symmetric(tensor, helper.integer_dtype(bits))``."""
    cases = [
        (_seeded_randn(7, 4, 4), 8),
        (_seeded_randn(8, 4, 4), 4),
        (skewed_tensor(64, seed=9), 4),
        (_seeded_randn(10, 3, 6, scale=5.0), 3),
        (_seeded_randn(11, 8), 2),
    ]
    return check_exercise(
        learner_function,
        lambda tensor, bits: linear_q_symmetric(tensor, integer_dtype(bits)),
        cases,
        name="linear_q_symmetric_bits",
    )


# --------------------------------------------------------------------------------------------
# Lesson figures and checkers: L3-B, L3-C, L3-D, L3-E
# --------------------------------------------------------------------------------------------

# Okabe-Ito colours (grey for black): each block that shares a scale gets one, cycling past 8.
_BLOCK_COLOURS = (
    *("#E69F00", "#56B4E9", "#009E73", "#F0E442"),
    *("#0072B2", "#D55E00", "#CC79A7", "#BBBBBB"),
)

# The 2-D granularities the figures and widgets name, as (granularity, dim) for block_size_for.
GRANULARITY_PANELS = {
    "per-tensor": ("per-tensor", None),
    "per-channel rows": ("per-channel", 0),
    "per-channel columns": ("per-channel", 1),
    "per-group": ("per-group", None),
}


def granularity_block_ids(
    shape: Sequence[int],
    granularity: Literal["per-tensor", "per-channel", "per-group"],
    dim: int | None = None,
    group_size: int | None = None,
) -> torch.Tensor:
    """Which block (which scale) each value of a tensor of ``shape`` belongs to.

    Returns an int64 tensor of ``shape`` whose entry is the index of the block holding that
    value, blocks numbered in row-major order: all 0 per tensor, the row index per channel with
    ``dim=0``, ``row * (n_cols // group_size) + col // group_size`` per group.
    """
    shape = tuple(shape)
    if any(isinstance(size, bool) or not isinstance(size, int) or size <= 0 for size in shape):
        raise ValueError(f"shape must hold positive ints, got {shape!r}")
    block = block_size_for(shape, granularity, dim=dim, group_size=group_size)
    grid = [size // b for size, b in zip(shape, block)]
    ids = torch.arange(math.prod(grid)).reshape([n for g in grid for n in (g, 1)])
    return ids.expand([n for g, b in zip(grid, block) for n in (g, b)]).reshape(shape)


def _text_colour(colour: str) -> str:
    """Black on a light colour, white on a dark one (relative luminance)."""
    from matplotlib.colors import to_rgb

    red, green, blue = to_rgb(colour)
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.4 else "white"


def _draw_blocks(ax, ids: np.ndarray, texts: np.ndarray | None, title: str) -> None:
    """Cells coloured by block id, with thick lines between blocks and optional cell texts."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgb

    palette = np.array([to_rgb(colour) for colour in _BLOCK_COLOURS])
    colour_index = ids % len(_BLOCK_COLOURS)
    ax.imshow(palette[colour_index], interpolation="nearest")
    rows, cols = ids.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    # Block boundaries: between horizontal neighbours (vertical lines) and vertical ones.
    r, c = np.nonzero(ids[:, 1:] != ids[:, :-1])
    vertical = [((x + 0.5, y - 0.5), (x + 0.5, y + 0.5)) for y, x in zip(r, c)]
    r, c = np.nonzero(ids[1:, :] != ids[:-1, :])
    horizontal = [((x - 0.5, y + 0.5), (x + 0.5, y + 0.5)) for y, x in zip(r, c)]
    ax.add_collection(LineCollection(vertical + horizontal, colors="black", linewidths=2.5))
    if texts is not None:
        for (row, col), text in np.ndenumerate(texts):
            colour = _text_colour(_BLOCK_COLOURS[colour_index[row, col]])
            ax.text(col, row, text, ha="center", va="center", fontsize=9, color=colour)
    ax.set_title(title, fontsize=10)


def _panel_title(panel: str, n_blocks: int, group_size: int | None) -> str:
    scales = f"{n_blocks} scale{'s' if n_blocks > 1 else ''}"
    return {
        "per-tensor": f"Per tensor: {scales}",
        "per-channel rows": f"Per channel, rows (dim=0): {scales}",
        "per-channel columns": f"Per channel, columns (dim=1): {scales}",
        "per-group": f"Per group of {group_size} along rows: {scales}",
    }[panel]


def plot_granularity_blocks(
    tensor: torch.Tensor | Sequence[int],
    panels: Sequence[str] = ("per-tensor", "per-channel rows", "per-channel columns", "per-group"),
    group_size: int | None = None,
):
    """Which values share a scale under each granularity: one panel per name in ``panels``.

    ``tensor`` is a 2-D tensor (its values are written in the cells, when it is small) or a 2-D
    shape (each cell shows the number of its scale, s0, s1, ...). Cells of one colour, inside one
    thick outline, share one scale. ``panels`` are keys of ``GRANULARITY_PANELS``; "per-group"
    needs ``group_size``. Returns the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if isinstance(tensor, torch.Tensor):
        shape, values = tuple(tensor.shape), _as_matrix(tensor)
    else:
        shape, values = tuple(tensor), None
    if len(shape) != 2:
        raise ValueError(f"tensor must be 2-D (or a 2-D shape), got shape {shape}")
    unknown = [panel for panel in panels if panel not in GRANULARITY_PANELS]
    if unknown or not panels:
        raise ValueError(f"panels must be names from {list(GRANULARITY_PANELS)}, got {panels!r}")
    rows, cols = shape
    width = min(4.2, max(3.6, 0.5 * cols + 0.8))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(len(panels) * width, width * rows / cols + 1.0),
        layout="constrained",
        squeeze=False,
    )
    for ax, panel in zip(axes[0], panels):
        granularity, dim = GRANULARITY_PANELS[panel]
        ids = granularity_block_ids(shape, granularity, dim=dim, group_size=group_size).numpy()
        if values is not None and values.size <= MAX_ANNOTATED_CELLS:
            texts = np.vectorize(lambda value: format(value, ".4g"))(values)
        else:
            texts = np.char.add("s", ids.astype(str)) if ids.size <= MAX_ANNOTATED_CELLS else None
        _draw_blocks(ax, ids, texts, _panel_title(panel, int(ids.max()) + 1, group_size))
    fig.suptitle("Values inside one outline (one colour) share one scale", fontsize=11)
    plt.close(fig)
    return fig


def figure_l3b_granularities():
    """L3-B: per tensor, per channel (rows, columns) and per group on a 6 x 8 tensor."""
    return plot_granularity_blocks((6, 8), group_size=4)


def figure_l3c_per_channel_blocks():
    """L3-C: the worked example's rows and columns, the two ways to quantize it per channel."""
    return plot_granularity_blocks(
        course_tensor(), panels=("per-channel rows", "per-channel columns")
    )


def plot_broadcasting(tensor: torch.Tensor, scales: Sequence[torch.Tensor]):
    """How a scale of shape (1, n) or (m, 1) broadcasts over an (m, n) tensor in ``tensor / s``.

    One row of panels per scale: the tensor, the scale in its own shape, the scale stretched
    (copied) to the tensor's shape, and ``tensor / scale``. Returns the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2:
        raise ValueError("tensor must be a 2-D torch.Tensor")
    if not scales:
        raise ValueError("scales must hold at least one scale tensor")
    matrix = tensor.to(torch.float64)
    rows, cols = matrix.shape
    fig, axes = plt.subplots(
        len(scales), 4, figsize=(11, 2.9 * len(scales)), layout="constrained", squeeze=False
    )
    for row_axes, scale in zip(axes, scales):
        if not isinstance(scale, torch.Tensor) or scale.dim() != 2:
            raise ValueError("each scale must be a 2-D torch.Tensor, such as shape (1, n)")
        _check_broadcast(scale, tensor.shape, "scale")
        scale = scale.to(torch.float64)
        stretched = scale.expand(rows, cols)
        copied = np.ones((rows, cols), dtype=bool)
        copied[: scale.shape[0], : scale.shape[1]] = False
        own = np.full((rows, cols), np.nan)
        own[: scale.shape[0], : scale.shape[1]] = scale.numpy()
        shape_text = f"({scale.shape[0]}, {scale.shape[1]})"
        panels = (
            (matrix.numpy(), f"tensor, shape ({rows}, {cols})", None),
            (own, f"scale, shape {shape_text}", None),
            (stretched.numpy(), f"scale {shape_text} broadcast to ({rows}, {cols})", copied),
            ((matrix / stretched).numpy(), "tensor / scale", None),
        )
        for ax, (values, title, faded) in zip(row_axes, panels):
            _draw_values(ax, values, title, faded)
    fig.suptitle("Broadcasting: a size-1 axis is copied along the tensor (faded: copies)")
    plt.close(fig)
    return fig


def _draw_values(ax, values: np.ndarray, title: str, faded: np.ndarray | None) -> None:
    """A small annotated grid; NaN cells stay empty, ``faded`` cells are drawn lighter."""
    finite = values[np.isfinite(values)]
    image = np.ma.masked_invalid(values)
    ax.imshow(image, cmap="viridis", vmin=finite.min(), vmax=finite.max() + 1e-12)
    if faded is not None:
        ax.imshow(np.where(faded, 1.0, np.nan), cmap="gray", vmin=0, vmax=1, alpha=0.55)
    rows, cols = values.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    middle = (finite.min() + finite.max()) / 2
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            light = faded is not None and faded[row, col]
            colour = "black" if light or value > middle else "white"
            ax.text(col, row, format(value, ".3g"), ha="center", va="center", color=colour)
    ax.set_title(title, fontsize=10)


def figure_l3c_broadcasting():
    """L3-C: the 3 x 3 tensor 1..9 divided by a (1, 3) and by a (3, 1) scale [1, 5, 10]."""
    tensor = torch.arange(1.0, 10.0).reshape(3, 3)
    scale = torch.tensor([1.0, 5.0, 10.0])
    return plot_broadcasting(tensor, [scale.view(1, 3), scale.view(3, 1)])


def plot_group_reshape(shape: Sequence[int] = (2, 6), group_size: int = 3):
    """Per-group quantization as a reshape: groups of a row become rows of ``view(-1, g)``.

    Three panels: the tensor with its groups, the ``(-1, group_size)`` view (one group per row,
    so per-channel along rows applies), and the one scale per group. Returns the ``Figure``.
    """
    import matplotlib.pyplot as plt

    ids = granularity_block_ids(shape, "per-group", group_size=group_size)
    if ids.dim() != 2:
        raise ValueError(f"shape must be 2-D, got {tuple(shape)}")
    view = ids.reshape(-1, group_size).numpy()
    n_groups = view.shape[0]
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(11, 0.45 * n_groups + 1.6),
        layout="constrained",
        width_ratios=(shape[1], group_size + 1, 2),
    )
    rows, cols = ids.shape
    _draw_blocks(
        axes[0], ids.numpy(), np.char.add("g", ids.numpy().astype(str)), f"tensor ({rows}, {cols})"
    )
    _draw_blocks(
        axes[1],
        view,
        np.char.add("g", view.astype(str)),
        f"tensor.view(-1, {group_size}): ({n_groups}, {group_size})",
    )
    scale_ids = np.arange(n_groups).reshape(-1, 1)
    _draw_blocks(
        axes[2], scale_ids, np.char.add("s", scale_ids.astype(str)), f"scale ({n_groups}, 1)"
    )
    fig.suptitle(
        f"Groups of {group_size} consecutive values in a row become rows: "
        "then per channel (dim=0) gives one scale per group"
    )
    plt.close(fig)
    return fig


def figure_l3d_group_reshape():
    """L3-D: a (2, 6) tensor in groups of 3, viewed as (4, 3), with its 4 scales."""
    return plot_group_reshape((2, 6), 3)


def plot_group_size_tradeoff(
    tensor: torch.Tensor,
    group_sizes: Sequence[int],
    dtype: torch.dtype = torch.int4,
    scale_bits: int = 16,
):
    """The per-group trade-off: error (MSE) and real bits per weight against the group size.

    Left: ``quantization_error`` of symmetric per-group quantization of ``tensor`` in ``dtype``
    for each group size; right: ``bits_per_weight(bits, group_size, scale_bits)``. Smaller
    groups: smaller error, more bits. Returns the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    tensor = _check_float_tensor(tensor)
    if not group_sizes:
        raise ValueError("group_sizes must hold at least one group size")
    errors, bits = [], []
    for group_size in group_sizes:
        quantized, scale = linear_q_symmetric_per_group(tensor, group_size, dtype)
        dequantized = linear_dequantization_per_group(quantized, scale, group_size)
        errors.append(quantization_error(tensor, dequantized))
        bits.append(bits_per_weight(dtype_bits(dtype), group_size, scale_bits))
    name = str(dtype).removeprefix("torch.")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for ax, values, colour, title, label in (
        (left, errors, "#0072B2", f"Quantization error ({name})", "mean squared error"),
        (right, bits, "#D55E00", f"Real storage (fp{scale_bits} scales)", "bits per weight"),
    ):
        ax.plot(group_sizes, values, marker="o", color=colour)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(group_sizes), [str(g) for g in group_sizes])
        ax.set_xlabel("group size (values sharing one scale)")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
    plt.close(fig)
    return fig


def plot_bits_per_weight(
    bits: int = 4, group_sizes: Sequence[int] = (32, 64, 128), scale_bits: Sequence[int] = (16, 32)
):
    """Stacked bars: the ``bits`` of each value plus its share of the group's scale.

    One bar per (group size, scale width), labelled with ``bits_per_weight``: 4-bit values in
    groups of 32 with fp16 scales cost 4.5 bits each. Returns the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if not group_sizes or not scale_bits:
        raise ValueError("group_sizes and scale_bits must each hold at least one value")
    colours = ("#E69F00", "#D55E00", "#CC79A7", "#009E73")
    width = 0.8 / len(scale_bits)
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    positions = np.arange(len(group_sizes))
    for i, s_bits in enumerate(scale_bits):
        x = positions + (i - (len(scale_bits) - 1) / 2) * width
        totals = np.array([bits_per_weight(bits, g, s_bits) for g in group_sizes])
        ax.bar(x, bits, width, color="#0072B2", label=f"the {bits}-bit value" if i == 0 else None)
        ax.bar(
            x,
            totals - bits,
            width,
            bottom=bits,
            color=colours[i % len(colours)],
            label=f"its share of an fp{s_bits} scale",
        )
        for xi, total in zip(x, totals):
            ax.text(xi, total + 0.05, f"{total:g}", ha="center", va="bottom", fontsize=10)
    ax.set_xticks(positions, [f"group size {g}" for g in group_sizes])
    ax.set_ylabel("bits stored per weight")
    ax.set_ylim(0, bits + max(scale_bits) / min(group_sizes) + 1.4)
    ax.set_title(f"Real storage of {bits}-bit per-group quantization: {bits} + scale bits / group")
    ax.legend(loc="upper right", ncols=len(scale_bits) + 1, fontsize=9)
    plt.close(fig)
    return fig


def figure_l3d_bits_per_weight():
    """L3-D: 4-bit values in groups of 32, 64 and 128, with fp16 or fp32 scales."""
    return plot_bits_per_weight(4, (32, 64, 128), (16, 32))


def plot_layer_outputs(
    reference_output: torch.Tensor,
    quantized_output: torch.Tensor,
    names: tuple[str, str] = ("fp32 layer", "W8A32 layer"),
):
    """Two layers' outputs side by side, and their difference (quantized - reference).

    Both outputs are flattened (a batch becomes one long row of outputs). Returns the
    matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    outputs = {"reference_output": reference_output, "quantized_output": quantized_output}
    for name, value in outputs.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor")
    if reference_output.shape != quantized_output.shape:
        raise ValueError(
            f"the outputs must have one shape, got {tuple(reference_output.shape)} and "
            f"{tuple(quantized_output.shape)}"
        )
    reference = reference_output.detach().double().flatten().numpy()
    quantized = quantized_output.detach().double().flatten().numpy()
    index = np.arange(reference.size)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    left.bar(index - 0.2, reference, 0.4, color="#0072B2", label=names[0])
    left.bar(index + 0.2, quantized, 0.4, color="#E69F00", label=names[1])
    left.axhline(0, color="black", linewidth=0.8)
    left.set_title("Outputs of the two layers", fontsize=11)
    left.set_ylabel("output value")
    left.legend(fontsize=9)
    right.bar(index, quantized - reference, 0.6, color="#D55E00")
    right.axhline(0, color="black", linewidth=0.8)
    right.set_title(f"Error: {names[1]} - {names[0]}", fontsize=11)
    right.set_ylabel("difference")
    for ax in (left, right):
        ax.set_xlabel("output index")
        if reference.size <= 16:
            ax.set_xticks(index)
        ax.grid(axis="y", alpha=0.3)
    plt.close(fig)
    return fig


def _box(ax, x: float, y: float, text: str, colour: str) -> None:
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=10,
        bbox={"boxstyle": "round,pad=0.5", "facecolor": colour, "edgecolor": "black"},
    )


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "linewidth": 1.5})


def figure_l3e_inference_modes():
    """L3-E: what W8A32 and W8A8 store and compute in, as two pipelines."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    integer, floating = "#F0E442", "#56B4E9"
    fig, ax = plt.subplots(figsize=(12, 5), layout="constrained")
    ax.set_xlim(0, 12)
    ax.set_ylim(-0.7, 6.2)
    ax.axis("off")
    ax.text(0.1, 5.9, "W8A32: int8 weights, float32 activations", fontsize=12, weight="bold")
    _box(ax, 1.3, 4.9, "weights $q_w$\n(int8, stored)", integer)
    _box(ax, 4.2, 4.9, "dequantize\n$W = s_w\\,(q_w - z_w)$", floating)
    _box(ax, 4.2, 3.5, "input $x$\n(float32)", floating)
    _box(ax, 7.3, 4.2, "float matmul\n$y = x\\,W^T$", floating)
    _box(ax, 10.4, 4.2, "output $y$\n(float32)", floating)
    for start, end in (
        ((2.3, 4.9), (3.0, 4.9)),
        ((5.45, 4.75), (6.35, 4.35)),
        ((4.95, 3.55), (6.35, 4.05)),
        ((8.3, 4.2), (9.6, 4.2)),
    ):
        _arrow(ax, start, end)
    ax.text(0.1, 2.5, "W8A8: int8 weights, int8 activations", fontsize=12, weight="bold")
    _box(ax, 1.3, 1.5, "weights $q_w$\n(int8, stored)", integer)
    _box(ax, 1.3, 0.0, "input $q_x$\n(int8, quantized)", integer)
    _box(ax, 4.4, 0.75, "integer matmul\nint32 accumulator acc", integer)
    _box(ax, 7.6, 0.75, "rescale\n$y = s_x\\,s_w\\,\\mathrm{acc}$", floating)
    _box(ax, 10.4, 0.75, "output $y$\n(float32)", floating)
    for start, end in (
        ((2.3, 1.4), (3.1, 0.95)),
        ((2.45, 0.1), (3.1, 0.55)),
        ((5.75, 0.75), (6.6, 0.75)),
        ((8.6, 0.75), (9.6, 0.75)),
    ):
        _arrow(ax, start, end)
    ax.legend(
        handles=[
            Patch(facecolor=integer, edgecolor="black", label="integer"),
            Patch(facecolor=floating, edgecolor="black", label="floating point"),
        ],
        loc="upper right",
        fontsize=10,
    )
    plt.close(fig)
    return fig


# Exercise checkers ---------------------------------------------------------------------------


def _per_tensor_mae_reference(tensor: torch.Tensor, dtype: torch.dtype = torch.int8) -> float:
    quantized, scale = linear_q_symmetric(tensor, dtype)
    return quantization_error(tensor, linear_dequantization(quantized, scale, 0), "mae")


def check_per_tensor_mae(learner_function: Callable) -> Verdict:
    """L3-B "Your turn": ``learner_function(tensor, dtype)`` returns, as a float, the mean
    absolute error ``mean|r - r'|`` of symmetric per-tensor quantization of ``tensor``."""
    cases = [
        (course_tensor(), torch.int8),
        (_seeded_randn(1, 4, 4), torch.int8),
        (_seeded_randn(2, 2, 8, scale=50.0), torch.int8),
        (_seeded_randn(3, 5, 3), torch.int16),
    ]
    return check_exercise(learner_function, _per_tensor_mae_reference, cases, "per_tensor_mae")


def _per_channel_last_axis_reference(tensor: torch.Tensor, dtype: torch.dtype = torch.int8):
    return linear_q_symmetric_per_channel(tensor, dim=-1, dtype=dtype)


def check_per_channel_last_axis(learner_function: Callable) -> Verdict:
    """L3-C "Your turn": ``learner_function(tensor, dtype)`` quantizes a 3-D tensor symmetrically
    with one scale per index of the last axis, and returns ``(q, scale)`` with ``scale`` shaped
    ``(1, 1, n)``, as ``linear_q_symmetric_per_channel(tensor, dim=-1, dtype)`` does."""
    cases = [
        (_seeded_randn(4, 2, 3, 4), torch.int8),
        (_seeded_randn(5, 4, 2, 5, scale=10.0), torch.int8),
        (_seeded_randn(6, 1, 6, 3), torch.int16),
        (_seeded_randn(7, 3, 3, 8, scale=0.01), torch.int8),
    ]
    return check_exercise(
        learner_function, _per_channel_last_axis_reference, cases, "per_channel_last_axis"
    )


def check_per_group_dequantization(learner_function: Callable) -> Verdict:
    """L3-D "Your turn": ``learner_function(quantized_tensor, scale, group_size)`` dequantizes
    per-group values, with ``scale`` laid out as ``linear_q_symmetric_per_group`` returns it
    (``(*shape[:-1], n_groups_per_row)``), for 2-D and 3-D tensors, as float32."""
    shapes = [((4, 6), 3), ((3, 8), 4), ((2, 3, 8), 2), ((6, 6), 6), ((2, 12), 4)]
    cases = []
    for seed, (shape, group_size) in enumerate(shapes, start=8):
        tensor = _seeded_randn(seed, *shape)
        quantized, scale = linear_q_symmetric_per_group(tensor, group_size)
        cases.append((quantized, scale, group_size))
    return check_exercise(
        learner_function, linear_dequantization_per_group, cases, "dequantize_per_group"
    )


def _w8a32_with_bias_reference(
    input: torch.Tensor,
    q_w: torch.Tensor,
    s_w: float | torch.Tensor,
    z_w: int | torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    return torch.nn.functional.linear(input, linear_dequantization(q_w, s_w, z_w), bias)


def check_w8a32_with_bias(learner_function: Callable) -> Verdict:
    """L3-E "Your turn": ``learner_function(input, q_w, s_w, z_w, bias)`` is a W8A32 linear
    layer with a bias: ``y = x (s_w (q_w - z_w))^T + b``, checked with symmetric and asymmetric
    (non-zero zero point) weights, per-tensor and per-channel scales, and batched inputs."""
    example = torch.tensor([[-2.0, -1.13, 0.42], [-1.51, 0.25, 1.62], [0.23, 1.52, -1.5]])
    x, bias = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0, 2.0])
    cases = [
        (x, *linear_q_symmetric(example), 0, bias),
        (x, *linear_quantization(example), bias),
    ]
    weight, big_bias = _seeded_randn(12, 4, 8), _seeded_randn(13, 4)
    cases.append((_seeded_randn(14, 2, 8), *linear_quantization(weight), big_bias))
    q_w, s_w = linear_q_symmetric_per_channel(weight, dim=0)
    cases.append((_seeded_randn(15, 3, 8), q_w, s_w, 0, big_bias))
    return check_exercise(
        learner_function, _w8a32_with_bias_reference, cases, "quantized_linear_W8A32_with_bias"
    )


# --------------------------------------------------------------------------------------------
# Widgets: explore_* (one per lesson)
# --------------------------------------------------------------------------------------------
#
# Each explore_* builder returns an ``Explorer``: its controls (ipywidgets), a compute function
# that turns the controls' values into a ``_ExplorerView`` (the readout numbers, the matrices
# to show, the data of its plot), and three panels that show that view: the numbers (HTML),
# the matrices (HTML tables with coloured cells; inline PNG heatmaps for large tensors) and at
# most one plot, drawn on ONE matplotlib figure whose artists are updated in place and sent as
# PNG bytes. A control change costs a few milliseconds: no figure is created per change.
# ``Explorer.snapshot()`` draws the same view as a static matplotlib figure for the lessons.

# Matrices with at most this many cells are shown as tables with their values written in.
_TABLE_MAX_CELLS = MAX_ANNOTATED_CELLS
# The longest side, in pixels, of the live heatmap of a large matrix.
_HEATMAP_PIXELS = 384
# Dots per inch of the live plot's PNG (modest: it is redrawn on every change).
_LIVE_DPI = 80
# Okabe-Ito colours for the plots.
_EXPLORE_BLUE, _EXPLORE_ORANGE, _EXPLORE_GREEN = "#0072B2", "#E69F00", "#009E73"
_EXPLORE_VERMILION, _EXPLORE_GREY = "#D55E00", "#999999"

# What each readout key is called in the numbers panel (other keys: underscores become spaces).
_READOUT_LABELS = {
    "mse": "MSE",
    "max_error": "max |error|",
    "scale": "scale s",
    "zero_point": "zero point z",
    "q_min": "q_min",
    "q_max": "q_max",
    "r_min": "r_min",
    "r_max": "r_max",
    "clipped": "values clamped",
    "range_given_back": "s (q \N{MINUS SIGN} z) spans",
    "mse_per_tensor": "MSE if per-tensor",
    "n_levels": "levels of the dtype",
    "unused_levels": "levels no value uses",
    "levels_outside_range": "levels outside the data",
    "mse_symmetric": "MSE symmetric",
    "mse_asymmetric": "MSE asymmetric",
    "bits_per_weight": "bits per weight",
    "n_scales": "scales stored",
    "values_per_scale": "values per scale",
    "weight_mse": "weight MSE",
    "relative_error": "relative error",
}


class _Matrix(NamedTuple):
    """A 2-D array to show as a heatmap, with its colour range, number format and blocks."""

    title: str
    values: np.ndarray
    vmin: float
    vmax: float
    fmt: str = ".4g"
    cmap: str = "viridis"
    block: tuple[int, int] | None = None


class _ExplorerView(NamedTuple):
    """Everything an explorer shows for one setting of its controls."""

    readout: dict
    matrices: list[_Matrix]
    plot: object = None


# Rendering: cheap HTML and PNG, vectorised over the cells ------------------------------------


def _colours(matrix: _Matrix) -> np.ndarray:
    """RGBA bytes (rows, cols, 4) of the matrix's values in its colormap over [vmin, vmax]."""
    import matplotlib

    span = matrix.vmax - matrix.vmin
    normed = (matrix.values - matrix.vmin) / (span if span > 0 else 1.0)
    return matplotlib.colormaps[matrix.cmap](normed, bytes=True)


def _hex(rgba: np.ndarray) -> np.ndarray:
    """CSS colours ``#rrggbb`` (an object array of str) of RGBA bytes (..., 4)."""
    rgb = rgba[..., :3].astype(np.int64)
    return np.strings.mod("#%06x", (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]).astype(
        object
    )


def _html_table(matrix: _Matrix) -> str:
    """The matrix as an HTML table: each cell its value, on its colour (black or white text).

    Built with element-wise string operations on object arrays (no loop over the cells).
    """
    rgba = _colours(matrix)
    light = rgba[..., :3] @ np.array([0.299, 0.587, 0.114]) > 140
    texts = np.strings.replace(
        np.strings.mod(f"%{matrix.fmt}", matrix.values), "-", "\N{MINUS SIGN}"
    )
    cells = (
        '<td style="padding:2px 6px;text-align:right;background:'
        + _hex(rgba)
        + ";color:"
        + np.where(light, "#000", "#fff").astype(object)
        + '">'
        + texts.astype(object)
        + "</td>"
    )
    rows = "<tr>" + cells.sum(axis=1) + "</tr>"
    return (
        '<table style="border-collapse:collapse;font-family:monospace;font-size:12px">'
        + "".join(rows)
        + "</table>"
    )


def _png_bytes(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def _html_heatmap(matrix: _Matrix) -> str:
    """A large matrix as an inline PNG heatmap (white lines between blocks) and a colour bar."""
    rows, cols = matrix.values.shape
    step = max(1, math.ceil(max(rows, cols) / _HEATMAP_PIXELS))
    sampled = matrix._replace(values=matrix.values[::step, ::step])
    zoom = max(1, _HEATMAP_PIXELS // max(sampled.values.shape))
    rgba = _colours(sampled).repeat(zoom, axis=0).repeat(zoom, axis=1)
    if matrix.block is not None and step == 1:
        block_rows, block_cols = matrix.block
        if block_rows < rows:
            rgba[zoom * block_rows :: zoom * block_rows, :, :3] = 255
        if block_cols < cols:
            rgba[:, zoom * block_cols :: zoom * block_cols, :3] = 255
    image = base64.b64encode(_png_bytes(rgba)).decode("ascii")
    stops = _colours(matrix._replace(values=np.linspace(matrix.vmin, matrix.vmax, 9)))
    gradient = ",".join(_hex(stops))
    return (
        f'<img src="data:image/png;base64,{image}" style="image-rendering:pixelated;'
        f'max-width:{_HEATMAP_PIXELS}px"><div style="display:flex;align-items:center;gap:4px;'
        f'font-size:11px"><span>{matrix.vmin:.3g}</span><span style="flex:1;height:8px;'
        f'background:linear-gradient(to right,{gradient})"></span><span>{matrix.vmax:.3g}</span>'
        "</div>"
    )


def _html_matrices(matrices: Sequence[_Matrix]) -> str:
    """The matrices side by side, each with its title: tables when small, heatmaps when large."""
    panels = "".join(
        f'<div style="margin:0 12px 8px 0"><div style="font-weight:bold;margin-bottom:2px">'
        f"{m.title}</div>"
        f"{_html_table(m) if m.values.size <= _TABLE_MAX_CELLS else _html_heatmap(m)}</div>"
        for m in matrices
    )
    return f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{panels}</div>'


def _format_readout(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}".replace("-", "\N{MINUS SIGN}")
    return str(value).replace("-", "\N{MINUS SIGN}") if isinstance(value, int) else str(value)


def _readout_lines(readout: dict) -> list[tuple[str, str]]:
    return [
        (_READOUT_LABELS.get(key, key.replace("_", " ")), _format_readout(value))
        for key, value in readout.items()
    ]


def _html_readout(readout: dict) -> str:
    """The readout as a two-column HTML table of labels and numbers."""
    rows = "".join(
        f'<tr><td style="padding:1px 8px 1px 0;white-space:nowrap">{label}</td>'
        f'<td style="text-align:right;font-family:monospace;white-space:nowrap">{value}</td></tr>'
        for label, value in _readout_lines(readout)
    )
    return f'<table style="font-size:13px;border-collapse:collapse">{rows}</table>'


# Plots whose artists are made once and updated in place -------------------------------------


class _Plot:
    """One matplotlib axes of an explorer: ``__init__`` makes the artists, ``update`` moves them.

    The live view keeps one instance on one figure and re-renders it to PNG; the snapshot makes
    a fresh instance on its own axes, so both draw the same picture.
    """

    figsize = (6.4, 2.8)
    # Fixed margins (left, bottom, right, top) of the live figure: no layout engine per change.
    margins = (0.1, 0.2, 0.97, 0.85)

    def __init__(self, ax) -> None:
        self.ax = ax

    def update(self, data) -> None:
        raise NotImplementedError


class _LivePlot:
    """A ``_Plot`` on its own figure, rendered to PNG bytes into an ``ipywidgets.Image``."""

    def __init__(self, plot_class: type[_Plot]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=plot_class.figsize, dpi=_LIVE_DPI)
        FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(*plot_class.margins)
        self.plot = plot_class(self.figure.add_subplot())
        width, height = (round(inches * _LIVE_DPI) for inches in plot_class.figsize)
        self.image = widgets.Image(
            format="png",
            layout=widgets.Layout(
                width=f"{width}px", height=f"{height}px", align_self="flex-start"
            ),
        )

    def show(self, data) -> None:
        self.plot.update(data)
        buffer = io.BytesIO()
        self.figure.canvas.print_png(buffer)
        self.image.value = buffer.getvalue()


# The Explorer ----------------------------------------------------------------------------------


class Explorer(widgets.VBox):
    """An interactive view of a quantization setting: controls, numbers, matrices and a plot.

    ``controls`` maps a name to an ipywidgets control; on every change of a control's value,
    ``sync(controls)`` (optional) adjusts dependent controls, then ``compute(**values)`` returns
    the ``_ExplorerView`` that is shown. ``readout`` holds the numbers shown; ``snapshot()``
    returns a static matplotlib Figure of the current view.
    """

    def __init__(
        self,
        title: str,
        controls: dict[str, widgets.ValueWidget],
        compute: Callable[..., _ExplorerView],
        plot_class: type[_Plot] | None = None,
        sync: Callable[[dict], None] | None = None,
    ) -> None:
        self.title, self.controls, self.readout = title, controls, {}
        self._compute, self._sync, self._plot_class, self._busy = compute, sync, plot_class, False
        self._numbers = widgets.HTML(layout=widgets.Layout(min_width="230px"))
        self._matrices = widgets.HTML()
        self._live_plot = _LivePlot(plot_class) if plot_class else None
        pictures = [self._live_plot.image] if self._live_plot else []
        super().__init__(
            [
                widgets.HTML(f"<b>{title}</b>"),
                widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox([self._numbers, widgets.VBox([*pictures, self._matrices])]),
            ]
        )
        if sync:
            sync(controls)
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.render()

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def render(self) -> None:
        """Compute the view of the current values and show it (the observer of every control)."""
        self._view = self._compute(**self.values())
        self.readout = dict(self._view.readout)
        self._numbers.value = _html_readout(self.readout)
        self._matrices.value = _html_matrices(self._view.matrices)
        if self._live_plot:
            self._live_plot.show(self._view.plot)

    def _on_change(self, change: dict) -> None:
        if self._busy:  # a sync() moving a dependent control: render once, below
            return
        self._busy = True
        try:
            if self._sync:
                self._sync(self.controls)
            self.render()
        finally:
            self._busy = False

    def snapshot(self):
        """A static matplotlib Figure of the current view: numbers, plot and matrices."""
        import matplotlib.pyplot as plt

        view, rows = self._view, []
        if self._plot_class:
            rows.append(self._plot_class.figsize[1])
        if view.matrices:
            rows.append(max(2.2, 3.6 * _matrix_aspect(view.matrices)))
        fig = plt.figure(figsize=(13, sum(rows) + 0.6), layout="constrained")
        fig.suptitle(self.title, fontsize=12)
        numbers, pictures = fig.subfigures(1, 2, width_ratios=[1, 3.6])
        _draw_readout(numbers, self.readout)
        parts = pictures.subfigures(len(rows), 1, height_ratios=rows, squeeze=False)[:, 0]
        if self._plot_class:
            self._plot_class(parts[0].add_subplot()).update(view.plot)
        if view.matrices:
            axes = parts[-1].subplots(1, len(view.matrices), squeeze=False)[0]
            for ax, matrix in zip(axes, view.matrices):
                _draw_matrix(ax, matrix)
        plt.close(fig)
        return fig


def _matrix_aspect(matrices: Sequence[_Matrix]) -> float:
    rows, cols = matrices[0].values.shape
    return min(1.0, rows / cols)


def _draw_readout(subfigure, readout: dict) -> None:
    ax = subfigure.add_subplot()
    ax.axis("off")
    lines = _readout_lines(readout)
    width = max(len(label) for label, _ in lines)
    text = "\n".join(f"{label:<{width}}  {value}" for label, value in lines)
    ax.text(0, 1, text, va="top", ha="left", family="monospace", fontsize=10)


def _draw_matrix(ax, matrix: _Matrix) -> None:
    """The snapshot's heatmap of one matrix (helper's ``_heatmap``) with lines between blocks."""
    _heatmap(ax, matrix.values, matrix.title, matrix.cmap, matrix.vmin, matrix.vmax, matrix.fmt)
    rows, cols = matrix.values.shape
    if matrix.block is not None:
        block_rows, block_cols = matrix.block
        ax.hlines(np.arange(block_rows, rows, block_rows) - 0.5, -0.5, cols - 0.5, color="white")
        ax.vlines(np.arange(block_cols, cols, block_cols) - 0.5, -0.5, rows - 0.5, color="white")


# Controls ----------------------------------------------------------------------------------------

_STYLE = {"description_width": "initial"}


def _int_slider(description: str, value: int, low: int, high: int) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value,
        min=low,
        max=high,
        description=description,
        continuous_update=True,
        style=_STYLE,
    )


def _buttons(description: str, options: Sequence, value) -> widgets.ToggleButtons:
    return widgets.ToggleButtons(
        options=options,
        value=value,
        description=description,
        style={**_STYLE, "button_width": "auto"},
        # ipywidgets 8 lays ToggleButtons out as a block (label above the buttons): one line.
        layout=widgets.Layout(display="flex", align_items="center"),
    )


def _set_bounds(slider: widgets.IntSlider, low: int, high: int) -> None:
    """Give ``slider`` the bounds [low, high] (in the order that keeps min <= max)."""
    if low > slider.max:
        slider.max, slider.min = high, low
    else:
        slider.min, slider.max = low, high


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# Shared computations -------------------------------------------------------------------------------


def _error_readout(original: torch.Tensor, dequantized: torch.Tensor) -> dict:
    """``mse`` (helper's ``quantization_error``) and ``max_error`` = max |r - r'|."""
    return {
        "mse": quantization_error(original, dequantized),
        "max_error": float((original.double() - dequantized.double()).abs().max()),
    }


def _round_trip_matrices(
    original: torch.Tensor,
    quantized: torch.Tensor,
    dequantized: torch.Tensor,
    dtype: torch.dtype,
    block: tuple[int, int] | None = None,
    error_max: float | None = None,
) -> list[_Matrix]:
    """Original, quantized, dequantized and |error| as matrices (the widget's pictures)."""
    r, q, d = _as_matrix(original), _as_matrix(quantized), _as_matrix(dequantized)
    error = np.abs(r - d)
    low, high = min(r.min(), d.min()), max(r.max(), d.max())
    q_min, q_max = q_range(dtype)
    return [
        _Matrix("original r", r, low, high, block=block),
        _Matrix(f"quantized q ({_dtype_name(dtype)})", q, q_min, q_max, ".0f", block=block),
        _Matrix("dequantized r' = s (q \N{MINUS SIGN} z)", d, low, high, block=block),
        _Matrix(
            "error |r \N{MINUS SIGN} r'|",
            error,
            0.0,
            max(error_max or error.max(), 1e-12),
            ".3g",
            "cividis",
            block,
        ),
    ]


def _round_trip(
    tensor: torch.Tensor, block: Sequence[int], dtype: torch.dtype, mode: Mode
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(quantized, scale, zero_point, dequantized)`` with one scale per block (helper's)."""
    quantized, scale, zero_point = quantize_blocks(tensor, block, dtype, mode)
    return quantized, scale, zero_point, dequantize_blocks(quantized, scale, zero_point, block)


# L2-A: quantize and dequantize with a scale and zero point you choose ----------------------------

_EXPLORE_DTYPES = tuple(
    integer_dtype(bits, signed) for bits in (8, 4, 3, 2) for signed in (True, False)
)


def explore_quantize_dequantize(
    tensor: torch.Tensor | None = None,
    scale: float = 3.5,
    zero_point: int = -70,
    dtype: torch.dtype = torch.int8,
) -> Explorer:
    """L2-A: pick a scale, a zero point and a dtype; see q, r' = s (q - z), the error and MSE.

    ``q = clamp(round(r / s + z), q_min, q_max)`` by ``linear_q_with_scale_and_zero_point``.
    Starts from the course's bad guess (s = 3.5, z = -70) on its 3x3 tensor: find better ones.
    """
    tensor = course_tensor() if tensor is None else _check_float_tensor(tensor)
    span = max(float(tensor.max()), 0.0) - min(float(tensor.min()), 0.0) or 1.0
    low, high = math.log10(span / 2550), math.log10(span * 4)
    controls = {
        "scale": widgets.FloatLogSlider(
            value=min(max(_check_scale(scale), 10**low), 10**high),
            base=10,
            min=low,
            max=high,
            step=0.002,
            description="scale s",
            continuous_update=True,
            readout_format=".4g",
            style=_STYLE,
        ),
        "zero_point": _int_slider(
            "zero point z", _check_zero_point(zero_point), *q_range(_check_dtype(dtype))
        ),
        "dtype": widgets.Dropdown(
            options=[(_dtype_name(d), d) for d in _EXPLORE_DTYPES],
            value=_check_dtype(dtype),
            description="dtype",
            style=_STYLE,
        ),
    }

    def sync(controls: dict) -> None:
        _set_bounds(controls["zero_point"], *q_range(controls["dtype"].value))

    def compute(scale: float, zero_point: int, dtype: torch.dtype) -> _ExplorerView:
        quantized = linear_q_with_scale_and_zero_point(tensor, scale, zero_point, dtype)
        dequantized = linear_dequantization(quantized, scale, zero_point)
        errors = _error_readout(tensor, dequantized)
        clipped = (tensor - dequantized).abs() > scale / 2 * (1 + 1e-6)
        q_min, q_max = q_range(dtype)
        low, high = representable_range(scale, zero_point, dtype)
        readout = {
            "dtype": _dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "scale": scale,
            "zero_point": zero_point,
            "range_given_back": f"[{_format_readout(low)}, {_format_readout(high)}]",
            **errors,
            "clipped": int(clipped.sum()),
        }
        return _ExplorerView(readout, _round_trip_matrices(tensor, quantized, dequantized, dtype))

    return Explorer(
        "Quantize with a scale and zero point you choose: can you get a lower MSE?",
        controls,
        compute,
        sync=sync,
    )


# L2-B: the scale and zero point derived from the data's range ---------------------------------


class _NumberLine(_Plot):
    """The real line (top, in r) mapped onto the integers (bottom, in q): ``q = r / s + z``.

    x is in integer units; the top axis is labelled in real units through ``r = s (x - z)``.
    Grey lines join a sample of values to the integer each one is rounded to; hollow circles on
    the real line mark the values they come back as, ``r' = s (q - z)``.
    """

    figsize = (6.4, 3.3)
    margins = (0.04, 0.17, 0.97, 0.72)

    def __init__(self, ax) -> None:
        from matplotlib.collections import LineCollection

        super().__init__(ax)
        self.scale, self.zero_point = 1.0, 0
        self.ticks = ax.add_collection(LineCollection([], colors=_EXPLORE_GREEN, linewidths=1))
        self.links = ax.add_collection(LineCollection([], colors=_EXPLORE_GREY, linewidths=0.8))
        (self.integers,) = ax.plot([], [], color=_EXPLORE_GREEN, lw=4, solid_capstyle="butt")
        (self.reals,) = ax.plot([], [], color=_EXPLORE_BLUE, lw=4, solid_capstyle="butt")
        (self.values,) = ax.plot([], [], "o", color=_EXPLORE_BLUE, ms=4, label="value r")
        (self.rounded,) = ax.plot([], [], "o", color=_EXPLORE_GREEN, ms=4, label="integer q")
        (self.restored,) = ax.plot(
            [], [], "o", mfc="none", color=_EXPLORE_GREEN, ms=7, label="r' = s (q \N{MINUS SIGN} z)"
        )
        self.r_text = ax.text(0.01, 0.67, "", transform=ax.transAxes, color=_EXPLORE_BLUE)
        self.q_text = ax.text(0.01, 0.04, "", transform=ax.transAxes, color="#00664A")
        ax.secondary_xaxis(
            "top",
            functions=(
                lambda x: self.scale * (x - self.zero_point),
                lambda r: r / self.scale + self.zero_point,
            ),
        ).set_xlabel("real value r", fontsize=9)
        ax.set_xlabel("integer q", fontsize=9)
        ax.set_ylim(-0.6, 2.1)
        ax.set_yticks([])
        ax.legend(loc="upper center", ncols=3, fontsize=8, frameon=False)
        for side in ("left", "right"):
            ax.spines[side].set_visible(False)

    def update(self, data: dict) -> None:
        self.scale, self.zero_point = data["scale"], data["zero_point"]
        q_min, q_max = data["q_min"], data["q_max"]
        at = np.asarray(data["values"]) / self.scale + self.zero_point
        levels = np.arange(q_min, q_max + 1)
        self.ticks.set_segments(
            np.stack([np.c_[levels, levels * 0 - 0.1], np.c_[levels, levels * 0 + 0.1]], 1)
        )
        ones = np.ones_like(at)
        self.links.set_segments(np.stack([np.c_[at, ones], np.c_[data["quantized"], ones * 0]], 1))
        self.integers.set_data([q_min, q_max], [0, 0])
        ends = np.array([data["r_min"], data["r_max"]]) / self.scale + self.zero_point
        self.reals.set_data(ends, [1, 1])
        self.values.set_data(at, ones)
        self.rounded.set_data(data["quantized"], ones * 0)
        self.restored.set_data(data["quantized"], ones)
        self.r_text.set_text(
            f"[r_min, r_max] = [{_format_readout(data['r_min'])}, {_format_readout(data['r_max'])}]"
        )
        self.q_text.set_text(f"[q_min, q_max] = [{_format_readout(q_min)}, {q_max}]")
        low, high = min(q_min, at.min(), ends[0]), max(q_max, at.max(), ends[1])
        pad = 0.04 * (high - low)
        self.ax.set_xlim(low - pad, high + pad)
        self.ax.set_title(
            f"q = round(r / s + z), s = {data['scale']:.4g}, z = {data['zero_point']}", fontsize=10
        )


def _sample(tensor: torch.Tensor, n: int = 64) -> np.ndarray:
    """Indices of at most ``n`` evenly spread values of the flattened tensor."""
    return np.linspace(0, tensor.numel() - 1, min(n, tensor.numel())).round().astype(np.int64)


def explore_scale_and_zero_point(
    tensor: torch.Tensor | None = None, bits: int = 8, signed: bool = True
) -> Explorer:
    """L2-B: choose the dtype's bits (8 down to 2); see the derived scale and zero point,
    ``s = (r_max - r_min) / (q_max - q_min)``, ``z = round(q_min - r_min / s)``, the mapping of
    [r_min, r_max] onto [q_min, q_max] and the error (helper's ``linear_quantization``).
    """
    tensor = course_tensor() if tensor is None else _check_float_tensor(tensor)
    controls = {
        "bits": _int_slider("bits", bits, 2, 8),
        "signed": _buttons("dtype", [("signed int", True), ("unsigned uint", False)], signed),
    }
    sample = _sample(tensor)

    def compute(bits: int, signed: bool) -> _ExplorerView:
        dtype = integer_dtype(bits, signed)
        quantized, scale, zero_point = linear_quantization(tensor, dtype)
        dequantized = linear_dequantization(quantized, scale, zero_point)
        q_min, q_max = q_range(dtype)
        readout = {
            "dtype": _dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "r_min": float(tensor.min()),
            "r_max": float(tensor.max()),
            "scale": scale,
            "zero_point": zero_point,
            **_error_readout(tensor, dequantized),
        }
        plot = {
            **readout,
            "values": tensor.flatten()[sample].double().numpy(),
            "quantized": quantized.flatten()[sample].numpy(),
        }
        matrices = _round_trip_matrices(tensor, quantized, dequantized, dtype)
        return _ExplorerView(readout, matrices, plot)

    return Explorer(
        "The scale and zero point that map [r_min, r_max] onto [q_min, q_max]",
        controls,
        compute,
        _NumberLine,
    )


# L3-A: symmetric vs asymmetric mode on skewed data -------------------------------------------


class _LevelHistogram(_Plot):
    """A histogram of the values and a vertical line at each level's real value ``s (q - z)``:
    blue where values land, grey inside the data's range but unused, vermillion outside it."""

    def __init__(self, ax) -> None:
        from matplotlib.collections import LineCollection
        from matplotlib.lines import Line2D

        super().__init__(ax)
        self.levels = ax.add_collection(
            LineCollection([], linewidths=0.8, transform=ax.get_xaxis_transform())
        )
        self.histogram = ax.stairs([0], [0, 1], fill=True, color=_EXPLORE_BLUE, alpha=0.35)
        ax.set_xlabel(
            "real value r (vertical lines: the levels s (q \N{MINUS SIGN} z))", fontsize=9
        )
        ax.set_ylabel("count", fontsize=9)
        ax.legend(
            handles=[
                Line2D([], [], color=_EXPLORE_BLUE, label="level used"),
                Line2D([], [], color=_EXPLORE_GREY, label="inside the data, unused"),
                Line2D([], [], color=_EXPLORE_VERMILION, label="outside the data (wasted)"),
            ],
            loc="upper right",
            fontsize=8,
        )

    def update(self, data: dict) -> None:
        counts, edges = np.histogram(data["values"], bins=60)
        self.histogram.set_data(counts, edges)
        at = data["level_values"]
        self.levels.set_segments(np.stack([np.c_[at, at * 0], np.c_[at, at * 0 + 1]], 1))
        colours = np.where(data["used"], _EXPLORE_BLUE, _EXPLORE_GREY)
        self.levels.set_colors(np.where(data["inside"], colours, _EXPLORE_VERMILION))
        low, high = min(at.min(), edges[0]), max(at.max(), edges[-1])
        pad = 0.03 * (high - low or 1.0)
        self.ax.set_xlim(low - pad, high + pad)
        self.ax.set_ylim(0, 1.25 * max(counts.max(), 1))
        self.ax.set_title(data["title"], fontsize=10)


def _skew(tensor: torch.Tensor, skew: float) -> torch.Tensor:
    """``r + skew * |min(r_min, 0)|``: skew 0 is the data, skew 1 puts its minimum at 0."""
    return tensor - skew * min(float(tensor.min()), 0.0)


def explore_symmetric_vs_asymmetric(
    tensor: torch.Tensor | None = None, mode: Mode = "symmetric", bits: int = 4, skew: float = 1.0
) -> Explorer:
    """L3-A: symmetric (``s = max|r| / q_max``, z = 0) vs asymmetric mode, as the data is
    shifted towards positive values (``skew``, 1 = all >= 0 like a ReLU output).

    Counts the levels outside the data's range (``levels_used``) and the levels no value uses.
    """
    base = _seeded_randn(0, 2000) if tensor is None else _check_float_tensor(tensor)
    controls = {
        "mode": _buttons("mode", ["symmetric", "asymmetric"], mode),
        "bits": _int_slider("bits", bits, 2, 8),
        "skew": widgets.FloatSlider(
            value=skew,
            min=0.0,
            max=1.0,
            step=0.05,
            description="skew towards positive",
            continuous_update=True,
            style=_STYLE,
        ),
    }

    def compute(mode: Mode, bits: int, skew: float) -> _ExplorerView:
        data, dtype = _skew(base, skew), integer_dtype(bits)
        block = block_size_for(data.shape, "per-tensor")
        trips = {m: _round_trip(data, block, dtype, m) for m in ("symmetric", "asymmetric")}
        quantized, scale, zero_point, dequantized = trips[mode]
        q_min, q_max = q_range(dtype)
        levels = torch.arange(q_min, q_max + 1, dtype=torch.int32)
        span, n_levels = levels_used(quantized, dtype)
        readout = {
            "mode": mode,
            "dtype": _dtype_name(dtype),
            "scale": float(scale.reshape(-1)[0]),
            "zero_point": int(zero_point.reshape(-1)[0]),
            "n_levels": n_levels,
            "levels_outside_range": n_levels - span,
            "unused_levels": n_levels - int(torch.unique(quantized).numel()),
            **_error_readout(data, dequantized),
            **{f"mse_{m}": quantization_error(data, trip[3]) for m, trip in trips.items()},
        }
        plot = {
            "values": data.flatten().double().numpy(),
            "level_values": dequantize_blocks(levels, scale, zero_point, levels.shape).numpy(),
            "used": torch.isin(levels, quantized).numpy(),
            "inside": ((levels >= quantized.min()) & (levels <= quantized.max())).numpy(),
            "title": f"{mode} mode, {_dtype_name(dtype)}: {span} of {n_levels} levels inside "
            f"the data, {readout['unused_levels']} unused",
        }
        return _ExplorerView(readout, [], plot)

    return Explorer(
        "Symmetric or asymmetric? Levels wasted on one-sided data",
        controls,
        compute,
        _LevelHistogram,
    )


# L3-B, L3-C, L3-D: per-tensor, per-channel, per-group -----------------------------------------


def _explore_weight(seed: int, rows: int, cols: int) -> torch.Tensor:
    """Seeded weights whose rows differ in size (0.05 to 2) and which hold a few outliers."""
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.logspace(math.log10(0.05), math.log10(2.0), rows)[
        torch.randperm(rows, generator=generator)
    ]
    weight = torch.randn(rows, cols, generator=generator) * sizes[:, None]
    outliers = torch.randperm(rows * cols, generator=generator)[: max(1, rows * cols // 256)]
    weight.view(-1)[outliers] *= 8
    return weight


def _divisors(n: int) -> list[int]:
    candidates = np.arange(1, n + 1)
    return candidates[n % candidates == 0].tolist()


def _check_matrix(tensor: torch.Tensor, name: str) -> torch.Tensor:
    tensor = _check_float_tensor(tensor, name)
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be 2-D (rows, columns), got shape {tuple(tensor.shape)}")
    return tensor


def _granularity_controls(
    shape: Sequence[int], granularity: str, group_size: int | None, bits: int, dim: int = 0
) -> dict:
    """bits, granularity (per-tensor, per-channel rows or columns, per-group) and group size.

    ``granularity="per-channel"`` means rows (``dim=0``) or columns (``dim=1``).
    """
    if granularity == "per-channel":
        if isinstance(dim, bool) or dim not in (0, 1, -1, -2):
            raise ValueError(f"dim must be 0 (rows) or 1 (columns) of a matrix, got {dim!r}")
        granularity = ("per-channel rows", "per-channel columns")[dim % 2]
    if granularity not in GRANULARITY_PANELS:
        raise ValueError(
            f"granularity must be one of {list(GRANULARITY_PANELS)}, got {granularity!r}"
        )
    sizes = _divisors(shape[-1])
    if group_size is None:
        group_size = max(d for d in sizes if d <= min(32, max(1, shape[-1] // 2)))
    if group_size not in sizes:
        raise ValueError(f"group_size must divide the last axis ({shape[-1]}), got {group_size!r}")
    return _bits_granularity_group_controls(
        bits, list(GRANULARITY_PANELS), granularity, sizes, group_size
    )


def _bits_granularity_group_controls(
    bits: int, granularities: list[str], granularity: str, sizes: list[int], group_size: int
) -> dict:
    """A bits slider (2 to 8), a granularity menu and a group-size slider over ``sizes``."""
    return {
        "bits": _int_slider("bits", bits, 2, 8),
        "granularity": widgets.Dropdown(
            options=granularities, value=granularity, description="granularity", style=_STYLE
        ),
        "group_size": widgets.SelectionSlider(
            options=sizes,
            value=group_size,
            description="group size",
            continuous_update=True,
            style=_STYLE,
        ),
    }


def _granularity_sync(controls: dict) -> None:
    controls["group_size"].disabled = controls["granularity"].value != "per-group"


def _granularity_block(shape: Sequence[int], granularity: str, group_size: int) -> tuple:
    name, dim = GRANULARITY_PANELS[granularity]
    return block_size_for(shape, name, dim=dim, group_size=group_size)


def explore_granularity(
    tensor: torch.Tensor | None = None,
    granularity: str = "per-tensor",
    group_size: int | None = None,
    bits: int = 4,
    dim: int = 0,
) -> Explorer:
    """L3-B/C/D: symmetric quantization with one scale per tensor, per row or column, or per
    group of values; see the error heatmap, the MSE and the real storage per weight,
    ``bits + scale_bits / values_per_scale`` (helper's ``bits_per_weight``).

    ``granularity`` is a key of ``GRANULARITY_PANELS``, or "per-channel" with ``dim`` 0 or 1.
    """
    tensor = _explore_weight(1, 16, 64) if tensor is None else _check_matrix(tensor, "tensor")
    controls = _granularity_controls(tensor.shape, granularity, group_size, bits, dim)
    controls["scale_bits"] = _buttons("scales stored as", [("fp16", 16), ("fp32", 32)], 16)

    def compute(bits: int, granularity: str, group_size: int, scale_bits: int) -> _ExplorerView:
        dtype = integer_dtype(bits)
        block = _granularity_block(tensor.shape, granularity, group_size)
        quantized, scale, _, dequantized = _round_trip(tensor, block, dtype, "symmetric")
        per_tensor = _round_trip(tensor, tensor.shape, dtype, "symmetric")[3]
        readout = {
            "granularity": granularity,
            "dtype": _dtype_name(dtype),
            "n_scales": scale.numel(),
            "values_per_scale": math.prod(block),
            "bits_per_weight": bits_per_weight(bits, math.prod(block), scale_bits),
            **_error_readout(tensor, dequantized),
            "mse_per_tensor": quantization_error(tensor, per_tensor),
        }
        error_max = float((tensor - per_tensor).abs().max())
        matrices = _round_trip_matrices(tensor, quantized, dequantized, dtype, block, error_max)
        return _ExplorerView(readout, [matrices[0], matrices[3]])

    return Explorer(
        "One scale per tensor, per channel or per group: error against storage",
        controls,
        compute,
        sync=_granularity_sync,
    )


# L3-E: a linear layer with quantized weights ---------------------------------------------------


class _OutputScatter(_Plot):
    """Each output of the quantized layer against the same output of the fp32 layer."""

    def __init__(self, ax) -> None:
        super().__init__(ax)
        (self.diagonal,) = ax.plot([], [], color=_EXPLORE_GREY, lw=1, label="equal outputs")
        (self.points,) = ax.plot([], [], "o", color=_EXPLORE_BLUE, ms=4, label="outputs")
        ax.set_xlabel("fp32 layer output", fontsize=9)
        ax.set_ylabel("quantized-weight output", fontsize=9)
        ax.legend(loc="upper left", fontsize=8)

    def update(self, data: dict) -> None:
        reference, quantized = data["reference"], data["quantized"]
        self.points.set_data(reference, quantized)
        low = min(reference.min(), quantized.min())
        high = max(reference.max(), quantized.max())
        pad = 0.05 * (high - low or 1.0)
        self.diagonal.set_data([low - pad, high + pad], [low - pad, high + pad])
        self.ax.set_xlim(low - pad, high + pad)
        self.ax.set_ylim(low - pad, high + pad)
        self.ax.set_title(data["title"], fontsize=10)


def _per_value(grid: torch.Tensor, block: Sequence[int], shape: Sequence[int]) -> torch.Tensor:
    """One entry per block (``quantize_blocks``' grid) spread to one entry per value."""
    view = [n for g in grid.shape for n in (g, 1)]
    spread = [n for g, b in zip(grid.shape, block) for n in (g, b)]
    return grid.reshape(view).expand(spread).reshape(tuple(shape))


def explore_quantized_linear(
    weight: torch.Tensor | None = None,
    input: torch.Tensor | None = None,
    bits: int = 8,
    granularity: str = "per-channel rows",
    group_size: int | None = None,
) -> Explorer:
    """L3-E: ``y = x W'^T`` with ``W' = s (q - z)``, the weights quantized (symmetric) to
    ``bits`` with the chosen granularity (helper's ``quantized_linear_W8A32_without_bias``),
    against the fp32 layer ``y = x W^T``.
    """
    weight = _explore_weight(2, 8, 32) if weight is None else _check_matrix(weight, "weight")
    input = (
        _seeded_randn(3, 4, weight.shape[1])
        if input is None
        else _check_float_tensor(input, "input")
    )
    if input.dim() == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"input of shape {tuple(input.shape)} must end with weight's {weight.shape[1]} columns"
        )
    weight, input = weight.float(), input.float()
    reference = torch.nn.functional.linear(input, weight)
    controls = _granularity_controls(weight.shape, granularity, group_size, bits)

    def compute(bits: int, granularity: str, group_size: int) -> _ExplorerView:
        block = _granularity_block(weight.shape, granularity, group_size)
        q, scale, zero_point, dequantized = _round_trip(
            weight, block, integer_dtype(bits), "symmetric"
        )
        output = quantized_linear_W8A32_without_bias(
            input, q, _per_value(scale, block, q.shape), _per_value(zero_point, block, q.shape)
        )
        readout = {
            "granularity": granularity,
            "dtype": _dtype_name(integer_dtype(bits)),
            **_error_readout(reference, output),
            "relative_error": float(
                (output - reference).norm() / reference.norm().clamp_min(ZERO_RANGE_SCALE)
            ),
            "weight_mse": quantization_error(weight, dequantized),
        }
        y, y_q = _as_matrix(reference), _as_matrix(output)
        error = np.abs(y - y_q)
        low, high = min(y.min(), y_q.min()), max(y.max(), y_q.max())
        matrices = [
            _Matrix("fp32 output y = x W^T", y, low, high, ".2f"),
            _Matrix("output with quantized W, y'", y_q, low, high, ".2f"),
            _Matrix(
                "error |y \N{MINUS SIGN} y'|", error, 0.0, max(error.max(), 1e-12), ".3f", "cividis"
            ),
        ]
        plot = {
            "reference": y.ravel(),
            "quantized": y_q.ravel(),
            "title": f"W{bits}A32 ({granularity}): relative error {readout['relative_error']:.2%}",
        }
        return _ExplorerView(readout, matrices, plot)

    return Explorer(
        "A linear layer with quantized weights against the fp32 layer",
        controls,
        compute,
        _OutputScatter,
        sync=_granularity_sync,
    )


# --------------------------------------------------------------------------------------------
# Past the course: integer inference (W8A8), packing low-bit weights, QuantizedLinear (L4)
# --------------------------------------------------------------------------------------------


# The largest magnitude of a product of two int8 values: (-128) * (-128) = 16384.
INT8_PRODUCT_MAX = 128 * 128

MatmulMethod = Literal["auto", "int_mm", "int32"]


def int_mm_supported(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``torch._int_mm`` can compute ``a @ b^T`` for ``a`` (m, k) and ``b`` (n, k).

    It takes two 2-D int8 matrices on one device. On CUDA it also needs m > 16 and k, n
    multiples of 8; the CPU kernel of torch 2.13 takes any sizes (tests/test_l4.py checks it),
    given the strides ``int8_matmul`` hands it.
    """
    if not hasattr(torch, "_int_mm") or a.device != b.device:
        return False
    if a.dim() != 2 or b.dim() != 2 or a.dtype != torch.int8 or b.dtype != torch.int8:
        return False
    if a.device.type == "cuda":
        return a.shape[0] > 16 and a.shape[1] % 8 == 0 and b.shape[0] % 8 == 0
    return a.device.type == "cpu"


def int8_matmul(a: torch.Tensor, b: torch.Tensor, method: MatmulMethod = "auto") -> torch.Tensor:
    """``a @ b^T`` of int8 matrices ``a`` (m, k) and ``b`` (n, k), accumulated in int32: (m, n).

    ``"int_mm"``: ``torch._int_mm``, one kernel that multiplies int8 and adds in int32;
    ``"int32"``: widen both to int32, then an ordinary matmul; ``"auto"``: ``_int_mm`` where
    ``int_mm_supported`` says it applies, else the int32 matmul. Both give identical results.
    """
    for name, matrix in (("a", a), ("b", b)):
        if not isinstance(matrix, torch.Tensor) or matrix.dtype != torch.int8:
            got = matrix.dtype if isinstance(matrix, torch.Tensor) else type(matrix).__name__
            raise TypeError(f"{name} must be an int8 tensor, got {got}")
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


def _row_major(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` with the strides of a fresh row-major tensor, ``(columns, 1)``.

    torch 2.13's CPU ``_int_mm`` reads its leading dimensions from the strides, so an axis of
    size 1 with an unusual stride (``b.t()`` when k = 1, an expanded row) gives uninitialised
    memory back without an error (the family of pytorch/pytorch#195066). A copy fixes it.
    """
    if matrix.stride() == (matrix.shape[1], 1):
        return matrix
    return torch.empty(matrix.shape, dtype=matrix.dtype, device=matrix.device).copy_(matrix)


def _check_number_or_one(value: object, name: str, kind: str) -> float | int:
    """A Python number, or the value of a one-element tensor."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be one number ({kind}), got shape {tuple(value.shape)}")
        value = value.item()
    return value


def _named(check: Callable, value: object, name: str):
    """``check(value)``, its TypeError or ValueError message starting with the argument's name."""
    try:
        return check(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}: {error}") from None


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
    for name, tensor, role in (("q_x", q_x, "activations"), ("q_w", q_w, "weights")):
        if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.int8:
            got = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise TypeError(f"{name} (the quantized {role}) must be an int8 tensor, got {got}")
    if q_w.dim() != 2 or q_x.dim() < 1 or q_x.shape[-1] != q_w.shape[1] or q_x.numel() == 0:
        raise ValueError(
            f"shapes do not match: q_x {tuple(q_x.shape)} needs q_w of shape "
            f"(out_features, {q_x.shape[-1] if q_x.dim() else '?'}), got {tuple(q_w.shape)}"
        )
    s_x = _named(_check_scale, _check_number_or_one(s_x, "s_x", "one activation scale"), "s_x")
    z_x = _named(_check_zero_point, _check_number_or_one(z_x, "z_x", "one zero point"), "z_x")
    if not -128 <= z_x <= 127:
        raise ValueError(f"z_x must lie in the int8 range [-128, 127], got {z_x}")
    out_features = q_w.shape[0]
    s_w = _named(_check_scale, s_w, "s_w")
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


# Bit widths that tile a byte exactly: 8 // bits values per byte.
PACKABLE_BITS = (1, 2, 4)


def _check_packable_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in PACKABLE_BITS:
        raise ValueError(f"bits must be 1, 2 or 4 (a width that tiles a byte), got {bits!r}")
    return bits


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
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8:
        got = packed.dtype if isinstance(packed, torch.Tensor) else type(packed).__name__
        raise TypeError(f"packed must be a uint8 tensor (from pack_weights), got {got}")
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


Granularity = Literal["per-tensor", "per-channel", "per-group"]


def _check_weight_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(
            f"bits must be an int from 2 to 8 (symmetric weights need 2 bits), got {bits!r}"
        )
    return bits


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
    bits = _check_weight_bits(bits)
    weight = _check_float_tensor(weight, "weight")
    if scale_dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise TypeError(f"scale_dtype must be float16, bfloat16 or float32, got {scale_dtype!r}")
    dtype = integer_dtype(bits, signed=True)
    block = block_size_for(weight.shape, granularity, dim=0, group_size=group_size)
    view, axes = _block_view(weight.float(), block)
    scale, _ = _scale_and_zero_point(*_block_min_max(view, axes), dtype, "symmetric")
    info = torch.finfo(scale_dtype)
    if float(scale.max()) > info.max:
        raise ValueError(f"weights too large for {scale_dtype} scales; use torch.float32")
    stored = scale.to(scale_dtype).clamp_(min=info.smallest_normal * info.eps)
    quantized = _quantize(view, stored.to(torch.float32), 0, dtype).reshape(weight.shape)
    grid = [size // b for size, b in zip(weight.shape, block)]
    return quantized, stored.reshape(grid)


class QuantizedLinear(torch.nn.Module):
    """A linear layer whose weights are stored quantized, symmetric (activations stay float).

    Buffers: ``weight_q``: the ``bits``-bit values (2 to 8: symmetric mode needs 2), packed into
    uint8 bytes (``pack_weights``) when bits is 2 or 4, else in an int8 container shaped
    (out, in); ``scale``: one per block
    (per tensor, per output channel, or per group of ``group_size`` inputs), float16 by default;
    ``bias``: float32 (or None). Forward: dequantize ``W' = s q``, then ``y = x W'^T + b``
    (``F.linear``): W-only quantization, computed in float32 (A32).
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
        self.bits = _check_weight_bits(bits)
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
        """``y = input W'^T + b``, with ``W'`` dequantized on the fly."""
        return torch.nn.functional.linear(input, self.dequantized_weight(), self.bias)

    @property
    def storage_bytes(self) -> int:
        """Bytes of the stored buffers (packed or int8 weights, scales, bias)."""
        return tensor_bytes(self.weight_q, self.scale, self.bias)

    def nbytes(self) -> int:
        """Bytes of the stored buffers: the same as ``storage_bytes``."""
        return self.storage_bytes

    def extra_repr(self) -> str:
        group = f", group_size={self.group_size}" if self.granularity == "per-group" else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bits={self.bits}, {self.granularity}{group}, scale={self.scale.dtype}, "
            f"bias={self.bias is not None}"
        )


def quantize_model(
    model: torch.nn.Module,
    bits: int,
    granularity: Granularity,
    group_size: int | None = None,
    scale_dtype: torch.dtype = torch.float16,
) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by a ``QuantizedLinear``.

    The original model is left untouched. (A loop over the modules, not over their values.)
    """
    import copy

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")

    def convert(linear: torch.nn.Linear) -> QuantizedLinear:
        return QuantizedLinear.from_linear(linear, bits, granularity, group_size, scale_dtype)

    if isinstance(model, torch.nn.Linear):
        return convert(model)
    copied = copy.deepcopy(model)
    for name, module in list(copied.named_modules()):
        if isinstance(module, torch.nn.Linear):
            parent_name, _, child = name.rpartition(".")
            setattr(copied.get_submodule(parent_name), child, convert(module))
    return copied


def model_bytes(model: torch.nn.Module) -> int:
    """Bytes of a model's parameters and buffers (each tensor counted once)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    unique = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return tensor_bytes(*unique.values())


class Digits:
    """scikit-learn's bundled 8x8 digits, split once: ``x_*`` are float32 pixels in [0, 1]
    (one row of 64 per image), ``y_*`` int64 labels 0-9."""

    def __init__(self, x_train, y_train, x_test, y_test) -> None:
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test

    def __repr__(self) -> str:
        return f"Digits({len(self.y_train)} to train on, {len(self.y_test)} to test on)"


def load_digits_data(test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """The 1797 handwritten digits that scikit-learn bundles (no download), as float32 pixels
    / 16 (in [0, 1]) and int64 labels, split into train and test by a seeded permutation.

    The data is the file ``sklearn.datasets.load_digits`` reads (``digits.csv.gz``, shipped
    with scikit-learn), read directly: importing ``sklearn.datasets`` takes about a second,
    longer than training the MLP. If the file is not where scikit-learn 1.9 keeps it,
    ``load_digits`` is used."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    origin = Path(spec.origin).parent if spec and spec.origin else Path()
    path = origin / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
        pixels, labels = table[:, :-1], table[:, -1]
    else:  # pragma: no cover (another scikit-learn layout)
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels, labels = digits.data, digits.target
    pixels = torch.tensor(pixels, dtype=torch.float32) / 16
    labels = torch.tensor(labels, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = math.ceil(test_fraction * len(labels))
    test, train = order[:n_test], order[n_test:]
    return Digits(pixels[train], labels[train], pixels[test], labels[test])


def digits_mlp(seed: int = 0, hidden: Sequence[int] = (128, 64)) -> torch.nn.Sequential:
    """A small MLP for the digits, 64 -> 128 -> 64 -> 10 with ReLUs, initialised from ``seed``
    (without touching the global random state)."""
    import itertools

    layers: list[torch.nn.Module] = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for fan_in, fan_out in itertools.pairwise((64, *hidden, 10)):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


# Full-batch gradient descent with momentum: these train the MLP in well under a second.
DIGITS_STEPS, DIGITS_LEARNING_RATE, DIGITS_MOMENTUM = 150, 0.2, 0.9


def train_digits_mlp(
    seed: int = 0,
    steps: int = DIGITS_STEPS,
    lr: float = DIGITS_LEARNING_RATE,
    momentum: float = DIGITS_MOMENTUM,
) -> tuple[torch.nn.Sequential, Digits]:
    """Train ``digits_mlp(seed)`` on ``load_digits_data()``: full-batch gradient descent with
    momentum on the cross-entropy, ``v = momentum * v + grad``, ``w = w - lr * v``, for
    ``steps`` steps (written out: ``torch.optim`` would cost a second of imports on first use).
    Deterministic: no shuffling, a seeded initialisation, and one CPU thread (the sums are then
    added in the same order whatever the machine's number of cores). Returns
    ``(model, data)``, the model in eval mode."""
    data = load_digits_data()
    model = digits_mlp(seed)
    velocity = [torch.zeros_like(p) for p in model.parameters()]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            model.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(data.x_train), data.y_train)
            loss.backward()
            with torch.no_grad():
                for parameter, v in zip(model.parameters(), velocity):
                    v.mul_(momentum).add_(parameter.grad)
                    parameter.sub_(lr * v)
    finally:
        torch.set_num_threads(threads)
    return model.eval(), data


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows of ``x`` whose predicted class (argmax of the output) is ``y``."""
    with torch.no_grad():
        return float((model(x).argmax(dim=-1) == y).float().mean())


# --- L4 "Your turn" checkers --------------------------------------------------------------


def _w8a8_per_token_reference(q_x, s_x, z_x, q_w, s_w) -> torch.Tensor:
    """``s_x s_w^T (q_x - z_x) q_w^T`` in float64, one (s_x, z_x) per row of ``q_x``."""
    product = (q_x.double() - z_x.double()) @ q_w.double().t()
    return (product * s_x.double() * s_w.double().reshape(1, -1)).to(torch.float32)


def check_w8a8_per_token(learner_function: Callable) -> Verdict:
    """L4 W8A8 "Your turn": ``learner_function(q_x, s_x, z_x, q_w, s_w)`` with one activation
    scale and zero point per row of ``q_x`` (``s_x``, ``z_x`` shaped (m, 1)) must return
    ``s_x s_w^T * (q_x q_w^T - z_x * rowsum(q_w))`` as float32 (m, out)."""
    cases = []
    for seed, (m, k, n) in enumerate(((4, 8, 3), (17, 32, 24), (1, 5, 2), (33, 64, 16)), 20):
        x = _seeded_randn(seed, m, k) * 2.0 + 0.5
        q_x, s_x, z_x = quantize_blocks(x, (1, k), torch.int8, "asymmetric")
        q_w, s_w = linear_q_symmetric_per_channel(_seeded_randn(seed + 50, n, k), dim=0)
        cases.append((q_x, s_x, z_x, q_w, s_w))
    return check_exercise(learner_function, _w8a8_per_token_reference, cases, name="w8a8_per_token")


def check_pack_2bit(learner_function: Callable) -> Verdict:
    """L4 packing "Your turn": ``learner_function(q)`` packs unsigned 2-bit values (a uint8
    tensor of 0..3) four to a byte, the first in the lowest bits, as ``pack_weights(q, 2)``."""
    generator = torch.Generator().manual_seed(30)
    cases = [(torch.tensor([1, 2, 3, 0], dtype=torch.uint8),)]
    cases += [
        (torch.randint(0, 4, shape, generator=generator, dtype=torch.uint8),)
        for shape in ((8,), (3, 4), (7,), (5, 3), (1,))
    ]
    return check_exercise(learner_function, lambda q: pack_weights(q, 2), cases, name="pack_2bit")


def check_to_linear(learner_function: Callable) -> Verdict:
    """L4 trained-network "Your turn": ``learner_function(layer)`` turns a ``QuantizedLinear``
    back into an ``nn.Linear`` whose weight is ``s q`` (unpacked if packed) and whose bias is
    the layer's; compared as ``(weight, bias)``."""

    def as_tensors(function: Callable) -> Callable:
        def wrapped(layer):
            linear = function(layer)
            if not isinstance(linear, torch.nn.Linear):
                return linear
            bias = None if linear.bias is None else linear.bias.detach()
            return linear.weight.detach(), bias

        return wrapped

    def reference(layer):
        return layer.dequantized_weight(), layer.bias

    cases = []
    with torch.random.fork_rng():
        torch.manual_seed(31)
        for bits, granularity, group_size in (
            (8, "per-channel", None),
            (4, "per-group", 16),
            (2, "per-tensor", None),
            (3, "per-group", 8),
        ):
            linear = torch.nn.Linear(32, 6)
            cases.append((QuantizedLinear.from_linear(linear, bits, granularity, group_size),))
    return check_exercise(as_tensors(learner_function), reference, cases, name="to_linear")


# --- L4 lesson figures --------------------------------------------------------------------

_L4_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
_L4_COLOURS += ("#999999",)


def figure_l4_bit_packing():
    """L4 packing: how ``pack_weights`` lays 4-, 2- and 1-bit values into one byte."""
    import matplotlib.pyplot as plt

    examples = (
        (4, torch.tensor([5, -3], dtype=torch.int8)),
        (2, torch.tensor([1, -2, 0, -1], dtype=torch.int8)),
        (1, torch.tensor([1, 0, 1, 1, 0, 0, 1, 0], dtype=torch.uint8)),
    )
    fig, axes = plt.subplots(len(examples), 1, figsize=(10, 5.4), layout="constrained")
    for ax, (bits, values) in zip(axes, examples):
        byte = int(pack_weights(values, bits)[0])
        for bit in range(8):  # drawn from bit 7 (left) to bit 0 (right), as a byte is written
            x, owner = 7 - bit, bit // bits
            ax.add_patch(
                plt.Rectangle((x, 0), 1, 1, facecolor=_L4_COLOURS[owner], alpha=0.55, ec="black")
            )
            ax.text(x + 0.5, 0.5, str(byte >> bit & 1), ha="center", va="center", fontsize=14)
            ax.text(x + 0.5, 1.12, f"bit {bit}", ha="center", va="bottom", fontsize=8)
        for index, value in enumerate(values.tolist()):
            centre = 8 - (index + 0.5) * bits
            ax.text(centre, -0.3, f"v{index} = {value}", ha="center", va="top", fontsize=10)
        kind = "signed, two's complement" if values.dtype == torch.int8 else "unsigned"
        ax.set_title(
            f"{bits}-bit ({kind}): {8 // bits} value{'s' * (bits < 8)} {values.tolist()} "
            f"\N{RIGHTWARDS ARROW} one byte = {byte} = 0b{byte:08b}",
            fontsize=11,
        )
        ax.set_xlim(-0.2, 8.2)
        ax.set_ylim(-0.9, 1.5)
        ax.axis("off")
    fig.suptitle("pack_weights: value i sits at bit offset bits \u00d7 i (the first value lowest)")
    plt.close(fig)
    return fig


def figure_l4_w8a8_pipeline():
    """L4 W8A8: the integer path of a linear layer, from float input to float output."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 4.4), layout="constrained")
    width, height = 0.16, 0.24
    boxes = {  # name: (centre x, centre y, text, colour)
        "x": (0.07, 0.75, "x\n(float32)", 0),
        "qx": (0.27, 0.75, "quantize (each input):\nasymmetric, per tensor\nq_x int8, s_x, z_x", 1),
        "mm": (0.5, 0.75, "int8 \u00d7 int8 products,\nsummed in int32:\nq_x q_w\u1d40", 2),
        "y": (0.9, 0.75, "one rescale:\ny = s_x s_w \u00b7 acc\n(float32)", 3),
        "w": (0.07, 0.22, "W\n(float32)", 0),
        "qw": (0.27, 0.22, "quantize once:\nsymmetric, per channel\nq_w int8, s_w", 1),
        "sum": (0.5, 0.22, "precompute once:\nrow sums \u03a3\u2096 q_w[:, k]\n(int32)", 2),
        "sub": (0.71, 0.75, "acc =\nq_x q_w\u1d40 \u2212\nz_x \u00b7 row sums", 2),
    }
    for name, (x, y, text, colour) in boxes.items():
        w = 0.1 if name in ("x", "w") else 0.11 if name == "sub" else width
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - height / 2),
                w,
                height,
                boxstyle="round,pad=0.01",
                fc=_L4_COLOURS[colour],
                alpha=0.35,
                ec="#333333",
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=9.5)

    def edge(name: str, side: str) -> tuple[float, float]:
        x, y = boxes[name][:2]
        w = 0.1 if name in ("x", "w") else 0.11 if name == "sub" else width
        offsets = {"left": (-w / 2 - 0.01, 0), "right": (w / 2 + 0.01, 0)}
        offsets |= {"top": (0, height / 2 + 0.01), "bottom": (0, -height / 2 - 0.01)}
        return x + offsets[side][0], y + offsets[side][1]

    arrows = (
        ("x", "right", "qx", "left"),
        ("qx", "right", "mm", "left"),
        ("mm", "right", "sub", "left"),
        ("sub", "right", "y", "left"),
        ("w", "right", "qw", "left"),
        ("qw", "right", "sum", "left"),
        ("qw", "top", "mm", "bottom"),
        ("sum", "right", "sub", "bottom"),
    )
    for start, start_side, end, end_side in arrows:
        ax.annotate(
            "",
            xy=edge(end, end_side),
            xytext=edge(start, start_side),
            arrowprops={"arrowstyle": "-|>", "color": "#333333", "shrinkA": 0, "shrinkB": 0},
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.set_title(
        "W8A8: integer arithmetic inside, one floating-point rescale at the end\n"
        "(blue: float in, orange: quantize, green: integers, purple: float out)"
    )
    plt.close(fig)
    return fig


# --- L4 widgets (built on the Widgets section's Explorer) ---------------------------------

# Okabe-Ito colours of the L4 widgets' plots.
_L4_BLUE, _L4_ORANGE, _L4_GREY = "#0072B2", "#E69F00", "#999999"


class _W8A8Errors(_Plot):
    """The error of each output of the W8A8 and W8A32 layers, against the fp32 output."""

    def __init__(self, ax) -> None:
        super().__init__(ax)
        ax.axhline(0.0, color=_L4_GREY, lw=1)
        (self.w8a8,) = ax.plot([], [], "o", color=_L4_BLUE, ms=3, label="W8A8")
        (self.w8a32,) = ax.plot([], [], "o", color=_L4_ORANGE, ms=3, label="W8A32")
        ax.set_xlabel("fp32 layer output y", fontsize=9)
        ax.set_ylabel("error y' \N{MINUS SIGN} y", fontsize=9)
        ax.legend(loc="upper left", fontsize=8)

    def update(self, data: dict) -> None:
        reference = data["fp32"]
        errors = (data["w8a8"] - reference, data["w8a32"] - reference)
        self.w8a8.set_data(reference, errors[0])
        self.w8a32.set_data(reference, errors[1])
        low, high = reference.min(), reference.max()
        pad = 0.05 * (high - low or 1.0)
        self.ax.set_xlim(low - pad, high + pad)
        top = 1.15 * max(np.abs(errors[0]).max(), np.abs(errors[1]).max(), 1e-12)
        self.ax.set_ylim(-top, top)
        self.ax.set_title(data["title"], fontsize=10)


def explore_w8a8(
    input: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bits: int = 8,
    outlier: float = 1.0,
) -> Explorer:
    """L4 W8A8: activations quantized asymmetric per tensor to ``bits`` (held in int8), weights
    symmetric per channel in int8, the layer computed in integers
    (``quantized_linear_W8A8_without_bias``), against W8A32 and fp32. ``outlier`` sets one
    activation to ``outlier`` times the largest of the others: a single large value stretches
    the one activation scale ``s_x`` that every value shares.
    """
    weight = _seeded_randn(41, 16, 64) * 0.1 if weight is None else weight
    weight = _check_float_tensor(weight, "weight").float()
    if input is None:
        input = _seeded_randn(40, 8, weight.shape[1]).relu_() + 0.1
    input = _check_float_tensor(input, "input").float()
    if weight.dim() != 2 or input.dim() != 2 or input.shape[1] != weight.shape[1]:
        raise ValueError(
            f"input (batch, k) and weight (out, k) must share k, got {tuple(input.shape)} and "
            f"{tuple(weight.shape)}"
        )
    q_w, s_w = linear_q_symmetric_per_channel(weight, dim=0)
    controls = {
        "bits": _int_slider("activation bits", bits, 2, 8),
        "outlier": widgets.FloatLogSlider(
            value=outlier,
            base=10,
            min=0,
            max=2,
            step=0.02,
            description="one activation \u00d7",
            continuous_update=True,
            readout_format=".3g",
            style=_STYLE,
        ),
    }

    def compute(bits: int, outlier: float) -> _ExplorerView:
        x = input.clone()
        x[0, 0] = outlier * float(input.abs().max())
        fp32 = torch.nn.functional.linear(x, weight)
        q_x, s_x, z_x = linear_quantization(x, integer_dtype(bits))
        w8a8 = quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w)
        w8a32 = quantized_linear_W8A32_without_bias(x, q_w, s_w, 0)
        readout = {
            "activations": f"int{bits}",
            "activation_scale": s_x,
            "activation_zero_point": z_x,
            "mse": quantization_error(fp32, w8a8),
            "mse_of_W8A32": quantization_error(fp32, w8a32),
            "relative_error": float((w8a8 - fp32).norm() / fp32.norm()),
            "activation_levels_used": int(torch.unique(q_x).numel()),
        }
        error = _as_matrix((w8a8 - fp32).abs())
        top = max(error.max(), 1e-12)
        matrices = [_Matrix("W8A8 error |y \N{MINUS SIGN} y'|", error, 0.0, top, ".3g", "cividis")]
        plot = {
            "fp32": fp32.flatten().numpy(),
            "w8a8": w8a8.flatten().numpy(),
            "w8a32": w8a32.flatten().numpy(),
            "title": f"W8A8 ({bits}-bit activations): relative error "
            f"{readout['relative_error']:.2%}",
        }
        return _ExplorerView(readout, matrices, plot)

    return Explorer(
        "A linear layer in integers (W8A8) against W8A32 and fp32", controls, compute, _W8A8Errors
    )


class _StorageBars(_Plot):
    """Bytes of the packed (or int8) weights and of the scales, against the fp32 tensor."""

    figsize = (6.4, 2.4)
    margins = (0.16, 0.2, 0.97, 0.86)

    def __init__(self, ax) -> None:
        super().__init__(ax)
        self.weights = ax.barh([0, 1], [0, 0], color=_L4_BLUE, label="weights")
        self.scales = ax.barh([0, 1], [0, 0], color=_L4_ORANGE, label="scales")
        ax.set_yticks([0, 1], ["fp32", "quantized"])
        ax.set_xlabel("bytes", fontsize=9)
        ax.legend(loc="lower right", fontsize=8)

    def update(self, data: dict) -> None:
        for bar, value, left in zip(self.weights, data["weight_bytes"], (0, 0)):
            bar.set_width(value)
            bar.set_x(left)
        for bar, value, left in zip(self.scales, data["scale_bytes"], data["weight_bytes"]):
            bar.set_width(value)
            bar.set_x(left)
        self.ax.set_xlim(0, 1.05 * data["fp32_bytes"])
        self.ax.set_title(data["title"], fontsize=10)


def explore_storage(
    weight: torch.Tensor | None = None, bits: int = 4, group_size: int = 32, scale_bits: int = 16
) -> Explorer:
    """L4 packing: symmetric per-group quantization of ``weight``, the values packed with
    ``pack_weights`` (2 and 4 bits; 3 and 8 bits stay in int8) and the scales in fp16 or fp32.
    The bytes are measured on the real tensors (``tensor_bytes``); ``ideal_bits`` is
    ``bits_per_weight``, which assumes every value takes exactly ``bits`` bits."""
    if weight is None:  # rows of different sizes, as in a trained layer
        generator = torch.Generator().manual_seed(4)
        sizes = torch.logspace(-1.3, 0.3, 64)[torch.randperm(64, generator=generator)]
        weight = torch.randn(64, 256, generator=generator) * sizes[:, None]
    weight = _check_float_tensor(weight, "weight")
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D (rows, columns), got shape {tuple(weight.shape)}")
    sizes = [d for d in (8, 16, 32, 64, 128, 256, 512, 1024) if weight.shape[1] % d == 0]
    if group_size not in sizes:
        raise ValueError(f"group_size must be one of {sizes}, got {group_size!r}")
    controls = {
        "bits": _buttons("bits", [2, 3, 4, 8], bits),
        "group_size": widgets.SelectionSlider(
            options=sizes,
            value=group_size,
            description="group size",
            continuous_update=True,
            style=_STYLE,
        ),
        "scale_bits": _buttons("scales stored as", [("fp16", 16), ("fp32", 32)], scale_bits),
    }
    fp32_bytes = tensor_bytes(weight.float())

    def compute(bits: int, group_size: int, scale_bits: int) -> _ExplorerView:
        scale_dtype = torch.float16 if scale_bits == 16 else torch.float32
        q, scale = quantize_weight_symmetric(weight, bits, "per-group", group_size, scale_dtype)
        stored = pack_weights(q, bits) if bits in PACKABLE_BITS else q
        block = block_size_for(weight.shape, "per-group", group_size=group_size)
        dequantized = dequantize_blocks(q, scale.float(), 0, block)
        weight_bytes, scale_bytes = tensor_bytes(stored), tensor_bytes(scale)
        measured = 8 * (weight_bytes + scale_bytes) / weight.numel()
        readout = {
            "weights_in": "packed uint8" if bits in PACKABLE_BITS else "int8",
            "scales_in": str(scale_dtype).removeprefix("torch."),
            "weight_bytes": weight_bytes,
            "scale_bytes": scale_bytes,
            "bits_per_weight": measured,
            "ideal_bits": bits_per_weight(bits, group_size, scale_bits),
            "compression": fp32_bytes / (weight_bytes + scale_bytes),
            "mse": quantization_error(weight, dequantized),
        }
        plot = {
            "weight_bytes": (fp32_bytes, weight_bytes),
            "scale_bytes": (0, scale_bytes),
            "fp32_bytes": fp32_bytes,
            "title": f"{bits}-bit, group {group_size}: {measured:.4g} bits per weight, "
            f"{readout['compression']:.3g}\u00d7 smaller than fp32",
        }
        return _ExplorerView(readout, [], plot)

    return Explorer(
        "What a quantized weight really costs: packed values plus scales",
        controls,
        compute,
        _StorageBars,
    )


# Misclassified digits shown at once in the trained-network explorer.
_MONTAGE_DIGITS = 16


def _digit_montage(images: torch.Tensor, columns: int = 8) -> np.ndarray:
    """Up to ``_MONTAGE_DIGITS`` 8x8 images tiled in rows of ``columns``, each in a 11x9 tile
    whose blank margin (NaN: drawn white) holds its label."""
    tiles = np.full((_MONTAGE_DIGITS, 11, 9), np.nan)
    tiles[: len(images), :8, :8] = images[:_MONTAGE_DIGITS].reshape(-1, 8, 8).numpy()
    rows = _MONTAGE_DIGITS // columns
    return tiles.reshape(rows, columns, 11, 9).transpose(0, 2, 1, 3).reshape(rows * 11, columns * 9)


class _DigitMontage(_Plot):
    """The misclassified test digits, each labelled 'true \N{RIGHTWARDS ARROW} predicted'."""

    figsize = (6.4, 2.9)
    margins = (0.02, 0.02, 0.98, 0.9)

    def __init__(self, ax) -> None:
        import matplotlib

        super().__init__(ax)
        cmap = matplotlib.colormaps["gray_r"].with_extremes(bad="white")
        self.image = ax.imshow(
            _digit_montage(torch.zeros(0, 64)), cmap=cmap, vmin=0, vmax=1, interpolation="nearest"
        )
        self.labels = [
            ax.text(9 * (i % 8) + 3.5, 11 * (i // 8) + 9, "", ha="center", va="center", fontsize=9)
            for i in range(_MONTAGE_DIGITS)
        ]
        ax.set_xticks([])
        ax.set_yticks([])

    def update(self, data: dict) -> None:
        self.image.set_data(_digit_montage(data["images"]))
        for i, label in enumerate(self.labels):
            label.set_text(
                f"{data['true'][i]}\N{RIGHTWARDS ARROW}{data['predicted'][i]}"
                if i < len(data["true"])
                else ""
            )
        self.ax.set_title(data["title"], fontsize=10)


def explore_trained_network(
    model: torch.nn.Module | None = None,
    data: Digits | None = None,
    bits: int = 4,
    granularity: Granularity = "per-channel",
    group_size: int = 32,
) -> Explorer:
    """L4: the digits MLP with every ``nn.Linear`` quantized (``quantize_model``) to ``bits``,
    per tensor, per channel or per group; its test accuracy, its real bytes
    (``model_bytes``) and the test digits it now gets wrong. Quantized models are cached per
    setting, so moving back to a setting is instant. ``model=None`` trains
    ``train_digits_mlp()``; ``mse`` is the weights' mean squared error over all layers."""
    if model is None:
        model, data = train_digits_mlp() if data is None else (train_digits_mlp()[0], data)
    data = load_digits_data() if data is None else data
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError("model has no nn.Linear layer to quantize")
    widths = [m.in_features for m in linears]
    sizes = [d for d in (4, 8, 16, 32, 64, 128) if all(w % d == 0 for w in widths)]
    if group_size not in sizes:
        raise ValueError(f"group_size must be one of {sizes}, got {group_size!r}")
    weights = torch.cat([m.weight.detach().flatten() for m in linears])
    fp32_accuracy, fp32_bytes = accuracy(model, data.x_test, data.y_test), model_bytes(model)
    cache: dict[tuple, tuple] = {}

    def evaluate(bits: int, granularity: str, group_size: int | None) -> tuple:
        key = (bits, granularity, group_size)
        if key not in cache:
            quantized = quantize_model(model, bits, granularity, group_size)
            with torch.no_grad():
                predicted = quantized(data.x_test).argmax(dim=-1)
            layers = [m for m in quantized.modules() if isinstance(m, QuantizedLinear)]
            restored = torch.cat([m.dequantized_weight().flatten() for m in layers])
            cache[key] = (quantized, predicted, quantization_error(weights, restored))
        return cache[key]

    controls = _bits_granularity_group_controls(
        bits, ["per-tensor", "per-channel", "per-group"], granularity, sizes, group_size
    )

    def compute(bits: int, granularity: str, group_size: int) -> _ExplorerView:
        group = group_size if granularity == "per-group" else None
        quantized, predicted, mse = evaluate(bits, granularity, group)
        wrong = torch.nonzero(predicted != data.y_test).flatten()
        readout = {
            "accuracy": float((predicted == data.y_test).float().mean()),
            "fp32_accuracy": fp32_accuracy,
            "misclassified": int(wrong.numel()),
            "model_bytes": model_bytes(quantized),
            "fp32_bytes": fp32_bytes,
            "mse": mse,
        }
        shown = wrong[:_MONTAGE_DIGITS]
        plot = {
            "images": data.x_test[shown],
            "true": data.y_test[shown].tolist(),
            "predicted": predicted[shown].tolist(),
            "title": f"{bits}-bit {granularity}{f' (group {group})' if group else ''}: "
            f"{wrong.numel()} of {len(data.y_test)} test digits wrong"
            f"{f' (first {_MONTAGE_DIGITS} shown)' if wrong.numel() > _MONTAGE_DIGITS else ''}",
        }
        return _ExplorerView(readout, [], plot)

    return Explorer(
        "The digits MLP, quantized: accuracy, bytes and the digits it gets wrong",
        controls,
        compute,
        _DigitMontage,
        sync=_granularity_sync,
    )


# --- L4 lesson plots ----------------------------------------------------------------------


def plot_output_errors(reference: torch.Tensor, outputs: dict[str, torch.Tensor]):
    """The error ``y' - y`` of each named output against the reference ``y``: as points
    against ``y`` (left) and as histograms (right). Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    y = reference.detach().double().flatten().numpy()
    errors = {name: out.detach().double().flatten().numpy() - y for name, out in outputs.items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    top = max(float(np.abs(e).max()) for e in errors.values()) * 1.05 or 1.0
    bins = np.linspace(-top, top, 61)
    for (name, error), colour in zip(errors.items(), _L4_COLOURS):
        mse = float(np.mean(error**2))
        left.plot(y, error, "o", ms=2, alpha=0.5, color=colour, label=f"{name} (MSE {mse:.2e})")
        right.hist(error, bins=bins, histtype="step", lw=1.5, color=colour, label=name)
    left.axhline(0, color="#555555", lw=0.8)
    left.set(xlabel="fp32 output y", ylabel="error y' \N{MINUS SIGN} y", ylim=(-top, top))
    left.set_title("Error of each output against the fp32 output", fontsize=11)
    left.legend(fontsize=9, markerscale=3)
    right.set(xlabel="error y' \N{MINUS SIGN} y", ylabel="number of outputs")
    right.set_title("How the errors are spread", fontsize=11)
    right.legend(fontsize=9)
    plt.close(fig)
    return fig


def plot_storage(rows: Sequence[dict]):
    """Measured bits per weight against group size: one line per bit width and scale dtype
    (rows: dicts with ``bits``, ``group_size``, ``scale_bits`` and ``measured``), the
    formula ``bits + scale_bits / group_size`` as grey crosses. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    keys = sorted({(row["bits"], row["scale_bits"]) for row in rows})
    for (bits, scale_bits), colour in zip(keys, _L4_COLOURS):
        mine = [row for row in rows if (row["bits"], row["scale_bits"]) == (bits, scale_bits)]
        groups = [row["group_size"] for row in mine]
        style = "-" if scale_bits == 16 else "--"
        ax.plot(
            groups,
            [row["measured"] for row in mine],
            style,
            marker="o",
            color=colour,
            label=f"{bits}-bit, fp{scale_bits} scales",
        )
        ax.plot(groups, [bits_per_weight(bits, g, scale_bits) for g in groups], "x", c="#555555")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({row["group_size"] for row in rows}))
    ax.set_xticklabels([str(g) for g in sorted({row["group_size"] for row in rows})])
    ax.set(xlabel="group size (values sharing one scale)", ylabel="bits per weight (measured)")
    ax.set_title("Real storage of packed weights plus their scales (x: the formula)", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    plt.close(fig)
    return fig


def plot_digits(images: torch.Tensor, titles: Sequence[str], suptitle: str = ""):
    """8x8 digit images (rows of 64 pixels) side by side, each with its title."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(1.1 * len(images), 1.6), layout="constrained")
    for ax, image, title in zip(np.atleast_1d(axes), images, titles):
        ax.imshow(image.reshape(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    plt.close(fig)
    return fig


def plot_accuracy_vs_bytes(results: Sequence[dict], fp32_accuracy: float, fp32_bytes: int):
    """Test accuracy against real model bytes, one point per setting (rows: dicts with
    ``bits``, ``granularity``, ``accuracy`` and ``bytes``), the fp32 model as a star. Hollow
    markers, so that settings of the same size (3 and 8 bits in int8) both show."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
    markers = {"per-tensor": "s", "per-channel": "o", "per-group": "^"}
    colours = dict(zip(sorted({row["bits"] for row in results}, reverse=True), _L4_COLOURS))
    for row in results:
        ax.plot(
            row["bytes"] / 1024,
            100 * row["accuracy"],
            markers[row["granularity"]],
            color=colours[row["bits"]],
            mfc="none",
            mew=2,
            ms=9,
        )
    ax.plot(fp32_bytes / 1024, 100 * fp32_accuracy, "*", color="black", ms=14)
    ax.annotate("fp32", (fp32_bytes / 1024, 100 * fp32_accuracy), (6, -14), "data", "offset points")
    handles = [
        plt.Line2D([], [], ls="", marker="o", color=colour, label=f"{bits} bits")
        for bits, colour in colours.items()
    ] + [
        plt.Line2D([], [], ls="", marker=marker, color="#555555", label=name)
        for name, marker in markers.items()
    ]
    ax.legend(handles=handles, fontsize=8, ncol=2, loc="lower right")
    ax.set_xscale("log")
    smallest = min(row["bytes"] for row in results) / 1024
    ticks = [2**p for p in range(-4, 20) if smallest / 2 < 2**p < 2 * fp32_bytes / 1024]
    ax.set_xticks(ticks, [str(tick) for tick in ticks])
    ax.minorticks_off()
    ax.set(xlabel="model size (KiB, measured from its tensors)", ylabel="test accuracy (%)")
    ax.set_title("The digits MLP, weights quantized: accuracy against real size", fontsize=11)
    ax.grid(True, alpha=0.3)
    plt.close(fig)
    return fig
