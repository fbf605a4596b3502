"""Lesson L6-B's runs on the course's language model: round-to-nearest (``helper.quantize_model``)
against GPTQ (``helper.gptq_quantize_model``) over bits, granularities and calibration sizes,
scored in bits per byte on windows spread over the whole evaluation text (with the noise of
each difference, window by window) and by each layer's output error. The lesson and its
widget share them; the maths is ``helper``'s.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

import helper
from course import language_model
from helper import Granularity

# The granularities the lesson compares, by the names its tables use.
SETTINGS: dict[str, tuple[Granularity, int | None]] = {
    "per-channel": ("per-channel", None),
    "groups of 128": ("per-group", 128),
    "groups of 32": ("per-group", 32),
}
# How many windows of the evaluation text the lesson scores on: 128 of 129 bytes (16 KB),
# spread evenly over all five held-out modules rather than the first few KB of one.
EVAL_WINDOWS = 128


def evaluation_windows(n: int, context_length: int) -> torch.Tensor:
    """``n`` windows of ``context_length + 1`` bytes spread evenly over the evaluation text, as
    ``helper.window_bits`` scores them: ``(n, context_length + 1)`` (each window reads its
    first ``context_length`` bytes and is scored on its last ``context_length``)."""
    helper.check_positive_int(n, "n")
    every = helper.byte_windows(language_model.read_text("eval"), context_length + 1)
    if n > len(every):
        raise ValueError(f"the evaluation text holds {len(every)} windows, not {n}")
    return every[torch.linspace(0, len(every) - 1, n, dtype=torch.float64).round().long()]


def calibration_windows(n: int, context_length: int) -> torch.Tensor:
    """The first ``n`` windows of ``context_length`` bytes of the calibration text, as the
    ``(n, context_length)`` batch that ``gptq_quantize_model`` runs the model on."""
    helper.check_positive_int(n, "n")
    windows = helper.byte_windows(language_model.read_text("calibration"), context_length)
    if n > len(windows):
        raise ValueError(
            f"the calibration text holds {len(windows)} windows of {context_length} bytes, not {n}"
        )
    return windows[:n]


def layer_hessians(model: torch.nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """``H = 2 XᵀX / n`` of every ``nn.Linear`` of ``model``, by name, from the inputs it gets
    on ``model(batch)`` (captured with forward hooks), run in float64 on a copy (as
    ``helper.gptq_quantize_model`` runs it): the same bits on every CPU."""
    hessians: dict[str, torch.Tensor] = {}
    model = copy.deepcopy(model).double()

    def keep(name: str):
        def hook(module, args, output) -> None:
            hessians[name] = helper.hessian_from_inputs(args[0])

        return hook

    hooks = [
        module.register_forward_hook(keep(name))
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return hessians


def output_error(
    model: torch.nn.Module, quantized: torch.nn.Module, hessians: dict[str, torch.Tensor]
) -> float:
    """The layers' output error, relative, averaged over the layers: for each linear layer,
    ``layer_objective(W, W', H) / layer_objective(W, 0, H)``, i.e. ``‖(W - W') x‖² / ‖W x‖²``
    over the inputs ``H`` was made from (the fp32 model's)."""
    ratios = []
    for name, hessian in hessians.items():
        weight = model.get_submodule(name).weight.detach()
        restored = quantized.get_submodule(name).dequantized_weight()
        energy = helper.layer_objective(weight, torch.zeros_like(weight), hessian)
        ratios.append(helper.layer_objective(weight, restored, hessian) / energy)
    return sum(ratios) / len(ratios)


def won_back(fp32: float, rtn: float, gptq: float) -> float:
    """The share of round-to-nearest's loss that GPTQ wins back: ``(rtn - gptq) / (rtn - fp32)``
    (1: all of it, 0: none, below 0: GPTQ is worse)."""
    return (rtn - gptq) / (rtn - fp32)


def compare(
    model: torch.nn.Module,
    eval_windows: torch.Tensor,
    bits: Sequence[int] = (4, 3, 2),
    settings: Sequence[str] = tuple(SETTINGS),
    windows: Sequence[int] = (32,),
    damp: float = 0.01,
) -> list[dict]:
    """One row per (bits, setting, number of calibration windows): bits per byte on
    ``eval_windows`` (``evaluation_windows``) of round-to-nearest (``"rtn"``) and of GPTQ
    (``"gptq"``), each window's own (``"rtn_windows"``, ``"gptq_windows"``: ``window_bits``),
    the standard error of GPTQ's gain ``rtn - gptq`` window by window (``"gain_se"``:
    ``helper.paired_difference``), and both methods' ``output_error`` (``"rtn_error"``,
    ``"gptq_error"``) against Hessians from the fp32 model on the most calibration windows.
    Round-to-nearest needs no calibration: it is run once per (bits, setting)."""
    context = model.context_length
    hessians = layer_hessians(model, calibration_windows(max(windows), context))
    rows = []
    for n_bits in bits:
        for setting in settings:
            granularity, group_size = SETTINGS[setting]
            rtn = helper.quantize_model(model, n_bits, granularity, group_size)
            rtn_bits = helper.window_bits(rtn, eval_windows)
            rtn_error = output_error(model, rtn, hessians)
            for n in windows:
                calibration = calibration_windows(n, context)
                gptq = helper.gptq_quantize_model(
                    model, calibration, n_bits, granularity, group_size, damp=damp
                )
                gptq_bits = helper.window_bits(gptq, eval_windows)
                rows.append(
                    {
                        "bits": n_bits,
                        "setting": setting,
                        "windows": n,
                        "rtn": float(rtn_bits.mean()),
                        "gptq": float(gptq_bits.mean()),
                        "rtn_windows": rtn_bits,
                        "gptq_windows": gptq_bits,
                        "gain_se": helper.paired_difference(rtn_bits, gptq_bits)[1],
                        "rtn_error": rtn_error,
                        "gptq_error": output_error(model, gptq, hessians),
                    }
                )
    return rows
