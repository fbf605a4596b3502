"""Lesson L6-C's formats side by side: each 4- and 8-bit format of the lesson by name, with one
round trip (quantize, then dequantize with helper's functions), its real bits per weight, and
the values as the format sees them (divided by their block's scale) next to its levels.

Every format here scales a block of ``block_size`` consecutive values of a row: the integers
with an fp16 absmax scale, NF4 with its double-quantized absmax, MX with an E8M0 power of two.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch

import helper


class Format(NamedTuple):
    """A block-scaled format: its element ``kind`` ("int", "nf4" or "mx"), the element (int
    bits, or a float format of helper's), and its default block size."""

    kind: str
    element: int | str
    block_size: int


# The lesson's formats, in the order its tables show them: 4-bit ones, then 8-bit ones.
FORMATS = {
    "int4": Format("int", 4, 32),
    "NF4": Format("nf4", "nf4", 64),
    "MXFP4": Format("mx", "e2m1", 32),
    "int8": Format("int", 8, 32),
    "MXFP8 E4M3": Format("mx", "e4m3", 32),
    "MXFP8 E5M2": Format("mx", "e5m2", 32),
}


def check_format_name(name: object) -> Format:
    if name not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {name!r}")
    return FORMATS[name]


def _block(name: str, block_size: int | None) -> tuple[Format, int]:
    spec = check_format_name(name)
    return spec, spec.block_size if block_size is None else block_size


def scaler_block_size(n_blocks: int) -> int:
    """NF4's block of scales: 256 as QLoRA, or the largest power of two that divides
    ``n_blocks`` when 256 does not (a small layer)."""
    return math.gcd(256, n_blocks)


def bits_per_weight(name: str, block_size: int | None = None, numel: int = 1 << 30) -> float:
    """Real storage per weight: int ``b + 16 / g`` (fp16 scale), NF4
    ``4 + 8 / g + 32 / (g * 256)``, MX ``element bits + 8 / g`` (an E8M0 scale)."""
    spec, block = _block(name, block_size)
    if spec.kind == "int":
        return helper.bits_per_weight(spec.element, block, scale_bits=16)
    if spec.kind == "nf4":
        return helper.nf4_bits_per_weight(block, scaler_block_size(numel // block))
    return helper.bits_per_weight(helper.float_bits(spec.element), block, scale_bits=8)


class RoundTrip(NamedTuple):
    """A tensor through a format: ``restored`` (float32, its shape), the values divided by
    their block's scale (``scaled``: what the format rounds) and the format's ``levels`` on
    that scale."""

    restored: torch.Tensor
    scaled: torch.Tensor
    levels: torch.Tensor


def _per_value(scale: torch.Tensor, shape: torch.Size, block: int) -> torch.Tensor:
    return scale.reshape(-1, 1).expand(-1, block).reshape(shape)


def round_trip(tensor: torch.Tensor, name: str, block_size: int | None = None) -> RoundTrip:
    """``tensor`` (2-D, rows of a weight) quantized and dequantized in the format ``name``,
    with one scale per ``block_size`` consecutive values of a row."""
    spec, block = _block(name, block_size)
    tensor = tensor.float()
    if spec.kind == "int":
        block_shape = helper.block_size_for(tensor.shape, "per-group", group_size=block)
        dtype = helper.integer_dtype(spec.element)
        q, scale, _ = helper.quantize_blocks(tensor, block_shape, dtype, "symmetric", torch.float16)
        restored = helper.dequantize_blocks(q, scale.float(), 0, block_shape)
        per_value = _per_value(scale.float(), tensor.shape, block)
        q_max = helper.q_range(dtype)[1]
        levels = torch.arange(-q_max, q_max + 1, dtype=torch.float32)
    elif spec.kind == "nf4":
        helper.check_divides(tensor.numel(), block, "block_size", "the number of values")
        scalers = scaler_block_size(tensor.numel() // block)
        quantized = helper.nf4_quantize(tensor, block, scalers)
        restored = helper.nf4_dequantize(*quantized, block, scalers)
        per_value = _per_value(tensor.reshape(-1, block).abs().amax(dim=1), tensor.shape, block)
        levels = helper.NF4_LEVELS
    else:
        elements, codes = helper.mx_quantize(tensor, spec.element, block)
        restored = helper.mx_dequantize(elements, codes)
        per_value = _per_value(torch.exp2(codes.float() - helper.E8M0_BIAS), tensor.shape, block)
        levels = helper.float_levels(spec.element)
    scaled = torch.where(per_value > 0, tensor / per_value, 0.0)
    return RoundTrip(restored, scaled, levels)


def errors(tensor: torch.Tensor, name: str, block_size: int | None = None) -> dict:
    """``{"bits": bits per weight, "mse": ..., "sqnr_db": ...}`` of ``tensor`` in format ``name``."""
    restored = round_trip(tensor, name, block_size).restored
    return {
        "bits": bits_per_weight(name, block_size, tensor.numel()),
        "mse": helper.quantization_error(tensor, restored),
        "sqnr_db": helper.sqnr_db(tensor, restored),
    }


def error_table(data: dict[str, torch.Tensor], names=tuple(FORMATS)) -> list[dict]:
    """One row per format and kind of data: ``{"format", "data", "bits", "mse", "sqnr_db"}``,
    each format at its default block size."""
    return [
        {"format": name, "data": kind, **errors(tensor, name)}
        for name in names
        for kind, tensor in data.items()
    ]


def format_model(model: torch.nn.Module, name: str, block_size: int | None = None):
    """A copy of ``model`` whose every linear layer's weight is replaced by its round trip
    through the format ``name`` (the values the format gives back, held in float32), so that
    ``helper.bits_per_byte`` measures what the format loses."""

    def convert(_: str, linear: torch.nn.Linear) -> torch.nn.Linear:
        replaced = copy.deepcopy(linear)
        with torch.no_grad():
            replaced.weight.copy_(round_trip(linear.weight.detach(), name, block_size).restored)
        return replaced

    check_format_name(name)
    return helper.convert_linears(model, convert)
