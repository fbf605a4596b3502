"""L4-B, packing low-bit weights: storage bars (plot and live plot), the widget and the checker of
2-bit packing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, View, buttons
from course.core.live_view import Plot, PlotData
from course.core.plotting import BLUE, DARK_GREY, ORANGE, SERIES
from course.core.widget_parts import ERROR_LABELS, check_matrix, group_size_slider
from course.data import layer_weights


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


def check_pack_2bit(learner_function: Callable) -> Verdict:
    """L4 packing "Your turn": ``learner_function(q)`` packs unsigned 2-bit values (a uint8
    tensor of 0..3) four to a byte, the first in the lowest bits, as ``helper.pack_weights(q, 2)``."""
    generator = torch.Generator().manual_seed(30)
    cases = [(torch.tensor([1, 2, 3, 0], dtype=torch.uint8),)]
    cases += [
        (torch.randint(0, 4, shape, generator=generator, dtype=torch.uint8),)
        for shape in ((8,), (3, 4), (7,), (5, 3), (1,))
    ]
    labels = [
        "the four values 1, 2, 3, 0 (one byte)",
        "8 random values (two bytes)",
        "a 3x4 tensor (12 values, flattened)",
        "7 values (padded to 8)",
        "a 5x3 tensor (15 values, padded to 16)",
        "a single value (padded to 4)",
    ]
    return check_exercise(
        learner_function, lambda q: helper.pack_weights(q, 2), cases, "pack_2bit", labels
    )


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


def explore_storage(
    weight: torch.Tensor | None = None, bits: int = 4, group_size: int = 32, scale_bits: int = 16
) -> Explorer:
    """L4 packing: symmetric per-group quantization of ``weight``, the values packed with
    ``pack_weights`` (2 and 4 bits; 3 and 8 bits stay in int8) and the scales in fp16 or fp32.
    The bytes are measured on the real tensors (``tensor_bytes``); ``ideal_bits`` is
    ``bits_per_weight``, which assumes every value takes exactly ``bits`` bits."""
    if weight is None:  # rows of different sizes, as in a trained layer
        weight = layer_weights(4, 64, 256, log10_sizes=(-1.3, 0.3), outliers=False)
    weight = check_matrix(weight, "weight")
    sizes = [d for d in (8, 16, 32, 64, 128, 256, 512, 1024) if weight.shape[1] % d == 0]
    helper.check_int(group_size, "group_size", sizes, f"one of {sizes}")
    controls = {
        "bits": buttons("bits", [2, 3, 4, 8], bits),
        "group_size": group_size_slider(sizes, group_size),
        "scale_bits": buttons("scales stored as", [("fp16", 16), ("fp32", 32)], scale_bits),
    }
    fp32_bytes = helper.tensor_bytes(weight.float())

    def compute(bits: int, group_size: int, scale_bits: int) -> View:
        scale_dtype = torch.float16 if scale_bits == 16 else torch.float32
        q, scale = helper.quantize_weight_symmetric(
            weight, bits, "per-group", group_size, scale_dtype
        )
        stored = helper.pack_weights(q, bits) if bits in helper.PACKABLE_BITS else q
        block = helper.block_size_for(weight.shape, "per-group", group_size=group_size)
        dequantized = helper.dequantize_blocks(q, scale.float(), 0, block)
        weight_bytes, scale_bytes = helper.tensor_bytes(stored), helper.tensor_bytes(scale)
        measured = 8 * (weight_bytes + scale_bytes) / weight.numel()
        readout = {
            "weights_in": "packed uint8" if bits in helper.PACKABLE_BITS else "int8",
            "scales_in": helper.dtype_name(scale_dtype),
            "weight_bytes": weight_bytes,
            "scale_bytes": scale_bytes,
            "bits_per_weight": measured,
            "ideal_bits": helper.bits_per_weight(bits, group_size, scale_bits),
            "compression": fp32_bytes / (weight_bytes + scale_bytes),
            "mse": helper.quantization_error(weight, dequantized),
        }
        plot = StorageBarsData(
            weight_bytes=(fp32_bytes, weight_bytes),
            scale_bytes=(0, scale_bytes),
            fp32_bytes=fp32_bytes,
            title=f"{bits}-bit, group {group_size}: {measured:.4g} bits per weight, "
            f"{readout['compression']:.3g}\u00d7 smaller than fp32",
        )
        return View(readout, [], plot)

    return Explorer(
        "What a quantized weight really costs: packed values plus scales",
        controls,
        compute,
        StorageBars,
        labels={**ERROR_LABELS, "bits_per_weight": "bits per weight"},
    )
