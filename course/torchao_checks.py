"""The checker of lesson L5-B's "Your turn", on ``course.checks.check_exercise``: the learner's
function is compared with torchao itself (through ``course.torchao_bridge``), which is why it
lives apart from ``course.checks``, whose checkers need no torchao.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course.checks import Verdict, check_exercise
from course.data import seeded_normal


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
