"""L4-C, quantize a trained network: the digits (plot and live montage), accuracy against bytes,
the widget and the checker of ``to_linear``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, View
from course.core.live_view import Plot, PlotData
from course.core.plotting import DARK_GREY, FP32, PER_CHANNEL, PER_GROUP, PER_TENSOR
from course.core.widget_parts import ERROR_LABELS, bits_granularity_group_controls, granularity_sync
from course.data import Digits, load_digits_data
from course.models import accuracy, trained_digits_mlp
from helper import Granularity

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


def check_to_linear(learner_function: Callable) -> Verdict:
    """L4 trained-network "Your turn": ``learner_function(layer)`` turns a ``helper.QuantizedLinear``
    back into an ``nn.Linear`` whose weight is ``s q`` (unpacked if packed) and whose bias is
    the layer's; compared as ``(weight, bias)``."""

    def as_tensors(function: Callable) -> Callable:
        def wrapped(layer):
            linear = function(layer)
            if not isinstance(linear, torch.nn.Linear):
                return linear
            bias = None if linear.bias is None else linear.bias.detach()
            return linear.weight.detach(), bias

        return wrapped

    def reference(layer):
        return layer.dequantized_weight(), layer.bias

    cases = []
    with torch.random.fork_rng():
        torch.manual_seed(31)
        for bits, granularity, group_size in (
            (8, "per-channel", None),
            (4, "per-group", 16),
            (2, "per-tensor", None),
            (3, "per-group", 8),
        ):
            linear = torch.nn.Linear(32, 6)
            cases.append(
                (helper.QuantizedLinear.from_linear(linear, bits, granularity, group_size),)
            )
    labels = [
        "8 bits per channel (int8 values)",
        "4 bits in groups of 16 (packed)",
        "2 bits per tensor (packed)",
        "3 bits in groups of 8 (int8 values, not packed)",
    ]
    return check_exercise(as_tensors(learner_function), reference, cases, "to_linear", labels)


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


def explore_trained_network(
    model: torch.nn.Module | None = None,
    data: Digits | None = None,
    bits: int = 4,
    granularity: Granularity = "per-channel",
    group_size: int = 32,
) -> Explorer:
    """L4: the digits MLP with every ``nn.Linear`` quantized (``quantize_model``) to ``bits``,
    per tensor, per channel or per group; its test accuracy, its real bytes
    (``model_bytes``) and the test digits it now gets wrong. Quantized models are cached per
    setting, so moving back to a setting is instant. ``model=None`` takes the shipped
    ``trained_digits_mlp()``; ``mse`` is the weights' mean squared error over all layers."""
    if model is None:
        model, data = trained_digits_mlp() if data is None else (trained_digits_mlp()[0], data)
    data = load_digits_data() if data is None else data
    linears = list(helper.linear_layers(model).values())
    if not linears:
        raise ValueError("model has no nn.Linear layer to quantize")
    widths = [m.in_features for m in linears]
    sizes = [d for d in (4, 8, 16, 32, 64, 128) if all(w % d == 0 for w in widths)]
    helper.check_int(group_size, "group_size", sizes, f"one of {sizes}")
    weights = torch.cat([m.weight.detach().flatten() for m in linears])
    fp32_accuracy, fp32_bytes = accuracy(model, data.x_test, data.y_test), helper.model_bytes(model)
    cache: dict[tuple, tuple] = {}

    def evaluate(bits: int, granularity: str, group_size: int | None) -> tuple:
        key = (bits, granularity, group_size)
        if key not in cache:
            quantized = helper.quantize_model(model, bits, granularity, group_size)
            with torch.no_grad():
                predicted = quantized(data.x_test).argmax(dim=-1)
            layers = [m for m in quantized.modules() if isinstance(m, helper.QuantizedLinear)]
            restored = torch.cat([m.dequantized_weight().flatten() for m in layers])
            cache[key] = (quantized, predicted, helper.quantization_error(weights, restored))
        return cache[key]

    controls = bits_granularity_group_controls(
        bits, ["per-tensor", "per-channel", "per-group"], granularity, sizes, group_size
    )

    def compute(bits: int, granularity: str, group_size: int) -> View:
        group = group_size if granularity == "per-group" else None
        quantized, predicted, mse = evaluate(bits, granularity, group)
        wrong = torch.nonzero(predicted != data.y_test).flatten()
        readout = {
            "accuracy": float((predicted == data.y_test).float().mean()),
            "fp32_accuracy": fp32_accuracy,
            "misclassified": int(wrong.numel()),
            "model_bytes": helper.model_bytes(quantized),
            "fp32_bytes": fp32_bytes,
            "mse": mse,
        }
        shown = wrong[:MONTAGE_DIGITS]
        plot = DigitMontageData(
            images=data.x_test[shown],
            true=data.y_test[shown].tolist(),
            predicted=predicted[shown].tolist(),
            title=f"{bits}-bit {granularity}{f' (group {group})' if group else ''}: "
            f"{wrong.numel()} of {len(data.y_test)} test digits wrong"
            f"{f' (first {MONTAGE_DIGITS} shown)' if wrong.numel() > MONTAGE_DIGITS else ''}",
        )
        return View(readout, [], plot)

    return Explorer(
        "The digits MLP, quantized: accuracy, bytes and the digits it gets wrong",
        controls,
        compute,
        DigitMontage,
        sync=granularity_sync,
        labels={**ERROR_LABELS, "mse": "weight MSE"},
    )
