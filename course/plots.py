"""The lessons' plots: one palette, one number format, one heatmap, and the plots of single
tensors that the notebooks call. (The plots of layers and models are in ``course.model_plots``,
the figures of ``images/`` in ``course.figures``.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

import helper
from helper import Mode

# One palette for the whole course: Okabe and Ito's colours, which colour-blind readers tell
# apart, with greys for black, and darker shades of orange and green for text on white.
BLUE, ORANGE, GREEN, VERMILION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
SKY_BLUE, YELLOW, PURPLE, GREY = "#56B4E9", "#F0E442", "#CC79A7", "#999999"
DARK_GREY, LIGHT_GREY, LINE_GREY = "#555555", "#BBBBBB", "#333333"
DARK_ORANGE, DARK_GREEN = "#A05A00", "#00664A"
# Colours for a series of things (bit widths, the values in a byte), in this order.
SERIES = (BLUE, ORANGE, GREEN, PURPLE, SKY_BLUE, VERMILION, YELLOW, GREY)
# What a colour means on a number line: the data, the range a quantizer gives back, the data
# it clamps, and the integers.
DATA, WINDOW, CLIPPED, INTEGER = BLUE, ORANGE, VERMILION, GREEN
# What a colour means in every lesson's plots: the float reference (fp32, like the data);
# quantized weights with float activations (W8A32, or any weight-only quantized model); weights
# and activations quantized (W8A8); an error (like the data lost to clamping); torchao's results.
FP32, W8A32, W8A8, ERROR, TORCHAO = BLUE, ORANGE, PURPLE, VERMILION, SKY_BLUE
# The same, by the names the lessons give their results; and the granularities.
ROLE_COLOURS = {"fp32": FP32, "W8A32": W8A32, "W8A8": W8A8, "torchao": TORCHAO}
PER_TENSOR, PER_CHANNEL, PER_GROUP = VERMILION, SKY_BLUE, GREEN
# The two parts of a quantization error (lesson L5-A): rounding to the levels (the integers'
# colour), clipping (the clamped data's), and their sum.
ROUNDING, CLIPPING, TOTAL = INTEGER, CLIPPED, LINE_GREY
# Lesson L3-D's bits per weight: the share of an fp16 scale, and of an fp32 one, on top of the
# values' bits (the figure of its stacked bars, and the storage it costs in its trade-off plot).
SCALE_SHARE_COLOURS = {16: ORANGE, 32: VERMILION}
# Lesson L6-B's two ways to round a model's weights: to the nearest level, as every lesson before
# (the weight-only model's orange), and GPTQ, rounding that corrects its own errors (green).
RTN, GPTQ = W8A32, GREEN
# Lesson L7-B's third way: quantization-aware training, weights trained through their own
# rounding (black: the one colour of Okabe and Ito's that no other meaning has taken).
QAT = "#000000"

# Tensors with at most this many values get their numbers written in the cells.
MAX_ANNOTATED_CELLS = 64
# A written value takes at most this share of its cell's width and height.
CELL_MARGIN = 0.9
# A heatmap without its values gets a colour bar if it is at least this tall (inches): a shorter
# one, such as a strip of a dozen outputs in a widget's picture, has no room for the bar's labels.
COLOUR_BAR_HEIGHT = 0.8


def format_number(value: object) -> str:
    """How the course writes a number: a float with 4 significant digits, an int whole, both
    with a true minus sign; anything else as ``str`` gives it."""
    if isinstance(value, float):
        return f"{value:.4g}".replace("-", "\N{MINUS SIGN}")
    return str(value).replace("-", "\N{MINUS SIGN}") if isinstance(value, int) else str(value)


def as_matrix(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    """A tensor as a 2-D float NumPy array: a vector becomes one row, N-D keeps its last axis."""
    array = (
        tensor.detach().cpu().double().numpy()
        if isinstance(tensor, torch.Tensor)
        else (np.asarray(tensor, dtype=np.float64))
    )
    return array.reshape(1, -1) if array.ndim < 2 else array.reshape(-1, array.shape[-1])


def is_light(rgb: np.ndarray) -> np.ndarray:
    """Whether each colour (RGB in [0, 1], shape (..., 3) or more) is light, so that text on it
    is black rather than white: its luma 0.299 R + 0.587 G + 0.114 B is above one half."""
    return np.asarray(rgb, dtype=float)[..., :3] @ np.array([0.299, 0.587, 0.114]) > 0.5


def text_colour(colour) -> str:
    """Black on a light colour, white on a dark one (``is_light``)."""
    return "black" if is_light(to_rgb(colour)) else "white"


def granularity_block_ids(
    shape: Sequence[int],
    granularity: helper.Granularity,
    dim: int | None = None,
    group_size: int | None = None,
) -> torch.Tensor:
    """Which block (which scale) each value of a tensor of ``shape`` belongs to.

    Returns an int64 tensor of ``shape`` whose entry is the index of the block holding that
    value, blocks numbered in row-major order: all 0 per tensor, the row index per channel with
    ``dim=0``, ``row * (n_cols // group_size) + col // group_size`` per group.
    """
    shape = tuple(shape)
    if any(isinstance(size, bool) or not isinstance(size, int) or size <= 0 for size in shape):
        raise ValueError(f"shape must hold positive ints, got {shape!r}")
    block = helper.block_size_for(shape, granularity, dim=dim, group_size=group_size)
    return block_ids(shape, block)


def block_ids(shape: Sequence[int], block_size: Sequence[int]) -> torch.Tensor:
    """The index of the block of ``block_size`` values that holds each value of ``shape``."""
    grid = [size // b for size, b in zip(shape, block_size)]
    return helper.expand_blocks(torch.arange(math.prod(grid)).reshape(grid), block_size)


def outline_blocks(ax, ids: np.ndarray, colour: str = "black", width: float = 2.5) -> None:
    """Thick lines between neighbouring cells of a 2-D map that belong to different blocks."""
    rows, cols = np.nonzero(ids[:, 1:] != ids[:, :-1])
    vertical = [((x + 0.5, y - 0.5), (x + 0.5, y + 0.5)) for y, x in zip(rows, cols)]
    rows, cols = np.nonzero(ids[1:, :] != ids[:-1, :])
    horizontal = [((x - 0.5, y + 0.5), (x + 0.5, y + 0.5)) for y, x in zip(rows, cols)]
    ax.add_collection(LineCollection(vertical + horizontal, colors=colour, linewidths=width))


def heatmap(
    ax,
    matrix: np.ndarray,
    title: str,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    fmt: str = ".4g",
    ids: np.ndarray | None = None,
):
    """One heatmap on ``ax``: a small matrix gets its values written in its cells if they fit
    there (``values_fit``, measured in the figure); a large one gets a colour bar instead, and so
    does a small one whose values do not fit, if it is ``COLOUR_BAR_HEIGHT`` tall or more.
    ``ids`` (one block id per cell, as ``block_ids`` gives) outlines the blocks of values that
    share a scale."""
    vmin = matrix.min() if vmin is None else vmin
    vmax = matrix.max() if vmax is None else vmax
    image = ax.imshow(
        matrix, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    texts = []
    if matrix.size <= MAX_ANNOTATED_CELLS:
        light = is_light(image.cmap(image.norm(matrix)))
        for (row, col), value in np.ndenumerate(matrix):
            texts.append(
                ax.text(
                    col,
                    row,
                    format(value, fmt),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="black" if light[row, col] else "white",
                )
            )
    if not texts:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    elif not values_fit(ax, texts, matrix.shape):
        for text in texts:
            text.remove()
        if ax.get_window_extent().height >= COLOUR_BAR_HEIGHT * ax.figure.dpi:
            ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if ids is not None and ids.shape == matrix.shape:
        outline_blocks(ax, ids, "white")
    return image


def values_fit(ax, texts: Sequence, shape: tuple[int, int]) -> bool:
    """Whether every text fits in its cell of a ``shape`` grid on ``ax``, measured in the
    figure as it is laid out now (its layout engine run first, as a draw would)."""
    root = ax.get_figure(root=True)
    if (engine := root.get_layout_engine()) is not None:
        engine.execute(root)
    renderer = root._get_renderer()
    box = ax.get_window_extent(renderer)
    cell_width, cell_height = box.width / shape[1], box.height / shape[0]
    extents = [text.get_window_extent(renderer) for text in texts]
    return (
        max(e.width for e in extents) <= CELL_MARGIN * cell_width
        and max(e.height for e in extents) <= CELL_MARGIN * cell_height
    )


def plot_quantization_errors(
    original_tensor: torch.Tensor,
    quantized_tensor: torch.Tensor,
    dequantized_tensor: torch.Tensor,
    dtype: torch.dtype = torch.int8,
    n_bits: int = 8,
    block_size: Sequence[int] | None = None,
):
    """Original, quantized, dequantized and |original - dequantized|, in a 2 x 2 grid.

    Small tensors have their values written in the cells; large ones get a colour bar instead.
    The quantized panel's colours span the range of ``dtype``, narrowed to ``n_bits`` when the
    values use fewer bits than their container. With ``block_size`` (``helper.block_size_for``
    of a 2-D tensor), white lines outline the blocks of values that share a scale. Returns the
    matplotlib ``Figure``.
    """
    original, dequantized = as_matrix(original_tensor), as_matrix(dequantized_tensor)
    quantized = as_matrix(quantized_tensor)
    if not original.shape == quantized.shape == dequantized.shape:
        raise ValueError(
            f"the three tensors must have one shape, got {tuple(original_tensor.shape)}, "
            f"{tuple(quantized_tensor.shape)} and {tuple(dequantized_tensor.shape)}"
        )
    ids = None
    if block_size is not None:
        ids = block_ids(tuple(original_tensor.shape), block_size).reshape(original.shape).numpy()
    q_min, q_max = helper.q_range(dtype)
    if n_bits < helper.dtype_bits(dtype):
        q_min, q_max = helper.q_range(helper.integer_dtype(n_bits, signed=q_min < 0))
    error = np.abs(original - dequantized)
    low, high = min(original.min(), dequantized.min()), max(original.max(), dequantized.max())
    rows, cols = original.shape
    width = max(3.2, min(4.6, 0.8 * cols + 1.2))
    fig, axes = plt.subplots(
        2, 2, figsize=(2 * width, 2 * (width * min(rows / cols, 1.2) + 0.5)), layout="constrained"
    )
    name = helper.dtype_name(dtype)
    panels = (
        (original, "Original tensor r", "viridis", low, high, ".4g"),
        (quantized, f"Quantized tensor q ({name})", "viridis", q_min, q_max, ".0f"),
        (
            dequantized,
            "Dequantized tensor r' = s (q \N{MINUS SIGN} z)",
            "viridis",
            low,
            high,
            ".4g",
        ),
        (error, "Error |r \N{MINUS SIGN} r'|", "cividis", 0, max(error.max(), 1e-12), ".3g"),
    )
    for ax, (matrix, title, cmap, vmin, vmax, fmt) in zip(axes.flat, panels):
        heatmap(ax, matrix, title, cmap, vmin, vmax, fmt, ids)
    plt.close(fig)
    return fig


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


# The 2-D granularities the figures and widgets name, as (granularity, dim) for block_size_for.
GRANULARITY_PANELS = {
    "per-tensor": ("per-tensor", None),
    "per-channel rows": ("per-channel", 0),
    "per-channel columns": ("per-channel", 1),
    "per-group": ("per-group", None),
}


def plot_group_size_tradeoff(
    tensor: torch.Tensor,
    group_sizes: Sequence[int],
    dtype: torch.dtype = torch.int4,
    scale_bits: int = 16,
):
    """The per-group trade-off: error (MSE) and real bits per weight against the group size.

    Left: ``quantization_error`` of symmetric per-group quantization of ``tensor`` in ``dtype``
    for each group size, in the colour of an MSE (``TOTAL``); right:
    ``helper.bits_per_weight(bits, group_size, scale_bits)``, in the colour of that scale's share
    in L3-D's bars of bits per weight (``SCALE_SHARE_COLOURS``). Smaller groups: smaller error,
    more bits. Returns the matplotlib ``Figure``.
    """

    tensor = helper.check_float_tensor(tensor)
    if not group_sizes:
        raise ValueError("group_sizes must hold at least one group size")
    errors, bits = [], []
    for group_size in group_sizes:
        quantized, scale = helper.linear_q_symmetric_per_group(tensor, group_size, dtype)
        dequantized = helper.linear_dequantization_per_group(quantized, scale, group_size)
        errors.append(helper.quantization_error(tensor, dequantized))
        bits.append(helper.bits_per_weight(helper.dtype_bits(dtype), group_size, scale_bits))
    name = helper.dtype_name(dtype)
    storage = SCALE_SHARE_COLOURS.get(scale_bits, DARK_GREY)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for ax, values, colour, title, label in (
        (left, errors, TOTAL, f"Quantization error ({name})", "mean squared error"),
        (right, bits, storage, f"Real storage (fp{scale_bits} scales)", "bits per weight"),
    ):
        ax.plot(group_sizes, values, marker="o", color=colour)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(group_sizes), [str(g) for g in group_sizes])
        ax.set_xlabel("group size (values sharing one scale)")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
    plt.close(fig)
    return fig


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
