"""Lesson L5-A: observers that choose an activation range from calibration data, and the digits
MLP with its activations quantized, with static ranges (from an observer) or dynamic ones.

An observer sees activations one batch at a time (``update(x)``) and then gives the range to
quantize them with, and from it a scale and zero point (``scale_and_zero_point()``):

* ``MinMaxObserver``: the smallest and largest value ever seen;
* ``MovingAverageMinMaxObserver``: an exponential moving average of each batch's min and max,
  ``m <- m + c (batch_min - m)``, so one unusual batch moves it only by ``c``;
* ``PercentileObserver``: the ``100 - p`` and ``p`` percentiles of every value seen.

The first two compute what PyTorch's ``torch.ao.quantization.observer.MinMaxObserver`` and
``MovingAverageMinMaxObserver`` compute, with ``qscheme=torch.per_tensor_affine``: the scale
and zero point agree exactly (``tests/test_observers.py``) for ``dtype=torch.quint8`` (helper's
``torch.uint8``) and ``torch.qint8`` (``torch.int8``). Two settings do not match: PyTorch's
``per_tensor_symmetric`` divides ``max|r|`` by ``(q_max - q_min) / 2`` (127.5, torchao's
convention of lesson L5-B), where ``helper`` divides by ``q_max`` (127); and PyTorch floors a
scale at float32's ``eps`` (1.2e-7), ``helper`` at ``helper.ZERO_RANGE_SCALE`` (1.2e-38), which
only a range narrower than about 3e-5 can tell apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

import helper
from helper import Mode


class Observer:
    """The range of the activations seen so far, and the scale and zero point it gives."""

    def __init__(self, dtype: torch.dtype = torch.int8, mode: Mode = "asymmetric") -> None:
        # helper's own checks, with its messages, for a dtype or mode it does not know
        helper.range_scale_and_zero_point(torch.zeros(1), torch.zeros(1), dtype, mode)
        self.dtype, self.mode = dtype, mode
        self.batches = 0

    def update(self, x: torch.Tensor) -> None:
        """Take in one batch of activations."""
        x = x.detach().float()
        if x.numel() == 0 or not bool(torch.isfinite(x).all()):
            raise ValueError("an observer needs a non-empty batch of finite values")
        self._update(x)
        self.batches += 1

    def _update(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(r_min, r_max)``: the range to quantize with, as float32 tensors."""
        raise NotImplementedError

    def scale_and_zero_point(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The scale and zero point of ``range()`` (``helper.range_scale_and_zero_point``)."""
        if self.batches == 0:
            raise RuntimeError(f"{type(self).__name__} has seen no data: call update(x) first")
        return helper.range_scale_and_zero_point(*self.range(), self.dtype, self.mode)

    def __repr__(self) -> str:
        seen = f"{self.batches} batches"
        if self.batches:
            seen += ", range [{:.4g}, {:.4g}]".format(*(float(v) for v in self.range()))
        return f"{type(self).__name__}({helper.dtype_bits(self.dtype)}-bit {self.mode}, {seen})"


class MinMaxObserver(Observer):
    """The smallest and largest value of every batch seen."""

    def _update(self, x: torch.Tensor) -> None:
        low, high = torch.aminmax(x)
        if self.batches:
            low, high = torch.minimum(low, self.low), torch.maximum(high, self.high)
        self.low, self.high = low, high

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.low, self.high


class MovingAverageMinMaxObserver(MinMaxObserver):
    """The first batch's min and max, then ``m <- m + c (batch_min - m)`` for each later batch
    (the same for the max), with ``c = averaging_constant``."""

    def __init__(
        self,
        dtype: torch.dtype = torch.int8,
        mode: Mode = "asymmetric",
        averaging_constant: float = 0.01,
    ) -> None:
        super().__init__(dtype, mode)
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"averaging_constant must lie in (0, 1], got {averaging_constant}")
        self.averaging_constant = averaging_constant

    def _update(self, x: torch.Tensor) -> None:
        low, high = torch.aminmax(x)
        if self.batches:
            c = self.averaging_constant
            low, high = self.low + c * (low - self.low), self.high + c * (high - self.high)
        self.low, self.high = low, high


class PercentileObserver(Observer):
    """The ``100 - p`` and ``p`` percentiles of all the values seen (``helper.percentile_range``).
    It keeps every value: fine for a calibration set of a few thousand activations."""

    def __init__(
        self, dtype: torch.dtype = torch.int8, mode: Mode = "asymmetric", percentile: float = 99.9
    ) -> None:
        super().__init__(dtype, mode)
        helper.percentile_range(torch.zeros(1), (1,), percentile)  # a clear error if out of range
        self.percentile = percentile
        self.values: list[torch.Tensor] = []

    def _update(self, x: torch.Tensor) -> None:
        self.values.append(x.reshape(-1))

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        seen = torch.cat(self.values)
        return helper.percentile_range(seen, seen.shape, self.percentile)


class ActivationQuantizedLinear(torch.nn.Module):
    """A linear layer with int8 weights (symmetric, per output channel) whose input is quantized
    too: with the fixed scale and zero point of an observer (static), or with each row's own
    asymmetric range on every call (dynamic, per token).

    Simulated quantization: ``y = F.linear(s_x (q_x - z_x), s_w q_w, b)``, the numbers of the
    integer layer of lesson L4-A up to float32 rounding, computed with a float product.
    """

    def __init__(
        self, linear: torch.nn.Linear, act_dtype: torch.dtype, observer: Observer | None
    ) -> None:
        super().__init__()
        q_w, s_w = helper.linear_q_symmetric_per_channel(linear.weight.detach(), dim=0)
        self.register_buffer("weight", helper.linear_dequantization(q_w, s_w, 0))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach())
        if observer is not None and observer.dtype != act_dtype:
            raise ValueError(f"the observer quantizes to {observer.dtype}, not {act_dtype}")
        self.act_dtype = act_dtype
        self.static = None if observer is None else observer.scale_and_zero_point()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """In the input's float type (float64 in lesson L6-A, where the rounding of the
        activations must come out the same on every CPU)."""
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return torch.nn.functional.linear(
            self.fake_quantize(x).to(x.dtype), self.weight.to(x.dtype), bias
        )

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        """``s_x (q_x - z_x)``: the input as this layer quantizes it, back in float."""
        if self.static is None:
            block = (1,) * (x.dim() - 1) + (x.shape[-1],)
            return helper.fake_quantize_blocks(x, block, self.act_dtype)
        scale, zero_point = self.static
        q = helper.linear_q_with_scale_and_zero_point(x, scale, zero_point, self.act_dtype)
        return helper.linear_dequantization(q, scale, zero_point)


def _linears(model: torch.nn.Module) -> list[tuple[str, torch.nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


def _run_watching(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    watch: Callable[[str, torch.Tensor], object],
) -> None:
    """Run ``model`` on each batch, calling ``watch(name, input)`` before each linear layer."""
    hooks = [
        layer.register_forward_pre_hook(lambda _, args, name=name: watch(name, args[0]))
        for name, layer in _linears(model)
    ]
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        for hook in hooks:
            hook.remove()


def calibrate(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    make_observer: Callable[[], Observer],
) -> dict[str, Observer]:
    """Run ``model`` on each batch and let a new observer (``make_observer()``) per linear layer
    watch that layer's input. Returns the observers by layer name; ``model`` is unchanged."""
    observers = {name: make_observer() for name, _ in _linears(model)}
    _run_watching(model, batches, lambda name, x: observers[name].update(x))
    return observers


def quantize_activations(
    model: torch.nn.Module, act_dtype: torch.dtype, observers: dict[str, Observer] | None = None
) -> torch.nn.Module:
    """A copy of ``model`` whose linear layers are ``ActivationQuantizedLinear``: static, with
    the scale and zero point of ``observers[name]``, or dynamic (per token) without observers."""
    return helper.convert_linears(
        model,
        lambda name, layer: ActivationQuantizedLinear(
            layer, act_dtype, None if observers is None else observers[name]
        ),
    )


def layer_inputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The input of each linear layer of ``model`` when it runs on ``x``, by layer name."""
    seen: dict[str, torch.Tensor] = {}
    _run_watching(model, [x], seen.__setitem__)
    return seen


def activation_sqnr(quantized: torch.nn.Module, model: torch.nn.Module, x: torch.Tensor) -> float:
    """The SQNR (dB) of every linear layer's input of ``model`` on ``x``, quantized as the same
    layer of ``quantized`` (from ``quantize_activations``) quantizes it: all layers together."""
    inputs = layer_inputs(model, x)
    original = torch.cat([value.reshape(-1) for value in inputs.values()])
    restored = torch.cat(
        [
            quantized.get_submodule(name).fake_quantize(value).reshape(-1)
            for name, value in inputs.items()
        ]
    )
    return helper.sqnr_db(original, restored)
