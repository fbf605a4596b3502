"""L6-C, number formats: the formats by name (int4, NF4, MXFP4, int8, MXFP8 E4M3 and E5M2), each
one's round trip with ``helper``'s functions and its real bits per weight, the error table, the
plots, the widget and the checker of the nearest level.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import STYLE, Explorer, View, buttons
from course.core.plotting import CLIPPED, DATA, GREY, INTEGER, LINE_GREY, SERIES
from course.core.widget_parts import ERROR_LABELS, check_matrix
from course.data import heavy_tailed, seeded_normal
from course.lessons.l3a import LevelHistogram, LevelHistogramData

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l5a import layer_inputs  # noqa: F401
from course.models import trained_digits_mlp


@dataclass(frozen=True)
class FormatLevelsData(LevelHistogramData):
    """A ``LevelHistogramData`` whose histogram is computed in advance: ``counts`` over the
    bins ``edges`` (the widget computes every setting once, when it is built)."""

    counts: np.ndarray
    edges: np.ndarray


class FormatLevels(LevelHistogram):
    """``LevelHistogram`` on the axis a number format sees: each value divided by its block's
    scale, over the format's largest level, so that every format's levels span [-1, 1]; values
    beyond ±1 are saturated to the end levels (MX's power-of-two scale lets some get there)."""

    Data = FormatLevelsData

    def __init__(self, ax) -> None:
        super().__init__(ax)
        ax.set_xlabel(
            "value / its block's scale, over the largest level (lines: the levels)", fontsize=10
        )
        ax.legend(
            handles=[
                Line2D([], [], color=INTEGER, label="level used"),
                Line2D([], [], color=GREY, label="level no value uses"),
                Line2D([], [], color=CLIPPED, lw=6, alpha=0.3, label="saturated"),
            ],
            loc="upper left",
            framealpha=1.0,
            fontsize=9,
        )
        ax.axvspan(1, 1.4, color=CLIPPED, alpha=0.15)
        ax.axvspan(-1.4, -1, color=CLIPPED, alpha=0.15)

    def histogram_of(self, data: FormatLevelsData) -> tuple[np.ndarray, np.ndarray]:
        return data.counts, data.edges


def check_nearest_level(learner_function: Callable) -> Verdict:
    """L6-C "Your turn": ``learner_function(values, codebook)`` returns the code (int64, the
    values' shape) of the level of ``codebook`` (sorted ascending; code i is ``codebook[i]``)
    nearest to each value; a value exactly halfway between two levels takes the even code,
    and values beyond the ends take the end codes."""
    small = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    ties = torch.tensor([-0.5, 0.25, 1.25, -0.5, 0.25])
    nf4_ties = (helper.NF4_LEVELS[1:].double() + helper.NF4_LEVELS[:-1].double()) / 2
    cases = [
        (seeded_normal(70, 200) / 2.5, helper.NF4_LEVELS),
        (torch.tensor([-0.9, -0.1, 0.3, 0.9, 1.9]), small),
        (ties, small),
        (torch.tensor([-7.0, 5.0, 100.0]), small),
        (nf4_ties.float(), helper.NF4_LEVELS),
        (seeded_normal(71, 4, 6), torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0])),
    ]
    labels = [
        "normal values against NF4's 16 levels",
        "values between the levels of a small codebook",
        "values exactly halfway between two levels (the even code wins)",
        "values beyond the ends of the codebook (the end codes)",
        "the float32 values nearest NF4's midpoints (compare exactly, in float64)",
        "a 2-D tensor (the codes keep its shape)",
    ]
    return check_exercise(
        learner_function, helper.quantize_to_levels, cases, "nearest_level", labels
    )


def errors(tensor: torch.Tensor, name: str, block_size: int | None = None) -> dict:
    """``{"bits": bits per weight, "mse": ..., "sqnr_db": ...}`` of ``tensor`` in format ``name``."""
    restored = helper.format_round_trip(tensor, name, block_size).restored
    return {
        "bits": helper.format_bits_per_weight(name, block_size, tensor.numel()),
        "mse": helper.quantization_error(tensor, restored),
        "sqnr_db": helper.sqnr_db(tensor, restored),
    }


def error_table(data: dict[str, torch.Tensor], names=tuple(helper.BLOCK_FORMATS)) -> list[dict]:
    """One row per format and kind of data: ``{"format", "data", "bits", "mse", "sqnr_db"}``,
    each format at its default block size."""
    return [
        {"format": name, "data": kind, **errors(tensor, name)}
        for name in names
        for kind, tensor in data.items()
    ]


def format_model(model: torch.nn.Module, name: str, block_size: int | None = None):
    """A copy of ``model`` whose every linear layer's weight is replaced by its round trip
    through the format ``name`` (the values the format gives back, held in float32), so that
    ``helper.bits_per_byte`` measures what the format loses."""

    def convert(_: str, linear: torch.nn.Linear) -> torch.nn.Linear:
        replaced = copy.deepcopy(linear)
        with torch.no_grad():
            replaced.weight.copy_(
                helper.format_round_trip(linear.weight.detach(), name, block_size).restored
            )
        return replaced

    helper.block_format(name)
    return helper.convert_linears(model, convert)


# The formats of the number-line figure: each one's levels, divided by its largest, so that
# one scale (max|w| onto the largest level) puts them all on the weights' axis.
LEVEL_ROWS = {
    "int4 (15 levels, evenly spaced)": torch.arange(-7, 8, dtype=torch.float32),
    "FP4 E2M1 (15 levels)": helper.float_levels("e2m1"),
    "NF4 (16 levels, normal quantiles)": helper.NF4_LEVELS,
    "FP8 E4M3 (253 levels)": helper.float_levels("e4m3"),
    "FP8 E5M2 (247 levels)": helper.float_levels("e5m2"),
}


def plot_format_levels(weights: torch.Tensor, title: str = "weights", bins: int = 120):
    """One number line per format: the histogram of ``weights / max|w|`` and a vertical line at
    each level of the format scaled so that its largest level is ``max|w|``. Returns the
    Figure."""
    values = (weights.flatten().double() / weights.abs().max()).numpy()
    fig, axes = plt.subplots(len(LEVEL_ROWS), 1, figsize=(9.6, 7.4), sharex=True)
    fig.set_layout_engine("constrained")
    counts, edges = np.histogram(values, bins=bins, range=(-1, 1))
    for ax, (name, levels) in zip(axes, LEVEL_ROWS.items()):
        ax.stairs(counts / counts.max(), edges, fill=True, color=DATA, alpha=0.3)
        at = (levels / levels.abs().max()).double().numpy()
        ax.add_collection(
            LineCollection(
                np.stack([np.c_[at, at * 0], np.c_[at, at * 0 + 1]], 1),
                colors=INTEGER,
                linewidths=0.9,
            )
        )
        ax.set_ylim(0, 1.05)
        ax.set_yticks([])
        ax.set_title(name, fontsize=10, loc="left")
        ax.tick_params(labelsize=9)
    axes[-1].set_xlim(-1.02, 1.02)
    axes[-1].set_xlabel("w / max|w|  (green lines: the levels, the largest on max|w|)", fontsize=10)
    fig.suptitle(f"Where each format puts its levels, over the {title}", fontsize=11)
    plt.close(fig)
    return fig


def plot_format_errors(rows: Sequence[dict]):
    """SQNR (dB, higher is better) of each format on each kind of data, as grouped bars, the
    format's bits per weight in its label. ``rows`` as ``error_table`` gives.
    Returns the Figure."""
    names = list(dict.fromkeys(row["format"] for row in rows))
    kinds = list(dict.fromkeys(row["data"] for row in rows))
    fig, ax = plt.subplots(figsize=(9.6, 0.62 * len(names) * len(kinds) / 3 + 1.6))
    fig.set_layout_engine("constrained")
    height = 0.8 / len(kinds)
    for k, kind in enumerate(kinds):
        sqnr = [
            next(r["sqnr_db"] for r in rows if r["format"] == n and r["data"] == kind)
            for n in names
        ]
        ax.barh(
            np.arange(len(names)) + (k - (len(kinds) - 1) / 2) * height,
            sqnr,
            height,
            color=SERIES[k],
            label=kind,
        )
    bits = [next(r["bits"] for r in rows if r["format"] == n) for n in names]
    ax.set_yticks(range(len(names)), [f"{n}\n{b:.3g} bits/weight" for n, b in zip(names, bits)])
    ax.invert_yaxis()
    ax.set_xlabel("SQNR (dB): higher is better; 6 dB is one bit", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title("Each format on each kind of data, one scale per block", fontsize=11)
    plt.close(fig)
    return fig


def fp8_range_and_precision(activations: torch.Tensor) -> dict[str, dict]:
    """The two FP8 formats on ``activations`` with one scale per tensor (``max|a|`` onto the
    format's largest value): the scale, the share of values that land on 0 or among the
    subnormals, the SQNR. Both round with ``helper.float_quantize``."""
    activations = activations.float()
    largest = float(activations.abs().max())
    result = {}
    for fmt in ("e4m3", "e5m2"):
        levels = helper.float_levels(fmt)
        scale = largest / float(levels[-1])
        restored = helper.float_quantize(activations / scale, fmt) * scale
        smallest_normal = 2.0 ** (2 - 2 ** (helper.FLOAT_FORMATS[fmt][0] - 1)) * scale
        nonzero = activations != 0
        result[fmt] = {
            "scale": scale,
            "smallest_normal": smallest_normal,
            "smallest": float(levels[levels > 0][0]) * scale,
            "flushed_to_zero": float(((restored == 0) & nonzero).sum() / nonzero.sum()),
            "subnormal": float(
                ((activations.abs() < smallest_normal) & nonzero).sum() / nonzero.sum()
            ),
            "sqnr_db": helper.sqnr_db(activations, restored),
        }
    return result


def plot_fp8_activations(activations: torch.Tensor, title: str = "activations"):
    """The magnitudes of ``activations`` (log scale) and, for E4M3 and E5M2 scaled per tensor,
    the span of their normal numbers (full precision) and of their subnormals. Returns the
    Figure."""
    summary = fp8_range_and_precision(activations)
    magnitudes = activations.abs().flatten().double()
    magnitudes = magnitudes[magnitudes > 0].numpy()
    fig, ax = plt.subplots(figsize=(9.6, 4.2))
    fig.set_layout_engine("constrained")
    low = min(magnitudes.min(), min(s["smallest"] for s in summary.values())) / 2
    edges = np.geomspace(low, magnitudes.max() * 1.01, 90)
    counts, _ = np.histogram(magnitudes, edges)
    ax.stairs(counts / counts.max(), edges, fill=True, color=DATA, alpha=0.35, label="|a|")
    for row, (fmt, colour) in enumerate((("e4m3", SERIES[0]), ("e5m2", SERIES[1]))):
        s, y = summary[fmt], 1.12 + 0.1 * row
        top = s["scale"] * float(helper.float_levels(fmt)[-1])
        ax.plot(
            [s["smallest_normal"], top],
            [y, y],
            color=colour,
            lw=6,
            solid_capstyle="butt",
            label=f"{fmt.upper()} normal numbers: SQNR {s['sqnr_db']:.1f} dB",
        )
        ax.plot(
            [s["smallest"], s["smallest_normal"]],
            [y, y],
            color=colour,
            lw=2,
            ls=":",
            label=f"{fmt.upper()} subnormals (fewer bits)",
        )
    ax.axvline(magnitudes.max(), color=CLIPPED, lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.3)
    ax.set_yticks([])
    ax.set_xlabel(
        f"|a| of the {title} (log scale; dashed: max|a|, mapped onto each max)", fontsize=10
    )
    ax.tick_params(labelsize=9)
    fig.legend(loc="outside lower center", fontsize=9, ncols=3, frameon=False)
    ax.set_title(
        "FP8 for activations: E5M2 spans more range, E4M3 has one more bit of precision",
        fontsize=11,
    )
    for spine in ("left", "right", "top"):
        ax.spines[spine].set_visible(False)
    ax.spines["bottom"].set_color(LINE_GREY)
    plt.close(fig)
    return fig


def format_datasets(model: torch.nn.Module | None = None, rows: int = 256) -> dict:
    """The L6-C widget's data, each in rows of 256 (``rows`` of them at most): normal and
    heavy-tailed (Student's t, 3 degrees of freedom) values, and the weights of the digits MLP's
    first two layers (``model``, by default the shipped ``course.models.trained_digits_mlp``)."""
    model = _digits_model() if model is None else model
    digits = torch.cat([model[0].weight.detach().flatten(), model[2].weight.detach().flatten()])
    return {
        "normal": seeded_normal(60, rows, 256),
        "heavy-tailed": heavy_tailed(rows * 256, seed=61).reshape(rows, 256),
        "digits weights": digits[: rows * 256].reshape(-1, 256),
    }


@functools.cache
def _digits_model() -> torch.nn.Module:
    """The trained digits MLP (its shipped weights), read once per session."""
    return trained_digits_mlp()[0]


FORMAT_BLOCK_SIZES = (16, 32, 64, 128, 256)


def explore_number_formats(
    datasets: dict[str, torch.Tensor] | torch.Tensor | None = None,
    fmt: str = "NF4",
    block_size: int = 64,
    data: str | None = None,
) -> Explorer:
    """L6-C: a format (int4, NF4, MXFP4, int8, MXFP8 E4M3 or E5M2), a block size and a kind of
    data: the values as the format sees them (divided by their block's scale) under its levels,
    the error (MSE, SQNR) and the real bits per weight. ``datasets``: 2-D tensors by name, each
    with a last axis that 256 divides (default: ``format_datasets(rows=64)``), or one tensor. Every setting is
    computed once, when the widget is built: a change only redraws."""
    datasets = format_datasets(rows=64) if datasets is None else datasets
    if not isinstance(datasets, dict):
        datasets = {"tensor": datasets}
    data = next(iter(datasets)) if data is None else data
    helper.block_format(fmt)
    helper.check_int(block_size, "block_size", FORMAT_BLOCK_SIZES, str(FORMAT_BLOCK_SIZES))
    if data not in datasets:
        raise ValueError(f"data must be one of {list(datasets)}, got {data!r}")
    views = {}
    for name, tensor in datasets.items():
        tensor = check_matrix(tensor, name)
        helper.check_divides(tensor.shape[-1], 256, "256", f"the rows of {name}")
        for format_name in helper.BLOCK_FORMATS:
            for block in FORMAT_BLOCK_SIZES:
                views[format_name, block, name] = _format_view(tensor, format_name, block)
    controls = {
        "fmt": widgets.Dropdown(
            options=list(helper.BLOCK_FORMATS), value=fmt, description="format", style=STYLE
        ),
        "block_size": widgets.SelectionSlider(
            options=FORMAT_BLOCK_SIZES, value=block_size, description="block size", style=STYLE
        ),
        "data": buttons("data", list(datasets), data),
    }

    def compute(fmt: str, block_size: int, data: str) -> View:
        return views[fmt, block_size, data]

    labels = {
        **ERROR_LABELS,
        "bits_per_weight": "bits per weight",
        "levels_used": "levels used",
        "saturated": "values saturated",
        "sqnr_db": "SQNR (dB)",
    }
    return Explorer(
        "Number formats at equal storage: levels, error and bits per weight",
        controls,
        compute,
        FormatLevels,
        labels=labels,
    )


def _format_view(tensor: torch.Tensor, name: str, block: int) -> View:
    """The explorer's view of ``tensor`` in format ``name`` with blocks of ``block`` values."""
    trip = helper.format_round_trip(tensor, name, block)
    largest = float(trip.levels.abs().max())
    # Saturated: past an end level by more than half the last step, so clamped to it with a
    # larger error than rounding inside the grid can make. (An int format's fp16 scale puts a
    # block's largest value a hair past its top level: that value is rounded, not saturated.)
    ends = trip.levels.sort().values
    low, high = ends[0] - (ends[1] - ends[0]) / 2, ends[-1] + (ends[-1] - ends[-2]) / 2
    codes = helper.quantize_to_levels(trip.scaled, trip.levels)
    used = torch.bincount(codes.flatten(), minlength=trip.levels.numel()) > 0
    bits = helper.format_bits_per_weight(name, block, tensor.numel())
    sqnr = helper.sqnr_db(tensor, trip.restored)
    readout = {
        "format": name,
        "bits_per_weight": round(bits, 4),
        "levels": trip.levels.numel(),
        "levels_used": int(used.sum()),
        "saturated": int(((trip.scaled < low) | (trip.scaled > high)).sum()),
        "mse": helper.quantization_error(tensor, trip.restored),
        "sqnr_db": f"{sqnr:.1f}",
    }
    values = (trip.scaled / largest).flatten().double().numpy()
    counts, edges = np.histogram(values, bins=80, range=(-1.35, 1.35))
    plot = FormatLevelsData(
        values=values,
        level_values=(trip.levels / largest).double().numpy(),
        used=used.numpy(),
        inside=np.ones(trip.levels.numel(), dtype=bool),
        title=f"{name}, blocks of {block}: {bits:.3g} bits per weight, SQNR {sqnr:.1f} dB",
        counts=counts,
        edges=edges,
    )
    return View(readout, [], plot)
