"""L5-A, calibration and clipping: the activation observers (min/max, moving average, percentile),
calibration, the digits MLP with quantized activations, the clip sweep and clip histogram, the
widget and the checker of the clip search.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, View, float_slider, int_slider
from course.core.live_view import steady_limits
from course.core.plotting import (
    CLIPPED,
    CLIPPING,
    DARK_GREY,
    GREY,
    INTEGER,
    ROUNDING,
    SERIES,
    TOTAL,
    format_number,
)
from course.data import heavy_tailed, layer_weights, seeded_normal
from course.lessons.l2a import QUANTIZER_LABELS
from course.lessons.l3a import LevelHistogram, LevelHistogramData
from helper import Mode


def plot_clip_sweep(tensor: torch.Tensor, bits: Sequence[int] = (2, 3, 4, 8)):
    """One panel per bit width (two per row): the rounding, clipping and total MSE of
    ``tensor`` clipped at ``alpha = c max|r|`` (and at ``q_min s`` below, ``helper.clip_sweep``),
    with the best ``c`` dotted and named in the panel's title. Returns the Figure."""
    rows = math.ceil(len(bits) / 2)
    fig, axes = plt.subplots(
        rows, min(len(bits), 2), figsize=(9.6, 3.0 * rows + 0.6), squeeze=False
    )
    fig.set_layout_engine("constrained")
    for ax, b in zip(axes.flat, bits):
        sweep = helper.clip_sweep(tensor, b)
        total = sweep["rounding"] + sweep["clipping"]
        ratios, best = sweep["ratios"], int(np.argmin(total))
        ax.plot(ratios, sweep["rounding"], color=ROUNDING, lw=2, label="rounding part")
        ax.plot(ratios, sweep["clipping"], color=CLIPPING, lw=2, label="clipping part")
        ax.plot(ratios, total, color=TOTAL, lw=1.5, ls="--", label="total: the MSE")
        ax.axvline(ratios[best], color=TOTAL, lw=1, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(max(total.min() / 30, 1e-8), total.max() * 3)
        ax.set_title(f"{b} bits: best c = {ratios[best]:.2f} (dotted)", fontsize=11)
        ax.set_xlabel(r"clip ratio $c = \alpha / \max|r|$", fontsize=10)
        ax.set_ylabel("MSE (log scale)", fontsize=10)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(bits) :]:
        ax.set_visible(False)
    fig.legend(
        *axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=10
    )
    fig.suptitle(
        "Clipping at \N{GREEK SMALL LETTER ALPHA} = c max|r|: from right to left, as c falls,"
        " the rounding part falls and the clipping part rises",
        fontsize=11,
    )
    plt.close(fig)
    return fig


@dataclass(frozen=True)
class ClipHistogramData(LevelHistogramData):
    """A ``LevelHistogramData`` and where clipping starts on each side: a value below
    ``clip_low`` or above ``clip_high`` rounds past the outermost level and is clamped to it."""

    clip_low: float  # (q_min - 1/2) s
    clip_high: float  # (q_max + 1/2) s
    x_limits: tuple[float, float]  # fixed while only the clip moves: the axes are not redrawn


class ClipHistogram(LevelHistogram):
    """``LevelHistogram`` on a log count axis (so that a few outliers show), with the clipped
    zones shaded. Each level is green where values land on it, grey where none do; the shading
    starts half a step beyond the outermost levels, so that it never hides a level."""

    Data = ClipHistogramData

    def __init__(self, ax) -> None:
        super().__init__(ax)
        ax.set_ylim(0.7, 10)
        ax.set_yscale("log")
        # Fixed decades and no minor ticks: a log axis' automatic ticks cost a third of a redraw.
        ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([1, 10, 100, 1000, 10_000]))
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        transform = ax.get_xaxis_transform()
        self.zones = [
            ax.add_patch(Rectangle((0, 0), 0, 1, transform=transform, color=CLIPPED, alpha=0.2))
            for _ in range(2)
        ]
        ax.legend(
            handles=[
                Line2D([], [], color=INTEGER, label="level used"),
                Line2D([], [], color=GREY, label="level no value lands on"),
                Patch(color=CLIPPED, alpha=0.2, label="clipped to the end level"),
            ],
            loc="upper left",
            framealpha=1.0,
            fontsize=9,
        )

    def update(self, data: ClipHistogramData) -> None:
        super().update(data)
        self.levels.set_colors(np.where(data.used, INTEGER, GREY))
        low, high = steady_limits(*data.x_limits)
        self.ax.set_xlim(low, high)
        self.zones[0].set_bounds(low, 0, max(data.clip_low - low, 0), 1)
        self.zones[1].set_bounds(data.clip_high, 0, max(high - data.clip_high, 0), 1)

    def count_limits(self, counts: np.ndarray) -> tuple[float, float]:
        top = 80 * max(counts.max(), 1)  # up to the next 1 or 3 times a power of ten
        decade = 10 ** np.floor(np.log10(top))
        return 0.7, float(decade * (1 if top <= decade else 3 if top <= 3 * decade else 10))


def _clip_search_reference(tensor: torch.Tensor, bits: int) -> tuple[float, float]:
    ratio, mse = helper.search_clip_ratio(tensor, tensor.shape, helper.integer_dtype(bits))
    return float(ratio), float(mse)


def check_clip_search(learner_function: Callable) -> Verdict:
    """L5-A "Your turn": ``learner_function(tensor, bits)`` returns ``(ratio, mse)``, Python
    floats: the clip ratio of ``helper.CLIP_RATIOS`` (the first one on a tie) whose symmetric
    per-tensor quantization with ``s = c max|r| / q_max`` has the smallest MSE, and that MSE."""
    outlier = seeded_normal(52, 1000)
    outlier[7] = 60.0
    cases = [
        (seeded_normal(50, 2000), 8),
        (heavy_tailed(2000, seed=51), 4),
        (heavy_tailed(2000, seed=51), 2),
        (outlier, 3),
        (torch.zeros(16), 4),
    ]
    labels = [
        "normal values at 8 bits",
        "heavy-tailed values at 4 bits",
        "the same at 2 bits",
        "one outlier of 60 at 3 bits",
        "all zeros (every ratio ties: keep the first, 1.0)",
    ]
    return check_exercise(learner_function, _clip_search_reference, cases, "clip_search", labels)


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
    """The smallest and largest value of every batch seen (``helper.min_max_range``)."""

    def _update(self, x: torch.Tensor) -> None:
        previous = self.range() if self.batches else None
        self.low, self.high = helper.min_max_range(x, previous)

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.low, self.high


class MovingAverageMinMaxObserver(MinMaxObserver):
    """The first batch's min and max, then ``m <- m + c (batch_min - m)`` for each later batch
    (the same for the max), with ``c = averaging_constant`` (``helper.moving_average_range``)."""

    def __init__(
        self,
        dtype: torch.dtype = torch.int8,
        mode: Mode = "asymmetric",
        averaging_constant: float = 0.01,
    ) -> None:
        super().__init__(dtype, mode)
        helper.moving_average_range(torch.zeros(1), None, averaging_constant)  # a clear error
        self.averaging_constant = averaging_constant

    def _update(self, x: torch.Tensor) -> None:
        previous = self.range() if self.batches else None
        self.low, self.high = helper.moving_average_range(x, previous, self.averaging_constant)


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


class _AllSeen(Exception):
    """Raised by ``watch_linear_inputs``' hooks once every layer asked for has seen its input."""


def watch_linear_inputs(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    watch: Callable[[str, torch.Tensor], object],
    names: Collection[str] | None = None,
) -> None:
    """Run ``model`` on each batch, calling ``watch(name, input)`` before each linear layer (of
    ``helper.linear_layers``; only those in ``names`` if given, and then each batch's pass stops
    once each of them has seen its input). The one capture of the layers' inputs: the
    observers' calibration here, L6-B's Hessians."""
    layers = {
        name: layer
        for name, layer in helper.linear_layers(model).items()
        if names is None or name in names
    }
    seen: set[str] = set()

    def hook(name: str, x: torch.Tensor) -> None:
        watch(name, x)
        seen.add(name)
        if names is not None and len(seen) == len(layers):
            raise _AllSeen

    hooks = [
        layer.register_forward_pre_hook(lambda _, args, name=name: hook(name, args[0]))
        for name, layer in layers.items()
    ]
    try:
        with torch.no_grad():
            for batch in batches:
                seen.clear()
                try:
                    model(batch)
                except _AllSeen:
                    pass
    finally:
        for hook_handle in hooks:
            hook_handle.remove()


def calibrate(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    make_observer: Callable[[], Observer],
) -> dict[str, Observer]:
    """Run ``model`` on each batch and let a new observer (``make_observer()``) per linear layer
    watch that layer's input. Returns the observers by layer name; ``model`` is unchanged."""
    observers = {name: make_observer() for name in helper.linear_layers(model)}
    watch_linear_inputs(model, batches, lambda name, x: observers[name].update(x))
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
    watch_linear_inputs(model, [x], seen.__setitem__)
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


def plot_calibration(sizes: Sequence[int], results: dict[str, dict], dynamic: dict[str, float]):
    """Static activation ranges against the calibration set's size: the SQNR of the quantized
    activations (left) and the test accuracy (right) for each observer (``results[name]`` holds
    ``"sqnr"`` and ``"accuracy"`` lists, one per size), with dynamic ranges dashed. Observers
    often agree (with one digit, min/max and the moving average are the same): each series is
    drawn thinner, with smaller dots, than the one before it, so that one on another leaves
    both in sight. Returns the Figure."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
    fig.set_layout_engine("constrained")
    for ax, key, label in (
        (axes[0], "sqnr", "SQNR of the activations (dB)"),
        (axes[1], "accuracy", "test accuracy (%)"),
    ):
        scale = 100 if key == "accuracy" else 1
        for k, (colour, (name, result)) in enumerate(zip(SERIES, results.items())):
            width, dots = max(4.5 - 1.6 * k, 1.0), max(10 - 3 * k, 3)
            values = scale * np.asarray(result[key])
            ax.plot(sizes, values, "o-", color=colour, lw=width, ms=dots, label=name)
        ax.axhline(
            scale * dynamic[key], color=DARK_GREY, ls="--", lw=1.5, label="dynamic, per token"
        )
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(sizes), [str(size) for size in sizes], fontsize=9)
        ax.minorticks_off()
        ax.set(xlabel="calibration digits seen by the observer", ylabel=label)
        ax.grid(True, alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=9)
    axes[0].set_title("Activations quantized with the observer's range", fontsize=11)
    axes[1].set_title("The MLP with those activations (1 test digit = 0.28 %)", fontsize=11)
    plt.close(fig)
    return fig


@functools.cache
def _clip_searches() -> tuple[dict, dict]:
    """``explore_clipping``'s samples by outlier strength (1 to 16) and, for every bits and
    strength, the best ratio of ``helper.search_clip_ratio`` and its SQNR: searched once."""
    samples = {
        k: layer_weights(0, 1, 4096, (0.0, 0.0), outlier_factor=k).flatten() for k in range(1, 17)
    }
    best_clips = {}
    for (strength, data), bits in itertools.product(samples.items(), range(2, 9)):
        dtype = helper.integer_dtype(bits)
        best = float(helper.search_clip_ratio(data, data.shape, dtype)[0])
        scale = helper.clip_scale(data, best, dtype)
        q = helper.linear_q_with_scale_and_zero_point(data, scale, 0, dtype)
        best_clips[bits, strength] = (best, helper.sqnr_db(data, scale * q.float()))
    return samples, best_clips


def explore_clipping(bits: int = 4, clip_ratio: float = 1.0, outlier_strength: int = 8) -> Explorer:
    """L5-A: 4096 standard normal values, one in 256 made ``outlier_strength`` times larger,
    quantized symmetric per tensor with ``s = alpha / q_max``, ``alpha = c max|r|``: values
    above ``alpha`` and below ``q_min s = -(q_max + 1) / q_max alpha`` are clipped. It shows the
    histogram with the levels and the clipped zones, the two parts of the MSE, the SQNR, and the
    best ``c`` of ``helper.search_clip_ratio`` (``_clip_searches``: no change runs a search)."""
    helper.check_bits(bits)
    samples, best_clips = _clip_searches()
    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "clip_ratio": float_slider("clip ratio c", clip_ratio, 0.05, 1.0, 0.01),
        "outlier_strength": int_slider("outlier strength", outlier_strength, 1, 16),
    }

    def compute(bits: int, clip_ratio: float, outlier_strength: int) -> View:
        data, dtype = samples[outlier_strength], helper.integer_dtype(bits)
        q_min, q_max = helper.q_range(dtype)
        scale = helper.clip_scale(data, clip_ratio, dtype)
        quantized = helper.linear_q_with_scale_and_zero_point(data, scale, 0, dtype)
        restored = helper.linear_dequantization(quantized, scale, 0)
        rounding, clipping = helper.rounding_and_clipping_error(data, scale, 0, dtype)
        best_ratio, best_sqnr = best_clips[bits, outlier_strength]
        levels = torch.arange(q_min, q_max + 1, dtype=torch.int32)
        # One axis for every bits: it spans the widest levels, 2 bits' at c = 1: [-2, 1] max|r|
        widest = float(data.abs().max())
        low, high = min(float(data.min()), -2 * widest), max(float(data.max()), widest)
        readout = {
            "clip_ratio": f"{clip_ratio:.2f}",
            "alpha": q_max * scale,
            "lowest_level": q_min * scale,
            "scale": scale,
            "clipped": int(helper.clipped(data, scale, 0, dtype).sum()),
            "rounding_mse": rounding,
            "clipping_mse": clipping,
            "mse": rounding + clipping,
            "sqnr_db": f"{helper.sqnr_db(data, restored):.1f}",
            "best_clip_ratio": f"{best_ratio:.2f}",
            "sqnr_db_at_best": f"{best_sqnr:.1f}",
        }
        plot = ClipHistogramData(
            values=data.double().numpy(),
            level_values=(scale * levels.double()).numpy(),
            used=torch.isin(levels, quantized).numpy(),
            inside=np.ones(levels.numel(), dtype=bool),
            title=f"{bits} bits, levels {format_number(q_min * scale)} to "
            f"{format_number(q_max * scale)}: SQNR {readout['sqnr_db']} dB "
            f"(best c = {readout['best_clip_ratio']})",
            clip_low=(q_min - 0.5) * scale,
            clip_high=(q_max + 0.5) * scale,
            x_limits=(low - 0.03 * (high - low), high + 0.03 * (high - low)),
        )
        return View(readout, [], plot)

    labels = {
        **QUANTIZER_LABELS,
        "clip_ratio": "clip ratio c = \N{GREEK SMALL LETTER ALPHA} / max|r|",
        "alpha": "top level q_max s = \N{GREEK SMALL LETTER ALPHA}",
        "lowest_level": "lowest level q_min s",
        "clipped": "values clipped",
        "rounding_mse": "rounding part of the MSE",
        "clipping_mse": "clipping part of the MSE",
        "sqnr_db": "SQNR (dB)",
        "best_clip_ratio": "best clip ratio (search)",
        "sqnr_db_at_best": "SQNR at the best ratio (dB)",
    }
    title = "Clipping the range: rounding against clipping error"
    return Explorer(title, controls, compute, ClipHistogram, labels=labels)
