"""The plots the widgets redraw in place: each ``Plot`` makes its matplotlib artists once and
moves them on every ``update``, so that a slider's move costs milliseconds. The live view draws
one on its own figure; ``Explorer.snapshot`` draws a fresh one on the snapshot's axes.

Each plot declares the data it takes as a small typed record, ``Data``: a frozen dataclass
defined just above it, which a widget's compute function builds by name (never a dict of
strings). Its fields are the plot's contract; what the widget shows as numbers is separate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import matplotlib
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from course.plots import (
    BLUE,
    CLIPPED,
    DARK_GREEN,
    FP32,
    GPTQ,
    GREEN,
    GREY,
    INTEGER,
    ORANGE,
    RTN,
    TORCHAO,
    W8A8,
    W8A32,
    format_number,
)


def steady_limits(low: float, high: float, bins: int = 6) -> tuple[float, float]:
    """``[low, high]`` widened to the nearest multiples of a round step (1, 2, 2.5 or 5 times a
    power of ten, about ``(high - low) / bins``): as a slider moves the data a little, the axis
    keeps its limits and its ticks, so the live view has no tick label to redraw
    (``live_view.LivePlot``) and the eye a steady scale to read."""
    ticks = MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    return float(ticks[ticks <= low].max()), float(ticks[ticks >= high].min())


@dataclass(frozen=True)
class PlotData:
    """The record a ``Plot`` draws: each plot subclasses it with the fields it reads."""


class Plot:
    """One matplotlib axes of an explorer: ``__init__`` makes the artists, ``update`` moves them.

    The live view keeps one instance on one figure and re-renders it to PNG; the snapshot makes
    a fresh instance on its own axes, so both draw the same picture. ``Data`` is the record
    ``update`` takes.
    """

    Data: ClassVar[type[PlotData]] = PlotData

    figsize = (6.4, 2.8)
    # Fixed margins (left, bottom, right, top) of the live figure: no layout engine per change.
    margins = (0.1, 0.2, 0.97, 0.85)
    # Points between the top of the axes and the title's baseline (see ``set_title``).
    title_pad = 6.0

    def __init__(self, ax) -> None:
        self.ax = ax
        ax.tick_params(labelsize=9)

    def update(self, data: PlotData) -> None:
        """Move the artists to show ``data``."""
        raise NotImplementedError

    def set_title(self, text: str) -> None:
        """Title the axes ``title_pad`` points above their top. A fixed place, where matplotlib
        would otherwise measure the top axis' labels on every draw to find one."""
        self.ax.set_title(text, fontsize=10, y=1.0, pad=self.title_pad)

    def background_key(self) -> tuple:
        """What, besides the axes' limits and scales, the secondary axes' ticks and labels depend
        on: the live view redraws them only when this or a limit changes (``live_view.LivePlot``)."""
        return ()


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


@dataclass(frozen=True)
class OutputScatterData(PlotData):
    """The outputs of the fp32 layer and of the quantized one, value for value."""

    reference: np.ndarray
    quantized: np.ndarray
    title: str


class OutputScatter(Plot):
    """Each output of the quantized layer against the same output of the fp32 layer."""

    Data = OutputScatterData

    def __init__(self, ax) -> None:
        super().__init__(ax)
        (self.diagonal,) = ax.plot([], [], color=GREY, lw=1, label="equal outputs")
        (self.points,) = ax.plot([], [], "o", color=W8A32, ms=4, label="outputs")
        ax.set_xlabel("fp32 layer output", fontsize=10)
        ax.set_ylabel("quantized-weight output", fontsize=10)
        ax.legend(loc="upper left", fontsize=9)

    def update(self, data: OutputScatterData) -> None:
        reference, quantized = data.reference, data.quantized
        self.points.set_data(reference, quantized)
        low = min(reference.min(), quantized.min())
        high = max(reference.max(), quantized.max())
        pad = 0.05 * (high - low or 1.0)
        limits = steady_limits(low - pad, high + pad)
        self.diagonal.set_data(limits, limits)
        self.ax.set_xlim(limits)
        self.ax.set_ylim(limits)
        self.set_title(data.title)


@dataclass(frozen=True)
class W8A8ErrorsData(PlotData):
    """The outputs of the fp32, W8A8 and W8A32 layers, value for value."""

    fp32: np.ndarray
    w8a8: np.ndarray
    w8a32: np.ndarray
    title: str


class W8A8Errors(Plot):
    """The error of each output of the W8A8 and W8A32 layers, against the fp32 output."""

    Data = W8A8ErrorsData
    margins = (0.13, 0.2, 0.97, 0.85)  # room for tick labels such as "−0.0025"

    def __init__(self, ax) -> None:
        super().__init__(ax)
        ax.axhline(0.0, color=GREY, lw=1)
        # Both series share every x: W8A8 as larger hollow rings, W8A32 as smaller dots drawn
        # over them, so that a dot on a ring leaves the ring visible around it.
        (self.w8a8,) = ax.plot([], [], "o", color=W8A8, mfc="none", mew=1.2, ms=6, label="W8A8")
        (self.w8a32,) = ax.plot([], [], "o", color=W8A32, ms=2.5, label="W8A32")
        ax.set_xlabel("fp32 layer output y", fontsize=10)
        ax.set_ylabel("error y' \N{MINUS SIGN} y", fontsize=10)
        ax.legend(loc="upper right", ncols=2, fontsize=9)

    def update(self, data: W8A8ErrorsData) -> None:
        reference = data.fp32
        errors = (data.w8a8 - reference, data.w8a32 - reference)
        self.w8a8.set_data(reference, errors[0])
        self.w8a32.set_data(reference, errors[1])
        low, high = reference.min(), reference.max()
        pad = 0.05 * (high - low or 1.0)
        self.ax.set_xlim(steady_limits(low - pad, high + pad))
        top = 1.1 * max(np.abs(errors[0]).max(), np.abs(errors[1]).max(), 1e-12)
        self.ax.set_ylim(steady_limits(-top, 1.6 * top))  # room above the errors for the legend
        self.set_title(data.title)


@dataclass(frozen=True)
class StorageBarsData(PlotData):
    """Bytes of the two bars, fp32 then quantized: weights, and the scales stacked after them."""

    weight_bytes: tuple[int, int]
    scale_bytes: tuple[int, int]
    fp32_bytes: int
    title: str


class StorageBars(Plot):
    """Bytes of the packed (or int8) weights and of the scales, against the fp32 tensor."""

    Data = StorageBarsData
    figsize = (6.4, 2.4)
    margins = (0.16, 0.2, 0.97, 0.86)

    def __init__(self, ax) -> None:
        super().__init__(ax)
        self.weights = ax.barh([0, 1], [0, 0], color=BLUE, label="weights")
        self.scales = ax.barh([0, 1], [0, 0], color=ORANGE, label="scales")
        ax.set_yticks([0, 1], ["fp32", "quantized"])
        ax.set_ylim(-0.6, 2.1)  # room above the quantized bar, which never reaches the right
        ax.set_xlabel("bytes", fontsize=10)
        ax.legend(loc="upper right", ncols=2, fontsize=9)

    def update(self, data: StorageBarsData) -> None:
        for bar, value, left in zip(self.weights, data.weight_bytes, (0, 0)):
            bar.set_width(value)
            bar.set_x(left)
        for bar, value, left in zip(self.scales, data.scale_bytes, data.weight_bytes):
            bar.set_width(value)
            bar.set_x(left)
        self.ax.set_xlim(0, 1.05 * data.fp32_bytes)
        self.set_title(data.title)


# Misclassified digits shown at once in the trained-network explorer.
MONTAGE_DIGITS = 16


def _digit_montage(images: torch.Tensor, columns: int = 8) -> np.ndarray:
    """Up to ``MONTAGE_DIGITS`` 8x8 images tiled in rows of ``columns``, each in a 11x9 tile
    whose blank margin (NaN: drawn white) holds its label."""
    tiles = np.full((MONTAGE_DIGITS, 11, 9), np.nan)
    tiles[: len(images), :8, :8] = images[:MONTAGE_DIGITS].reshape(-1, 8, 8).numpy()
    rows = MONTAGE_DIGITS // columns
    return tiles.reshape(rows, columns, 11, 9).transpose(0, 2, 1, 3).reshape(rows * 11, columns * 9)


@dataclass(frozen=True)
class DigitMontageData(PlotData):
    """Up to ``MONTAGE_DIGITS`` images (rows of 64 pixels), their true and predicted labels."""

    images: torch.Tensor
    true: Sequence[int]
    predicted: Sequence[int]
    title: str


class DigitMontage(Plot):
    """The misclassified test digits, each labelled 'true \N{RIGHTWARDS ARROW} predicted'."""

    Data = DigitMontageData

    figsize = (6.4, 2.9)
    margins = (0.02, 0.02, 0.98, 0.9)

    def __init__(self, ax) -> None:

        super().__init__(ax)
        cmap = matplotlib.colormaps["gray_r"].with_extremes(bad="white")
        self.image = ax.imshow(
            _digit_montage(torch.zeros(0, 64)), cmap=cmap, vmin=0, vmax=1, interpolation="nearest"
        )
        self.labels = [
            ax.text(9 * (i % 8) + 3.5, 11 * (i // 8) + 9, "", ha="center", va="center", fontsize=9)
            for i in range(MONTAGE_DIGITS)
        ]
        ax.set_xticks([])
        ax.set_yticks([])

    def update(self, data: DigitMontageData) -> None:
        self.image.set_data(_digit_montage(data.images))
        for i, label in enumerate(self.labels):
            label.set_text(
                f"{data.true[i]}\N{RIGHTWARDS ARROW}{data.predicted[i]}"
                if i < len(data.true)
                else ""
            )
        self.set_title(data.title)


@dataclass(frozen=True)
class LevelCountsData(PlotData):
    """How many values land on each level ``q_min .. q_max``, by helper and by torchao."""

    q_min: int
    q_max: int
    helper_counts: np.ndarray
    torchao_counts: np.ndarray
    title: str


class LevelCounts(Plot):
    """How many values land on each integer level, by helper's convention and by torchao's.

    Two outlines over the levels ``q_min .. q_max``.
    """

    Data = LevelCountsData

    def __init__(self, ax) -> None:
        super().__init__(ax)
        self.helper = ax.stairs([0], [0, 1], color=W8A32, lw=2, label="helper")
        self.torchao = ax.stairs([0], [0, 1], color=TORCHAO, lw=2, ls="--", label="torchao")
        ax.set_xlabel("integer q", fontsize=10)
        ax.set_ylabel("values on the level", fontsize=10)
        ax.legend(loc="upper right", fontsize=9)

    def update(self, data: LevelCountsData) -> None:
        edges = np.arange(data.q_min, data.q_max + 2) - 0.5
        self.helper.set_data(data.helper_counts, edges)
        self.torchao.set_data(data.torchao_counts, edges)
        self.ax.set_xlim(edges[0] - 0.5, edges[-1] + 0.5)
        top = max(data.helper_counts.max(), data.torchao_counts.max(), 1)
        self.ax.set_ylim(steady_limits(0, 1.2 * top))
        self.set_title(data.title)


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


@dataclass(frozen=True)
class FormatLevelsData(LevelHistogramData):
    """A ``LevelHistogramData`` whose histogram is computed in advance: ``counts`` over the
    bins ``edges`` (the widget computes every setting once, when it is built)."""

    counts: np.ndarray
    edges: np.ndarray


class FormatLevels(LevelHistogram):
    """``LevelHistogram`` on the axis a number format sees: each value divided by its block's
    scale, over the format's largest level, so that every format's levels span [-1, 1]; values
    beyond ±1 are saturated to the end levels (MX's power-of-two scale lets some get there)."""

    Data = FormatLevelsData

    def __init__(self, ax) -> None:
        super().__init__(ax)
        ax.set_xlabel(
            "value / its block's scale, over the largest level (lines: the levels)", fontsize=10
        )
        ax.legend(
            handles=[
                Line2D([], [], color=INTEGER, label="level used"),
                Line2D([], [], color=GREY, label="level no value uses"),
                Line2D([], [], color=CLIPPED, lw=6, alpha=0.3, label="saturated"),
            ],
            loc="upper left",
            framealpha=1.0,
            fontsize=9,
        )
        ax.axvspan(1, 1.4, color=CLIPPED, alpha=0.15)
        ax.axvspan(-1.4, -1, color=CLIPPED, alpha=0.15)

    def histogram_of(self, data: FormatLevelsData) -> tuple[np.ndarray, np.ndarray]:
        return data.counts, data.edges


@dataclass(frozen=True)
class BitsPerByteBarsData(PlotData):
    """Bits per byte of the fp32 model, round-to-nearest and GPTQ, and the axis' end."""

    fp32: float
    rtn: float
    gptq: float
    xmax: float
    title: str


class BitsPerByteBars(Plot):
    """Lesson L6-B: bits per byte of the fp32 model, round-to-nearest and GPTQ, three bars."""

    Data = BitsPerByteBarsData

    figsize = (6.4, 2.4)
    margins = (0.25, 0.2, 0.95, 0.86)
    names = ("fp32", "round to nearest", "GPTQ")

    def __init__(self, ax) -> None:
        super().__init__(ax)
        self.bars = ax.barh([2, 1, 0], [0, 0, 0], color=[FP32, RTN, GPTQ])
        self.labels = [ax.text(0, y, "", va="center", fontsize=9) for y in (2, 1, 0)]
        ax.set_yticks([2, 1, 0], self.names)
        ax.set_xlabel("bits per byte on held-out text (lower is better)", fontsize=10)

    def update(self, data: BitsPerByteBarsData) -> None:
        values = (data.fp32, data.rtn, data.gptq)
        for bar, label, value in zip(self.bars, self.labels, values):
            bar.set_width(value)
            label.set_position((value, bar.get_y() + bar.get_height() / 2))
            label.set_text(f" {value:.3f}")
        self.ax.set_xlim(0, data.xmax)
        self.set_title(data.title)
