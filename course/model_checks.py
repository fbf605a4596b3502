"""The "Your turn" checkers of exercises on whole models (lesson L6-A): they measure what the
learner chose, rather than comparing a function with ``helper``'s (those are in
``course.checks``)."""

from __future__ import annotations

import torch

import helper
from course.checks import Verdict
from course.language_model import Setting, linear_names


def check_bits_under_budget(
    bits_per_layer: dict[str, int] | None,
    model: torch.nn.Module,
    text: bytes,
    granularity: helper.Granularity = "per-group",
    group_size: int | None = 32,
) -> Verdict:
    """L6-A "Your turn": a bit width for every linear layer of ``model`` (a dict from layer name
    to bits, 2 to 8) whose quantized model takes no more bytes than the same model at 4 bits
    everywhere and scores fewer bits per byte on ``text``. Both quantize ``granularity``
    (``group_size``); the bytes are ``helper.model_bytes``, the score ``helper.bits_per_byte``."""
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
    bad = {n: b for n, b in bits_per_layer.items() if isinstance(b, bool) or b not in range(2, 9)}
    for problem, found in (
        ("has no width for", missing),
        ("names layers the model does not have:", unknown),
        ("has widths that are not ints from 2 to 8:", bad),
    ):
        if found:
            return Verdict("error", f"bits_per_layer {problem} {found}")
    uniform = Setting(4, granularity, group_size).apply(model)
    mixed = helper.quantize_model(model, bits_per_layer, granularity, group_size)
    budget, used = helper.model_bytes(uniform), helper.model_bytes(mixed)
    target, score = helper.bits_per_byte(uniform, text), helper.bits_per_byte(mixed, text)
    if used > budget:
        return Verdict(
            "mismatch",
            f"Over budget: your model takes {used:,} bytes, {used - budget:,} more than the "
            f"{budget:,} of 4 bits everywhere (3 bits cost what 8 do: an int8 container each).",
        )
    if score >= target:
        return Verdict(
            "mismatch",
            f"Within budget ({used:,} of {budget:,} bytes), but {score:.4f} bits per byte is not "
            f"below the {target:.4f} of 4 bits everywhere.",
        )
    return Verdict(
        "pass",
        f"Well done: {score:.4f} bits per byte against {target:.4f} for 4 bits everywhere, in "
        f"{used:,} bytes of a {budget:,}-byte budget.",
    )
