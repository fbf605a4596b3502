"""What the lessons' widgets share: ``round_trip`` (a ``RoundTrip`` record), ``error_readout`` and
``ERROR_LABELS``, ``round_trip_matrices``, ``check_matrix``, the granularity controls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch

import helper
from course.core.explorer import STYLE, Matrix, int_slider
from course.core.plotting import GRANULARITY_PANELS, as_matrix
from helper import Mode

# The labels of the numbers ``error_readout`` gives, for the widgets that show them.
ERROR_LABELS = {"mse": "MSE", "max_error": "max |error|"}


def error_readout(original: torch.Tensor, dequantized: torch.Tensor) -> dict:
    """``mse`` (helper's ``quantization_error``) and ``max_error`` = max |r - r'|."""
    return {
        "mse": helper.quantization_error(original, dequantized),
        "max_error": float((original.double() - dequantized.double()).abs().max()),
    }


def round_trip_matrices(
    original: torch.Tensor,
    quantized: torch.Tensor,
    dequantized: torch.Tensor,
    dtype: torch.dtype,
    block: tuple[int, int] | None = None,
    error_max: float | None = None,
) -> list[Matrix]:
    """Original, quantized, dequantized and |error| as matrices (the widget's pictures)."""
    r, q, d = as_matrix(original), as_matrix(quantized), as_matrix(dequantized)
    error = np.abs(r - d)
    low, high = min(r.min(), d.min()), max(r.max(), d.max())
    q_min, q_max = helper.q_range(dtype)
    return [
        Matrix("original r", r, low, high, block=block),
        Matrix(f"quantized q ({helper.dtype_name(dtype)})", q, q_min, q_max, ".0f", block=block),
        Matrix("dequantized r' = s (q \N{MINUS SIGN} z)", d, low, high, block=block),
        Matrix(
            "error |r \N{MINUS SIGN} r'|",
            error,
            0.0,
            max(error_max or error.max(), 1e-12),
            ".3g",
            "cividis",
            block,
        ),
    ]


@dataclass(frozen=True)
class RoundTrip:
    """A tensor quantized with one scale per block, and what dequantizing gives back."""

    quantized: torch.Tensor
    scale: torch.Tensor
    zero_point: torch.Tensor
    dequantized: torch.Tensor


def round_trip(
    tensor: torch.Tensor, block: Sequence[int], dtype: torch.dtype, mode: Mode
) -> RoundTrip:
    """helper's ``quantize_blocks`` then ``dequantize_blocks``, every piece kept by name."""
    quantized, scale, zero_point = helper.quantize_blocks(tensor, block, dtype, mode)
    dequantized = helper.dequantize_blocks(quantized, scale, zero_point, block)
    return RoundTrip(quantized, scale, zero_point, dequantized)


def _divisors(n: int) -> list[int]:
    """The divisors of ``n``, in increasing order."""
    candidates = np.arange(1, n + 1)
    return candidates[n % candidates == 0].tolist()


def check_matrix(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """A widget's 2-D float tensor of finite values, or a clear error naming it."""
    tensor = helper.check_float_tensor(tensor, name)
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be 2-D (rows, columns), got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values; they cannot be quantized")
    return tensor


def granularity_controls(
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
    helper.check_int(group_size, "group_size", sizes, f"a divisor of the last axis ({shape[-1]})")
    return bits_granularity_group_controls(
        bits, list(GRANULARITY_PANELS), granularity, sizes, group_size
    )


def bits_granularity_group_controls(
    bits: int, granularities: list[str], granularity: str, sizes: list[int], group_size: int
) -> dict:
    """A bits slider (2 to 8), a granularity menu and a group-size slider over ``sizes``."""
    return {
        "bits": int_slider("bits", bits, 2, 8),
        "granularity": widgets.Dropdown(
            options=granularities, value=granularity, description="granularity", style=STYLE
        ),
        "group_size": group_size_slider(sizes, group_size),
    }


def group_size_slider(sizes: list[int], group_size: int) -> widgets.SelectionSlider:
    """A slider over the group sizes ``sizes``, starting at ``group_size``."""
    return widgets.SelectionSlider(
        options=sizes,
        value=group_size,
        description="group size",
        continuous_update=True,
        style=STYLE,
    )


def granularity_sync(controls: dict) -> None:
    """The group-size slider is live only when the granularity is per-group."""
    controls["group_size"].disabled = controls["granularity"].value != "per-group"


def granularity_block(shape: Sequence[int], granularity: str, group_size: int) -> tuple:
    """``helper.block_size_for`` of a granularity menu's entry (``GRANULARITY_PANELS``)."""
    name, dim = GRANULARITY_PANELS[granularity]
    return helper.block_size_for(shape, name, dim=dim, group_size=group_size)
