"""L4-C: quantizing a trained network: a linear layer that stores quantized weights, and a
model's real size in bytes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import torch

from answer_key.basics import Granularity, check_bits, check_float_tensor, integer_dtype
from answer_key.l3_linear_II import block_size_for, dequantize_blocks, quantize_blocks
from answer_key.l4b_packing import (
    PACKABLE_BITS,
    pack_weights,
    packed_length,
    tensor_bytes,
    unpack_weights,
)

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


def layer_like(
    cls: type[torch.nn.Module],
    linear: torch.nn.Linear,
    bits: int,
    granularity: Granularity,
    group_size: int | None,
    scale_dtype: torch.dtype,
) -> torch.nn.Module:
    """A new ``cls`` layer (``QuantizedLinear``, ``QATLinear``) of ``linear``'s shape and bias
    at this setting, its weights not yet set: what each ``from_linear`` starts from."""
    if not isinstance(linear, torch.nn.Linear):
        raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
    bias = linear.bias is not None
    return cls(
        linear.in_features, linear.out_features, bits, granularity, group_size, bias, scale_dtype
    )


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
        layer = layer_like(cls, linear, bits, granularity, group_size, scale_dtype)
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


def linear_layers(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    """Every ``nn.Linear`` of ``model``, by name (as ``model.named_modules()`` gives it), in
    order; a bare linear layer is ``{"": model}``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def convert_linears(
    model: torch.nn.Module, convert: Callable[[str, torch.nn.Linear], torch.nn.Module]
) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by ``convert(name, linear)``.

    A bare linear layer gives ``convert("", model)``. The original model is left untouched.
    """
    if "" in linear_layers(model):  # a bare linear layer
        return convert("", model)
    copied = copy.deepcopy(model)
    for name, module in linear_layers(copied).items():
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
        names = set(linear_layers(model))
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
