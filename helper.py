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

import math
from collections.abc import Callable, Sequence
from typing import Literal

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
    try:
        fits = torch.broadcast_shapes(value.shape, shape) == shape
    except RuntimeError:
        fits = False
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
            raise ValueError(
                f"group_size {group_size} must divide the last axis ({shape[-1:] or 'none'})"
            )
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
    r_min, r_max = _block_min_max(view, axes)
    if mode == "asymmetric":  # float64, as the course's Python-float arithmetic
        r_min, r_max = r_min.to(torch.float64), r_max.to(torch.float64)
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
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
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
    the quantizer gives back, ``[s (q_low - z), s (q_high - z)]`` (orange); data outside it
    (red) is clamped. Bottom line: the integers ``q_low .. q_high`` and the zero point ``z``.
    Dashed lines join each integer to its real value ``r = s (q - z)``: ``q_low``, ``z`` (which
    is the real 0) and ``q_high``.

    ``q_low, q_high`` are ``q_min, q_max``, or ``-q_max, q_max`` in symmetric mode. Without
    ``scale`` and ``zero_point``, they are the ones ``helper`` computes for ``mode`` (asymmetric:
    ``get_q_scale_and_zero_point``; symmetric: ``s = max(|r_min|, |r_max|) / q_max``, ``z = 0``).
    Draws on ``ax`` when given; returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    r_min, r_max = _check_real(r_min, "r_min"), _check_real(r_max, "r_max")
    if r_min > r_max:
        raise ValueError(f"r_min must be <= r_max, got r_min={r_min} and r_max={r_max}")
    if (scale is None) != (zero_point is None):
        raise ValueError("give both scale and zero_point, or neither (to compute them)")
    auto_scale, auto_zero, q_low, q_high = _mode_parameters(r_min, r_max, dtype, mode)
    if scale is None:
        scale, zero_point = auto_scale, auto_zero
    window = representable_range(scale, zero_point, dtype)
    if mode == "symmetric":
        window = (scale * (q_low - zero_point), window[1])
    lo, hi = min(r_min, window[0], 0.0), max(r_max, window[1], 0.0)
    pad = 0.04 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad

    def x_real(value: float) -> float:
        return (value - lo) / (hi - lo)

    def x_int(q: float) -> float:
        return 0.1 + 0.8 * (q - q_low) / (q_high - q_low)

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
        plt.close(fig)
    top, bottom = 1.0, 0.0
    ax.plot([0, 1], [top, top], color=_GREY, lw=1)
    ax.plot(
        [x_real(window[0]), x_real(window[1])],
        [top, top],
        color=_WINDOW_COLOUR,
        lw=14,
        solid_capstyle="butt",
        alpha=0.55,
    )
    ax.plot(
        [x_real(r_min), x_real(r_max)], [top, top], color=_DATA_COLOUR, lw=5, solid_capstyle="butt"
    )
    # Values within half a step of the window round onto its ends; beyond that they are clamped.
    clip_low, clip_high = window[0] - scale / 2, window[1] + scale / 2
    for start, end in ((r_min, min(r_max, clip_low)), (max(r_min, clip_high), r_max)):
        if end > start:
            ax.plot(
                [x_real(start), x_real(end)],
                [top, top],
                color=_CLIPPED_COLOUR,
                lw=5,
                solid_capstyle="butt",
            )
    ax.plot(
        [x_int(q_low), x_int(q_high)],
        [bottom, bottom],
        color=_INTEGER_COLOUR,
        lw=5,
        solid_capstyle="butt",
    )
    # Dashed lines: each integer and the real value it stands for.
    for q, real in ((q_low, window[0]), (zero_point, 0.0), (q_high, window[1])):
        if q_low <= q <= q_high:
            ax.plot(
                [x_int(q), x_real(real)], [bottom + 0.05, top - 0.07], ls="--", color=_GREY, lw=1
            )
    # Labels: data above the top line, the window below it, integers below the bottom line.
    text = {"ha": "center", "fontsize": 10}
    boxed = {**text, "bbox": {"facecolor": "white", "edgecolor": "none", "pad": 1}}
    ax.text(
        x_real(r_min),
        top + 0.12,
        f"r_min = {_format_number(r_min)}",
        va="bottom",
        color=_DATA_COLOUR,
        **text,
    )
    ax.text(
        x_real(r_max),
        top + 0.12,
        f"r_max = {_format_number(r_max)}",
        va="bottom",
        color=_DATA_COLOUR,
        **text,
    )
    ax.plot([x_real(0.0)] * 2, [top - 0.09, top + 0.09], color="black", lw=1.5)
    if min(abs(x_real(0.0) - x_real(r_min)), abs(x_real(0.0) - x_real(r_max))) > 0.06:
        ax.text(x_real(0.0), top + 0.12, "0", va="bottom", **text)
    for end in window:
        if abs(x_real(end) - x_real(0.0)) > 0.01:
            ax.text(
                x_real(end), top - 0.12, _format_number(end), va="top", color="#A05A00", **boxed
            )
    low_name = "\N{MINUS SIGN}q_max" if mode == "symmetric" else "q_min"
    ends = {q_low: f"{low_name} = {_format_number(q_low)}", q_high: f"q_max = {q_high}"}
    if q_low <= zero_point <= q_high and zero_point in ends:
        ends[zero_point] = f"z = {ends[zero_point]}"
    for q, label in ends.items():
        ax.text(
            x_int(q),
            bottom - 0.12,
            label.replace("-", "\N{MINUS SIGN}"),
            va="top",
            color="#00664A",
            **text,
        )
    if q_low < zero_point < q_high:
        ax.text(
            x_int(zero_point),
            bottom - 0.12,
            f"z = {_format_number(zero_point)}",
            va="top",
            color="#00664A",
            **text,
        )
    ax.text(-0.01, top, "real r", ha="right", va="center", fontsize=10)
    ax.text(
        -0.01,
        bottom,
        f"integer q\n({str(dtype).removeprefix('torch.')})",
        ha="right",
        va="center",
        fontsize=10,
    )
    handles = [
        Patch(color=_DATA_COLOUR, label="data [r_min, r_max]"),
        Patch(
            color=_WINDOW_COLOUR,
            alpha=0.55,
            label="values it can give back, s (q \N{MINUS SIGN} z)",
        ),
        Patch(color=_INTEGER_COLOUR, label="integers"),
    ]
    if r_min < clip_low or r_max > clip_high:
        handles.insert(1, Patch(color=_CLIPPED_COLOUR, label="data clamped (lost)"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=len(handles),
        frameon=False,
        fontsize=9,
    )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.45, 1.45)
    ax.axis("off")
    ax.set_title(
        title
        or f"s = {scale:.4g}, z = {_format_number(zero_point)}: [{_format_number(window[0])}, "
        f"{_format_number(window[1])}] \N{RIGHTWARDS ARROW} [{_format_number(q_low)}, {q_high}]",
        fontsize=11,
    )
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
    values = tensor.detach().double().flatten().numpy()
    q_min, q_max = q_range(dtype)
    fig, axes = plt.subplots(
        len(modes),
        1,
        figsize=(10, 2.6 * len(modes) + 0.6),
        sharex=True,
        layout="constrained",
        squeeze=False,
    )
    for ax, mode in zip(axes[:, 0], modes):
        quantized, scale, zero_point = _quantize_mode(tensor, dtype, mode)
        used, total = levels_used(quantized, dtype)
        low, high = int(quantized.min()), int(quantized.max())
        ax.hist(values, bins=bins, color=_DATA_COLOUR, alpha=0.8)
        for q in range(q_min, q_max + 1):
            inside = low <= q <= high
            ax.axvline(
                scale * (q - zero_point),
                color=_USED_COLOUR if inside else _CLIPPED_COLOUR,
                ls="-" if inside else "--",
                lw=1.2 if inside else 1.0,
                alpha=0.9,
            )
        ax.set_title(
            f"{mode.capitalize()} mode, {str(dtype).removeprefix('torch.')}: "
            f"{used} of {total} levels fall inside the data",
            fontsize=11,
        )
        ax.set_ylabel("count")
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
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.4), layout="constrained")
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

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.4), layout="constrained")
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
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator) * scale + shift


def _result_as_float(function: Callable) -> Callable:
    """``function`` with a one-value tensor result turned into a Python float."""

    def wrapped(*args):
        result = function(*args)
        if isinstance(result, torch.Tensor) and result.numel() == 1 and result.is_floating_point():
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


# --------------------------------------------------------------------------------------------
# Widgets: explore_* (one per lesson)
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Past the course: integer inference (W8A8), packing low-bit weights, QuantizedLinear (L4)
# --------------------------------------------------------------------------------------------
