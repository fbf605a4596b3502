"""L3-A to L3-E: symmetric mode, then per-tensor, per-channel and per-group granularity as one
operation on blocks of values sharing a scale, and inference with quantized weights (W8A32).

    symmetric     s = max|r| / q_max,   z = 0

A granularity is the shape of the block that shares one scale and zero point
(``block_size_for``). Quantizing by blocks is three steps, as torchao splits them: choose the
scale and zero point of each block (``choose_block_scale_and_zero_point``), quantize with them
(``quantize_with_block_scale``), dequantize (``dequantize_blocks``); ``quantize_blocks`` is the
first two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from answer_key.basics import (
    Granularity,
    Mode,
    _check_int_tensor,
    _check_tensor_dtype,
    check_dtype,
    check_float_tensor,
    check_int,
    check_positive_int,
    check_scale,
    check_zero_point,
    integer_dtype,
    q_range,
)
from answer_key.l2_linear_I import (
    _per_tensor_scale_and_zero_point,
    _quantize,
    _work_dtype,
    linear_dequantization,
    linear_quantization,
    quantization_error,
    range_scale_and_zero_point,
)

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


def choose_block_scale_and_zero_point(
    tensor: torch.Tensor,
    block_size: Sequence[int],
    dtype: torch.dtype = torch.int8,
    mode: Mode = "asymmetric",
    scale_dtype: torch.dtype | None = None,
    value_range: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose one scale and zero point per block of ``block_size`` values: ``(scale, zero_point)``.

    From each block's ``[r_min, r_max]`` (``range_scale_and_zero_point``): ``scale`` in the
    tensor's working precision (float32, or ``scale_dtype``), ``zero_point`` int32, one entry per
    block, shaped ``[size_i // block_i for each axis]``. With ``scale_dtype`` (float16, say), the
    scale is rounded to that type. ``value_range`` (L5-A): a given ``(r_min, r_max)`` per block
    instead of the block's min and max. torchao calls this step ``choose_qparams_affine``.
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
    grid = tuple(size // b for size, b in zip(tensor.shape, block_size))
    return scale.reshape(grid), zero_point.to(torch.int32).reshape(grid)


def quantize_with_block_scale(
    tensor: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor | int,
    block_size: Sequence[int],
    dtype: torch.dtype = torch.int8,
) -> torch.Tensor:
    """Quantize ``q = clamp(round(r / s + z), q_min, q_max)`` with one scale and zero point per
    block of ``block_size`` values.

    ``scale`` and ``zero_point`` hold one value per block, in block order (the grid
    ``choose_block_scale_and_zero_point`` returns); a zero point of 0 is one number. torchao
    calls this step ``quantize_affine``.
    """
    tensor = check_float_tensor(tensor)
    view, axes = _block_view(tensor, block_size)
    keep = [1 if axis in axes else size for axis, size in enumerate(view.shape)]
    scale = _per_block(check_scale(torch.as_tensor(scale)), keep, "scale")
    if not isinstance(zero_point, int):
        zero_point = check_zero_point(torch.as_tensor(zero_point))
        if zero_point.numel() != scale.numel():
            raise ValueError(
                f"zero_point has {zero_point.numel()} values, expected {scale.numel()}"
            )
        zero_point = zero_point.reshape(keep)
    return _quantize_view(view, scale, zero_point, check_dtype(dtype)).reshape(tensor.shape)


def _quantize_view(
    view: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor | int, dtype: torch.dtype
) -> torch.Tensor:
    """``_quantize`` of a block view, with the scale (one per block) in the view's precision."""
    return _quantize(view, scale.to(_work_dtype(view)), zero_point, dtype)


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
    ``block_size_for(...)``. It is two steps: ``choose_block_scale_and_zero_point`` (with
    ``scale_dtype``, the scale is rounded to that type first and ``q`` computed with the rounded
    scale: ``s q`` is what a reader of the stored numbers gets back; ``value_range`` (L5-A): a
    given ``(r_min, r_max)`` per block, values outside it clipped to ``q_min`` or ``q_max``), then
    ``quantize_with_block_scale``.
    """
    scale, zero_point = choose_block_scale_and_zero_point(
        tensor, block_size, dtype, mode, scale_dtype, value_range
    )
    view, axes = _block_view(tensor, block_size)
    keep = [1 if axis in axes else size for axis, size in enumerate(view.shape)]
    quantized = _quantize_view(
        view, scale.reshape(keep), 0 if mode == "symmetric" else zero_point.reshape(keep), dtype
    )
    return quantized.reshape(tensor.shape), scale, zero_point


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


# --- checks of this lesson's arguments -----------------------------------------------------------


def _check_linear_shapes(x: torch.Tensor, x_name: str, q_w: torch.Tensor) -> None:
    """A ValueError unless ``x`` (..., k) fits weights ``q_w`` (out_features, k)."""
    if q_w.dim() != 2 or x.dim() < 1 or x.shape[-1] != q_w.shape[1]:
        raise ValueError(
            f"shapes do not match: {x_name} {tuple(x.shape)} needs q_w of shape "
            f"(out_features, {x.shape[-1] if x.dim() else '?'}), got {tuple(q_w.shape)}"
        )
