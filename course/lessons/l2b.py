"""L2-B, get the scale and zero point: the widget over the data's range, and the checker."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.patches import Patch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, View, buttons, int_slider
from course.core.live_view import Plot, PlotData
from course.core.plotting import (
    BLUE,
    CLIPPED,
    DARK_GREEN,
    DARK_GREY,
    DARK_ORANGE,
    DATA,
    GREEN,
    GREY,
    INTEGER,
    ORANGE,
    WINDOW,
    format_number,
)
from course.core.widget_parts import error_readout, round_trip_matrices
from course.data import course_tensor, seeded_normal

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l2a import (
    QUANTIZER_LABELS,
    plot_quantization_errors,  # noqa: F401
)
from helper import Mode


def _check_real(value: object, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _mode_parameters(
    r_min: float, r_max: float, dtype: torch.dtype, mode: Mode
) -> tuple[float, int, int, int]:
    """``(scale, zero_point, q_low, q_high)`` of helper's quantizer for the range; ``q_low`` is
    ``-q_max`` in symmetric mode (``q_min`` is never produced there)."""
    ends = torch.tensor([r_min, r_max], dtype=torch.float64)
    _, scale, zero_point = helper.quantize_per_tensor(ends, dtype, mode)
    q_min, q_max = helper.q_range(dtype)
    return scale, zero_point, -q_max if mode == "symmetric" else q_min, q_max


class _NumberLineLayout(NamedTuple):
    """Where things go on a number-line figure: the real line on top, the integers below."""

    r_min: float
    r_max: float
    scale: float
    zero_point: int
    q_low: int
    q_high: int
    window: tuple[float, float]  # the real values the integers stand for
    lo: float  # the real value at the left edge
    hi: float  # the real value at the right edge

    def x_real(self, value: float) -> float:
        return (value - self.lo) / (self.hi - self.lo)

    def x_int(self, q: float) -> float:
        return 0.1 + 0.8 * (q - self.q_low) / (self.q_high - self.q_low)

    def clamped(self) -> list[tuple[float, float]]:
        """The parts of the data more than half a step outside the window (they are clamped)."""
        low, high = self.window[0] - self.scale / 2, self.window[1] + self.scale / 2
        parts = [(self.r_min, min(self.r_max, low)), (max(self.r_min, high), self.r_max)]
        return [(start, end) for start, end in parts if end > start]


def _number_line_layout(
    r_min: object,
    r_max: object,
    scale: float | None,
    zero_point: int | None,
    dtype: torch.dtype,
    mode: Mode,
) -> _NumberLineLayout:
    r_min, r_max = _check_real(r_min, "r_min"), _check_real(r_max, "r_max")
    if r_min > r_max:
        raise ValueError(f"r_min must be <= r_max, got r_min={r_min} and r_max={r_max}")
    if (scale is None) != (zero_point is None):
        raise ValueError("give both scale and zero_point, or neither (to compute them)")
    auto_scale, auto_zero, q_low, q_high = _mode_parameters(r_min, r_max, dtype, mode)
    if scale is None:
        scale, zero_point = auto_scale, auto_zero
    window = helper.representable_range(scale, zero_point, dtype)
    window = (float(scale) * (q_low - zero_point), window[1])
    lo, hi = min(r_min, window[0], 0.0), max(r_max, window[1], 0.0)
    pad = 0.04 * (hi - lo or 1.0)
    return _NumberLineLayout(
        r_min, r_max, float(scale), int(zero_point), q_low, q_high, window, lo - pad, hi + pad
    )


def _draw_number_line_bars(ax, line: _NumberLineLayout) -> None:
    """The real axis, the window (orange), the data (blue, red where clamped), the integers
    (green) and dashed links from q_low, z and q_high to their real values."""
    top, bottom, bar = 1.0, 0.0, {"solid_capstyle": "butt"}
    x_real, x_int = line.x_real, line.x_int
    ax.plot([0, 1], [top, top], color=DARK_GREY, lw=1)
    window = [x_real(end) for end in line.window]
    ax.plot(window, [top, top], color=WINDOW, lw=14, alpha=0.55, **bar)
    ax.plot([x_real(line.r_min), x_real(line.r_max)], [top, top], color=DATA, lw=5, **bar)
    for start, end in line.clamped():
        ax.plot([x_real(start), x_real(end)], [top, top], color=CLIPPED, lw=5, **bar)
    ax.plot([x_int(line.q_low), x_int(line.q_high)], [bottom] * 2, color=INTEGER, lw=5, **bar)
    ax.plot([x_real(0.0)] * 2, [top - 0.09, top + 0.09], color="black", lw=1.5)
    links = ((line.q_low, line.window[0]), (line.zero_point, 0.0), (line.q_high, line.window[1]))
    for q, real in links:
        if line.q_low <= q <= line.q_high:
            ax.plot(
                [x_int(q), x_real(real)],
                [bottom + 0.05, top - 0.07],
                ls="--",
                color=DARK_GREY,
                lw=1,
            )


def _label_number_line(ax, line: _NumberLineLayout, dtype: torch.dtype, mode: Mode) -> None:
    """Data ends and 0 above the real line, window ends below it, integers below theirs."""
    top, bottom = 1.0, 0.0
    text = {"ha": "center", "fontsize": 10}
    for name, value in ((r"$r_{\min}$", line.r_min), (r"$r_{\max}$", line.r_max)):
        label = f"{name} = {format_number(value)}"
        ax.text(line.x_real(value), top + 0.12, label, va="bottom", color=DATA, **text)
    if min(abs(line.x_real(0.0) - line.x_real(end)) for end in (line.r_min, line.r_max)) > 0.06:
        ax.text(line.x_real(0.0), top + 0.12, "0", va="bottom", **text)
    white = {"facecolor": "white", "edgecolor": "none", "pad": 1}
    for end in line.window:
        if abs(line.x_real(end) - line.x_real(0.0)) > 0.01:
            label = format_number(end)
            ax.text(
                line.x_real(end), top - 0.12, label, va="top", color=DARK_ORANGE, bbox=white, **text
            )
    low_name = r"$-q_{\max}$" if mode == "symmetric" else r"$q_{\min}$"
    labels = {
        line.q_low: f"{low_name} = {format_number(line.q_low)}",
        line.q_high: rf"$q_{{\max}}$ = {line.q_high}",
    }
    z_label = f"z = {format_number(line.zero_point)}"
    if line.zero_point in labels:
        labels[line.zero_point] = f"z = {labels[line.zero_point]}"
    elif line.q_low < line.zero_point < line.q_high:
        labels[line.zero_point] = z_label
    for q, label in labels.items():
        ax.text(line.x_int(q), bottom - 0.12, label, va="top", color=DARK_GREEN, **text)
    ax.text(-0.01, top, "real r", ha="right", va="center", fontsize=10)
    integers = f"integer q\n({helper.dtype_name(dtype)})"
    ax.text(-0.01, bottom, integers, ha="right", va="center", fontsize=10)


def _number_line_legend(ax, line: _NumberLineLayout) -> None:

    handles = [
        Patch(color=DATA, label=r"data [$r_{\min}$, $r_{\max}$]"),
        Patch(
            color=WINDOW,
            alpha=0.55,
            label="values it can give back, s (q \N{MINUS SIGN} z)",
        ),
        Patch(color=INTEGER, label="integers"),
    ]
    if line.clamped():
        handles.insert(1, Patch(color=CLIPPED, label="data clamped (lost)"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=len(handles),
        frameon=False,
        fontsize=9,
    )


def plot_number_line(
    r_min: float,
    r_max: float,
    scale: float | None = None,
    zero_point: int | None = None,
    dtype: torch.dtype = torch.int8,
    mode: Mode = "asymmetric",
    title: str | None = None,
    ax=None,
):
    """How linear quantization maps the real line onto the integers of ``dtype``.

    Top line: the real values, with the data's range ``[r_min, r_max]`` (blue) and the range
    the quantizer gives back, ``[s (q_low - z), s (q_high - z)]`` (orange); data more than half
    a step outside it (red) is clamped. Bottom line: the integers ``q_low .. q_high`` and the
    zero point ``z``. Dashed lines join ``q_low``, ``z`` and ``q_high`` to their real values
    ``r = s (q - z)`` (``z`` to the real 0).

    ``q_low, q_high`` are ``q_min, q_max``, or ``-q_max, q_max`` in symmetric mode. Without
    ``scale`` and ``zero_point``, they are the ones ``helper`` computes for ``mode`` (asymmetric:
    ``get_q_scale_and_zero_point``; symmetric: ``s = max(|r_min|, |r_max|) / q_max``, ``z = 0``).
    Draws on ``ax`` when given; returns the Figure.
    """

    line = _number_line_layout(r_min, r_max, scale, zero_point, dtype, mode)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
        plt.close(fig)
    _draw_number_line_bars(ax, line)
    _label_number_line(ax, line, dtype, mode)
    _number_line_legend(ax, line)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.45, 1.45)
    ax.axis("off")
    window = f"[{format_number(line.window[0])}, {format_number(line.window[1])}]"
    integers = f"[{format_number(line.q_low)}, {line.q_high}]"
    default = (
        f"s = {line.scale:.4g}, z = {format_number(line.zero_point)}: "
        f"{window} \N{RIGHTWARDS ARROW} {integers}"
    )
    ax.set_title(title or default, fontsize=11)
    return ax.figure


@dataclass(frozen=True)
class NumberLineData(PlotData):
    """A sample of values and their integers, with the quantizer and the data's range."""

    values: np.ndarray  # a sample of the real values r
    quantized: np.ndarray  # their integers q
    scale: float
    zero_point: int
    q_min: int
    q_max: int
    r_min: float
    r_max: float


class NumberLine(Plot):
    """The real line (top, in r) mapped onto the integers (bottom, in q): ``q = r / s + z``.

    x is in integer units; the top axis is labelled in real units through ``r = s (x - z)``.
    Grey lines join a sample of values to the integer each one is rounded to; orange rings on
    the real line (the colour of what a quantizer gives back) mark the values they come back
    as, ``r' = s (q - z)``. The two ranges are thin lines under white-edged dots, so that every
    dot shows; a tick marks each integer only when there are at most ``MAX_TICKS`` of them
    (beyond that they would merge into a solid comb).
    """

    Data = NumberLineData
    figsize = (6.4, 3.3)
    margins = (0.04, 0.17, 0.97, 0.72)
    title_pad = 37.0  # above the top axis: its ticks, their labels and its label
    MAX_TICKS = 32  # a tick at every integer up to 32 integers (5 bits); none beyond

    def __init__(self, ax) -> None:

        super().__init__(ax)
        self.scale, self.zero_point = 1.0, 0
        self.ticks = ax.add_collection(LineCollection([], colors=GREEN, linewidths=1))
        self.links = ax.add_collection(LineCollection([], colors=GREY, linewidths=0.8))
        (self.integers,) = ax.plot([], [], color=GREEN, lw=1.5, solid_capstyle="butt")
        (self.reals,) = ax.plot([], [], color=BLUE, lw=1.5, solid_capstyle="butt")
        dot = {"marker": "o", "ls": "none", "ms": 7, "mec": "white", "mew": 0.8}
        (self.values,) = ax.plot([], [], color=BLUE, label="value r", **dot)
        (self.rounded,) = ax.plot([], [], color=GREEN, label="integer q", **dot)
        (self.restored,) = ax.plot(
            [],
            [],
            "o",
            mfc="none",
            mec=ORANGE,
            mew=1.5,
            ms=11,
            label="r' = s (q \N{MINUS SIGN} z)",
        )
        self.r_text = ax.text(0.01, 0.67, "", transform=ax.transAxes, color=BLUE)
        self.q_text = ax.text(0.01, 0.04, "", transform=ax.transAxes, color=DARK_GREEN)
        ax.secondary_xaxis(
            "top",
            functions=(
                lambda x: self.scale * (x - self.zero_point),
                lambda r: r / self.scale + self.zero_point,
            ),
        ).set_xlabel("real value r", fontsize=10)
        ax.set_xlabel("integer q", fontsize=10)
        ax.set_ylim(-0.6, 2.1)
        ax.set_yticks([])
        ax.legend(loc="upper center", ncols=3, fontsize=9, frameon=False)
        for side in ("left", "right"):
            ax.spines[side].set_visible(False)

    def background_key(self) -> tuple:
        return (self.scale, self.zero_point)  # the top axis, in real values

    def update(self, data: NumberLineData) -> None:
        self.scale, self.zero_point = data.scale, data.zero_point
        q_min, q_max = data.q_min, data.q_max
        at = np.asarray(data.values) / self.scale + self.zero_point
        levels = np.arange(q_min, q_max + 1) if q_max - q_min < self.MAX_TICKS else np.zeros(0)
        self.ticks.set_segments(
            np.stack([np.c_[levels, levels * 0 - 0.1], np.c_[levels, levels * 0 + 0.1]], 1)
        )
        ones = np.ones_like(at)
        self.links.set_segments(np.stack([np.c_[at, ones], np.c_[data.quantized, ones * 0]], 1))
        self.integers.set_data([q_min, q_max], [0, 0])
        ends = np.array([data.r_min, data.r_max]) / self.scale + self.zero_point
        self.reals.set_data(ends, [1, 1])
        self.values.set_data(at, ones)
        self.rounded.set_data(data.quantized, ones * 0)
        self.restored.set_data(data.quantized, ones)
        self.r_text.set_text(
            rf"$[r_{{\min}}, r_{{\max}}]$ = [{format_number(data.r_min)}, {format_number(data.r_max)}]"
        )
        self.q_text.set_text(rf"$[q_{{\min}}, q_{{\max}}]$ = [{format_number(q_min)}, {q_max}]")
        low, high = min(q_min, at.min(), ends[0]), max(q_max, at.max(), ends[1])
        pad = 0.04 * (high - low)
        self.ax.set_xlim(low - pad, high + pad)
        self.set_title(f"q = round(r / s + z), s = {data.scale:.4g}, z = {data.zero_point}")


def check_scale_and_zero_point(learner_function: Callable) -> Verdict:
    """L2-B "Your turn": ``learner_function(tensor, dtype)`` must return helper's
    ``helper.get_q_scale_and_zero_point(tensor, dtype)``: the range widened to include 0, any dtype
    (int8, uint8, int4, uint4, ...), and ``ZERO_RANGE_SCALE`` for an all-zero tensor."""
    cases = [
        (course_tensor(), torch.int8),
        (torch.linspace(2.0, 10.0, 9), torch.int8),
        (torch.linspace(2.0, 10.0, 9), torch.uint8),
        (seeded_normal(4, 4, 4), torch.int4),
        (seeded_normal(5, 3, 5).abs(), torch.uint4),
        (-seeded_normal(6, 6).abs() - 1.0, torch.int8),
        (torch.zeros(2, 3), torch.int8),
        (seeded_normal(19, 4, 4, scale=3.0), torch.uint8),
        (seeded_normal(20, 5, 3, scale=3.0), torch.int8),
    ]
    labels = [
        "the worked example in int8",
        "an all-positive (ReLU-like) tensor in int8",
        "the same in uint8",
        "random values in int4",
        "random non-negative values in uint4",
        "an all-negative tensor in int8",
        "an all-zero tensor (a range of width 0)",
        "random values in uint8",
        "random values in int8",
    ]
    return check_exercise(
        learner_function,
        helper.get_q_scale_and_zero_point,
        cases,
        name="get_q_scale_and_zero_point_with_zero",
        labels=labels,
    )


def _sample(tensor: torch.Tensor, n: int = 64) -> np.ndarray:
    """Indices of at most ``n`` evenly spread values of the flattened tensor."""
    return np.linspace(0, tensor.numel() - 1, min(n, tensor.numel())).round().astype(np.int64)


def explore_scale_and_zero_point(
    tensor: torch.Tensor | None = None, bits: int = 8, signed: bool = True
) -> Explorer:
    """L2-B: choose the dtype's bits (8 down to 2); see the derived scale and zero point,
    ``s = (r_max - r_min) / (q_max - q_min)``, ``z = round(q_min - r_min / s)``, the mapping of
    [r_min, r_max] onto [q_min, q_max] and the error (helper's ``linear_quantization``).
    """
    tensor = course_tensor() if tensor is None else helper.check_float_tensor(tensor)
    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "signed": buttons("dtype", [("signed int", True), ("unsigned uint", False)], signed),
    }
    sample = _sample(tensor)

    def compute(bits: int, signed: bool) -> View:
        dtype = helper.integer_dtype(bits, signed)
        quantized, scale, zero_point = helper.linear_quantization(tensor, dtype)
        dequantized = helper.linear_dequantization(quantized, scale, zero_point)
        q_min, q_max = helper.q_range(dtype)
        readout = {
            "dtype": helper.dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "r_min": float(tensor.min()),
            "r_max": float(tensor.max()),
            "scale": scale,
            "zero_point": zero_point,
            **error_readout(tensor, dequantized),
        }
        plot = NumberLineData(
            values=tensor.flatten()[sample].double().numpy(),
            quantized=quantized.flatten()[sample].numpy(),
            scale=scale,
            zero_point=zero_point,
            q_min=q_min,
            q_max=q_max,
            r_min=readout["r_min"],
            r_max=readout["r_max"],
        )
        matrices = round_trip_matrices(tensor, quantized, dequantized, dtype)
        return View(readout, matrices, plot)

    explorer = Explorer(
        "The scale and zero point that map [r_min, r_max] onto [q_min, q_max]",
        controls,
        compute,
        NumberLine,
        labels=QUANTIZER_LABELS,
    )
    explorer.remember_every_setting()  # 14: each new width redraws both axes, so do it now
    return explorer
