"""L5-B, the same in torchao: the convention widget (levels used), accuracy and size against
torchao, and the checker that compares the learner's function with torchao itself.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, View, buttons, int_slider
from course.core.live_view import Plot, PlotData, steady_limits
from course.core.plotting import FP32, TORCHAO, W8A32
from course.core.widget_parts import ERROR_LABELS, check_matrix, round_trip
from course.data import layer_weights, seeded_normal


@dataclass(frozen=True)
class LevelCountsData(PlotData):
    """How many values land on each level ``q_min .. q_max``, by helper and by torchao."""

    q_min: int
    q_max: int
    helper_counts: np.ndarray
    torchao_counts: np.ndarray
    title: str


class LevelCounts(Plot):
    """How many values land on each integer level, by helper's convention and by torchao's.

    Two outlines over the levels ``q_min .. q_max``.
    """

    Data = LevelCountsData

    def __init__(self, ax) -> None:
        super().__init__(ax)
        self.helper = ax.stairs([0], [0, 1], color=W8A32, lw=2, label="helper")
        self.torchao = ax.stairs([0], [0, 1], color=TORCHAO, lw=2, ls="--", label="torchao")
        ax.set_xlabel("integer q", fontsize=10)
        ax.set_ylabel("values on the level", fontsize=10)
        ax.legend(loc="upper right", fontsize=9)

    def update(self, data: LevelCountsData) -> None:
        edges = np.arange(data.q_min, data.q_max + 2) - 0.5
        self.helper.set_data(data.helper_counts, edges)
        self.torchao.set_data(data.torchao_counts, edges)
        self.ax.set_xlim(edges[0] - 0.5, edges[-1] + 0.5)
        top = max(data.helper_counts.max(), data.torchao_counts.max(), 1)
        self.ax.set_ylim(steady_limits(0, 1.2 * top))
        self.set_title(data.title)


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


def _asymmetric_per_token_reference(x: torch.Tensor):
    from course import torchao_bridge as ao  # torchao, without its known import warnings

    return ao.int8_asymmetric_per_token(x)


def check_torchao_asymmetric_per_token(learner_function: Callable) -> Verdict:
    """L5-B "Your turn": ``learner_function(x)`` quantizes ``x`` to int8 asymmetric, one scale
    and zero point per row of its last axis, exactly as torchao's
    ``Int8DynamicActivationIntxWeightConfig`` quantizes a layer's input: it returns ``(qdata,
    scale, zero_point)``, int8, float32 and int8, the last two shaped ``x.shape[:-1] + (1,)``."""
    positive = seeded_normal(60, 6, 32).sigmoid()
    with_zero_row = seeded_normal(62, 5, 24)
    with_zero_row[3] = 0.0
    outlier = seeded_normal(64, 4, 64)
    outlier[1, 5] = 1000.0
    step = torch.tensor([[0.7], [3.0]]) / 255  # each row's step: its range over 255
    halfway = torch.cat([torch.zeros(2, 1), (torch.arange(255.0) + 0.5) * step, 255 * step], 1)
    cases = [
        (positive,),
        (halfway,),
        (seeded_normal(61, 6, 32),),
        (-seeded_normal(63, 4, 16).abs() - 0.5,),
        (with_zero_row,),
        (outlier,),
        (seeded_normal(65, 2, 5, 16),),
    ]
    labels = [
        "values in (0, 1): each row's range widens down to 0, so its zero point is -128",
        "values halfway between two levels: x * (1 / s) and x / s round some apart",
        "values of both signs",
        "rows all below -0.5: the range widens up to 0, so the zero point is 127",
        "a row of zeros (its scale is the floor, the smallest normal float32)",
        "one value of 1000 in a row",
        "a batch of shape (2, 5, 16): one scale per token, along the last axis",
    ]
    return check_exercise(
        learner_function,
        _asymmetric_per_token_reference,
        cases,
        "torchao_asymmetric_per_token",
        labels,
    )


def explore_torchao_convention(
    weight: torch.Tensor | None = None, bits: int = 4, granularity: str = "groups of 32"
) -> Explorer:
    """L5-B: one weight matrix quantized symmetric with ``bits`` bits, per row or in groups of
    32, by helper (``s = max|w| / q_max``, ``q = round(w / s)``) and by torchao
    (``IntxWeightOnlyConfig``: ``s = max|w| / ((q_max - q_min) / 2)``, ``q = round(w * (1 / s))``):
    how many integers agree, how the levels are used, and each one's error. Every setting is
    quantized by torchao itself, once, when the widget is built."""
    from course import torchao_bridge as ao  # torchao, without its known import warnings

    weight = layer_weights(5, 64, 128) if weight is None else check_matrix(weight, "weight")
    weight = weight.detach().float()
    granularities = {"per row": (ao.PerAxis(0), (1, weight.shape[1]))}
    if weight.shape[1] % 32 == 0:
        granularities["groups of 32"] = (ao.PerGroup(32), (1, 32))
    helper.check_bits(bits)
    if granularity not in granularities:
        raise ValueError(f"granularity must be one of {list(granularities)}, got {granularity!r}")
    linear = ao.linear_holding(weight)

    def quantized(bits: int, name: str) -> tuple:
        torchao_granularity, block = granularities[name]
        dtype = helper.integer_dtype(bits)
        config = ao.IntxWeightOnlyConfig(weight_dtype=dtype, granularity=torchao_granularity)
        stored = ao.stored_tensors(ao.quantized_copy(linear, config).weight)
        trip = round_trip(weight, block, dtype, "symmetric")
        restored_t = helper.dequantize_blocks(
            stored["qdata"], stored["scale"], stored["zero_point"], block
        )
        return trip.quantized, trip.scale, trip.dequantized, stored, restored_t

    controls = {
        "bits": int_slider("bits", bits, 2, 8),
        "granularity": buttons("scales", list(granularities), granularity),
    }

    @functools.cache  # every setting is computed once, below: no change runs torchao
    def compute(bits: int, granularity: str) -> View:
        q_h, s_h, restored_h, stored, restored_t = quantized(bits, granularity)
        q_t = stored["qdata"]
        q_min, q_max = helper.q_range(helper.integer_dtype(bits))
        levels = torch.arange(q_min, q_max + 2)
        equal = float((q_h == q_t).float().mean())
        readout = {
            "integers_equal": f"{equal:.1%}",
            "torchao_step_over_helper": float((stored["scale"].reshape(-1) / s_h.reshape(-1))[0]),
            "values_on_q_min_helper": int((q_h == q_min).sum()),
            "values_on_q_min_torchao": int((q_t == q_min).sum()),
            "mse": helper.quantization_error(weight, restored_h),
            "mse_torchao": helper.quantization_error(weight, restored_t),
        }
        plot = LevelCountsData(
            q_min=q_min,
            q_max=q_max,
            helper_counts=torch.histogram(q_h.float(), levels.float() - 0.5).hist.numpy(),
            torchao_counts=torch.histogram(q_t.float(), levels.float() - 0.5).hist.numpy(),
            title=f"{bits}-bit, {granularity}: {equal:.1%} of the integers agree",
        )
        return View(readout, [], plot)

    for width, name in itertools.product(range(2, 9), granularities):
        compute(bits=width, granularity=name)  # as the explorer calls it: the same cache key
    return Explorer(
        "helper against torchao: the same symmetric quantization, two conventions",
        controls,
        compute,
        LevelCounts,
        labels={
            **ERROR_LABELS,
            "torchao_step_over_helper": "torchao's step / helper's",
            "values_on_q_min_helper": "values on q_min, helper",
            "values_on_q_min_torchao": "values on q_min, torchao",
            "mse": "MSE, helper",
            "mse_torchao": "MSE, torchao",
        },
    )
