"""L3-A, symmetric against asymmetric mode: the errors of both modes by bit width, the levels
histogram (a live plot), the widget and the checker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, View, buttons, float_slider, int_slider
from course.core.live_view import Plot, PlotData, steady_limits
from course.core.plotting import BLUE, CLIPPED, DATA, GREY, INTEGER, WINDOW
from course.core.widget_parts import error_readout, round_trip
from course.data import seeded_normal, skewed_tensor

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l2a import (
    QUANTIZER_LABELS,
    plot_quantization_errors,  # noqa: F401
)
from helper import Mode


def plot_mode_errors(tensor: torch.Tensor, bits: Sequence[int] = (2, 3, 4, 5, 6, 7, 8)):
    """The MSE of each mode (``helper.mode_errors``) against the number of bits, on a log scale.

    Returns the Figure.
    """

    table = helper.mode_errors(tensor, bits)
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for mode, colour, marker in (
        ("asymmetric", DATA, "o"),
        ("symmetric", WINDOW, "s"),
    ):
        ax.plot(table["bits"], table[mode], marker=marker, color=colour, lw=2, label=mode)
    ax.set_yscale("log")
    ax.set_xticks(table["bits"])
    ax.set_xlabel("bits per value (signed integer dtype)")
    ax.set_ylabel("quantization error (MSE, log scale)")
    ax.set_title("Quantization error of each mode, by number of bits", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    plt.close(fig)
    return fig


@dataclass(frozen=True)
class LevelHistogramData(PlotData):
    """The values, and each level's real value with whether it is used and inside the data."""

    values: np.ndarray
    level_values: np.ndarray  # s (q - z) for every level q_min .. q_max
    used: np.ndarray  # bool, one per level: some value lands on it
    inside: np.ndarray  # bool, one per level: it lies inside the data's range
    title: str


class LevelHistogram(Plot):
    """A histogram of the values and a vertical line at each level's real value ``s (q - z)``.

    Green where values land, grey inside the data's range but unused, vermilion outside it.
    """

    Data = LevelHistogramData

    def __init__(self, ax) -> None:

        super().__init__(ax)
        self.levels = ax.add_collection(
            LineCollection([], linewidths=0.8, transform=ax.get_xaxis_transform())
        )
        self.histogram = ax.stairs([0], [0, 1], fill=True, color=BLUE, alpha=0.35)
        ax.set_xlabel(
            "real value r (vertical lines: the levels s (q \N{MINUS SIGN} z))", fontsize=10
        )
        ax.set_ylabel("count", fontsize=10)
        ax.legend(
            handles=[
                Line2D([], [], color=INTEGER, label="level used"),
                Line2D([], [], color=GREY, label="inside the data, unused"),
                Line2D([], [], color=CLIPPED, label="outside the data (wasted)"),
            ],
            loc="upper left",
            framealpha=1.0,
            fontsize=9,
        )

    def update(self, data: LevelHistogramData) -> None:
        counts, edges = self.histogram_of(data)
        self.histogram.set_data(counts, edges)
        at = data.level_values
        top = self.level_top if len(at) <= self.MANY_LEVELS else 0.05
        self.levels.set_segments(np.stack([np.c_[at, at * 0], np.c_[at, at * 0 + top]], 1))
        colours = np.where(data.used, INTEGER, GREY)
        self.levels.set_colors(np.where(data.inside, colours, CLIPPED))
        low, high = min(at.min(), edges[0]), max(at.max(), edges[-1])
        pad = 0.03 * (high - low or 1.0)
        self.ax.set_xlim(steady_limits(low - pad, high + pad))
        self.ax.set_ylim(self.count_limits(counts))
        self.set_title(data.title)

    # The levels stop below the legend (a share of the axes' height), and the count axis keeps
    # the histogram below them too. Past MANY_LEVELS (5 bits), lines that tall would hide the
    # histogram: they are short ticks.
    level_top, MANY_LEVELS = 0.66, 32

    def count_limits(self, counts: np.ndarray) -> tuple[float, float]:
        """The count axis' limits for these histogram counts: the tallest bar under the levels."""
        return steady_limits(0, 1.6 * max(counts.max(), 1))

    def histogram_of(self, data: LevelHistogramData) -> tuple[np.ndarray, np.ndarray]:
        """``(counts, edges)`` of the values: 60 bins over their range."""
        return np.histogram(data.values, bins=60)


def check_symmetric_quantization(learner_function: Callable) -> Verdict:
    """L3-A "Your turn": ``learner_function(tensor, bits)`` must return ``(quantized, scale)``
    of symmetric per-tensor quantization with a signed ``bits``-bit integer, the values held in
    an int8 tensor, as ``helper.linear_q_symmetric(tensor, helper.integer_dtype(bits))``."""
    cases = [
        (seeded_normal(7, 4, 4), 8),
        (seeded_normal(8, 4, 4), 4),
        (skewed_tensor(64, seed=9), 4),
        (seeded_normal(10, 3, 6, scale=5.0), 3),
        (seeded_normal(11, 8), 2),
    ]
    labels = [
        "random values at 8 bits",
        "random values at 4 bits",
        "a skewed tensor at 4 bits",
        "random values, 5 times larger, at 3 bits",
        "random values at 2 bits",
    ]
    return check_exercise(
        learner_function,
        lambda tensor, bits: helper.linear_q_symmetric(tensor, helper.integer_dtype(bits)),
        cases,
        name="linear_q_symmetric_bits",
        labels=labels,
    )


def _skew(tensor: torch.Tensor, skew: float) -> torch.Tensor:
    """``r + skew * |min(r_min, 0)|``: skew 0 is the data, skew 1 puts its minimum at 0."""
    return tensor - skew * min(float(tensor.min()), 0.0)


def explore_symmetric_vs_asymmetric(
    tensor: torch.Tensor | None = None, mode: Mode = "symmetric", bits: int = 4, skew: float = 1.0
) -> Explorer:
    """L3-A: symmetric (``s = max|r| / q_max``, z = 0) vs asymmetric mode, as the data is
    shifted towards positive values (``skew``, 1 = all >= 0 like a ReLU output).

    Counts the levels outside the data's range (``levels_used``) and the levels no value uses.
    """
    base = seeded_normal(0, 2000) if tensor is None else helper.check_float_tensor(tensor)
    controls = {
        "mode": buttons("mode", ["symmetric", "asymmetric"], mode),
        "bits": int_slider("bits", bits, 2, 8),
        "skew": float_slider("skew towards positive", skew, 0.0, 1.0, 0.05),
    }

    def compute(mode: Mode, bits: int, skew: float) -> View:
        data, dtype = _skew(base, skew), helper.integer_dtype(bits)
        block = helper.block_size_for(data.shape, "per-tensor")
        trips = {m: round_trip(data, block, dtype, m) for m in ("symmetric", "asymmetric")}
        trip = trips[mode]
        quantized, scale, zero_point = trip.quantized, trip.scale, trip.zero_point
        q_min, q_max = helper.q_range(dtype)
        levels = torch.arange(q_min, q_max + 1, dtype=torch.int32)
        span, n_levels = helper.levels_used(quantized, dtype)
        readout = {
            "mode": mode,
            "dtype": helper.dtype_name(dtype),
            "scale": float(scale.reshape(-1)[0]),
            "zero_point": int(zero_point.reshape(-1)[0]),
            "n_levels": n_levels,
            "levels_outside_range": n_levels - span,
            "unused_levels": n_levels - int(torch.unique(quantized).numel()),
            **error_readout(data, trip.dequantized),
            **{
                f"mse_{m}": helper.quantization_error(data, t.dequantized) for m, t in trips.items()
            },
        }
        plot = LevelHistogramData(
            values=data.flatten().double().numpy(),
            level_values=helper.dequantize_blocks(levels, scale, zero_point, levels.shape).numpy(),
            used=torch.isin(levels, quantized).numpy(),
            inside=((levels >= quantized.min()) & (levels <= quantized.max())).numpy(),
            title=f"{mode} mode, {helper.dtype_name(dtype)}: {span} of {n_levels} levels inside "
            f"the data, {readout['unused_levels']} unused",
        )
        return View(readout, [], plot)

    return Explorer(
        "Symmetric or asymmetric? Levels wasted on one-sided data",
        controls,
        compute,
        LevelHistogram,
        labels={
            **QUANTIZER_LABELS,
            "n_levels": "levels of the dtype",
            "levels_outside_range": "levels outside the data",
            "unused_levels": "levels no value uses",
            "mse_symmetric": "MSE symmetric",
            "mse_asymmetric": "MSE asymmetric",
        },
    )
