"""The palette (one colour per meaning across the course), the number format, the one
``heatmap`` and the small drawing helpers every lesson's plots share. Nothing of one lesson.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb

import helper

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


# The 2-D granularities the figures and widgets name, as (granularity, dim) for block_size_for.
GRANULARITY_PANELS = {
    "per-tensor": ("per-tensor", None),
    "per-channel rows": ("per-channel", 0),
    "per-channel columns": ("per-channel", 1),
    "per-group": ("per-group", None),
}
