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

# The scale given to a block whose values are all 0: any positive number represents 0 exactly.
ZERO_RANGE_SCALE = float(torch.finfo(torch.float32).eps)

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
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or infinite values; they cannot be quantized")
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
    if isinstance(value, torch.Tensor) and torch.broadcast_shapes(value.shape, shape) != shape:
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
    """Per-block minimum and maximum in float64, in one pass where one axis is reduced."""
    wide = [axis for axis in axes if view.shape[axis] > 1]
    if not wide:
        r_min = r_max = view
    elif len(wide) == 1:
        r_min, r_max = torch.aminmax(view, dim=wide[0], keepdim=True)
    else:
        r_min, r_max = view.amin(dim=axes, keepdim=True), view.amax(dim=axes, keepdim=True)
    if not bool(torch.isfinite(r_min).all() and torch.isfinite(r_max).all()):
        raise ValueError("tensor contains NaN or infinite values; they cannot be quantized")
    return r_min.to(torch.float64), r_max.to(torch.float64)


def _scale_and_zero_point(
    r_min: torch.Tensor, r_max: torch.Tensor, dtype: torch.dtype, mode: Mode
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point (float64) from per-block ranges.

    asymmetric: ``s = (r_max - r_min) / (q_max - q_min)`` over ``r_min <= 0 <= r_max``,
    ``z = clamp(round(q_min - r_min / s), q_min, q_max)``; symmetric: ``s = max|r| / q_max``,
    ``z = 0``. A block of width 0 gets ``s = ZERO_RANGE_SCALE``.
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
    scale.masked_fill_(scale == 0, ZERO_RANGE_SCALE)
    if mode == "symmetric":
        return scale, torch.zeros_like(scale)
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
    scale, zero_point = _scale_and_zero_point(*_block_min_max(view, axes), dtype, mode)
    scale = scale.to(_work_dtype(tensor))
    zero_point = zero_point.to(torch.int32)
    z = 0 if mode == "symmetric" else zero_point
    quantized = _quantize(view, scale, z, dtype).reshape(tensor.shape)
    grid = tuple(size // b for size, b in zip(tensor.shape, block_size))
    return quantized, scale.reshape(grid), zero_point.reshape(grid)


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
    scale, zero_point = _scale_and_zero_point(
        *_block_min_max(view, axes), _check_dtype(dtype), mode
    )
    return scale.item(), int(zero_point.item())


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


# --------------------------------------------------------------------------------------------
# Lesson figures and checkers: L3-B, L3-C, L3-D, L3-E
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Widgets: explore_* (one per lesson)
# --------------------------------------------------------------------------------------------
