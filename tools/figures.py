"""``figure_<name>()`` for every ``images/<name>.png`` (``tools/make_images.py`` draws them), and
the plotters only they use.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from figure_plots import (
    diagram,
    plot_bits_per_weight,
    plot_broadcasting,
    plot_granularity_blocks,
    plot_group_reshape,
    plot_levels_histogram,
)

import helper
from course.core.plotting import (
    FP32,
    INTEGER,
    SERIES,
    format_number,
)
from course.data import course_tensor, skewed_tensor
from course.lessons.l2b import plot_number_line


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
    diagram(
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
    diagram(
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
    diagram(ax, boxes, arrows, legend="lower right")
    plt.close(fig)
    return fig
