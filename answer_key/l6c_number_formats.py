"""L6-C: number formats: FP8, FP6, FP4, NF4 and MX against the integers, and each format's real
bits per weight.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from answer_key.basics import (
    _check_tensor_dtype,
    check_divides,
    check_float_tensor,
    check_positive_int,
    integer_dtype,
    q_range,
)
from answer_key.l3_linear_II import (
    bits_per_weight,
    block_size_for,
    dequantize_blocks,
    quantize_blocks,
)

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


# --- L6-C: the formats side by side, each with one scale per block of a row --------------------


class BlockFormat(NamedTuple):
    """A block-scaled format: its element ``kind`` ("int", "nf4" or "mx"), the element (int
    bits, or a float format of ``FLOAT_FORMATS``), and its default block size."""

    kind: str
    element: int | str
    block_size: int


# The lesson's formats, in the order its tables show them: 4-bit ones, then 8-bit ones.
BLOCK_FORMATS = {
    "int4": BlockFormat("int", 4, 32),
    "NF4": BlockFormat("nf4", "nf4", 64),
    "MXFP4": BlockFormat("mx", "e2m1", 32),
    "int8": BlockFormat("int", 8, 32),
    "MXFP8 E4M3": BlockFormat("mx", "e4m3", 32),
    "MXFP8 E5M2": BlockFormat("mx", "e5m2", 32),
}


def scaler_block_size(n_blocks: int) -> int:
    """NF4's block of scales: 256 as QLoRA, or the largest power of two that divides
    ``n_blocks`` when 256 does not (a small layer)."""
    return math.gcd(256, n_blocks)


def block_format(name: str, block_size: int | None = None) -> tuple[BlockFormat, int]:
    """The format named ``name`` in ``BLOCK_FORMATS`` and its block size (its default if None);
    a ValueError listing the formats for any other name."""
    if name not in BLOCK_FORMATS:
        raise ValueError(f"format must be one of {list(BLOCK_FORMATS)}, got {name!r}")
    spec = BLOCK_FORMATS[name]
    return spec, spec.block_size if block_size is None else block_size


def format_bits_per_weight(name: str, block_size: int | None = None, numel: int = 1 << 30) -> float:
    """Real storage per weight of the format ``name`` (of ``BLOCK_FORMATS``) with blocks of
    ``block_size`` (its default if None) in a tensor of ``numel`` values: int ``b + 16 / g``
    (an fp16 scale), NF4 ``4 + 8 / g + 32 / (g * 256)``, MX ``element bits + 8 / g`` (E8M0)."""
    spec, block = block_format(name, block_size)
    if spec.kind == "int":
        return bits_per_weight(spec.element, block, scale_bits=16)
    if spec.kind == "nf4":
        return nf4_bits_per_weight(block, scaler_block_size(numel // block))
    return bits_per_weight(float_bits(spec.element), block, scale_bits=8)


class FormatRoundTrip(NamedTuple):
    """A tensor through a format: ``restored`` (float32, its shape), the values divided by
    their block's scale (``scaled``: what the format rounds) and the format's ``levels`` on
    that scale."""

    restored: torch.Tensor
    scaled: torch.Tensor
    levels: torch.Tensor


def format_round_trip(
    tensor: torch.Tensor, name: str, block_size: int | None = None
) -> FormatRoundTrip:
    """``tensor`` (2-D, rows of a weight) quantized and dequantized in the format ``name``, with
    one scale ``s`` per ``block_size`` consecutive values of a row: ``r' = s * level(r / s)``
    (int: ``quantize_blocks`` with an fp16 scale; NF4: ``nf4_quantize``; MX: ``mx_quantize``)."""
    spec, block = block_format(name, block_size)
    tensor = tensor.float()
    if spec.kind == "int":
        block_shape = block_size_for(tensor.shape, "per-group", group_size=block)
        dtype = integer_dtype(spec.element)
        q, scale, _ = quantize_blocks(tensor, block_shape, dtype, "symmetric", torch.float16)
        restored = dequantize_blocks(q, scale.float(), 0, block_shape)
        per_value = _per_value(scale.float(), tensor.shape, block)
        q_max = q_range(dtype)[1]
        levels = torch.arange(-q_max, q_max + 1, dtype=torch.float32)
    elif spec.kind == "nf4":
        check_divides(tensor.numel(), block, "block_size", "the number of values")
        scalers = scaler_block_size(tensor.numel() // block)
        quantized = nf4_quantize(tensor, block, scalers)
        restored = nf4_dequantize(*quantized, block, scalers)
        per_value = _per_value(tensor.reshape(-1, block).abs().amax(dim=1), tensor.shape, block)
        levels = NF4_LEVELS
    else:
        elements, codes = mx_quantize(tensor, spec.element, block)
        restored = mx_dequantize(elements, codes)
        per_value = _per_value(torch.exp2(codes.float() - E8M0_BIAS), tensor.shape, block)
        levels = float_levels(spec.element)
    scaled = torch.where(per_value > 0, tensor / per_value, 0.0)
    return FormatRoundTrip(restored, scaled, levels)


def _per_value(scale: torch.Tensor, shape: torch.Size, block: int) -> torch.Tensor:
    """One scale per ``block`` consecutive values, repeated to each value (``shape``)."""
    return scale.reshape(-1, 1).expand(-1, block).reshape(shape)


# --- checks of this lesson's arguments -----------------------------------------------------------


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
