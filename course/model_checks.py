"""The "Your turn" checkers of exercises on whole models (lesson L6-A): they measure what the
learner chose, rather than comparing a function with ``helper``'s (those are in
``course.checks``)."""

from __future__ import annotations

import torch

import helper
from course.checks import Verdict
from course.language_model import linear_names

# The exercise's budget: between 2 bits everywhere (616,448 bytes) and 4 bits (919,552), where
# which layers keep their bits decides whether the model still writes Python.
BUDGET = 768_000
# What the exercise allows above the fp32 model's bits per byte on the text it is scored on.
MAX_LOSS = 0.5


def check_bits_under_budget(
    bits_per_layer: dict[str, int] | None,
    model: torch.nn.Module,
    text: bytes,
    budget: int = BUDGET,
    max_loss: float = MAX_LOSS,
    granularity: helper.Granularity = "per-group",
    group_size: int | None = 32,
) -> Verdict:
    """L6-A "Your turn": a bit width for every linear layer of ``model`` (a dict from layer name
    to a Python int, 2 to 8) whose quantized model takes at most ``budget`` bytes
    (``helper.model_bytes``) and loses less than ``max_loss`` bits per byte against fp32 on
    ``text``: text the learner did not tune on, so that a choice fitted to the noise of one
    sample does not pass by luck. Every layer is quantized ``granularity`` (``group_size``)."""
    if bits_per_layer is None:
        return Verdict(
            "not done yet", "Not done yet: fill in bits_per_layer and run this cell again."
        )
    names = linear_names(model)
    if not isinstance(bits_per_layer, dict):
        return Verdict(
            "error", f"bits_per_layer should be a dict, got {type(bits_per_layer).__name__}"
        )
    missing = [name for name in names if name not in bits_per_layer]
    unknown = [name for name in bits_per_layer if name not in names]
    bad = {
        n: b
        for n, b in bits_per_layer.items()
        if type(b) is not int or b not in range(2, 9)  # not 4.0, np.int64(4), torch.tensor(4)
    }
    for problem, found in (
        ("has no width for", missing),
        ("names layers the model does not have:", unknown),
        ("has widths that are not ints from 2 to 8:", bad),
    ):
        if found:
            return Verdict("error", f"bits_per_layer {problem} {found}")
    mixed = helper.quantize_model(model, bits_per_layer, granularity, group_size)
    used = helper.model_bytes(mixed)
    if used > budget:
        return Verdict(
            "mismatch",
            f"Over budget: your model takes {used:,} bytes, {used - budget:,} more than "
            f"{budget:,} (3 bits cost what 8 do in this course: an int8 container each).",
        )
    fp32, score = helper.bits_per_byte(model, text), helper.bits_per_byte(mixed, text)
    if score - fp32 >= max_loss:
        return Verdict(
            "mismatch",
            f"Within budget ({used:,} of {budget:,} bytes), but on {len(text):,} bytes you did "
            f"not tune on it scores {score:.4f} bits per byte, {score - fp32:.4f} above fp32's "
            f"{fp32:.4f}: not less than {max_loss}.",
        )
    return Verdict(
        "pass",
        f"Well done: {score:.4f} bits per byte on {len(text):,} bytes you did not tune on, "
        f"{score - fp32:.4f} above fp32's {fp32:.4f}, in {used:,} bytes of a {budget:,}-byte "
        "budget.",
    )
