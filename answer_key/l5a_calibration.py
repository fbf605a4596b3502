"""L5-A: choosing the range: SQNR, clipping (rounding against clipping error), the search for a
clip ratio, and the arithmetic of the activation observers.

    SQNR = 10 log10(mean(r^2) / mse)  dB
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from answer_key.basics import (
    Mode,
    check_bits,
    check_float_tensor,
    check_scale,
    check_zero_point,
    integer_dtype,
    q_range,
)
from answer_key.l2_linear_I import (
    ZERO_RANGE_SCALE,
    _quantize,
    _work_dtype,
    linear_dequantization,
    linear_q_with_scale_and_zero_point,
    quantization_error,
    range_scale_and_zero_point,
)
from answer_key.l3_linear_II import _block_view

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


# --- L5-A: the observers' arithmetic: a range from the batches of activations seen -------------


def min_max_range(
    x: torch.Tensor, previous: tuple[torch.Tensor, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The min/max observer's range after the batch ``x``: ``r_min = min(r_min, min x)``,
    ``r_max = max(r_max, max x)``, from the ``previous`` range (None: ``x``'s own min and max)."""
    low, high = torch.aminmax(check_float_tensor(x, "x"))
    if previous is None:
        return low, high
    return torch.minimum(low, previous[0]), torch.maximum(high, previous[1])


def moving_average_range(
    x: torch.Tensor,
    previous: tuple[torch.Tensor, torch.Tensor] | None = None,
    averaging_constant: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The moving-average observer's range after the batch ``x``: ``m <- m + c (min x - m)``
    for ``r_min`` (the same with ``max x`` for ``r_max``), ``c = averaging_constant`` in (0, 1],
    from the ``previous`` range (None: ``x``'s own min and max, as the first batch gives)."""
    if isinstance(averaging_constant, bool) or not isinstance(averaging_constant, (int, float)):
        raise TypeError(
            f"averaging_constant must be a number in (0, 1], got {averaging_constant!r}"
        )
    if not 0 < averaging_constant <= 1:
        raise ValueError(f"averaging_constant must lie in (0, 1], got {averaging_constant}")
    low, high = torch.aminmax(check_float_tensor(x, "x"))
    if previous is None:
        return low, high
    c = averaging_constant
    return previous[0] + c * (low - previous[0]), previous[1] + c * (high - previous[1])
