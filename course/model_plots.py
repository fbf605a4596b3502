"""The plots of layers and models that the lessons call, from L3-E on: a layer's outputs
against the fp32 layer's, W8A8's errors, real storage, the digits and the accuracy of the
quantized networks, activation calibration, and the language model of lesson L6-A. Colours and number formats come from
``course.plots``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.language_model import LAYER_KINDS, Result
from course.plots import (
    BLUE,
    DARK_GREY,
    FP32,
    GPTQ,
    GREEN,
    ORANGE,
    PER_CHANNEL,
    PER_GROUP,
    PER_TENSOR,
    ROLE_COLOURS,
    RTN,
    SERIES,
    TORCHAO,
    VERMILION,
    W8A32,
)


def plot_layer_outputs(
    reference_output: torch.Tensor,
    quantized_output: torch.Tensor,
    names: tuple[str, str] = ("fp32 layer", "W8A32 layer"),
):
    """Two layers' outputs side by side, and their difference (quantized - reference).

    Both outputs are flattened (a batch becomes one long row of outputs). Returns the
    matplotlib ``Figure``.
    """

    outputs = {"reference_output": reference_output, "quantized_output": quantized_output}
    for name, value in outputs.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor")
    if reference_output.shape != quantized_output.shape:
        raise ValueError(
            f"the outputs must have one shape, got {tuple(reference_output.shape)} and "
            f"{tuple(quantized_output.shape)}"
        )
    reference = reference_output.detach().double().flatten().numpy()
    quantized = quantized_output.detach().double().flatten().numpy()
    index = np.arange(reference.size)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    left.bar(index - 0.2, reference, 0.4, color=BLUE, label=names[0])
    left.bar(index + 0.2, quantized, 0.4, color=ORANGE, label=names[1])
    left.axhline(0, color="black", linewidth=0.8)
    left.set_title("Outputs of the two layers", fontsize=11)
    left.set_ylabel("output value")
    left.legend(fontsize=9)
    right.bar(index, quantized - reference, 0.6, color=VERMILION)
    right.axhline(0, color="black", linewidth=0.8)
    right.set_title(f"Error: {names[1]} - {names[0]}", fontsize=11)
    right.set_ylabel("difference")
    for ax in (left, right):
        ax.set_xlabel("output index")
        if reference.size <= 16:
            ax.set_xticks(index)
        ax.grid(axis="y", alpha=0.3)
    plt.close(fig)
    return fig


def plot_output_errors(reference: torch.Tensor, outputs: dict[str, torch.Tensor]):
    """The error ``y' - y`` of each named output against the reference ``y``: how it is spread
    (histograms, left) and the share of outputs whose error is below each size (right), two
    views where the series do not hide one another. Returns the matplotlib Figure."""
    y = reference.detach().double().flatten().numpy()
    errors = {name: out.detach().double().flatten().numpy() - y for name, out in outputs.items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    top = max(float(np.abs(e).max()) for e in errors.values()) * 1.05 or 1.0
    bins = np.linspace(-top, top, 61)
    for (name, error), other in zip(errors.items(), SERIES):
        colour = ROLE_COLOURS.get(name, other)
        mse = float(np.mean(error**2))
        left.hist(error, bins=bins, histtype="step", lw=1.8, color=colour, label=name)
        sizes = np.sort(np.abs(error))
        share = np.arange(1, sizes.size + 1) / sizes.size
        right.plot(sizes, 100 * share, color=colour, lw=2, label=f"{name} (MSE {mse:.2e})")
    left.set(xlabel="error y' \N{MINUS SIGN} y", ylabel="number of outputs")
    left.set_title("How the errors are spread", fontsize=11)
    left.legend(fontsize=9)
    right.set(xlabel="size of the error |y' \N{MINUS SIGN} y|", ylabel="outputs (%)", ylim=(0, 101))
    right.set_title("Share of outputs with an error up to that size", fontsize=11)
    right.grid(alpha=0.3)
    right.legend(fontsize=9, loc="lower right")
    plt.close(fig)
    return fig


def plot_storage(rows: Sequence[dict]):
    """Measured bits per weight against group size (rows: dicts with ``bits``, ``group_size``,
    ``scale_bits`` and ``measured``): one colour per bit width, a solid line for fp16 scales
    and a dashed one for fp32. The measurements are hollow rings, the formula
    ``bits + scale_bits / group_size`` a small grey cross inside each: where they agree, the
    cross sits in the ring. The legend is outside the axes. Returns the Figure."""

    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    colours = dict(zip(sorted({row["bits"] for row in rows}), SERIES))
    for bits, scale_bits in sorted({(row["bits"], row["scale_bits"]) for row in rows}):
        mine = [row for row in rows if (row["bits"], row["scale_bits"]) == (bits, scale_bits)]
        groups = [row["group_size"] for row in mine]
        ax.plot(
            groups,
            [row["measured"] for row in mine],
            "-" if scale_bits == 16 else "--",
            marker="o",
            mfc="none",
            mew=1.8,
            ms=10,
            color=colours[bits],
            label=f"{bits}-bit, fp{scale_bits} scales",
        )
        formula = [helper.bits_per_weight(bits, g, scale_bits) for g in groups]
        ax.plot(groups, formula, "x", c=DARK_GREY, ms=5, mew=1.5)
    ax.plot([], [], "x", c=DARK_GREY, ms=5, mew=1.5, label="the formula")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({row["group_size"] for row in rows}))
    ax.set_xticklabels([str(g) for g in sorted({row["group_size"] for row in rows})])
    ax.minorticks_off()
    ax.set(xlabel="group size (values sharing one scale)", ylabel="bits per weight (measured)")
    ax.set_title("Real storage of packed weights plus their scales", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    plt.close(fig)
    return fig


def plot_digits(images: torch.Tensor, titles: Sequence[str], suptitle: str = ""):
    """8x8 digit images (rows of 64 pixels) side by side, each with its title."""

    fig, axes = plt.subplots(
        1, len(images), figsize=(0.95 * len(images), 1.5), layout="constrained"
    )
    for ax, image, title in zip(np.atleast_1d(axes), images, titles):
        ax.imshow(image.reshape(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    plt.close(fig)
    return fig


def plot_accuracy_vs_bytes(results: Sequence[dict], fp32_accuracy: float, fp32_bytes: int):
    """Test accuracy against real model bytes, one point per setting (rows: dicts with
    ``bits``, ``granularity``, ``accuracy`` and ``bytes``): the colour is the granularity, the
    marker the number of bits; the fp32 model is a star. Settings of the same size (3 and 8
    bits both live in int8) fall on the same x: 8 bits are large hollow rings, 3 bits small
    filled diamonds drawn over them, so that both show."""
    fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
    colours = {"per-tensor": PER_TENSOR, "per-channel": PER_CHANNEL, "per-group": PER_GROUP}
    bit_widths = sorted({row["bits"] for row in results}, reverse=True)
    # (marker, size, filled) per bit width: the widths that share a size differ in all three.
    styles = {8: ("o", 15, False), 4: ("s", 9, False), 3: ("D", 6, True), 2: ("^", 9, False)}
    styles = {bits: styles.get(bits, ("v", 9, False)) for bits in bit_widths}
    for row in sorted(results, key=lambda row: -styles[row["bits"]][1]):  # large ones first
        marker, size, filled = styles[row["bits"]]
        colour = colours[row["granularity"]]
        ax.plot(
            row["bytes"] / 1024,
            100 * row["accuracy"],
            marker,
            color=colour,
            mfc=colour if filled else "none",
            mew=2,
            ms=size,
        )
    ax.plot(fp32_bytes / 1024, 100 * fp32_accuracy, "*", color=FP32, ms=14)
    ax.annotate("fp32", (fp32_bytes / 1024, 100 * fp32_accuracy), (6, -14), "data", "offset points")
    handles = [
        plt.Line2D([], [], ls="", marker="o", mfc="none", mew=2, color=colour, label=name)
        for name, colour in colours.items()
    ] + [
        plt.Line2D(
            [], [], ls="", marker=marker, mfc=DARK_GREY if filled else "none", mew=2,
            ms=min(size, 11), color=DARK_GREY, label=f"{bits} bits",
        )
        for bits, (marker, size, filled) in styles.items()
    ]  # fmt: skip
    ax.legend(handles=handles, fontsize=9, ncol=2, loc="lower right")
    ax.set_xscale("log")
    smallest = min(row["bytes"] for row in results) / 1024
    ticks = [2**p for p in range(-4, 20) if smallest / 2 < 2**p < 2 * fp32_bytes / 1024]
    ax.set_xticks(ticks, [str(tick) for tick in ticks])
    ax.minorticks_off()
    ax.set(xlabel="model size (KiB, measured from its tensors)", ylabel="test accuracy (%)")
    ax.set_title("The digits MLP, weights quantized: accuracy against real size", fontsize=11)
    ax.grid(True, alpha=0.3)
    plt.close(fig)
    return fig


def plot_accuracy_and_size(rows: Sequence[dict]):
    """Test accuracy (left) and saved size (right) of several models side by side, one bar each
    (rows: dicts with ``name``, ``library`` ("fp32", "helper" or "torchao"), ``accuracy`` and
    ``bytes``), each bar in its library's colour: fp32 blue, helper's weight-only orange (its
    ``W8A32`` colour), torchao's sky blue. Returns the Figure."""
    colours = {"fp32": FP32, "helper": W8A32, "torchao": TORCHAO}
    names = [row["name"] for row in rows][::-1]
    bar_colours = [colours[row["library"]] for row in rows][::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.45 * len(rows) + 1.4), sharey=True)
    fig.set_layout_engine("constrained")
    accuracy = [100 * row["accuracy"] for row in rows][::-1]
    kib = [row["bytes"] / 1024 for row in rows][::-1]
    left.barh(names, accuracy, color=bar_colours)
    right.barh(names, kib, color=bar_colours)
    for ax, values, unit in ((left, accuracy, " %"), (right, kib, " KiB")):
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:.4g}{unit}", va="center", fontsize=9)
        ax.set_xlim(0, 1.25 * max(values))
        ax.grid(axis="x", alpha=0.3)
    left.set_xticks(range(0, 101, 20))  # no tick past 100 %: the room there is for the labels
    left.set(xlabel="test accuracy (%)")
    right.set(xlabel="saved state dict (KiB)")
    left.set_title("Accuracy on the 360 test digits", fontsize=11)
    right.set_title("Size on disk, torch.save of the state dict", fontsize=11)
    plt.close(fig)
    return fig


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


# Lesson L6-A: each granularity a ring, its colour the granularity's and its size the block's
# (the larger the block sharing a scale, the larger the ring), so that settings of the same size
# and loss, as every 8-bit one, show as concentric rings rather than hiding each other.
_GRANULARITY_RINGS = {
    ("per-tensor", None): (PER_TENSOR, 17),
    ("per-channel", None): (PER_CHANNEL, 13.5),
    ("per-group", 128): (PER_GROUP, 10.5),
    ("per-group", 64): (PER_GROUP, 7.5),
    ("per-group", 32): (PER_GROUP, 4.5),
}


def plot_bits_per_byte_vs_bytes(results: Sequence[Result], fp32: Result):
    """The language model's bits per byte against its real bytes, one ring per setting.

    The colour is the granularity (per-tensor, per-channel, per-group) and the ring's size the
    block that shares a scale (a tensor, a row, a group of 128, 64 or 32); each bit width is
    written beside its rings; fp32 is a star. The y axis is logarithmic, so that 2 bits fit
    beside 8.
    """
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    for result in results:
        setting = result.setting
        colour, size = _GRANULARITY_RINGS[(setting.granularity, setting.group_size)]
        x = result.bytes / 2**20
        ax.plot(x, result.bits_per_byte, "o", color=colour, mfc="none", mew=1.8, ms=size)
    ax.plot(fp32.bytes / 2**20, fp32.bits_per_byte, "*", color=FP32, ms=15)
    ax.annotate(
        "fp32", (fp32.bytes / 2**20, fp32.bits_per_byte), (0, 12), "data", "offset points",
        ha="center", fontsize=10,
    )  # fmt: skip
    for bits in sorted({r.setting.bits for r in results}):
        points = [r for r in results if r.setting.bits == bits]
        right = max(r.bytes for r in points) / 2**20
        middle = float(np.exp(np.median([np.log(r.bits_per_byte) for r in points])))
        ax.annotate(
            f"{bits}-bit", (right, middle), (14, 0), "data", "offset points", va="center",
            fontsize=10, fontweight="bold",
        )  # fmt: skip
    handles = [
        plt.Line2D(
            [], [], ls="", marker="o", mfc="none", mew=1.8, ms=min(size, 12), color=colour,
            label=granularity if group is None else f"group {group}",
        )
        for (granularity, group), (colour, size) in _GRANULARITY_RINGS.items()
    ]  # fmt: skip
    ax.legend(handles=handles, fontsize=9, loc="upper right", title="scale per", title_fontsize=9)
    ax.set_yscale("log")
    ticks = [1.5, 1.7, 2, 2.5, 3, 4, 6, 8]  # the 8- and 4-bit rings sit between 1.7 and 2
    low, high = ax.get_ylim()
    ax.set_yticks(
        [t for t in ticks if low <= t <= high], [f"{t:g}" for t in ticks if low <= t <= high]
    )
    ax.yaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlim(0, fp32.bytes / 2**20 * 1.08)
    ax.set(xlabel="model size (MiB, measured from its tensors)", ylabel="bits per byte (held out)")
    ax.set_title("The language model, weights quantized: loss against real size", fontsize=11)
    ax.grid(True, alpha=0.3)
    plt.close(fig)
    return fig


def plot_layer_sensitivity(losses: dict[int, dict[str, float]], fp32_bits_per_byte: float):
    """How much each kind of layer costs when it alone is quantized: bars of the bits per byte
    lost (over fp32) per kind (``losses[bits][kind]``), one colour per bit width."""
    fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    kinds = list(LAYER_KINDS)
    width = 0.8 / len(losses)
    for i, ((bits, loss), colour) in enumerate(zip(losses.items(), (ORANGE, GREEN))):
        x = np.arange(len(kinds)) + (i - (len(losses) - 1) / 2) * width
        values = [loss[kind] - fp32_bits_per_byte for kind in kinds]
        bars = ax.bar(x, values, width, color=colour, label=f"{bits}-bit, that kind alone")
        ax.bar_label(bars, fmt="%.3f", fontsize=9, padding=2)
    ax.set_xticks(range(len(kinds)), [LAYER_KINDS[kind] for kind in kinds], fontsize=10)
    ax.set_ylabel("bits per byte lost")
    ax.margins(y=0.15)
    ax.legend(fontsize=9, loc="upper right")
    ax.set_title(
        "Which layers are sensitive: one kind quantized at a time (per channel)", fontsize=11
    )
    ax.grid(True, axis="y", alpha=0.3)
    plt.close(fig)
    return fig


def plot_channel_ranges(absmax: torch.Tensor, layer: str):
    """One layer's input, channel by channel: the largest magnitude each channel reaches on the
    calibration text, with the median over channels as a dashed line."""
    fig, ax = plt.subplots(figsize=(9, 3.4), layout="constrained")
    values = absmax.detach().double().numpy()
    ax.bar(np.arange(len(values)), values, width=1.0, color=BLUE)
    median = float(np.median(values))
    ax.axhline(median, color=DARK_GREY, ls="--", lw=1.5, label=f"median {median:.3g}")
    ax.set(xlabel="input channel", ylabel="max |x| over the calibration text")
    ax.set_xlim(-1, len(values))
    ax.legend(fontsize=9, loc="upper right")
    ax.set_title(f"The input of {layer}: each channel's largest magnitude", fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    plt.close(fig)
    return fig


def plot_gptq_bits_per_byte(rows: Sequence[dict], fp32: float):
    """Bits per byte of round-to-nearest and GPTQ, one panel per bit width, a pair of bars per
    setting (rows: dicts with ``bits``, ``setting``, ``rtn`` and ``gptq``), the fp32 model's as
    a dashed line, the legend under the panels. Each panel has its own scale, starting at 0.
    Returns the Figure."""
    bit_widths = list(dict.fromkeys(row["bits"] for row in rows))
    fig, axes = plt.subplots(1, len(bit_widths), figsize=(10, 3.8), squeeze=False)
    fig.set_layout_engine("constrained")
    for ax, bits in zip(axes[0], bit_widths):
        panel = [row for row in rows if row["bits"] == bits]
        x = np.arange(len(panel))
        for offset, key, colour, label in (
            (-0.2, "rtn", RTN, "round to nearest"),
            (0.2, "gptq", GPTQ, "GPTQ"),
        ):
            values = [row[key] for row in panel]
            ax.bar(x + offset, values, 0.4, color=colour, label=label)
            for xi, value in zip(x + offset, values):
                ax.text(xi, value, f"{value:.2f}", ha="center", va="bottom", fontsize=9)
        ax.axhline(fp32, color=FP32, ls="--", lw=1.5, label=f"fp32 ({fp32:.3f})")
        ax.set_xticks(
            x, [row["setting"].replace("groups of ", "group ") for row in panel], fontsize=9
        )
        ax.set_ylim(0, 1.15 * max(max(row["rtn"], row["gptq"]) for row in panel))
        ax.set_title(f"{bits} bits", fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("bits per byte (lower is better)")
    fig.legend(
        *axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=9
    )
    fig.suptitle("The language model on held-out text: round to nearest against GPTQ", fontsize=11)
    plt.close(fig)
    return fig
