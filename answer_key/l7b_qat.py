"""L7-B: quantization-aware training (QAT): the model learns with its own quantization in the loop.

Rounding has no useful gradient: ``round`` is flat between levels and jumps at them, so its
derivative is 0 almost everywhere. Fake quantization quantizes and dequantizes in the forward
pass, so the loss sees the quantized weights, and the straight-through estimator (STE) pretends in
the backward pass that the rounding was the identity:

    forward     x' = s (clamp(round(x / s + z), q_min, q_max) - z)
    backward    dL/dx = dL/dx'   where s (q_min - z) <= x <= s (q_max - z),   0 where it clamps

``QATLinear`` is an ``nn.Linear`` whose weight is fake-quantized on every forward pass, with the
scale that ``quantize_weight_symmetric`` would store for it; ``prepare_qat`` turns a model's linear
layers into it, and ``convert_qat`` turns them into ``QuantizedLinear`` layers, which compute
exactly what the training saw. ``fake_quantize_like_torchao`` is the same operation as torchao's
QAT writes it (``IntxFakeQuantizer``), equal to it bit for bit: another scale, and other details.
"""

from __future__ import annotations

import torch

from answer_key.basics import (
    Granularity,
    check_bits,
    check_broadcast,
    check_divides,
    check_float_tensor,
    check_int,
    check_scale,
    check_zero_point,
    integer_dtype,
    q_range,
)
from answer_key.l3_linear_II import block_size_for, expand_blocks
from answer_key.l4c_quantize_a_network import (
    QuantizedLinear,
    convert_linears,
    layer_like,
    quantize_weight_symmetric,
)

# --- The straight-through estimator -------------------------------------------------------------


def straight_through_mask(
    x: torch.Tensor,
    scale: float | torch.Tensor,
    zero_point: int | torch.Tensor,
    q_min: int,
    q_max: int,
) -> torch.Tensor:
    """Where the straight-through estimator lets the gradient through: a bool tensor shaped as
    ``x``, True where ``s (q_min - z) <= x <= s (q_max - z)`` (the representable range, ends
    included), False where quantization clamps ``x`` to an end."""
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)
    return (x >= low) & (x <= high)


class FakeQuantize(torch.autograd.Function):
    """Quantize then dequantize in the forward pass; the straight-through estimator backward.

        forward     x' = s (clamp(round(x / s + z), q_min, q_max) - z)
        backward    dL/dx = dL/dx' * [s (q_min - z) <= x <= s (q_max - z)]

    The scale and the zero point are constants here (no gradient): ``fake_quantize`` checks the
    arguments and calls ``FakeQuantize.apply``.
    """

    @staticmethod
    def forward(ctx, x, scale, zero_point, q_min, q_max):
        ctx.save_for_backward(straight_through_mask(x, scale, zero_point, q_min, q_max))
        q = torch.clamp(torch.round(x / scale + zero_point), q_min, q_max)
        return (q - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output * inside, None, None, None, None


def fake_quantize(
    x: torch.Tensor,
    scale: float | torch.Tensor,
    zero_point: int | torch.Tensor,
    q_min: int,
    q_max: int,
) -> torch.Tensor:
    """``x' = s (clamp(round(x / s + z), q_min, q_max) - z)``, differentiable by the STE.

    The values are those of ``linear_dequantization(linear_q_with_scale_and_zero_point(...))``;
    the gradient is ``dL/dx'`` where ``x`` lies in ``[s (q_min - z), s (q_max - z)]`` and 0
    where it is clamped. ``scale`` and ``zero_point`` are numbers or tensors that broadcast
    against ``x`` (one per channel or group); they get no gradient.
    """
    x = check_float_tensor(x, "x")
    scale, zero_point = check_scale(scale), check_zero_point(zero_point)
    check_broadcast(scale, x.shape, "scale")
    check_broadcast(zero_point, x.shape, "zero_point")
    q_min = check_int(q_min, "q_min", range(-(2**31), 2**31), "an int")
    q_max = check_int(q_max, "q_max", range(q_min + 1, 2**31), f"an int above q_min ({q_min})")
    return FakeQuantize.apply(x, scale, zero_point, q_min, q_max)


# --- torchao's QAT: the same idea, another convention -------------------------------------------


class RoundStraightThrough(torch.autograd.Function):
    """``round(x)`` forward, the identity backward: the STE on the rounding alone.

    torchao writes fake quantization this way: the clamp that follows the rounding then masks
    the gradient by its own derivative, where the *rounded* value falls outside
    ``[q_min, q_max]``.
    """

    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def _check_weight_and_group(weight: object, group_size: int | None) -> tuple[torch.Tensor, int]:
    """A 2-D float ``weight`` and its group (``group_size``, or the whole row when None)."""
    weight = check_float_tensor(weight, "weight")
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got {weight.dim()}-D")
    if group_size is None:
        return weight, weight.shape[1]
    return weight, check_divides(weight.shape[1], group_size, "group_size", "in_features")


def torchao_weight_scale(
    weight: torch.Tensor, bits: int, group_size: int | None = None
) -> torch.Tensor:
    """torchao's symmetric scale: ``s = max|w| / ((q_max - q_min) / 2)`` per row or group.

    ``(q_max - q_min) / 2`` is ``q_max + 0.5`` (3.5 at 3 bits), where ``helper`` divides by
    ``q_max`` (3): torchao's grid is finer and the largest positive weight clamps to ``q_max``.
    float32, at least the smallest normal number; shaped ``(out_features, groups)``.
    """
    bits = check_bits(bits)
    weight, group = _check_weight_and_group(weight, group_size)
    q_min, q_max = q_range(integer_dtype(bits))
    blocks = weight.detach().reshape(weight.shape[0], -1, group)
    absmax = blocks.abs().amax(dim=-1)
    return (absmax / ((q_max - q_min) / 2)).clamp(min=torch.finfo(weight.dtype).smallest_normal)


def fake_quantize_like_torchao(
    weight: torch.Tensor, bits: int, group_size: int | None = None
) -> torch.Tensor:
    """Symmetric fake quantization of a weight, per row (``group_size`` None) or per group, as
    torchao's ``IntxFakeQuantizer(IntxFakeQuantizeConfig(torch.intN, group_size=...,
    is_symmetric=True))`` computes it, bit for bit, values and gradients:

        s = torchao_weight_scale(w),   q = clamp(round(w * (1 / s)) + z, q_min, q_max),   w' = s q

    with ``z = 0``. Each step is torchao's: it multiplies by the reciprocal of the scale where
    ``helper`` divides, adds the zero point after rounding, and its gradient passes wherever the
    *rounded* value lies in ``[q_min, q_max]`` (``RoundStraightThrough``, then ``clamp``), half a
    step further out than ``fake_quantize``'s representable range.
    """
    scale = torchao_weight_scale(weight, bits, group_size)
    q_min, q_max = q_range(integer_dtype(bits))
    blocks = weight.reshape(scale.shape[0], scale.shape[1], -1)
    scale = scale[..., None]
    # + 0: torchao adds its zero point (0) after rounding, which also turns a -0.0 into 0.0.
    q = torch.clamp(RoundStraightThrough.apply(blocks * (1.0 / scale)) + 0, q_min, q_max)
    return (q * scale).reshape(weight.shape)


# --- A linear layer that trains through its own quantization ------------------------------------


class QATLinear(torch.nn.Linear):
    """An ``nn.Linear`` whose weight is fake-quantized, symmetric, on every forward pass.

    The scale is the one ``quantize_weight_symmetric(weight, bits, granularity, group_size,
    scale_dtype)`` would store, recomputed from the current weights at each call (a constant
    for the gradient); the weight is then ``fake_quantize``d with it and ``z = 0``. So the
    loss sees exactly the weights that ``QuantizedLinear.from_linear`` will store, and the
    float weights (a ``Parameter``, as in ``nn.Linear``) learn through the STE.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bits: int = 4,
        granularity: Granularity = "per-channel",
        group_size: int | None = None,
        bias: bool = True,
        scale_dtype: torch.dtype = torch.float16,
    ) -> None:
        super().__init__(in_features, out_features, bias)
        self.bits = check_bits(bits)
        self.granularity, self.group_size, self.scale_dtype = granularity, group_size, scale_dtype
        shape = (out_features, in_features)
        self.block_size = block_size_for(shape, granularity, dim=0, group_size=group_size)

    @classmethod
    def from_linear(
        cls,
        linear: torch.nn.Linear,
        bits: int = 4,
        granularity: Granularity = "per-channel",
        group_size: int | None = None,
        scale_dtype: torch.dtype = torch.float16,
    ) -> QATLinear:
        """A ``QATLinear`` holding a copy of ``linear``'s weight and bias."""
        layer = layer_like(cls, linear, bits, granularity, group_size, scale_dtype)
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def weight_scale(self) -> torch.Tensor:
        """The scale ``quantize_weight_symmetric`` stores for the current weight, one per
        value (float32, shaped as the weight)."""
        _, scale = quantize_weight_symmetric(
            self.weight.detach(), self.bits, self.granularity, self.group_size, self.scale_dtype
        )
        return expand_blocks(scale.float(), self.block_size)

    def fake_quantized_weight(self) -> torch.Tensor:
        """``W' = s clamp(round(W / s), q_min, q_max)``, with the STE's gradient to ``W``."""
        q_min, q_max = q_range(integer_dtype(self.bits))
        return fake_quantize(self.weight, self.weight_scale(), 0, q_min, q_max)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``y = input W'^T + b``: the layer as its quantized version will compute it."""
        return torch.nn.functional.linear(input, self.fake_quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        group = f", group_size={self.group_size}" if self.granularity == "per-group" else ""
        return f"{super().extra_repr()}, bits={self.bits}, {self.granularity}{group}"


def prepare_qat(
    model: torch.nn.Module,
    bits: int,
    granularity: Granularity = "per-channel",
    group_size: int | None = None,
    scale_dtype: torch.dtype = torch.float16,
) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` a ``QATLinear``: ready to train at ``bits``.

    Its state dict has the same names and shapes as the model's, so the trained float weights
    load back into the original architecture.
    """
    bits = check_bits(bits)

    def convert(name: str, linear: torch.nn.Linear) -> torch.nn.Module:
        return QATLinear.from_linear(linear, bits, granularity, group_size, scale_dtype)

    return convert_linears(model, convert)


def convert_qat(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every ``QATLinear`` a ``QuantizedLinear`` at the same setting.

    Its forward pass computes what the ``QATLinear`` computed: the same dequantized weights.
    A model with no ``QATLinear`` (not prepared) is a ValueError.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(isinstance(module, QATLinear) for module in model.modules()):
        raise ValueError("model has no QATLinear layer: prepare it with prepare_qat first")

    def convert(name: str, linear: torch.nn.Linear) -> torch.nn.Module:
        if not isinstance(linear, QATLinear):
            return linear
        return QuantizedLinear.from_linear(
            linear, linear.bits, linear.granularity, linear.group_size, linear.scale_dtype
        )

    return convert_linears(model, convert)
