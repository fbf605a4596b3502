"""The lessons' figures: every ``figure_<name>()`` here is drawn into ``images/<name>.png`` by
``make images`` (``tools/make_images.py``), with the plotters that only these figures use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch

import helper
from course.data import course_tensor, skewed_tensor
from course.plots import (
    BLUE,
    CLIPPED,
    DATA,
    GRANULARITY_PANELS,
    GREEN,
    INTEGER,
    LIGHT_GREY,
    LINE_GREY,
    MAX_ANNOTATED_CELLS,
    ORANGE,
    PURPLE,
    SERIES,
    SKY_BLUE,
    VERMILION,
    YELLOW,
    as_matrix,
    format_number,
    plot_number_line,
    quantize_per_tensor,
)
from helper import Granularity, Mode

# Each block that shares a scale gets a colour of its own, cycling past eight blocks.
_BLOCK_COLOURS = (ORANGE, SKY_BLUE, GREEN, YELLOW, BLUE, VERMILION, PURPLE, LIGHT_GREY)


def _levels_panel(ax, tensor: torch.Tensor, dtype: torch.dtype, mode: Mode, bins: int) -> None:
    """One panel of ``plot_levels_histogram``: the histogram and the levels of one mode."""
    quantized, scale, zero_point = quantize_per_tensor(tensor, dtype, mode)
    used, total = helper.levels_used(quantized, dtype)
    q_min, q_max = helper.q_range(dtype)
    levels = np.arange(q_min, q_max + 1)
    inside = (levels >= int(quantized.min())) & (levels <= int(quantized.max()))
    at = scale * (levels - zero_point)
    ax.hist(tensor.detach().double().flatten().numpy(), bins=bins, color=DATA, alpha=0.8)
    along = {"transform": ax.get_xaxis_transform(), "alpha": 0.9}
    ax.vlines(at[inside], 0, 1, color=INTEGER, lw=1.2, **along)
    ax.vlines(at[~inside], 0, 1, color=CLIPPED, linestyles="--", lw=1.0, **along)
    ax.set_title(
        f"{mode.capitalize()} mode, {str(dtype).removeprefix('torch.')}: "
        f"{used} of {total} levels fall inside the data",
        fontsize=11,
    )
    ax.set_ylabel("count")


def plot_levels_histogram(
    tensor: torch.Tensor,
    dtype: torch.dtype = torch.int4,
    modes: Sequence[Mode] = ("asymmetric", "symmetric"),
    bins: int = 60,
):
    """A histogram of ``tensor`` and the real value ``s (q - z)`` of every level of ``dtype``.

    One panel per mode (per-tensor quantization). Levels inside the data's range are solid
    green; the others (dashed red) are never used. Each title counts the levels used, as
    ``levels_used`` does. Returns the Figure.
    """

    tensor = helper._check_float_tensor(tensor)
    if isinstance(modes, str) or not modes:
        raise ValueError(f"modes must be a non-empty sequence of mode names, got {modes!r}")
    fig, axes = plt.subplots(
        len(modes),
        1,
        figsize=(10, 2.6 * len(modes) + 0.6),
        sharex=True,
        layout="constrained",
        squeeze=False,
    )
    for ax, mode in zip(axes[:, 0], modes):
        _levels_panel(ax, tensor, dtype, mode, bins)
    axes[-1, 0].set_xlabel("real value r (vertical lines: the levels s (q \N{MINUS SIGN} z))")
    axes[0, 0].legend(
        handles=[
            Line2D([], [], color=INTEGER, label="level inside the data's range"),
            Line2D([], [], color=CLIPPED, ls="--", label="level never used"),
        ],
        loc="upper right",
        fontsize=9,
    )
    plt.close(fig)
    return fig


def granularity_block_ids(
    shape: Sequence[int],
    granularity: Granularity,
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
    grid = [size // b for size, b in zip(shape, block)]
    ids = torch.arange(math.prod(grid)).reshape([n for g in grid for n in (g, 1)])
    return ids.expand([n for g, b in zip(grid, block) for n in (g, b)]).reshape(shape)


def _text_colour(colour: str) -> str:
    """Black on a light colour, white on a dark one (relative luminance)."""

    red, green, blue = to_rgb(colour)
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.4 else "white"


def _draw_blocks(ax, ids: np.ndarray, texts: np.ndarray | None, title: str) -> None:
    """Cells coloured by block id, with thick lines between blocks and optional cell texts."""

    palette = np.array([to_rgb(colour) for colour in _BLOCK_COLOURS])
    colour_index = ids % len(_BLOCK_COLOURS)
    ax.imshow(palette[colour_index], interpolation="nearest")
    rows, cols = ids.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    # Block boundaries: between horizontal neighbours (vertical lines) and vertical ones.
    r, c = np.nonzero(ids[:, 1:] != ids[:, :-1])
    vertical = [((x + 0.5, y - 0.5), (x + 0.5, y + 0.5)) for y, x in zip(r, c)]
    r, c = np.nonzero(ids[1:, :] != ids[:-1, :])
    horizontal = [((x - 0.5, y + 0.5), (x + 0.5, y + 0.5)) for y, x in zip(r, c)]
    ax.add_collection(LineCollection(vertical + horizontal, colors="black", linewidths=2.5))
    if texts is not None:
        for (row, col), text in np.ndenumerate(texts):
            colour = _text_colour(_BLOCK_COLOURS[colour_index[row, col]])
            ax.text(col, row, text, ha="center", va="center", fontsize=9, color=colour)
    ax.set_title(title, fontsize=10)


def _panel_title(panel: str, n_blocks: int, group_size: int | None) -> str:
    scales = f"{n_blocks} scale{'s' if n_blocks > 1 else ''}"
    return {
        "per-tensor": f"Per tensor: {scales}",
        "per-channel rows": f"Per channel, rows (dim=0): {scales}",
        "per-channel columns": f"Per channel, columns (dim=1): {scales}",
        "per-group": f"Per group of {group_size} along rows: {scales}",
    }[panel]


def plot_granularity_blocks(
    tensor: torch.Tensor | Sequence[int],
    panels: Sequence[str] = ("per-tensor", "per-channel rows", "per-channel columns", "per-group"),
    group_size: int | None = None,
):
    """Which values share a scale under each granularity: one panel per name in ``panels``.

    ``tensor`` is a 2-D tensor (its values are written in the cells, when it is small) or a 2-D
    shape (each cell shows the number of its scale, s0, s1, ...). Cells of one colour, inside one
    thick outline, share one scale. ``panels`` are keys of ``GRANULARITY_PANELS``; "per-group"
    needs ``group_size``. Returns the matplotlib ``Figure``.
    """

    if isinstance(tensor, torch.Tensor):
        shape, values = tuple(tensor.shape), as_matrix(tensor)
    else:
        shape, values = tuple(tensor), None
    if len(shape) != 2:
        raise ValueError(f"tensor must be 2-D (or a 2-D shape), got shape {shape}")
    unknown = [panel for panel in panels if panel not in GRANULARITY_PANELS]
    if unknown or not panels:
        raise ValueError(f"panels must be names from {list(GRANULARITY_PANELS)}, got {panels!r}")
    rows, cols = shape
    width = min(4.2, max(3.6, 0.5 * cols + 0.8))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(len(panels) * width, width * rows / cols + 1.0),
        layout="constrained",
        squeeze=False,
    )
    for ax, panel in zip(axes[0], panels):
        granularity, dim = GRANULARITY_PANELS[panel]
        ids = granularity_block_ids(shape, granularity, dim=dim, group_size=group_size).numpy()
        if values is not None and values.size <= MAX_ANNOTATED_CELLS:
            texts = np.vectorize(lambda value: format(value, ".4g"))(values)
        else:
            texts = np.char.add("s", ids.astype(str)) if ids.size <= MAX_ANNOTATED_CELLS else None
        _draw_blocks(ax, ids, texts, _panel_title(panel, int(ids.max()) + 1, group_size))
    fig.suptitle("Values inside one outline (one colour) share one scale", fontsize=11)
    plt.close(fig)
    return fig


def plot_broadcasting(tensor: torch.Tensor, scales: Sequence[torch.Tensor]):
    """How a scale of shape (1, n) or (m, 1) broadcasts over an (m, n) tensor in ``tensor / s``.

    One row of panels per scale: the tensor, the scale in its own shape, the scale stretched
    (copied) to the tensor's shape, and ``tensor / scale``. Returns the matplotlib ``Figure``.
    """

    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2:
        raise ValueError("tensor must be a 2-D torch.Tensor")
    if not scales:
        raise ValueError("scales must hold at least one scale tensor")
    matrix = tensor.to(torch.float64)
    rows, cols = matrix.shape
    fig, axes = plt.subplots(
        len(scales), 4, figsize=(11, 2.9 * len(scales)), layout="constrained", squeeze=False
    )
    for row_axes, scale in zip(axes, scales):
        if not isinstance(scale, torch.Tensor) or scale.dim() != 2:
            raise ValueError("each scale must be a 2-D torch.Tensor, such as shape (1, n)")
        helper._check_broadcast(scale, tensor.shape, "scale")
        scale = scale.to(torch.float64)
        stretched = scale.expand(rows, cols)
        copied = np.ones((rows, cols), dtype=bool)
        copied[: scale.shape[0], : scale.shape[1]] = False
        own = np.full((rows, cols), np.nan)
        own[: scale.shape[0], : scale.shape[1]] = scale.numpy()
        shape_text = f"({scale.shape[0]}, {scale.shape[1]})"
        panels = (
            (matrix.numpy(), f"tensor, shape ({rows}, {cols})", None),
            (own, f"scale, shape {shape_text}", None),
            (stretched.numpy(), f"scale {shape_text} broadcast to ({rows}, {cols})", copied),
            ((matrix / stretched).numpy(), "tensor / scale", None),
        )
        for ax, (values, title, faded) in zip(row_axes, panels):
            _draw_values(ax, values, title, faded)
    fig.suptitle("Broadcasting: a size-1 axis is copied along the tensor (faded: copies)")
    plt.close(fig)
    return fig


def _draw_values(ax, values: np.ndarray, title: str, faded: np.ndarray | None) -> None:
    """A small annotated grid; NaN cells stay empty, ``faded`` cells are drawn lighter."""
    finite = values[np.isfinite(values)]
    image = np.ma.masked_invalid(values)
    ax.imshow(image, cmap="viridis", vmin=finite.min(), vmax=finite.max() + 1e-12)
    if faded is not None:
        ax.imshow(np.where(faded, 1.0, np.nan), cmap="gray", vmin=0, vmax=1, alpha=0.55)
    rows, cols = values.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    middle = (finite.min() + finite.max()) / 2
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            light = faded is not None and faded[row, col]
            colour = "black" if light or value > middle else "white"
            ax.text(col, row, format(value, ".3g"), ha="center", va="center", color=colour)
    ax.set_title(title, fontsize=10)


def plot_group_reshape(shape: Sequence[int] = (2, 6), group_size: int = 3):
    """Per-group quantization as a reshape: groups of a row become rows of ``view(-1, g)``.

    Three panels: the tensor with its groups, the ``(-1, group_size)`` view (one group per row,
    so per-channel along rows applies), and the one scale per group. Returns the ``Figure``.
    """

    ids = granularity_block_ids(shape, "per-group", group_size=group_size)
    if ids.dim() != 2:
        raise ValueError(f"shape must be 2-D, got {tuple(shape)}")
    view = ids.reshape(-1, group_size).numpy()
    n_groups = view.shape[0]
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(11, 0.45 * n_groups + 1.6),
        layout="constrained",
        width_ratios=(shape[1], group_size + 1, 2),
    )
    rows, cols = ids.shape
    _draw_blocks(
        axes[0], ids.numpy(), np.char.add("g", ids.numpy().astype(str)), f"tensor ({rows}, {cols})"
    )
    _draw_blocks(
        axes[1],
        view,
        np.char.add("g", view.astype(str)),
        f"tensor.view(-1, {group_size}): ({n_groups}, {group_size})",
    )
    scale_ids = np.arange(n_groups).reshape(-1, 1)
    _draw_blocks(
        axes[2], scale_ids, np.char.add("s", scale_ids.astype(str)), f"scale ({n_groups}, 1)"
    )
    fig.suptitle(
        f"Groups of {group_size} consecutive values in a row become rows: "
        "then per channel (dim=0) gives one scale per group"
    )
    plt.close(fig)
    return fig


def plot_bits_per_weight(
    bits: int = 4, group_sizes: Sequence[int] = (32, 64, 128), scale_bits: Sequence[int] = (16, 32)
):
    """Stacked bars: the ``bits`` of each value plus its share of the group's scale.

    One bar per (group size, scale width), labelled with ``bits_per_weight``: 4-bit values in
    groups of 32 with fp16 scales cost 4.5 bits each. Returns the matplotlib ``Figure``.
    """

    if not group_sizes or not scale_bits:
        raise ValueError("group_sizes and scale_bits must each hold at least one value")
    colours = (ORANGE, VERMILION, PURPLE, GREEN)
    width = 0.8 / len(scale_bits)
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    positions = np.arange(len(group_sizes))
    for i, s_bits in enumerate(scale_bits):
        x = positions + (i - (len(scale_bits) - 1) / 2) * width
        totals = np.array([helper.bits_per_weight(bits, g, s_bits) for g in group_sizes])
        ax.bar(x, bits, width, color=BLUE, label=f"the {bits}-bit value" if i == 0 else None)
        ax.bar(
            x,
            totals - bits,
            width,
            bottom=bits,
            color=colours[i % len(colours)],
            label=f"its share of an fp{s_bits} scale",
        )
        for xi, total in zip(x, totals):
            ax.text(xi, total + 0.05, f"{total:g}", ha="center", va="bottom", fontsize=10)
    ax.set_xticks(positions, [f"group size {g}" for g in group_sizes])
    ax.set_ylabel("bits stored per weight")
    ax.set_ylim(0, bits + max(scale_bits) / min(group_sizes) + 1.4)
    ax.set_title(f"Real storage of {bits}-bit per-group quantization: {bits} + scale bits / group")
    ax.legend(loc="upper right", ncols=len(scale_bits) + 1, fontsize=9)
    plt.close(fig)
    return fig


def _box(ax, x: float, y: float, text: str, colour: str) -> None:
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=10,
        bbox={"boxstyle": "round,pad=0.5", "facecolor": colour, "edgecolor": "black"},
    )


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "linewidth": 1.5})


def figure_l2a_number_line():
    """L2-A: scale 3.5 and zero point -70 on the course's tensor: 728.6 falls off the end."""
    return plot_number_line(
        -184.0,
        728.6,
        3.5,
        -70,
        title="s = 3.5, z = \N{MINUS SIGN}70: the largest value, 728.6, is past what int8 can "
        "give back (689.5)",
    )


def figure_l2b_number_line():
    """L2-B: the asymmetric mapping of the course's tensor, [r_min, r_max] onto [q_min, q_max]."""
    return plot_number_line(
        -184.0,
        728.6,
        title="Asymmetric mode: r_min \N{RIGHTWARDS ARROW} q_min, r_max \N{RIGHTWARDS ARROW} "
        "q_max, 0 \N{RIGHTWARDS ARROW} z (s \u2248 3.58, z = \N{MINUS SIGN}77)",
    )


def figure_l2b_clamped_zero_point():
    """L2-B: an all-positive range [2, 10]: the course's clamped zero point against helper's fix."""

    course_range = torch.tensor([2.0, 10.0])
    scale, zero_point = helper.get_q_scale_and_zero_point(course_range, include_zero=False)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), layout="constrained")
    plot_number_line(
        2.0,
        10.0,
        scale,
        zero_point,
        ax=top,
        title=f"The course: s = 8/255, z = round(\N{MINUS SIGN}191.75) = \N{MINUS SIGN}192, "
        f"clamped to {format_number(zero_point)}: values above 8 are lost",
    )
    plot_number_line(
        2.0,
        10.0,
        ax=bottom,
        title="helper: the range widened to [0, 10], s = 10/255, z = \N{MINUS SIGN}128: "
        "nothing is lost, 0 is exact",
    )
    plt.close(fig)
    return fig


def figure_l3a_number_line():
    """L3-A: the same data in symmetric mode: [-r_max, r_max] onto [-q_max, q_max], z = 0."""

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), layout="constrained")
    plot_number_line(
        -184.0,
        728.6,
        ax=top,
        title="Asymmetric: [r_min, r_max] \N{RIGHTWARDS ARROW} [q_min, q_max], z = \N{MINUS SIGN}77",
    )
    plot_number_line(
        -184.0,
        728.6,
        mode="symmetric",
        ax=bottom,
        title="Symmetric: [\N{MINUS SIGN}max|r|, max|r|] \N{RIGHTWARDS ARROW} "
        "[\N{MINUS SIGN}q_max, q_max], z = 0",
    )
    plt.close(fig)
    return fig


def figure_l3a_levels_histogram():
    """L3-A: a ReLU-like tensor and the 16 levels of int4 in each mode: symmetric wastes half."""
    return plot_levels_histogram(skewed_tensor(), torch.int4)


def figure_l3b_granularities():
    """L3-B: per tensor, per channel (rows, columns) and per group on a 6 x 8 tensor."""
    return plot_granularity_blocks((6, 8), group_size=4)


def figure_l3c_per_channel_blocks():
    """L3-C: the worked example's rows and columns, the two ways to quantize it per channel."""
    return plot_granularity_blocks(
        course_tensor(), panels=("per-channel rows", "per-channel columns")
    )


def figure_l3c_broadcasting():
    """L3-C: the 3 x 3 tensor 1..9 divided by a (1, 3) and by a (3, 1) scale [1, 5, 10]."""
    tensor = torch.arange(1.0, 10.0).reshape(3, 3)
    scale = torch.tensor([1.0, 5.0, 10.0])
    return plot_broadcasting(tensor, [scale.view(1, 3), scale.view(3, 1)])


def figure_l3d_group_reshape():
    """L3-D: a (2, 6) tensor in groups of 3, viewed as (4, 3), with its 4 scales."""
    return plot_group_reshape((2, 6), 3)


def figure_l3d_bits_per_weight():
    """L3-D: 4-bit values in groups of 32, 64 and 128, with fp16 or fp32 scales."""
    return plot_bits_per_weight(4, (32, 64, 128), (16, 32))


def figure_l3e_inference_modes():
    """L3-E: what W8A32 and W8A8 store and compute in, as two pipelines."""

    integer, floating = YELLOW, SKY_BLUE
    fig, ax = plt.subplots(figsize=(12, 5), layout="constrained")
    ax.set_xlim(0, 12)
    ax.set_ylim(-0.7, 6.2)
    ax.axis("off")
    ax.text(0.1, 5.9, "W8A32: int8 weights, float32 activations", fontsize=12, weight="bold")
    _box(ax, 1.3, 4.9, "weights $q_w$\n(int8, stored)", integer)
    _box(ax, 4.2, 4.9, "dequantize\n$W = s_w\\,(q_w - z_w)$", floating)
    _box(ax, 4.2, 3.5, "input $x$\n(float32)", floating)
    _box(ax, 7.3, 4.2, "float matmul\n$y = x\\,W^T$", floating)
    _box(ax, 10.4, 4.2, "output $y$\n(float32)", floating)
    for start, end in (
        ((2.3, 4.9), (3.0, 4.9)),
        ((5.45, 4.75), (6.35, 4.35)),
        ((4.95, 3.55), (6.35, 4.05)),
        ((8.3, 4.2), (9.6, 4.2)),
    ):
        _arrow(ax, start, end)
    ax.text(0.1, 2.5, "W8A8: int8 weights, int8 activations", fontsize=12, weight="bold")
    _box(ax, 1.3, 1.5, "weights $q_w$\n(int8, stored)", integer)
    _box(ax, 1.3, 0.0, "input $q_x$\n(int8, quantized)", integer)
    _box(ax, 4.4, 0.75, "integer matmul\nint32 accumulator acc", integer)
    _box(ax, 7.6, 0.75, "rescale\n$y = s_x\\,s_w\\,\\mathrm{acc}$", floating)
    _box(ax, 10.4, 0.75, "output $y$\n(float32)", floating)
    for start, end in (
        ((2.3, 1.4), (3.1, 0.95)),
        ((2.45, 0.1), (3.1, 0.55)),
        ((5.75, 0.75), (6.6, 0.75)),
        ((8.6, 0.75), (9.6, 0.75)),
    ):
        _arrow(ax, start, end)
    ax.legend(
        handles=[
            Patch(facecolor=integer, edgecolor="black", label="integer"),
            Patch(facecolor=floating, edgecolor="black", label="floating point"),
        ],
        loc="upper right",
        fontsize=10,
    )
    plt.close(fig)
    return fig


def figure_l4_bit_packing():
    """L4 packing: how ``pack_weights`` lays 4-, 2- and 1-bit values into one byte."""

    examples = (
        (4, torch.tensor([5, -3], dtype=torch.int8)),
        (2, torch.tensor([1, -2, 0, -1], dtype=torch.int8)),
        (1, torch.tensor([1, 0, 1, 1, 0, 0, 1, 0], dtype=torch.uint8)),
    )
    fig, axes = plt.subplots(len(examples), 1, figsize=(10, 5.4), layout="constrained")
    for ax, (bits, values) in zip(axes, examples):
        byte = int(helper.pack_weights(values, bits)[0])
        for bit in range(8):  # drawn from bit 7 (left) to bit 0 (right), as a byte is written
            x, owner = 7 - bit, bit // bits
            ax.add_patch(
                plt.Rectangle((x, 0), 1, 1, facecolor=SERIES[owner], alpha=0.55, ec="black")
            )
            ax.text(x + 0.5, 0.5, str(byte >> bit & 1), ha="center", va="center", fontsize=14)
            ax.text(x + 0.5, 1.12, f"bit {bit}", ha="center", va="bottom", fontsize=8)
        for index, value in enumerate(values.tolist()):
            centre = 8 - (index + 0.5) * bits
            ax.text(centre, -0.3, f"v{index} = {value}", ha="center", va="top", fontsize=10)
        kind = "signed, two's complement" if values.dtype == torch.int8 else "unsigned"
        ax.set_title(
            f"{bits}-bit ({kind}): {8 // bits} value{'s' * (bits < 8)} {values.tolist()} "
            f"\N{RIGHTWARDS ARROW} one byte = {byte} = 0b{byte:08b}",
            fontsize=11,
        )
        ax.set_xlim(-0.2, 8.2)
        ax.set_ylim(-0.9, 1.5)
        ax.axis("off")
    fig.suptitle("pack_weights: value i sits at bit offset bits \u00d7 i (the first value lowest)")
    plt.close(fig)
    return fig


def figure_l4_w8a8_pipeline():
    """L4 W8A8: the integer path of a linear layer, from float input to float output."""

    fig, ax = plt.subplots(figsize=(11, 4.4), layout="constrained")
    width, height = 0.16, 0.24
    boxes = {  # name: (centre x, centre y, text, colour)
        "x": (0.07, 0.75, "x\n(float32)", 0),
        "qx": (0.27, 0.75, "quantize (each input):\nasymmetric, per tensor\nq_x int8, s_x, z_x", 1),
        "mm": (0.5, 0.75, "int8 \u00d7 int8 products,\nsummed in int32:\nq_x q_w\u1d40", 2),
        "y": (0.9, 0.75, "one rescale:\ny = s_x s_w \u00b7 acc\n(float32)", 3),
        "w": (0.07, 0.22, "W\n(float32)", 0),
        "qw": (0.27, 0.22, "quantize once:\nsymmetric, per channel\nq_w int8, s_w", 1),
        "sum": (0.5, 0.22, "precompute once:\nrow sums \u03a3\u2096 q_w[:, k]\n(int32)", 2),
        "sub": (0.71, 0.75, "acc =\nq_x q_w\u1d40 \u2212\nz_x \u00b7 row sums", 2),
    }
    for name, (x, y, text, colour) in boxes.items():
        w = 0.1 if name in ("x", "w") else 0.11 if name == "sub" else width
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - height / 2),
                w,
                height,
                boxstyle="round,pad=0.01",
                fc=SERIES[colour],
                alpha=0.35,
                ec=LINE_GREY,
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=9.5)

    def edge(name: str, side: str) -> tuple[float, float]:
        x, y = boxes[name][:2]
        w = 0.1 if name in ("x", "w") else 0.11 if name == "sub" else width
        offsets = {"left": (-w / 2 - 0.01, 0), "right": (w / 2 + 0.01, 0)}
        offsets |= {"top": (0, height / 2 + 0.01), "bottom": (0, -height / 2 - 0.01)}
        return x + offsets[side][0], y + offsets[side][1]

    arrows = (
        ("x", "right", "qx", "left"),
        ("qx", "right", "mm", "left"),
        ("mm", "right", "sub", "left"),
        ("sub", "right", "y", "left"),
        ("w", "right", "qw", "left"),
        ("qw", "right", "sum", "left"),
        ("qw", "top", "mm", "bottom"),
        ("sum", "right", "sub", "bottom"),
    )
    for start, start_side, end, end_side in arrows:
        ax.annotate(
            "",
            xy=edge(end, end_side),
            xytext=edge(start, start_side),
            arrowprops={"arrowstyle": "-|>", "color": LINE_GREY, "shrinkA": 0, "shrinkB": 0},
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.set_title(
        "W8A8: integer arithmetic inside, one floating-point rescale at the end\n"
        "(blue: float in, orange: quantize, green: integers, purple: float out)"
    )
    plt.close(fig)
    return fig
