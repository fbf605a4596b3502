"""L6-A, quantize a language model: a setting (``Setting``) and its measured ``Result``, bits per
byte against bytes, layer sensitivity, channel ranges, the widget, and the checker of the
exercise on the whole model (it measures the learner's choice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import helper
from course.core.checker import Verdict
from course.core.explorer import STYLE, Explorer, View, buttons
from course.core.live_view import Plot, PlotData
from course.core.plotting import (
    BLUE,
    DARK_GREY,
    FP32,
    GPTQ,
    GREEN,
    ORANGE,
    PER_CHANNEL,
    PER_GROUP,
    PER_TENSOR,
    RTN,
)
from course.core.widget_parts import group_size_slider
from course.language_model import LAYER_KINDS, generate, linear_names, load

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l5a import (
    MinMaxObserver,  # noqa: F401
    calibrate,  # noqa: F401
    layer_inputs,  # noqa: F401
    quantize_activations,
)
from course.texts import read_text
from helper import Granularity


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
    colours = (FP32, RTN, GPTQ)

    def __init__(self, ax) -> None:
        super().__init__(ax)
        rows = list(range(len(self.names)))[::-1]  # the first name on top
        self.bars = ax.barh(rows, [0] * len(rows), color=list(self.colours))
        self.labels = [ax.text(0, y, "", va="center", fontsize=9) for y in rows]
        ax.set_yticks(rows, self.names)
        ax.set_xlabel("bits per byte on held-out text (lower is better)", fontsize=10)

    def values(self, data: BitsPerByteBarsData) -> tuple[float, ...]:
        """The bars' lengths, in the order of ``names``."""
        return (data.fp32, data.rtn, data.gptq)

    def update(self, data: BitsPerByteBarsData) -> None:
        for bar, label, value in zip(self.bars, self.labels, self.values(data)):
            bar.set_width(value)
            label.set_position((value, bar.get_y() + bar.get_height() / 2))
            label.set_text(f" {value:.3f}")
        self.ax.set_xlim(0, data.xmax)
        self.set_title(data.title)


@dataclass(frozen=True)
class Setting:
    """How the weights are quantized: ``bits`` (None: float32) and the block sharing a scale."""

    bits: int | None = None
    granularity: helper.Granularity = "per-channel"
    group_size: int | None = None

    @property
    def label(self) -> str:
        if self.bits is None:
            return "fp32"
        block = f"group {self.group_size}" if self.granularity == "per-group" else self.granularity
        return f"{self.bits}-bit {block}"

    def apply(self, model: nn.Module) -> nn.Module:
        """``model`` with its linear layers quantized this way (a copy; fp32 gives ``model``)."""
        if self.bits is None:
            return model
        return helper.quantize_model(model, self.bits, self.granularity, self.group_size)


@dataclass(frozen=True)
class Result:
    """A model measured: its setting, bits per byte on a text, and its real bytes."""

    setting: Setting
    bits_per_byte: float
    bytes: int

    def __repr__(self) -> str:
        return f"{self.setting.label}: {self.bits_per_byte:.4f} bits per byte, {self.bytes:,} bytes"


def measure(model: nn.Module, setting: Setting, text: bytes) -> Result:
    """Quantize ``model`` as ``setting`` says, then its bits per byte on ``text`` and its bytes."""
    quantized = setting.apply(model)
    return Result(setting, helper.bits_per_byte(quantized, text), helper.model_bytes(quantized))


# Lesson L6-A: each granularity's colour and its short name under its bar.
_GRANULARITY_BARS = {
    ("per-tensor", None): (PER_TENSOR, "tensor"),
    ("per-channel", None): (PER_CHANNEL, "channel"),
    ("per-group", 128): (PER_GROUP, "group 128"),
    ("per-group", 64): (PER_GROUP, "group 64"),
    ("per-group", 32): (PER_GROUP, "group 32"),
}


def plot_bits_per_byte_vs_bytes(results: Sequence[Result], fp32: Result):
    """What each setting costs and what it saves: one panel per bit width, one bar per
    granularity (its colour: per tensor, per channel, per group), the bar the bits per byte
    lost over fp32, written above it, and under it the model's real size in MiB and how many
    times smaller than fp32 it is. Each panel has its own scale, starting at 0 (at least
    0.05 bits per byte high, so that a loss of nothing looks like nothing)."""
    bit_widths = sorted({r.setting.bits for r in results}, reverse=True)
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.2), layout="constrained", squeeze=False)
    for ax, bits in zip(axes.flat, bit_widths):
        panel = [r for r in results if r.setting.bits == bits]
        lost = [r.bits_per_byte - fp32.bits_per_byte for r in panel]
        keys = [(r.setting.granularity, r.setting.group_size) for r in panel]
        colours = [_GRANULARITY_BARS[key][0] for key in keys]
        ax.bar(range(len(panel)), lost, 0.7, color=colours)
        for x, value in enumerate(lost):  # above the bar, or above 0 for a loss below 0
            ax.annotate(
                f"{value:+.3f}", (x, max(value, 0.0)), (0, 2), textcoords="offset points",
                ha="center", va="bottom", fontsize=9,
            )  # fmt: skip
        ax.set_xticks(
            range(len(panel)),
            [
                f"{_GRANULARITY_BARS[key][1]}\n{r.bytes / 2**20:.2f} MiB\n{fp32.bytes / r.bytes:.2f}x"
                for key, r in zip(keys, panel)
            ],
            fontsize=9,
        )
        ax.set_ylim(min(0.0, *lost), 1.2 * max(0.05, *lost))
        ax.axhline(0, color=DARK_GREY, lw=0.8)
        ax.set_title(f"{bits} bits", fontsize=11)
        ax.tick_params(axis="y", labelsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("bits per byte lost over fp32", fontsize=10)
    for ax in axes.flat[len(bit_widths) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"The language model, weights quantized: bits per byte lost over fp32 "
        f"({fp32.bits_per_byte:.3f}, {fp32.bytes / 2**20:.2f} MiB), and the size (under each bar)",
        fontsize=11,
    )
    plt.close(fig)
    return fig


class Cost(NamedTuple):
    """What quantizing some layers adds to the model's bits per byte, window by window against
    fp32 (``helper.paired_difference``): the mean ``lost`` and its standard error ``noise``."""

    lost: float
    noise: float

    def __repr__(self) -> str:
        return f"{self.lost:+.3f} ± {self.noise:.3f}"


def kind_costs(
    model: nn.Module, windows: torch.Tensor, bits: int, granularity: Granularity = "per-channel"
) -> dict[str, Cost]:
    """Each kind of layer (``LAYER_KINDS``) quantized alone to ``bits``, the other layers left in
    float32: its ``Cost`` over fp32 on ``windows`` (``helper.window_bits``), by kind."""
    fp32 = helper.window_bits(model, windows)
    costs = {}
    for kind in LAYER_KINDS:
        layers = dict.fromkeys(linear_names(model, kind), bits)
        quantized = helper.quantize_model(model, layers, granularity)
        costs[kind] = Cost(*helper.paired_difference(helper.window_bits(quantized, windows), fp32))
    return costs


def _block_inputs(model: nn.Module, ids: torch.Tensor) -> list[torch.Tensor]:
    """The residual stream entering each block of ``model``, then the final norm, on ``ids``."""
    positions = torch.arange(ids.shape[1])
    x = model.token_embedding(ids) + model.position_embedding(positions)
    inputs = [x]
    for block in model.blocks:
        inputs.append(x := block(x))
    return inputs


def layer_costs(
    model: nn.Module,
    windows: torch.Tensor,
    bits: int = 2,
    granularity: Granularity = "per-group",
    group_size: int | None = 32,
) -> dict[str, Cost]:
    """Each linear layer quantized alone to ``bits``: its ``Cost`` over fp32 on ``windows``, by
    layer name. The same numbers as ``helper.window_bits`` of each model, but faster: the
    layers before the quantized one are the fp32 model's, so the residual stream entering
    each block is computed once and only the blocks from the quantized layer's on are run."""
    with torch.no_grad():
        inputs = _block_inputs(model, windows[:, :-1])
        fp32 = helper.logit_bits(model.head(model.norm(inputs[-1])), windows[:, 1:])
        costs = {}
        for name in linear_names(model):
            quantized = helper.quantize_model(model, {name: bits}, granularity, group_size)
            first = int(name.split(".")[1]) if name.startswith("blocks.") else len(model.blocks)
            x = inputs[first]
            for block in quantized.blocks[first:]:
                x = block(x)
            bits_each = helper.logit_bits(quantized.head(quantized.norm(x)), windows[:, 1:])
            costs[name] = Cost(*helper.paired_difference(bits_each, fp32))
    return costs


def plot_layer_sensitivity(costs: dict[int, dict[str, Cost]]):
    """How much each kind of layer costs when it alone is quantized: bars of the bits per byte
    lost over fp32 per kind (``costs[bits][kind]``, ``kind_costs``), one colour per bit width,
    each with its noise (± one standard error) as an error bar."""
    fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    kinds = list(LAYER_KINDS)
    width = 0.8 / len(costs)
    for i, ((bits, by_kind), colour) in enumerate(zip(costs.items(), (ORANGE, GREEN))):
        x = np.arange(len(kinds)) + (i - (len(costs) - 1) / 2) * width
        values = [by_kind[kind].lost for kind in kinds]
        noise = [by_kind[kind].noise for kind in kinds]
        bars = ax.bar(
            x, values, width, yerr=noise, color=colour, ecolor=DARK_GREY,
            label=f"{bits}-bit, that kind alone (± one standard error)",
        )  # fmt: skip
        ax.bar_label(bars, [f"{c.lost:.3f}" for c in by_kind.values()], fontsize=9, padding=4)
    ax.set_xticks(range(len(kinds)), [LAYER_KINDS[kind] for kind in kinds], fontsize=10)
    ax.set_ylabel("bits per byte lost over fp32")
    ax.margins(y=0.15)
    ax.legend(fontsize=9, loc="upper right")
    ax.set_title(
        "Which layers are sensitive: one kind quantized at a time (per channel)", fontsize=11
    )
    ax.grid(True, axis="y", alpha=0.3)
    plt.close(fig)
    return fig


def plot_layer_costs(costs: dict[str, Cost], bits: int = 2):
    """Each linear layer quantized alone (``layer_costs``): the bits per byte it loses over
    fp32 with its noise (± one standard error), one row per layer in the model's order, on a
    logarithmic axis (the costs span three orders of magnitude), in the colour of ``bits``
    in ``plot_layer_sensitivity``. A loss below 0.001 is drawn at 0.001."""
    names = list(costs)
    fig, ax = plt.subplots(figsize=(9, 7.2), layout="constrained")
    rows = np.arange(len(names))[::-1]  # the first layer on top
    for row, name in zip(rows, names):
        cost = costs[name]
        x = max(cost.lost, 1e-3)
        ax.errorbar(
            x, row, xerr=[[min(cost.noise, x - 1e-3)], [cost.noise]], fmt="o", ms=6,
            color=GREEN, capsize=3,
        )  # fmt: skip
        ax.annotate(
            repr(cost), (x + cost.noise, row), (6, 0), textcoords="offset points", va="center",
            fontsize=9,
        )  # fmt: skip
    ax.set_yticks(rows, names, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 3)
    ax.set_xlabel(f"bits per byte lost over fp32, that layer alone at {bits} bits (log axis)")
    ax.set_title(
        f"Each linear layer alone at {bits} bits, the others in float32 (± one standard error)",
        fontsize=11,
    )
    ax.grid(True, axis="x", alpha=0.3)
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


# The exercise's budget: between 2 bits everywhere (616,448 bytes) and 4 bits (919,552), where
# which layers keep their bits decides whether the model still writes Python.
BUDGET = 768_000
# What the exercise allows above the fp32 model's bits per byte on the text it is scored on.
MAX_LOSS = 0.5


def check_bits_under_budget(
    bits_per_layer: dict[str, int] | None,
    model: torch.nn.Module,
    text: bytes,
    budget: int = BUDGET,
    max_loss: float = MAX_LOSS,
    granularity: helper.Granularity = "per-group",
    group_size: int | None = 32,
) -> Verdict:
    """L6-A "Your turn": a bit width for every linear layer of ``model`` (a dict from layer name
    to a Python int, 2 to 8) whose quantized model takes at most ``budget`` bytes
    (``helper.model_bytes``) and loses less than ``max_loss`` bits per byte against fp32 on
    ``text``: text the learner did not tune on, so that a choice fitted to the noise of one
    sample does not pass by luck. Every layer is quantized ``granularity`` (``group_size``)."""
    if bits_per_layer is None:
        return Verdict(
            "not done yet", "Not done yet: fill in bits_per_layer and run this cell again."
        )
    names = linear_names(model)
    if not isinstance(bits_per_layer, dict):
        return Verdict(
            "error", f"bits_per_layer should be a dict, got {type(bits_per_layer).__name__}"
        )
    missing = [name for name in names if name not in bits_per_layer]
    unknown = [name for name in bits_per_layer if name not in names]
    bad = {
        n: b
        for n, b in bits_per_layer.items()
        if type(b) is not int or b not in range(2, 9)  # not 4.0, np.int64(4), torch.tensor(4)
    }
    for problem, found in (
        ("has no width for", missing),
        ("names layers the model does not have:", unknown),
        ("has widths that are not ints from 2 to 8:", bad),
    ):
        if found:
            return Verdict("error", f"bits_per_layer {problem} {found}")
    mixed = helper.quantize_model(model, bits_per_layer, granularity, group_size)
    used = helper.model_bytes(mixed)
    if used > budget:
        return Verdict(
            "mismatch",
            f"Over budget: your model takes {used:,} bytes, {used - budget:,} more than "
            f"{budget:,} (3 bits cost what 8 do in this course: an int8 container each).",
        )
    fp32, score = helper.bits_per_byte(model, text), helper.bits_per_byte(mixed, text)
    if score - fp32 >= max_loss:
        return Verdict(
            "mismatch",
            f"Within budget ({used:,} of {budget:,} bytes), but on {len(text):,} bytes you did "
            f"not tune on it scores {score:.4f} bits per byte, {score - fp32:.4f} above fp32's "
            f"{fp32:.4f}: not less than {max_loss}.",
        )
    return Verdict(
        "pass",
        f"Well done: {score:.4f} bits per byte on {len(text):,} bytes you did not tune on, "
        f"{score - fp32:.4f} above fp32's {fp32:.4f}, in {used:,} bytes of a {budget:,}-byte "
        "budget.",
    )


# The W8A8 choice of explore_language_model: int8 weights per channel and int8 activations,
# dynamic per token (lesson L5-A's ``quantize_activations``).
_W8A8 = "W8A8, activations per token"


def explore_language_model(
    model: torch.nn.Module | None = None,
    text: bytes | None = None,
    bits: int = 4,
    granularity: Granularity = "per-group",
    group_size: int = 32,
    prompt: str = "def ",
    n_bytes: int = 32,
) -> Explorer:
    """L6-A: the language model with its linear layers quantized (``helper.quantize_model``) to
    ``bits`` per tensor, per channel or per group, or W8A8: its bits per byte on ``text``, its
    real bytes, and what it writes (greedy) after ``prompt``. Every setting is computed when the
    widget is built, so a change of control only looks the answer up. ``model=None`` loads the
    course's model, ``text=None`` takes the first 2,048 bytes of its held-out text."""
    model = load() if model is None else model
    text = read_text("eval")[:2048] if text is None else text
    helper.check_int(bits, "bits", (2, 3, 4, 8), "2, 3, 4 or 8")
    helper.check_int(group_size, "group_size", (32, 64, 128), "32, 64 or 128")
    fp32_bits = helper.bits_per_byte(model, text)

    def measured(quantized: torch.nn.Module, stored: torch.nn.Module | None = None) -> dict:
        written = generate(quantized, prompt, n_bytes)
        return {
            "bits_per_byte": helper.bits_per_byte(quantized, text),
            "fp32_bits_per_byte": fp32_bits,
            "model_bytes": helper.model_bytes(quantized if stored is None else stored),
            "fp32_bytes": helper.model_bytes(model),
            "writes": written.replace("\n", "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}"),
        }

    table = {
        (b, g, size): measured(Setting(b, g, size).apply(model))
        for b in (8, 4, 3, 2)
        for g, sizes in (
            ("per-tensor", [None]),
            ("per-channel", [None]),
            ("per-group", [128, 64, 32]),
        )
        for size in sizes
    }
    # W8A8's layers hold their int8 weights dequantized, to compute in float: its bytes are
    # those of the same weights stored in int8 per channel (activations are not stored).
    table[_W8A8] = measured(
        quantize_activations(model, torch.int8), Setting(8, "per-channel").apply(model)
    )
    controls = {
        "model": buttons("quantize", ["weights only", _W8A8], "weights only"),
        "bits": widgets.SelectionSlider(
            options=[2, 3, 4, 8],
            value=bits,
            description="bits",
            continuous_update=True,
            style=STYLE,
        ),
        "granularity": widgets.Dropdown(
            options=["per-tensor", "per-channel", "per-group"],
            value=granularity,
            description="scale per",
            style=STYLE,
        ),
        "group_size": group_size_slider([32, 64, 128], group_size),
    }

    def sync(controls: dict) -> None:
        weights_only = controls["model"].value == "weights only"
        controls["bits"].disabled = controls["granularity"].disabled = not weights_only
        controls["group_size"].disabled = (
            not weights_only or controls["granularity"].value != "per-group"
        )

    def compute(model: str, bits: int, granularity: str, group_size: int) -> View:
        if model == _W8A8:
            return View(table[_W8A8], [])
        return View(
            table[(bits, granularity, group_size if granularity == "per-group" else None)], []
        )

    return Explorer(
        f"The language model, quantized: bits per byte on {len(text):,} held-out bytes, and what "
        "it writes",
        controls,
        compute,
        sync=sync,
        labels={
            "bits_per_byte": "bits per byte",
            "fp32_bits_per_byte": "bits per byte, fp32",
            "model_bytes": "model bytes",
            "fp32_bytes": "model bytes, fp32",
            "writes": f"writes after {prompt!r}",
        },
    )
