"""Lesson L6-C's plots: the levels of each number format over a histogram of weights, the error
of each format on each kind of data, and the two FP8 formats against a tensor of activations."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection

import helper
from course.plots import CLIPPED, DATA, INTEGER, LINE_GREY, SERIES

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
    format's bits per weight in its label. ``rows`` as ``course.formats.error_table`` gives.
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
