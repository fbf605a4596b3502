"""Lesson L7-B, quantization-aware training: its runs and its checker (its plots and widget are in
``course.lessons.l7b_plots``). The maths is ``helper``'s (``answer_key/l7b_qat.py``).

Every number the lesson prints is computed in float64 from data that is the same bits on every
machine (the shipped weights and texts), so that no printed digit depends on the order in which a
CPU adds float32 numbers: ``language_model.in_float64`` turns a (quantized) model into a float64
one that computes with exactly its weights, and ``helper.window_bits`` scores it window by window,
as lessons L6-A and L6-B do. The comparison over every setting (``compare``, with GPTQ) takes
minutes: ``tools/train_qat.py --compare-only`` runs it and stores it in
``data/qat_comparison.json``, which the lesson and its widget read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

import helper
from course import torchao_bridge as ao
from course.core.checker import Verdict, check_exercise
from course.language_model import generate, in_float64, linear_names
from course.lessons import l6b
from course.lessons.l6b import relative_output_error  # re-exported: the lesson prints it
from course.texts import DATA_DIR, read_text

COMPARISON_FILE = DATA_DIR / "qat_comparison.json"
# The prompt whose completions the lesson and its widget show.
PROMPT = "    for i in range("
# The lesson's layer, and the number of calibration windows its Hessians are made of.
LAYER, WINDOWS = "blocks.0.mlp.up", 32


# --- The noise of a comparison -------------------------------------------------------------------


class Paired(NamedTuple):
    """A difference of two scores on the same windows, and its noise: ``mean`` of the per-window
    differences ``a_i - b_i`` and its paired standard error ``se = std / sqrt(n)``."""

    mean: float
    se: float

    def __str__(self) -> str:
        return f"{self.mean:+.3f} ± {self.se:.3f}"


def paired(a: torch.Tensor, b: torch.Tensor) -> Paired:
    """``helper.paired_difference(a, b)`` as a ``Paired`` record (windows that follow each other
    in a file are not independent, so read its error as a lower bound on the noise)."""
    return Paired(*helper.paired_difference(a, b))


# --- torchao's QAT, for the bit-for-bit comparison ----------------------------------------------


def torchao_fake_quantize(weight: torch.Tensor, bits: int, group_size: int | None) -> torch.Tensor:
    """torchao's ``IntxFakeQuantizer`` on ``weight``, symmetric, per row (``group_size`` None)
    or per group: what ``helper.fake_quantize_like_torchao`` reproduces."""
    dtype = getattr(torch, f"int{bits}")
    config = ao.IntxFakeQuantizeConfig(
        dtype, group_size=group_size or weight.shape[1], is_symmetric=True
    )
    return ao.IntxFakeQuantizer(config)(weight)


# --- QAT on one layer: its output error, trained through the STE --------------------------------


def layer_hessians(model: torch.nn.Module, name: str = LAYER) -> tuple[torch.Tensor, torch.Tensor]:
    """``H = 2 XᵀX / n`` (float64) of layer ``name`` on the first ``WINDOWS`` windows of the
    calibration text, and on as many of the evaluation text (held out): lesson L6-B's
    ``layer_hessians`` of a float64 copy of ``model``."""
    context = model.context_length
    copied = in_float64(model)
    texts = [l6b.calibration_windows(WINDOWS, context)]
    texts.append(helper.byte_windows(read_text("eval"), context)[:WINDOWS])
    return tuple(l6b.layer_hessians(copied, x, [name])[name] for x in texts)


class LayerRun(NamedTuple):
    """A QAT run on one layer: its relative output error at each step (on the calibration
    inputs it trains on, and on held-out inputs), round-to-nearest's and GPTQ's on both, and
    the share of the integers that QAT and GPTQ each changed from round-to-nearest's."""

    steps: list[int]
    train_error: list[float]
    held_out_error: list[float]
    rtn: tuple[float, float]
    gptq: tuple[float, float]
    changed: tuple[float, float]


def train_layer(
    linear: torch.nn.Linear,
    hessians: tuple[torch.Tensor, torch.Tensor],
    bits: int = 3,
    steps: int = 60,
    lr: float = 3e-4,
) -> LayerRun:
    """Quantization-aware training of one layer, in float64: Adam on the layer's float weights
    ``V`` (a ``QATLinear``, starting at the trained ``W``), its step size decaying along a
    cosine from ``lr`` to 0, to make the output error of the fake-quantized weights small,
    ``½ tr((W - V') H (W - V')ᵀ)``, with the first of ``hessians`` (``layer_hessians``); the
    second, from held-out text, is only measured."""
    hessian, held_out = hessians
    weight = linear.weight.detach().double()
    layer = helper.QATLinear.from_linear(linear, bits).double()
    optimizer = torch.optim.Adam([layer.weight], lr=lr)
    energy = [helper.layer_objective(weight, torch.zeros_like(weight), h) for h in hessians]
    train_error, held_out_error = [], []
    for step in range(steps + 1):
        fake = layer.fake_quantized_weight()
        delta = weight - fake
        loss = 0.5 * ((delta @ hessian) * delta).sum()  # helper.layer_objective, differentiable
        train_error.append(loss.item() / energy[0])
        held_out_error.append(helper.layer_objective(weight, fake, held_out) / energy[1])
        if step == steps:
            break
        optimizer.param_groups[0]["lr"] = lr * 0.5 * (1 + np.cos(np.pi * step / steps))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    scale = layer.weight_scale()
    rtn = helper.QuantizedLinear.from_linear(linear, bits)
    gptq_q, gptq_scale = helper.gptq_quantize(linear.weight, hessian, bits)
    block = helper.block_size_for(weight.shape, "per-channel", dim=0)
    gptq_weight = helper.dequantize_blocks(gptq_q, gptq_scale.float(), 0, block).double()
    qat_q = (fake.detach() / scale).round()
    rtn_q = rtn.int_weight().double()
    return LayerRun(
        list(range(steps + 1)),
        train_error,
        held_out_error,
        (train_error[0], held_out_error[0]),
        (
            relative_output_error(weight, gptq_weight, hessian),
            relative_output_error(weight, gptq_weight, held_out),
        ),
        (
            float((qat_q != rtn_q).double().mean()),
            float((gptq_q.double() != rtn_q).double().mean()),
        ),
    )


# --- How the weights sit on the grid ------------------------------------------------------------


def scaled_weights(model: torch.nn.Module, bits: int = 3) -> torch.Tensor:
    """Every linear weight of ``model`` divided by its own per-channel scale (the one
    ``quantize_model(model, bits, "per-channel")`` stores): the grid's levels are the integers."""
    parts = []
    for name in linear_names(model):
        weight = model.get_submodule(name).weight.detach()
        _, scale = helper.quantize_weight_symmetric(weight, bits)
        parts.append((weight.double() / scale.double()).flatten())
    return torch.cat(parts)


def level_offsets(scaled: torch.Tensor) -> torch.Tensor:
    """How far each of ``scaled_weights`` lies from its nearest level, in steps: from -0.5 to
    0.5 (0: on a level; ±0.5: on the boundary where rounding switches between two levels)."""
    return scaled - scaled.round()


# --- The shipped models side by side: round to nearest, GPTQ and QAT ---------------------------


@dataclass(frozen=True)
class Row:
    """One setting of the comparison, on the evaluation text: bits per byte of the fp32 model,
    of round-to-nearest and GPTQ on it, and of round-to-nearest on the QAT model; QAT's
    difference from GPTQ and from round-to-nearest with their noise (``paired``); and what each
    quantized model writes after ``PROMPT``."""

    bits: int
    scales: str
    fp32: float
    rtn: float
    gptq: float
    qat: float
    qat_minus_gptq: Paired
    qat_minus_rtn: Paired
    fp32_writes: str
    rtn_writes: str
    gptq_writes: str
    qat_writes: str

    def kept(self) -> float:
        """The share of round-to-nearest's loss that QAT keeps: ``(qat - fp32) / (rtn - fp32)``."""
        return (self.qat - self.fp32) / (self.rtn - self.fp32)


def writes(model: torch.nn.Module, n_bytes: int = 40) -> str:
    """What ``model`` (a float64 copy) writes after ``PROMPT``, greedy, prompt left out."""
    return generate(model, PROMPT, n_bytes)[len(PROMPT) :]


def compare(
    model: torch.nn.Module,
    qat_model: torch.nn.Module,
    windows: torch.Tensor,
    bits: tuple[int, ...] = (2, 3, 4),
    scales: tuple[str, ...] = ("per-channel", "groups of 32"),
    calibration: int = WINDOWS,
) -> list[Row]:
    """One ``Row`` per bit width and scales (names of lesson L6-B's ``SETTINGS``), each model
    scored in float64 on ``windows`` (``helper.byte_windows(text, context_length + 1)``) by
    ``helper.window_bits``. GPTQ is calibrated as in lesson L6-B, on ``calibration`` windows of
    the calibration text. Minutes: ``tools/train_qat.py --compare-only`` runs it."""
    calibration_windows = l6b.calibration_windows(calibration, model.context_length)
    fp32_model = in_float64(model)
    fp32, fp32_writes = helper.window_bits(fp32_model, windows), writes(fp32_model)
    rows = []
    for n_bits in bits:
        for name in scales:
            granularity, group_size = l6b.SETTINGS[name]
            models = [
                in_float64(quantize(model, n_bits, granularity, group_size))
                for quantize in (helper.quantize_model, _gptq(calibration_windows))
            ]
            models.append(
                in_float64(helper.quantize_model(qat_model, n_bits, granularity, group_size))
            )
            rtn, gptq, qat = (helper.window_bits(each, windows) for each in models)
            rows.append(
                Row(
                    n_bits,
                    name,
                    float(fp32.mean()),
                    float(rtn.mean()),
                    float(gptq.mean()),
                    float(qat.mean()),
                    paired(qat, gptq),
                    paired(qat, rtn),
                    fp32_writes,
                    *(writes(each) for each in models),
                )
            )
    return rows


def _gptq(calibration: torch.Tensor):
    def quantize(model, bits, granularity, group_size):
        return helper.gptq_quantize_model(model, calibration, bits, granularity, group_size)

    return quantize


def save_comparison(rows: list[Row], text_bytes: int, path: Path = COMPARISON_FILE) -> None:
    """Store ``compare``'s rows (and how many bytes of evaluation text they were scored on)."""
    path.write_text(
        json.dumps({"eval_bytes": text_bytes, "rows": [asdict(row) for row in rows]}, indent=1)
        + "\n"
    )


def load_comparison(path: Path = COMPARISON_FILE) -> tuple[list[Row], int]:
    """The stored comparison: its rows, and the bytes of evaluation text they were scored on."""
    stored = json.loads(path.read_text())
    rows = []
    for row in stored["rows"]:
        row = {**row, "qat_minus_gptq": Paired(*row["qat_minus_gptq"])}
        rows.append(Row(**{**row, "qat_minus_rtn": Paired(*row["qat_minus_rtn"])}))
    return rows, stored["eval_bytes"]


# --- Your turn: the straight-through backward ----------------------------------------------------


def backward_cases() -> tuple[list[tuple], list[str]]:
    """The checker's inputs ``(grad_output, x, scale, zero_point, q_min, q_max)`` and names."""
    generator = torch.Generator().manual_seed(73)
    ones, upstream = torch.ones(6), torch.tensor([0.5, -2.0, 3.0, 1.0, -1.0, 7.0])
    per_channel = torch.randn(4, 6, generator=generator, dtype=torch.float64).float() * 2
    cases = [
        (ones, torch.tensor([-2.9, -1.2, 0.0, 0.4, 1.6, 2.2]), 1.0, 0, -4, 3),
        (ones, torch.tensor([-9.0, -4.6, -5.0, 3.6, 5.0, 40.0]), 1.0, 0, -4, 3),
        (ones, torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 1.5]), 0.5, 0, -4, 3),
        (ones, torch.tensor([3.2, 3.45, 3.5, -4.2, -4.45, 2.9]), 1.0, 0, -4, 3),
        (torch.ones(4, 6), per_channel, torch.tensor([[0.2], [0.5], [1.0], [2.0]]), 0, -4, 3),
        (ones, torch.tensor([-1.6, -1.0, 0.2, 2.0, 2.5, 2.6]), 0.25, -3, -8, 7),
        (upstream, torch.tensor([0.1, 9.0, -0.4, 2.0, -8.0, 1.9]), 1.0, 0, -4, 3),
    ]
    labels = [
        "values inside the range, upstream gradient of ones",
        "values more than half a step beyond either end (clamped: gradient 0)",
        "values exactly at the ends s q_min = -2 and s q_max = 1.5 (inside: the gradient passes)",
        "values less than half a step past an end (they round to the end level, yet lie "
        + "outside the range: gradient 0)",
        "a scale per row, broadcast over the columns",
        "an asymmetric zero point, z = -3: the range is [s (q_min - z), s (q_max - z)]",
        "an upstream gradient that is not all ones (multiply by it)",
    ]
    return cases, labels


def _backward_reference(grad_output, x, scale, zero_point, q_min, q_max) -> torch.Tensor:
    return grad_output * helper.straight_through_mask(x, scale, zero_point, q_min, q_max)


def check_straight_through_backward(learner_function) -> Verdict:
    """L7-B "Your turn": ``learner_function(grad_output, x, scale, zero_point, q_min, q_max)``
    returns the straight-through gradient: ``grad_output`` where ``s (q_min - z) <= x <=
    s (q_max - z)``, 0 elsewhere, a float tensor shaped as ``x``."""
    cases, labels = backward_cases()
    return check_exercise(
        learner_function, _backward_reference, cases, "straight_through_backward", labels
    )
