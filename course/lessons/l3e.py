"""L3-E, quantizing weights and activations: a layer's outputs (plot and live plot), the widget
of a quantized linear layer and the checker of W8A32 with a bias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, Matrix, View
from course.core.live_view import Plot, PlotData, steady_limits
from course.core.plotting import BLUE, GREY, ORANGE, VERMILION, W8A32, as_matrix
from course.core.widget_parts import (
    ERROR_LABELS,
    check_matrix,
    error_readout,
    granularity_block,
    granularity_controls,
    granularity_sync,
    round_trip,
)
from course.data import layer_weights, seeded_normal

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l2a import plot_quantization_errors  # noqa: F401


@dataclass(frozen=True)
class OutputScatterData(PlotData):
    """The outputs of the fp32 layer and of the quantized one, value for value."""

    reference: np.ndarray
    quantized: np.ndarray
    title: str


class OutputScatter(Plot):
    """Each output of the quantized layer against the same output of the fp32 layer."""

    Data = OutputScatterData

    def __init__(self, ax) -> None:
        super().__init__(ax)
        (self.diagonal,) = ax.plot([], [], color=GREY, lw=1, label="equal outputs")
        (self.points,) = ax.plot([], [], "o", color=W8A32, ms=4, label="outputs")
        ax.set_xlabel("fp32 layer output", fontsize=10)
        ax.set_ylabel("quantized-weight output", fontsize=10)
        ax.legend(loc="upper left", fontsize=9)

    def update(self, data: OutputScatterData) -> None:
        reference, quantized = data.reference, data.quantized
        self.points.set_data(reference, quantized)
        low = min(reference.min(), quantized.min())
        high = max(reference.max(), quantized.max())
        pad = 0.05 * (high - low or 1.0)
        limits = steady_limits(low - pad, high + pad)
        self.diagonal.set_data(limits, limits)
        self.ax.set_xlim(limits)
        self.ax.set_ylim(limits)
        self.set_title(data.title)


def _w8a32_with_bias_reference(
    input: torch.Tensor,
    q_w: torch.Tensor,
    s_w: float | torch.Tensor,
    z_w: int | torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    return torch.nn.functional.linear(input, helper.linear_dequantization(q_w, s_w, z_w), bias)


def check_w8a32_with_bias(learner_function: Callable) -> Verdict:
    """L3-E "Your turn": ``learner_function(input, q_w, s_w, z_w, bias)`` is a W8A32 linear
    layer with a bias: ``y = x (s_w (q_w - z_w))^T + b``, checked with symmetric and asymmetric
    (non-zero zero point) weights, per-tensor and per-channel scales, and batched inputs."""
    example = torch.tensor([[-2.0, -1.13, 0.42], [-1.51, 0.25, 1.62], [0.23, 1.52, -1.5]])
    x, bias = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0, 2.0])
    cases = [
        (x, *helper.linear_q_symmetric(example), 0, bias),
        (x, *helper.linear_quantization(example), bias),
    ]
    weight, big_bias = seeded_normal(12, 4, 8), seeded_normal(13, 4)
    cases.append((seeded_normal(14, 2, 8), *helper.linear_quantization(weight), big_bias))
    q_w, s_w = helper.linear_q_symmetric_per_channel(weight, dim=0)
    cases.append((seeded_normal(15, 3, 8), q_w, s_w, 0, big_bias))
    labels = [
        "symmetric weights (zero point 0), one input",
        "asymmetric weights (a non-zero zero point), one input",
        "asymmetric weights, a batch of 2 inputs",
        "symmetric weights with a scale per channel, a batch of 3 inputs",
    ]
    return check_exercise(
        learner_function,
        _w8a32_with_bias_reference,
        cases,
        "quantized_linear_W8A32_with_bias",
        labels,
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


def explore_quantized_linear(
    weight: torch.Tensor | None = None,
    input: torch.Tensor | None = None,
    bits: int = 8,
    granularity: str = "per-channel rows",
    group_size: int | None = None,
) -> Explorer:
    """L3-E: ``y = x W'^T`` with ``W' = s (q - z)``, the weights quantized (symmetric) to
    ``bits`` with the chosen granularity (helper's ``quantized_linear_W8A32_without_bias``),
    against the fp32 layer ``y = x W^T``.
    """
    weight = layer_weights(2, 8, 32) if weight is None else check_matrix(weight, "weight")
    input = (
        seeded_normal(3, 4, weight.shape[1])
        if input is None
        else helper.check_float_tensor(input, "input")
    )
    if input.dim() == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"input of shape {tuple(input.shape)} must end with weight's {weight.shape[1]} columns"
        )
    weight, input = weight.float(), input.float()
    reference = torch.nn.functional.linear(input, weight)
    controls = granularity_controls(weight.shape, granularity, group_size, bits)

    def compute(bits: int, granularity: str, group_size: int) -> View:
        block = granularity_block(weight.shape, granularity, group_size)
        trip = round_trip(weight, block, helper.integer_dtype(bits), "symmetric")
        output = helper.quantized_linear_W8A32_without_bias(
            input,
            trip.quantized,
            helper.expand_blocks(trip.scale, block),
            helper.expand_blocks(trip.zero_point, block),
        )
        readout = {
            "granularity": granularity,
            "dtype": helper.dtype_name(helper.integer_dtype(bits)),
            **error_readout(reference, output),
            "relative_error": float(
                (output - reference).norm() / reference.norm().clamp_min(helper.ZERO_RANGE_SCALE)
            ),
            "weight_mse": helper.quantization_error(weight, trip.dequantized),
        }
        y, y_q = as_matrix(reference), as_matrix(output)
        error = np.abs(y - y_q)
        low, high = min(y.min(), y_q.min()), max(y.max(), y_q.max())
        matrices = [
            Matrix("fp32 output y = x W\u1d40", y, low, high, ".2f"),
            Matrix("output with quantized W, y'", y_q, low, high, ".2f"),
            Matrix(
                "error |y \N{MINUS SIGN} y'|", error, 0.0, max(error.max(), 1e-12), ".3f", "cividis"
            ),
        ]
        plot = OutputScatterData(
            reference=y.ravel(),
            quantized=y_q.ravel(),
            title=f"W{bits}A32 ({granularity}): relative error {readout['relative_error']:.2%}",
        )
        return View(readout, matrices, plot)

    return Explorer(
        "A linear layer with quantized weights against the fp32 layer",
        controls,
        compute,
        OutputScatter,
        sync=granularity_sync,
        labels={
            **ERROR_LABELS,
            "relative_error": "relative error",
            "weight_mse": "weight MSE",
        },
    )
