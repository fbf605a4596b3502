"""Lesson L7-B's pictures: its plots, and its widget with the live plot it redraws. The runs they
show are ``course.lessons.l7b``'s; the maths is ``helper``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.core.explorer import Explorer, View, buttons, int_slider
from course.core.live_view import PlotData, steady_limits
from course.core.plotting import CLIPPED, FP32, GPTQ, GREY, INTEGER, QAT, RTN, TORCHAO
from course.lessons.l6a import BitsPerByteBars
from course.lessons.l7b import LAYER, LayerRun, Row, level_offsets, load_comparison

# --- Plots --------------------------------------------------------------------------------------


def plot_straight_through(scale: float = 1.0, bits: int = 3):
    """The forward pass of fake quantization (a staircase that stops at both ends) against the
    identity the STE pretends it is, and, under it, where each convention lets the gradient
    through: ``fake_quantize``'s representable range, torchao's rounded-integer range.
    Returns the Figure."""
    q_min, q_max = helper.q_range(helper.integer_dtype(bits))
    x = torch.linspace(scale * (q_min - 2), scale * (q_max + 2), 2001, dtype=torch.float64)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 4.6), sharex=True, height_ratios=[3, 1.3], layout="constrained"
    )
    top.plot(x, x, color=FP32, ls="--", lw=1.5, label="x: what the backward pass pretends")
    top.plot(
        x,
        helper.fake_quantize(x, scale, 0, q_min, q_max),
        color=RTN,
        lw=2,
        label="x' = fake_quantize(x): what the forward pass computes",
    )
    for end in (scale * q_min, scale * q_max):
        top.axvline(end, color=CLIPPED, ls=":", lw=1.2)
    top.set_ylabel("value", fontsize=10)
    top.set_title(f"Fake quantization at {bits} bits, s = {scale:g}, z = 0", fontsize=11)
    top.legend(loc="upper left", fontsize=9)
    top.grid(alpha=0.3)
    torchao_ends = (scale * (q_min - 0.5), scale * (q_max + 0.5))
    spans = [((scale * q_min, scale * q_max), RTN), (torchao_ends, TORCHAO)]
    for row, ((low, high), colour) in enumerate(spans):
        bottom.plot([low, high], [row, row], color=colour, lw=6, solid_capstyle="butt")
    for end in (scale * q_min, scale * q_max):
        bottom.axvline(end, color=CLIPPED, ls=":", lw=1.2)
    bottom.set_yticks([0, 1], ["helper.fake_quantize", "torchao"], fontsize=9)
    bottom.set_ylim(-0.7, 1.7)
    bottom.set_xlabel(
        "x (dotted: the ends of the representable range, s q_min and s q_max)", fontsize=10
    )
    bottom.set_title(
        "where the straight-through estimator passes the gradient, for the same s (0 elsewhere)",
        fontsize=10,
    )
    plt.close(fig)
    return fig


def plot_layer_run(run: LayerRun):
    """A QAT run on one layer: its relative output error step by step, on the calibration inputs
    it trains on and on held-out ones, against round-to-nearest's and GPTQ's. Returns the Figure."""
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    for errors, colour, width, style, label in (
        (run.train_error, QAT, 2, "-", "QAT, calibration inputs (trained on)"),
        (run.held_out_error, GREY, 1.5, "--", "QAT, held-out inputs"),
    ):
        ax.plot(run.steps, np.array(errors) * 100, color=colour, lw=width, ls=style, label=label)
    for (train, held_out), colour, name in (
        (run.rtn, RTN, "round to nearest"),
        (run.gptq, GPTQ, "GPTQ"),
    ):  # one line each: on the two sets of inputs they differ by less than the line's width
        label = f"{name}: {train:.2%} calibration, {held_out:.2%} held out"
        ax.axhline(train * 100, color=colour, lw=2, label=label)
    ax.set_xlabel("QAT step (Adam through the straight-through estimator)", fontsize=10)
    ax.set_ylabel("output error, % of the output", fontsize=10)
    ax.set_ylim(0, 1.15 * 100 * max(*run.rtn, *run.train_error, *run.held_out_error))
    ax.set_title(f"One layer ({LAYER}) at 3 bits per channel: its output error", fontsize=11)
    ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=9)
    plt.close(fig)
    return fig


def plot_training_curve(curve: list[dict]):
    """``tools/train_qat.py``'s curve: the QAT model quantized to 3 bits per channel, in bits per
    byte on held-out calibration text, and the training loss (fake-quantized, a running mean)
    on the training text, step by step. Returns the Figure."""
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    steps = [point["step"] for point in curve]
    ax.plot(
        steps,
        [p["check_bits_per_byte"] for p in curve],
        color=QAT,
        lw=2,
        marker="o",
        label="quantized, held-out calibration text",
    )
    trained = [p for p in curve if p["train_bits_per_byte"] is not None]
    ax.plot(
        [p["step"] for p in trained],
        [p["train_bits_per_byte"] for p in trained],
        color=GREY,
        lw=1.5,
        ls="--",
        label="fake-quantized, training text (a running mean)",
    )
    ax.annotate(
        "step 0: round to nearest",
        (0, curve[0]["check_bits_per_byte"]),
        xytext=(10, 0),
        textcoords="offset points",
        fontsize=9,
        va="center",
    )
    ax.set_xlabel("training step (32 windows of 128 bytes each)", fontsize=10)
    ax.set_ylabel("bits per byte", fontsize=10)
    ax.set_title("Training the language model through its 3-bit rounding", fontsize=11)
    ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=9)
    plt.close(fig)
    return fig


def plot_weights_on_grid(fp32: torch.Tensor, qat: torch.Tensor, bits: int = 3):
    """``scaled_weights`` of the shipped model and of the QAT model: on the left over the grid's
    levels, on the right by their offset from the nearest level (``level_offsets``), as
    outlined histograms (a share of the weights per bin). Returns the Figure."""
    q_min, q_max = helper.q_range(helper.integer_dtype(bits))
    fig, (grid, offsets) = plt.subplots(
        1, 2, figsize=(10, 3.6), width_ratios=[1.6, 1], layout="constrained"
    )
    for values, colour, style, name in (
        (fp32, FP32, "-", "shipped model (fp32 training)"),
        (qat, QAT, "--", "QAT model"),
    ):
        weights = np.full(values.numel(), 1 / values.numel())
        grid.hist(
            values.clamp(q_min - 0.5, q_max + 0.5).numpy(),
            bins=np.arange(q_min - 0.5, q_max + 0.51, 0.05),
            weights=weights,
            histtype="step",
            color=colour,
            ls=style,
            lw=1.5,
            label=name,
        )
        offsets.hist(
            level_offsets(values).numpy(),
            bins=np.linspace(-0.5, 0.5, 21),
            weights=weights,
            histtype="step",
            color=colour,
            ls=style,
            lw=1.5,
        )
    for level in range(q_min, q_max + 1):
        grid.axvline(level, color=INTEGER, lw=1, ls=":")
    grid.set_yscale("log")
    grid.set_xlabel(f"weight / its channel's scale (dotted: the {bits}-bit levels)", fontsize=10)
    grid.set_ylabel("share of the weights", fontsize=10)
    grid.set_title("Every linear weight, in steps of its scale", fontsize=11)
    offsets.set_xlabel("offset from the nearest level, in steps", fontsize=10)
    offsets.set_ylabel("share of the weights", fontsize=10)
    offsets.set_title("0: on a level; ±0.5: on a boundary", fontsize=11)
    offsets.set_ylim(0, None)
    fig.legend(*grid.get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=9)
    plt.close(fig)
    return fig


# --- The widget: bits and scales -> round to nearest, GPTQ and QAT -------------------------------


@dataclass(frozen=True)
class MethodBarsData(PlotData):
    """Bits per byte of the fp32 model and of the three quantized ones, and the axis' end."""

    values: tuple[float, float, float, float]
    xmax: float
    title: str


class MethodBars(BitsPerByteBars):
    """Bits per byte of fp32, round-to-nearest, GPTQ and QAT: lesson L6-B's bars, and QAT's."""

    Data = MethodBarsData
    figsize = (6.4, 2.6)
    margins = (0.2, 0.2, 0.95, 0.86)
    names = ("fp32", "RTN", "GPTQ", "QAT")
    colours = (FP32, RTN, GPTQ, QAT)

    def values(self, data: MethodBarsData) -> tuple[float, ...]:
        return data.values


def explore_qat(rows: list[Row] | None = None, eval_bytes: int | None = None) -> Explorer:
    """L7-B: the language model quantized by round-to-nearest and GPTQ, and the QAT model
    (trained for 3 bits per channel) by round-to-nearest, for each bit width and scales of
    ``rows``, scored on ``eval_bytes`` bytes (by default ``load_comparison()``'s, stored by
    ``tools/train_qat.py --compare-only``), in bits per byte beside fp32, with what each writes
    after ``PROMPT``. Every setting was computed beforehand: a change only looks it up."""
    if rows is None:
        rows, eval_bytes = load_comparison()
    table = {(row.bits, row.scales): row for row in rows}
    bits_options = sorted({row.bits for row in rows})
    scales = list(dict.fromkeys(row.scales for row in rows))
    # one axis per bit width, round at both ends (steady_limits), so that scales keep it
    xmax = {
        bits: steady_limits(0, 1.15 * max(row.rtn for row in rows if row.bits == bits))[1]
        for bits in bits_options
    }
    controls = {
        "bits": int_slider("bits", 3, bits_options[0], bits_options[-1]),
        "scales": buttons("scales", scales, scales[0]),
    }

    def compute(bits: int, scales: str) -> View:
        row = table[bits, scales]
        readout = {
            "fp32_bits_per_byte": row.fp32,
            "rtn": row.rtn,
            "gptq": row.gptq,
            "qat": row.qat,
            "qat_minus_gptq": str(row.qat_minus_gptq),
            "kept": f"{row.kept():.0%} of RTN's loss",
            "rtn_writes": repr(row.rtn_writes[:12]),
            "gptq_writes": repr(row.gptq_writes[:12]),
            "qat_writes": repr(row.qat_writes[:12]),
        }
        values = (row.fp32, row.rtn, row.gptq, row.qat)
        return View(readout, [], MethodBarsData(values, xmax[bits], f"{bits}-bit, {scales}"))

    labels = {
        "fp32_bits_per_byte": "fp32, bits per byte",
        "rtn": "round to nearest",
        "gptq": "GPTQ",
        "qat": "QAT",
        "qat_minus_gptq": "QAT − GPTQ",
        "kept": "QAT keeps",
        "rtn_writes": "RTN writes",
        "gptq_writes": "GPTQ writes",
        "qat_writes": "QAT writes",
    }
    return Explorer(
        f"Round to nearest, GPTQ and QAT on {eval_bytes:,} bytes of held-out text",
        controls,
        compute,
        MethodBars,
        labels=labels,
    )
