"""The lessons' figures: every ``figure_<name>()`` here is drawn into ``images/<name>.png`` by
``make images`` (``tools/make_images.py``), with the plotters that only these figures use.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import helper
from course.data import course_tensor, skewed_tensor
from course.plots import (
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
    SERIES,
    SKY_BLUE,
    VERMILION,
    YELLOW,
    as_matrix,
    format_number,
    granularity_block_ids,
    is_light,
    outline_blocks,
    plot_number_line,
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


def _diagram(
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
        title=r"Asymmetric mode: $r_{\min} \to q_{\min}$, $r_{\max} \to q_{\max}$, $0 \to z$"
        " (s \u2248 3.58, z = \N{MINUS SIGN}77)",
    )


def figure_l2b_clamped_zero_point():
    """L2-B: an all-positive range [2, 10]: the original course's clamped zero point against
    helper's fix."""

    course_range = torch.tensor([2.0, 10.0])
    scale, zero_point = helper.get_q_scale_and_zero_point(course_range, include_zero=False)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), layout="constrained")
    plot_number_line(
        2.0,
        10.0,
        scale,
        zero_point,
        ax=top,
        title=f"The original course: s = 8/255, z = round(\N{MINUS SIGN}191.75) = \N{MINUS SIGN}192, "
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
        title=r"Asymmetric: $[r_{\min}, r_{\max}] \to [q_{\min}, q_{\max}]$, z = "
        "\N{MINUS SIGN}77",
    )
    plot_number_line(
        -184.0,
        728.6,
        mode="symmetric",
        ax=bottom,
        title=r"Symmetric: $[-\max|r|, \max|r|] \to [-q_{\max}, q_{\max}]$, z = 0",
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
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.2), layout="constrained")
    top.set_title("W8A32: int8 weights, float32 activations", loc="left", weight="bold")
    _diagram(
        top,
        {
            "q_w": (0.09, 0.72, "weights $q_w$\n(int8, stored)", INTEGER),
            "W": (0.34, 0.72, "dequantize\n$W = s_w\\,(q_w - z_w)$", FP32),
            "x": (0.34, 0.2, "input $x$\n(float32)", FP32),
            "mm": (0.63, 0.46, "float matmul\n$y = x\\,W^{\\mathsf{T}}$", FP32),
            "y": (0.9, 0.46, "output $y$\n(float32)", FP32),
        },
        [("q_w", "W"), ("W", "mm"), ("x", "mm"), ("mm", "y")],
        legend="upper right",
    )
    bottom.set_title("W8A8: int8 weights, int8 activations", loc="left", weight="bold")
    _diagram(
        bottom,
        {
            "q_w": (0.09, 0.75, "weights $q_w$\n(int8, stored)", INTEGER),
            "q_x": (0.09, 0.2, "input $q_x$\n(int8, symmetric)", INTEGER),
            "mm": (0.38, 0.46, "integer matmul\nsummed in int32: acc", INTEGER),
            "y": (0.66, 0.46, "rescale\n$y = s_x\\,s_w\\,\\mathrm{acc}$", FP32),
            "out": (0.9, 0.46, "output $y$\n(float32)", FP32),
        },
        [("q_w", "mm"), ("q_x", "mm"), ("mm", "y"), ("y", "out")],
        legend=None,
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
            ax.text(x + 0.5, 1.12, f"bit {bit}", ha="center", va="bottom", fontsize=9)
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
    fig, ax = plt.subplots(figsize=(10, 4.4), layout="constrained")
    ax.set_title("W8A8: integer arithmetic inside, one floating-point rescale at the end")
    product = r"$q_x\,q_w^{\mathsf{T}}$"
    texts = {
        "x": "$x$\n(float32)",
        "q_x": "quantize each input:\nasymmetric, per tensor\n$q_x$ int8, $s_x$, $z_x$",
        "mm": f"int8 \u00d7 int8 products,\nsummed in int32:\n{product}",
        "acc": f"acc = {product}\n" + r"$-\ z_x \cdot$ row sums",
        "y": "one rescale:\n" + r"$y = s_x\,s_w\,$acc" + "\n(float32)",
        "w": "$W$\n(float32)",
        "q_w": "quantize once:\nsymmetric, per channel\n$q_w$ int8, $s_w$",
        "sums": "precompute once:\nrow sums " + r"$\sum_k q_w[:, k]$" + "\n(int32)",
    }
    places = {
        "x": (0.05, 0.78, FP32),
        "q_x": (0.24, 0.78, INTEGER),
        "mm": (0.48, 0.78, INTEGER),
        "acc": (0.7, 0.78, INTEGER),
        "y": (0.91, 0.78, FP32),
        "w": (0.05, 0.2, FP32),
        "q_w": (0.24, 0.2, INTEGER),
        "sums": (0.48, 0.2, INTEGER),
    }
    arrows = [("x", "q_x"), ("q_x", "mm"), ("mm", "acc"), ("acc", "y"), ("w", "q_w")]
    arrows += [("q_w", "sums"), ("q_w", "mm"), ("sums", "acc")]
    boxes = {name: (x, y, texts[name], colour) for name, (x, y, colour) in places.items()}
    _diagram(ax, boxes, arrows, legend="lower right")
    plt.close(fig)
    return fig
