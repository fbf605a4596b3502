"""L3-D, per group: the trade-off of group size against storage, and the checker."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.plotting import DARK_GREY, SCALE_SHARE_COLOURS, TOTAL
from course.data import seeded_normal

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l2a import plot_quantization_errors  # noqa: F401
from course.lessons.l3b import explore_granularity  # noqa: F401


def plot_group_size_tradeoff(
    tensor: torch.Tensor,
    group_sizes: Sequence[int],
    dtype: torch.dtype = torch.int4,
    scale_bits: int = 16,
):
    """The per-group trade-off: error (MSE) and real bits per weight against the group size.

    Left: ``quantization_error`` of symmetric per-group quantization of ``tensor`` in ``dtype``
    for each group size, in the colour of an MSE (``TOTAL``); right:
    ``helper.bits_per_weight(bits, group_size, scale_bits)``, in the colour of that scale's share
    in L3-D's bars of bits per weight (``SCALE_SHARE_COLOURS``). Smaller groups: smaller error,
    more bits. Returns the matplotlib ``Figure``.
    """

    tensor = helper.check_float_tensor(tensor)
    if not group_sizes:
        raise ValueError("group_sizes must hold at least one group size")
    errors, bits = [], []
    for group_size in group_sizes:
        quantized, scale = helper.linear_q_symmetric_per_group(tensor, group_size, dtype)
        dequantized = helper.linear_dequantization_per_group(quantized, scale, group_size)
        errors.append(helper.quantization_error(tensor, dequantized))
        bits.append(helper.bits_per_weight(helper.dtype_bits(dtype), group_size, scale_bits))
    name = helper.dtype_name(dtype)
    storage = SCALE_SHARE_COLOURS.get(scale_bits, DARK_GREY)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for ax, values, colour, title, label in (
        (left, errors, TOTAL, f"Quantization error ({name})", "mean squared error"),
        (right, bits, storage, f"Real storage (fp{scale_bits} scales)", "bits per weight"),
    ):
        ax.plot(group_sizes, values, marker="o", color=colour)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(group_sizes), [str(g) for g in group_sizes])
        ax.set_xlabel("group size (values sharing one scale)")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
    plt.close(fig)
    return fig


def check_per_group_dequantization(learner_function: Callable) -> Verdict:
    """L3-D "Your turn": ``learner_function(quantized_tensor, scale, group_size)`` dequantizes
    per-group values, with ``scale`` laid out as ``helper.linear_q_symmetric_per_group`` returns it
    (``(*shape[:-1], n_groups_per_row)``), for 2-D and 3-D tensors, as float32."""
    shapes = [((4, 6), 3), ((3, 8), 4), ((2, 3, 8), 2), ((6, 6), 6), ((2, 12), 4)]
    cases = []
    for seed, (shape, group_size) in enumerate(shapes, start=8):
        tensor = seeded_normal(seed, *shape)
        quantized, scale = helper.linear_q_symmetric_per_group(tensor, group_size)
        cases.append((quantized, scale, group_size))
    labels = [f"shape {shape} in groups of {group_size}" for shape, group_size in shapes]
    return check_exercise(
        learner_function,
        helper.linear_dequantization_per_group,
        cases,
        "dequantize_per_group",
        labels,
    )
