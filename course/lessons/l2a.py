"""L2-A, quantize and dequantize a tensor: the plot of a round trip (original, quantized,
dequantized, error), the number line and its live plot, the widget and the checker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import STYLE, Explorer, View, int_slider, set_bounds
from course.core.plotting import (
    as_matrix,
    block_ids,
    format_number,
    heatmap,
)
from course.core.widget_parts import ERROR_LABELS, error_readout, round_trip_matrices
from course.data import course_tensor, seeded_normal


def plot_quantization_errors(
    original_tensor: torch.Tensor,
    quantized_tensor: torch.Tensor,
    dequantized_tensor: torch.Tensor,
    dtype: torch.dtype = torch.int8,
    n_bits: int = 8,
    block_size: Sequence[int] | None = None,
):
    """Original, quantized, dequantized and |original - dequantized|, in a 2 x 2 grid.

    Small tensors have their values written in the cells; large ones get a colour bar instead.
    The quantized panel's colours span the range of ``dtype``, narrowed to ``n_bits`` when the
    values use fewer bits than their container. With ``block_size`` (``helper.block_size_for``
    of a 2-D tensor), white lines outline the blocks of values that share a scale. Returns the
    matplotlib ``Figure``.
    """
    original, dequantized = as_matrix(original_tensor), as_matrix(dequantized_tensor)
    quantized = as_matrix(quantized_tensor)
    if not original.shape == quantized.shape == dequantized.shape:
        raise ValueError(
            f"the three tensors must have one shape, got {tuple(original_tensor.shape)}, "
            f"{tuple(quantized_tensor.shape)} and {tuple(dequantized_tensor.shape)}"
        )
    ids = None
    if block_size is not None:
        ids = block_ids(tuple(original_tensor.shape), block_size).reshape(original.shape).numpy()
    q_min, q_max = helper.q_range(dtype)
    if n_bits < helper.dtype_bits(dtype):
        q_min, q_max = helper.q_range(helper.integer_dtype(n_bits, signed=q_min < 0))
    error = np.abs(original - dequantized)
    low, high = min(original.min(), dequantized.min()), max(original.max(), dequantized.max())
    rows, cols = original.shape
    width = max(3.2, min(4.6, 0.8 * cols + 1.2))
    fig, axes = plt.subplots(
        2, 2, figsize=(2 * width, 2 * (width * min(rows / cols, 1.2) + 0.5)), layout="constrained"
    )
    name = helper.dtype_name(dtype)
    panels = (
        (original, "Original tensor r", "viridis", low, high, ".4g"),
        (quantized, f"Quantized tensor q ({name})", "viridis", q_min, q_max, ".0f"),
        (
            dequantized,
            "Dequantized tensor r' = s (q \N{MINUS SIGN} z)",
            "viridis",
            low,
            high,
            ".4g",
        ),
        (error, "Error |r \N{MINUS SIGN} r'|", "cividis", 0, max(error.max(), 1e-12), ".3g"),
    )
    for ax, (matrix, title, cmap, vmin, vmax, fmt) in zip(axes.flat, panels):
        heatmap(ax, matrix, title, cmap, vmin, vmax, fmt, ids)
    plt.close(fig)
    return fig


def check_mean_absolute_error(learner_function: Callable) -> Verdict:
    """L2-A "Your turn": ``learner_function(original, dequantized)`` must return
    ``mean(|r - r'|)`` as a Python float, on several seeded inputs."""
    original = course_tensor()
    restored = helper.linear_dequantization(
        helper.linear_q_with_scale_and_zero_point(original, 3.5, -70), 3.5, -70
    )
    cases = [(original, restored)]
    for seed in (1, 2, 3):
        tensor = seeded_normal(seed, 4, 4, scale=10.0)
        cases.append(
            (tensor, helper.linear_dequantization(*helper.linear_quantization(tensor, torch.int4)))
        )
    cases.append((original, original.clone()))
    labels = [
        "the worked example, quantized with scale 3.5 and zero point -70",
        *(f"random 4x4 values through int4 (seed {seed})" for seed in (1, 2, 3)),
        "the worked example against an exact copy (an error of 0)",
    ]
    return check_exercise(
        learner_function,
        lambda r, d: helper.quantization_error(r, d, "mae"),
        cases,
        name="mean_absolute_error",
        labels=labels,
    )


# The labels of a quantizer's numbers, as the widgets of single tensors show them.
QUANTIZER_LABELS = {
    "scale": "scale s",
    "zero_point": "zero point z",
    "q_min": "q_min",
    "q_max": "q_max",
    "r_min": "r_min",
    "r_max": "r_max",
    **ERROR_LABELS,
}


_EXPLORE_DTYPES = tuple(
    helper.integer_dtype(bits, signed) for bits in (8, 4, 3, 2) for signed in (True, False)
)


def explore_quantize_dequantize(
    tensor: torch.Tensor | None = None,
    scale: float = 3.5,
    zero_point: int = -70,
    dtype: torch.dtype = torch.int8,
) -> Explorer:
    """L2-A: pick a scale, a zero point and a dtype; see q, r' = s (q - z), the error and MSE.

    ``q = clamp(round(r / s + z), q_min, q_max)`` by ``linear_q_with_scale_and_zero_point``.
    Starts from the course's bad guess (s = 3.5, z = -70) on its 3x3 tensor: find better ones.
    """
    tensor = course_tensor() if tensor is None else helper.check_float_tensor(tensor)
    span = max(float(tensor.max()), 0.0) - min(float(tensor.min()), 0.0) or 1.0
    low, high = math.log10(span / 2550), math.log10(span * 4)
    controls = {
        "scale": widgets.FloatLogSlider(
            value=min(max(helper.check_scale(scale), 10**low), 10**high),
            base=10,
            min=low,
            max=high,
            step=0.002,
            description="scale s",
            continuous_update=True,
            readout_format=".4g",
            style=STYLE,
        ),
        "zero_point": int_slider(
            "zero point z",
            helper.check_zero_point(zero_point),
            *helper.q_range(helper.check_dtype(dtype)),
        ),
        "dtype": widgets.Dropdown(
            options=[(helper.dtype_name(d), d) for d in _EXPLORE_DTYPES],
            value=helper.check_dtype(dtype),
            description="dtype",
            style=STYLE,
        ),
    }

    def sync(controls: dict) -> None:
        set_bounds(controls["zero_point"], *helper.q_range(controls["dtype"].value))

    def compute(scale: float, zero_point: int, dtype: torch.dtype) -> View:
        quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale, zero_point, dtype)
        dequantized = helper.linear_dequantization(quantized, scale, zero_point)
        errors = error_readout(tensor, dequantized)
        q_min, q_max = helper.q_range(dtype)
        low, high = helper.representable_range(scale, zero_point, dtype)
        readout = {
            "dtype": helper.dtype_name(dtype),
            "q_min": q_min,
            "q_max": q_max,
            "scale": scale,
            "zero_point": zero_point,
            "range_given_back": f"[{format_number(low)}, {format_number(high)}]",
            **errors,
            "clipped": int(helper.clipped(tensor, scale, zero_point, dtype).sum()),
        }
        return View(readout, round_trip_matrices(tensor, quantized, dequantized, dtype))

    labels = {
        **QUANTIZER_LABELS,
        "clipped": "values clamped",
        "range_given_back": "s (q \N{MINUS SIGN} z) spans",
    }
    return Explorer(
        "Quantize with a scale and zero point you choose: can you get a lower MSE?",
        controls,
        compute,
        sync=sync,
        labels=labels,
    )
