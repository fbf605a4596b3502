"""The plotters that only ``figures`` uses (the images of the lessons' markdown): levels over
a histogram, the blocks of each granularity, broadcasting, the group reshape, bits per weight,
and the boxes-and-arrows diagrams."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import helper
from course.core.plotting import (
    BLUE,
    CLIPPED,
    DATA,
    FP32,
    GRANULARITY_PANELS,
    GREEN,
    INTEGER,
    LIGHT_GREY,
    LINE_GREY,
    MAX_ANNOTATED_CELLS,
    ORANGE,
    PURPLE,
    SKY_BLUE,
    VERMILION,
    YELLOW,
    as_matrix,
    granularity_block_ids,
    is_light,
    outline_blocks,
    text_colour,
)
from helper import Mode

# Each block that shares a scale gets a colour of its own, cycling past eight blocks.
_BLOCK_COLOURS = (ORANGE, SKY_BLUE, GREEN, YELLOW, BLUE, VERMILION, PURPLE, LIGHT_GREY)


def _levels_panel(ax, tensor: torch.Tensor, dtype: torch.dtype, mode: Mode, bins: int) -> None:
    """One panel of ``plot_levels_histogram``: the histogram and the levels of one mode."""
    quantized, scale, zero_point = helper.quantize_per_tensor(tensor, dtype, mode)
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
        f"{mode.capitalize()} mode, {helper.dtype_name(dtype)}: "
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

    tensor = helper.check_float_tensor(tensor)
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
    outline_blocks(ax, ids)
    if texts is not None:
        for (row, col), text in np.ndenumerate(texts):
            colour = text_colour(_BLOCK_COLOURS[colour_index[row, col]])
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
    per_row = min(2, len(panels))
    grid_rows = -(-len(panels) // per_row)
    fig, axes = plt.subplots(
        grid_rows,
        per_row,
        figsize=(per_row * width, grid_rows * (width * rows / cols + 0.5) + 0.4),
        layout="constrained",
        squeeze=False,
    )
    for ax, panel in zip(axes.flat, panels):
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
        len(scales), 4, figsize=(9.6, 2.6 * len(scales)), layout="constrained", squeeze=False
    )
    for row_axes, scale in zip(axes, scales):
        if not isinstance(scale, torch.Tensor) or scale.dim() != 2:
            raise ValueError("each scale must be a 2-D torch.Tensor, such as shape (1, n)")
        helper.check_broadcast(scale, tensor.shape, "scale")
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
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap="viridis", vmin=finite.min(), vmax=finite.max() + 1e-12
    )
    light = is_light(image.cmap(image.norm(values)))
    if faded is not None:
        ax.imshow(np.where(faded, 1.0, np.nan), cmap="gray", vmin=0, vmax=1, alpha=0.55)
    rows, cols = values.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            black = light[row, col] or (faded is not None and faded[row, col])
            ax.text(
                col,
                row,
                format(value, ".3g"),
                ha="center",
                va="center",
                fontsize=10,
                color="black" if black else "white",
            )
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
        figsize=(9.6, 0.45 * n_groups + 1.8),
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


def diagram(
    ax, boxes: dict[str, tuple], arrows: Sequence[tuple[str, str]], legend: str | None
) -> None:
    """Boxes of text, ``name: (x, y, text, colour)`` in axes coordinates, joined by arrows
    ``(from, to)`` that run from edge to edge whatever the figure's size. A box's colour says
    what kind of number it holds or makes: ``INTEGER`` or ``FP32`` (floating point); a legend
    saying so goes at ``legend`` (a matplotlib location), if given."""
    ax.axis("off")
    artists = {
        name: ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=10,
            transform=ax.transAxes,
            bbox={"boxstyle": "round,pad=0.45", "fc": to_rgba(colour, 0.3), "ec": LINE_GREY},
        )
        for name, (x, y, text, colour) in boxes.items()
    }
    for start, end in arrows:
        ax.annotate(
            "",
            xy=(0.5, 0.5),
            xycoords=artists[end],
            xytext=(0.5, 0.5),
            textcoords=artists[start],
            arrowprops={
                "arrowstyle": "-|>",
                "color": LINE_GREY,
                "patchA": artists[start].get_bbox_patch(),
                "patchB": artists[end].get_bbox_patch(),
                "shrinkA": 2,
                "shrinkB": 2,
            },
        )
    if legend:
        ax.legend(
            handles=[
                Patch(facecolor=to_rgba(INTEGER, 0.3), edgecolor=LINE_GREY, label="integers"),
                Patch(facecolor=to_rgba(FP32, 0.3), edgecolor=LINE_GREY, label="floating point"),
            ],
            loc=legend,
            fontsize=10,
        )
