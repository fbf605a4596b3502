"""L3-B, per tensor: the granularity widget (used again by L3-C and L3-D) and the checker."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import Explorer, View, buttons
from course.core.widget_parts import (
    ERROR_LABELS,
    check_matrix,
    error_readout,
    granularity_block,
    granularity_controls,
    granularity_sync,
    round_trip,
    round_trip_matrices,
)
from course.data import course_tensor, layer_weights, seeded_normal

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l2a import plot_quantization_errors  # noqa: F401


def _asymmetric_per_row_reference(tensor: torch.Tensor, dtype: torch.dtype = torch.int8):
    block = helper.block_size_for(tensor.shape, "per-channel", dim=0)
    return helper.quantize_blocks(tensor, block, dtype, "asymmetric")


def check_asymmetric_per_row(learner_function: Callable) -> Verdict:
    """L3-B "Your turn": ``learner_function(tensor, dtype)`` quantizes a 2-D tensor in
    asymmetric mode with one scale and one zero point per row, the range of each row widened
    to include 0, and returns ``(quantized, scale, zero_point)``: ``quantized`` of the
    dtype's container, ``scale`` float32 and ``zero_point`` int32, both shaped (rows, 1), as
    ``helper.quantize_blocks(tensor, (1, columns), dtype, "asymmetric")`` does. The cases hold
    the worked example, rows all positive, rows all negative, a row all zero, and ``uint8`` and
    4-bit types, each kind its own case, so that a failure names the kind of row it is on."""
    positive = torch.linspace(2.0, 10.0, 6)
    cases = [
        (course_tensor(), torch.int8),
        (seeded_normal(16, 4, 6, scale=3.0), torch.int8),
        (torch.stack([positive, positive / 4]), torch.int8),
        (torch.stack([-positive / 2, -positive / 8]), torch.int8),
        (torch.stack([positive, torch.zeros(6)]), torch.int8),
        (seeded_normal(17, 3, 8, shift=1.0), torch.uint8),
        (seeded_normal(18, 5, 4), torch.int4),
    ]
    labels = [
        "the worked example in int8",
        "random values in int8",
        "rows all positive (each range widened down to 0), in int8",
        "rows all negative (each range widened up to 0), in int8",
        "a row all zero (a range of width 0: ZERO_RANGE_SCALE), in int8",
        "random values shifted up by 1, in uint8",
        "random values in int4",
    ]
    return check_exercise(
        learner_function, _asymmetric_per_row_reference, cases, "asymmetric_per_row", labels
    )


def explore_granularity(
    tensor: torch.Tensor | None = None,
    granularity: str = "per-tensor",
    group_size: int | None = None,
    bits: int = 4,
    dim: int = 0,
) -> Explorer:
    """L3-B/C/D: symmetric quantization with one scale per tensor, per row or column, or per
    group of values; see the error heatmap, the MSE and the real storage per weight,
    ``bits + scale_bits / values_per_scale`` (helper's ``bits_per_weight``).

    ``granularity`` is a key of ``GRANULARITY_PANELS``, or "per-channel" with ``dim`` 0 or 1.
    """
    tensor = layer_weights(1, 16, 64) if tensor is None else check_matrix(tensor, "tensor")
    controls = granularity_controls(tensor.shape, granularity, group_size, bits, dim)
    controls["scale_bits"] = buttons("scales stored as", [("fp16", 16), ("fp32", 32)], 16)

    def compute(bits: int, granularity: str, group_size: int, scale_bits: int) -> View:
        dtype = helper.integer_dtype(bits)
        block = granularity_block(tensor.shape, granularity, group_size)
        trip = round_trip(tensor, block, dtype, "symmetric")
        per_tensor = helper.fake_quantize_blocks(tensor, tensor.shape, dtype, "symmetric")
        readout = {
            "granularity": granularity,
            "dtype": helper.dtype_name(dtype),
            "n_scales": trip.scale.numel(),
            "values_per_scale": math.prod(block),
            "bits_per_weight": helper.bits_per_weight(bits, math.prod(block), scale_bits),
            **error_readout(tensor, trip.dequantized),
            "mse_per_tensor": helper.quantization_error(tensor, per_tensor),
        }
        error_max = float((tensor - per_tensor).abs().max())
        matrices = round_trip_matrices(
            tensor, trip.quantized, trip.dequantized, dtype, block, error_max
        )
        return View(readout, [matrices[0], matrices[3]])

    return Explorer(
        "One scale per tensor, per channel or per group: error against storage",
        controls,
        compute,
        sync=granularity_sync,
        labels={
            **ERROR_LABELS,
            "n_scales": "scales stored",
            "values_per_scale": "values per scale",
            "bits_per_weight": "bits per weight",
            "mse_per_tensor": "MSE if per-tensor",
        },
    )
