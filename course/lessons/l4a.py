"""L4-A, integer inference (W8A8): the output errors (plot and live plot), the widget and the
checker of per-token activations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import STYLE, Explorer, Matrix, View, int_slider
from course.core.live_view import Plot, PlotData, steady_limits
from course.core.plotting import GREY, ROLE_COLOURS, SERIES, W8A8, W8A32, as_matrix
from course.core.widget_parts import ERROR_LABELS
from course.data import seeded_normal


@dataclass(frozen=True)
class W8A8ErrorsData(PlotData):
    """The outputs of the fp32, W8A8 and W8A32 layers, value for value."""

    fp32: np.ndarray
    w8a8: np.ndarray
    w8a32: np.ndarray
    title: str


class W8A8Errors(Plot):
    """The error of each output of the W8A8 and W8A32 layers, against the fp32 output."""

    Data = W8A8ErrorsData
    margins = (0.13, 0.2, 0.97, 0.85)  # room for tick labels such as "−0.0025"

    def __init__(self, ax) -> None:
        super().__init__(ax)
        ax.axhline(0.0, color=GREY, lw=1)
        # Both series share every x: W8A8 as larger hollow rings, W8A32 as smaller dots drawn
        # over them, so that a dot on a ring leaves the ring visible around it.
        (self.w8a8,) = ax.plot([], [], "o", color=W8A8, mfc="none", mew=1.2, ms=6, label="W8A8")
        (self.w8a32,) = ax.plot([], [], "o", color=W8A32, ms=2.5, label="W8A32")
        ax.set_xlabel("fp32 layer output y", fontsize=10)
        ax.set_ylabel("error y' \N{MINUS SIGN} y", fontsize=10)
        ax.legend(loc="upper right", ncols=2, fontsize=9)

    def update(self, data: W8A8ErrorsData) -> None:
        reference = data.fp32
        errors = (data.w8a8 - reference, data.w8a32 - reference)
        self.w8a8.set_data(reference, errors[0])
        self.w8a32.set_data(reference, errors[1])
        low, high = reference.min(), reference.max()
        pad = 0.05 * (high - low or 1.0)
        self.ax.set_xlim(steady_limits(low - pad, high + pad))
        top = 1.1 * max(np.abs(errors[0]).max(), np.abs(errors[1]).max(), 1e-12)
        self.ax.set_ylim(steady_limits(-top, 1.6 * top))  # room above the errors for the legend
        self.set_title(data.title)


def _w8a8_per_token_reference(q_x, s_x, z_x, q_w, s_w) -> torch.Tensor:
    """``s_x s_w^T (q_x - z_x) q_w^T`` in float64, one (s_x, z_x) per row of ``q_x``."""
    product = (q_x.double() - z_x.double()) @ q_w.double().t()
    return (product * s_x.double() * s_w.double().reshape(1, -1)).to(torch.float32)


def check_w8a8_per_token(learner_function: Callable) -> Verdict:
    """L4 W8A8 "Your turn": ``learner_function(q_x, s_x, z_x, q_w, s_w)`` with one activation
    scale and zero point per row of ``q_x`` (``s_x``, ``z_x`` shaped (m, 1)) must return
    ``s_x s_w^T * (q_x q_w^T - z_x * rowsum(q_w))`` as float32 (m, out)."""
    cases, labels = [], []
    for seed, (m, k, n) in enumerate(((4, 8, 3), (17, 32, 24), (1, 5, 2), (33, 64, 16)), 20):
        labels.append(f"{m} row{'s' if m > 1 else ''} of {k} activations, {n} outputs")
        x = seeded_normal(seed, m, k) * 2.0 + 0.5
        q_x, s_x, z_x = helper.quantize_blocks(x, (1, k), torch.int8, "asymmetric")
        q_w, s_w = helper.linear_q_symmetric_per_channel(seeded_normal(seed + 50, n, k), dim=0)
        cases.append((q_x, s_x, z_x, q_w, s_w))
    return check_exercise(
        learner_function, _w8a8_per_token_reference, cases, "w8a8_per_token", labels
    )


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


def explore_w8a8(
    input: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    bits: int = 8,
    outlier: float = 1.0,
) -> Explorer:
    """L4 W8A8: activations quantized asymmetric per tensor to ``bits`` (held in int8), weights
    symmetric per channel in int8, the layer computed in integers
    (``quantized_linear_W8A8_without_bias``), against W8A32 and fp32. ``outlier`` sets one
    activation to ``outlier`` times the largest of the others: a single large value stretches
    the one activation scale ``s_x`` that every value shares.
    """
    weight = seeded_normal(41, 16, 64) * 0.1 if weight is None else weight
    weight = helper.check_float_tensor(weight, "weight").float()
    if input is None:
        input = seeded_normal(40, 8, weight.shape[1]).relu_() + 0.1
    input = helper.check_float_tensor(input, "input").float()
    if weight.dim() != 2 or input.dim() != 2 or input.shape[1] != weight.shape[1]:
        raise ValueError(
            f"input (batch, k) and weight (out, k) must share k, got {tuple(input.shape)} and "
            f"{tuple(weight.shape)}"
        )
    q_w, s_w = helper.linear_q_symmetric_per_channel(weight, dim=0)
    controls = {
        "bits": int_slider("activation bits", bits, 2, 8),
        "outlier": widgets.FloatLogSlider(
            value=outlier,
            base=10,
            min=0,
            max=2,
            step=0.02,
            description="one activation \u00d7",
            continuous_update=True,
            readout_format=".3g",
            style=STYLE,
        ),
    }

    def compute(bits: int, outlier: float) -> View:
        x = input.clone()
        x[0, 0] = outlier * float(input.abs().max())
        fp32 = torch.nn.functional.linear(x, weight)
        q_x, s_x, z_x = helper.linear_quantization(x, helper.integer_dtype(bits))
        w8a8 = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w)
        w8a32 = helper.quantized_linear_W8A32_without_bias(x, q_w, s_w, 0)
        readout = {
            "activations": f"int{bits}",
            "activation_scale": s_x,
            "activation_zero_point": z_x,
            "mse": helper.quantization_error(fp32, w8a8),
            "mse_of_W8A32": helper.quantization_error(fp32, w8a32),
            "relative_error": float((w8a8 - fp32).norm() / fp32.norm()),
            "activation_levels_used": int(torch.unique(q_x).numel()),
        }
        error = as_matrix((w8a8 - fp32).abs())
        top = max(error.max(), 1e-12)
        matrices = [Matrix("W8A8 error |y \N{MINUS SIGN} y'|", error, 0.0, top, ".3g", "cividis")]
        plot = W8A8ErrorsData(
            fp32=fp32.flatten().numpy(),
            w8a8=w8a8.flatten().numpy(),
            w8a32=w8a32.flatten().numpy(),
            title=f"W8A8 ({bits}-bit activations): relative error {readout['relative_error']:.2%}",
        )
        return View(readout, matrices, plot)

    labels = {
        **ERROR_LABELS,
        "mse_of_W8A32": "MSE of W8A32",
        "relative_error": "relative error",
    }
    return Explorer(
        "A linear layer in integers (W8A8) against W8A32 and fp32",
        controls,
        compute,
        W8A8Errors,
        labels=labels,
    )
