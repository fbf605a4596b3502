"""L3-C, per channel: the checker (the widget is L3-B's)."""

from __future__ import annotations

from collections.abc import Callable

import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.data import seeded_normal

# Re-exported for this lesson's notebook, which imports only its own lesson module.
from course.lessons.l2a import plot_quantization_errors  # noqa: F401
from course.lessons.l3b import explore_granularity  # noqa: F401


def _per_channel_last_axis_reference(tensor: torch.Tensor, dtype: torch.dtype = torch.int8):
    return helper.linear_q_symmetric_per_channel(tensor, dim=-1, dtype=dtype)


def check_per_channel_last_axis(learner_function: Callable) -> Verdict:
    """L3-C "Your turn": ``learner_function(tensor, dtype)`` quantizes a 3-D tensor symmetrically
    with one scale per index of the last axis, and returns ``(q, scale)`` with ``scale`` shaped
    ``(1, 1, n)``, as ``helper.linear_q_symmetric_per_channel(tensor, dim=-1, dtype)`` does."""
    cases = [
        (seeded_normal(4, 2, 3, 4), torch.int8),
        (seeded_normal(5, 4, 2, 5, scale=10.0), torch.int8),
        (seeded_normal(6, 1, 6, 3), torch.int16),
        (seeded_normal(7, 3, 3, 8, scale=0.01), torch.int8),
    ]
    labels = [
        "random values of shape (2, 3, 4) in int8",
        "random values 10 times larger, shape (4, 2, 5), in int8",
        "random values of shape (1, 6, 3) in int16",
        "small values (a hundredth), shape (3, 3, 8), in int8",
    ]
    return check_exercise(
        learner_function, _per_channel_last_axis_reference, cases, "per_channel_last_axis", labels
    )
