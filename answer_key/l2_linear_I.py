"""L2-A and L2-B: quantize and dequantize with a given scale and zero point, the quantization
error, and the scale and zero point from the data's range (asymmetric mode).

    quantize      q  = clamp(round(r / s + z), q_min, q_max)
    dequantize    r' = s * (q - z)
    asymmetric    s  = (r_max - r_min) / (q_max - q_min),   z = round(q_min - r_min / s)
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from answer_key.basics import (
    Mode,
    _check_int_tensor,
    check_broadcast,
    check_dtype,
    check_float_tensor,
    check_scale,
    check_zero_point,
    q_range,
    storage_dtype,
)

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
