"""L6-B, GPTQ: the runs on the language model (round-to-nearest against GPTQ over bits,
granularities and calibration sizes, in bits per byte and the layers' output error), their
plot, the widget and the checker of error feedback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

import helper
from course.core.checker import Verdict, check_exercise
from course.core.explorer import STYLE, Explorer, View, buttons, int_slider
from course.core.plotting import FP32, GPTQ, RTN
from course.language_model import in_float64, load
from course.lessons.l5a import watch_linear_inputs
from course.lessons.l6a import BitsPerByteBars, BitsPerByteBarsData
from course.texts import EVAL_WINDOWS, evaluation_windows, read_text
from course.timing import one_thread
from helper import Granularity


def _error_feedback_reference(
    weight_row: torch.Tensor, factor: torch.Tensor, scale: float, bits: int
) -> torch.Tensor:
    """GPTQ on one row: round each weight in turn, push its error onto the weights after it."""
    row, q_min, q_max = weight_row.double().clone(), *helper.q_range(helper.integer_dtype(bits))
    q = torch.zeros(row.shape, dtype=torch.int8)
    for j in range(row.numel()):
        q[j] = int((row[j] / scale).round().clamp(q_min, q_max))
        error = (row[j] - scale * q[j]) / factor[j, j]
        row[j + 1 :] -= error * factor[j, j + 1 :]
    return q


def _error_feedback_case(
    generator: torch.Generator, bits: int, correlated: bool
) -> tuple[torch.Tensor, torch.Tensor, float, int]:
    """One ``(weight_row, factor, scale, bits)``: 16 weights, and ``factor`` the upper Cholesky
    factor of the damped inverse Hessian of 200 inputs, correlated or not (``H = I``)."""
    row = torch.randn(16, generator=generator, dtype=torch.float64)
    if correlated:
        x = torch.randn(200, 16, generator=generator, dtype=torch.float64) + 0.5
        hessian = helper.hessian_from_inputs(
            x @ torch.randn(16, 16, generator=generator, dtype=torch.float64)
        )
    else:
        hessian = torch.eye(16, dtype=torch.float64)
    damped = hessian + 0.01 * hessian.diagonal().mean() * torch.eye(16, dtype=torch.float64)
    factor = torch.linalg.cholesky(
        torch.cholesky_inverse(torch.linalg.cholesky(damped)), upper=True
    )
    scale = float(helper.quantize_weight_symmetric(row[None].float(), bits)[1])
    return row, factor, scale, bits


def error_feedback_cases() -> tuple[list[tuple], list[str]]:
    """The checker's inputs ``(weight_row, factor, scale, bits)`` and their names: ``factor`` is
    the upper Cholesky factor of the damped inverse Hessian, ``scale`` the row's fp16 scale.
    The last case's updates push six weights past the 2-bit grid: without the clamp, they
    round to 2 or -3."""
    generator = torch.Generator().manual_seed(61)
    cases = [
        _error_feedback_case(generator, bits, correlated)
        for bits, correlated in ((4, False), (4, True), (3, True), (2, True))
    ]
    cases.append(_error_feedback_case(torch.Generator().manual_seed(65), 2, True))
    labels = [
        "uncorrelated inputs, H = I: nothing to push, plain rounding",
        "4 bits, correlated inputs",
        "3 bits, correlated inputs",
        "2 bits: large errors to push",
        "2 bits, updated weights pushed past the grid: they must be clamped to -2..1",
    ]
    return cases, labels


def check_error_feedback(learner_function: Callable) -> Verdict:
    """L6-B "Your turn": ``learner_function(weight_row, factor, scale, bits)`` quantizes one
    weight row as GPTQ does and returns its integers (int8): for each ``j`` in order,
    ``q_j = clamp(round(w_j / s))``, then ``e = (w_j - s q_j) / U_jj`` and
    ``w_k -= e U_jk`` for every ``k > j`` (``factor`` is ``U``). It must leave ``weight_row``
    unchanged (work on a copy): every case is run again to check that."""
    cases, labels = error_feedback_cases()
    verdict = check_exercise(
        learner_function, _error_feedback_reference, cases, "error_feedback", labels
    )
    if verdict.status != "pass":
        return verdict
    for number, (args, label) in enumerate(zip(error_feedback_cases()[0], labels), start=1):
        row = args[0].clone()
        learner_function(row, *args[1:])
        if not torch.equal(row, args[0]):
            return Verdict(
                "mismatch",
                f"error_feedback changed weight_row on input {number} of {len(cases)}, {label}: "
                "leave it unchanged and work on a copy (weight_row.clone()).",
            )
    return verdict


# The granularities the lesson compares, by the names its tables use.
SETTINGS: dict[str, tuple[Granularity, int | None]] = {
    "per-channel": ("per-channel", None),
    "groups of 128": ("per-group", 128),
    "groups of 32": ("per-group", 32),
}


def calibration_windows(n: int, context_length: int) -> torch.Tensor:
    """The first ``n`` windows of ``context_length`` bytes of the calibration text, as the
    ``(n, context_length)`` batch that ``gptq_quantize_model`` runs the model on."""
    helper.check_positive_int(n, "n")
    windows = helper.byte_windows(read_text("calibration"), context_length)
    if n > len(windows):
        raise ValueError(
            f"the calibration text holds {len(windows)} windows of {context_length} bytes, not {n}"
        )
    return windows[:n]


def layer_hessians(
    model: torch.nn.Module, batch: torch.Tensor, names: Collection[str] | None = None
) -> dict[str, torch.Tensor]:
    """``H = 2 XᵀX / n`` of every ``nn.Linear`` of ``model`` (or of those in ``names``), by
    name, from the inputs it gets on ``model(batch)`` (``watch_linear_inputs``), run in
    float64 on a copy (as ``helper.gptq_quantize_model`` runs it): the same bits on every CPU.
    With ``names``, the pass stops once each of them has its inputs."""
    hessians: dict[str, torch.Tensor] = {}

    def keep(name: str, x: torch.Tensor) -> None:
        hessians[name] = helper.hessian_from_inputs(x)

    watch_linear_inputs(in_float64(model), [batch], keep, names)
    return hessians


def relative_output_error(
    weight: torch.Tensor, restored: torch.Tensor, hessian: torch.Tensor
) -> float:
    """One layer's output error relative to its output: ``layer_objective(W, W', H) /
    layer_objective(W, 0, H)``, i.e. ``‖(W - W') x‖² / ‖W x‖²`` over the inputs ``H`` was
    made from."""
    energy = helper.layer_objective(weight, torch.zeros_like(weight), hessian)
    return helper.layer_objective(weight, restored, hessian) / energy


def output_error(
    model: torch.nn.Module, quantized: torch.nn.Module, hessians: dict[str, torch.Tensor]
) -> float:
    """The layers' output error, relative, averaged over the layers: ``relative_output_error``
    of each linear layer, over the inputs ``H`` was made from (the fp32 model's)."""
    ratios = [
        relative_output_error(
            model.get_submodule(name).weight.detach(),
            quantized.get_submodule(name).dequantized_weight(),
            hessian,
        )
        for name, hessian in hessians.items()
    ]
    return sum(ratios) / len(ratios)


def reference_grid_rtn(model: torch.nn.Module, bits: int) -> torch.nn.Module:
    """A float copy of ``model`` with every linear layer's weight rounded to nearest on the grid
    of GPTQ's reference code, per output channel: ``s = max|w| / (q_max + ½)`` and the levels
    ``-q_max - 1 .. q_max`` (``helper.fake_quantize_like_torchao``: torchao's symmetric grid is
    the same), float32 scales. The weights are stored dequantized, so its bytes are fp32's."""
    copy = in_float64(model).float()  # a deep copy, back in float32
    with torch.no_grad():
        for module in copy.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.copy_(helper.fake_quantize_like_torchao(module.weight, bits))
    return copy


def won_back(fp32: float, rtn: float, gptq: float) -> float:
    """The share of round-to-nearest's loss that GPTQ wins back: ``(rtn - gptq) / (rtn - fp32)``
    (1: all of it, 0: none, below 0: GPTQ is worse)."""
    return (rtn - gptq) / (rtn - fp32)


class Comparison(NamedTuple):
    """One row of ``compare``: a bit width, a setting (a key of ``SETTINGS``) and a number of
    calibration windows; the bits per byte of round-to-nearest (``rtn``) and GPTQ (``gptq``)
    on the evaluation windows, each window's own (``window_bits``), the standard error of
    GPTQ's gain ``rtn - gptq`` window by window (``helper.paired_difference``), and both
    methods' ``output_error``."""

    bits: int
    setting: str
    windows: int
    rtn: float
    gptq: float
    rtn_windows: torch.Tensor
    gptq_windows: torch.Tensor
    gain_se: float
    rtn_error: float
    gptq_error: float

    @property
    def gain(self) -> float:
        """GPTQ's gain: round-to-nearest's bits per byte less GPTQ's."""
        return self.rtn - self.gptq


def compare(
    model: torch.nn.Module,
    eval_windows: torch.Tensor,
    bits: Sequence[int] = (4, 3, 2),
    settings: Sequence[str] = tuple(SETTINGS),
    windows: Sequence[int] = (32,),
    damp: float = 0.01,
) -> list[Comparison]:
    """One ``Comparison`` per (bits, setting, number of calibration windows): round-to-nearest
    against GPTQ on ``eval_windows`` (``evaluation_windows``), the output errors against
    Hessians from the fp32 model on the most calibration windows. Round-to-nearest needs no
    calibration: it is run once per (bits, setting)."""
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
                    Comparison(
                        n_bits,
                        setting,
                        n,
                        float(rtn_bits.mean()),
                        float(gptq_bits.mean()),
                        rtn_bits,
                        gptq_bits,
                        helper.paired_difference(rtn_bits, gptq_bits)[1],
                        rtn_error,
                        output_error(model, gptq, hessians),
                    )
                )
    return rows


def plot_gptq_bits_per_byte(rows: Sequence[Comparison], fp32: float):
    """Bits per byte of round-to-nearest and GPTQ, one panel per bit width, a pair of bars per
    setting (``compare``'s rows), the fp32 model's as
    a dashed line, the legend under the panels. Each panel has its own scale, starting at 0.
    Returns the Figure."""
    bit_widths = list(dict.fromkeys(row.bits for row in rows))
    fig, axes = plt.subplots(1, len(bit_widths), figsize=(10, 3.8), squeeze=False)
    fig.set_layout_engine("constrained")
    for ax, bits in zip(axes[0], bit_widths):
        panel = [row for row in rows if row.bits == bits]
        x = np.arange(len(panel))
        for offset, values, colour, label in (
            (-0.2, [row.rtn for row in panel], RTN, "round to nearest"),
            (0.2, [row.gptq for row in panel], GPTQ, "GPTQ"),
        ):
            ax.bar(x + offset, values, 0.4, color=colour, label=label)
            for xi, value in zip(x + offset, values):
                ax.text(xi, value, f"{value:.2f}", ha="center", va="bottom", fontsize=9)
        ax.axhline(fp32, color=FP32, ls="--", lw=1.5, label=f"fp32 ({fp32:.3f})")
        ax.set_xticks(x, [row.setting.replace("groups of ", "group ") for row in panel], fontsize=9)
        ax.set_ylim(0, 1.15 * max(max(row.rtn, row.gptq) for row in panel))
        ax.set_title(f"{bits} bits", fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("bits per byte (lower is better)")
    fig.legend(
        *axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=9
    )
    fig.suptitle("The language model on held-out text: round to nearest against GPTQ", fontsize=11)
    plt.close(fig)
    return fig


def explore_gptq(rows: Sequence[Comparison] | None = None, fp32: float | None = None) -> Explorer:
    """L6-B: the course's language model with its weights rounded to nearest and by GPTQ, in
    bits per byte on held-out text, for each bit width, granularity and calibration size of
    ``rows`` (``compare``'s rows; ``fp32``: the fp32 model's bits per byte). Every
    setting is computed beforehand, so a change only looks it up. ``rows=None`` runs a small
    grid on the trained model (``evaluation_windows``), which takes a while."""
    if rows is None:
        rows, fp32 = _default_gptq_runs()
    if not rows or fp32 is None:
        raise ValueError("rows must hold l6b.compare's rows, and fp32 the fp32 bits per byte")
    table = {(row.bits, row.setting, row.windows): row for row in rows}
    bits_options = sorted({key[0] for key in table})
    settings = list(dict.fromkeys(key[1] for key in table))
    windows = sorted({key[2] for key in table})
    xmax = 1.12 * max(fp32, *(max(row.rtn, row.gptq) for row in rows))
    start = 3 if 3 in bits_options else bits_options[-1]
    controls = {
        "bits": int_slider("bits", start, bits_options[0], bits_options[-1]),
        "setting": buttons("scales", settings, settings[0]),
    }
    if len(windows) > 1:  # one calibration size: nothing to choose
        controls["windows"] = widgets.SelectionSlider(
            options=windows,
            value=windows[-1],
            description="calibration windows",
            continuous_update=True,
            style=STYLE,
        )

    def compute(bits: int, setting: str, windows: int = windows[-1]) -> View:
        row = table[bits, setting, windows]
        readout = {
            "fp32_bits_per_byte": f"{fp32:.4f}",  # four decimals each, as the gain's
            "round_to_nearest": f"{row.rtn:.4f}",
            "GPTQ": f"{row.gptq:.4f}",
            "GPTQ_gain": f"{row.gain:.4f} ± {row.gain_se:.4f}",
            "loss_won_back": f"{won_back(fp32, row.rtn, row.gptq):.0%}",
            "output_error_RTN": f"{row.rtn_error:.2%}",
            "output_error_GPTQ": f"{row.gptq_error:.2%}",
        }
        plot = BitsPerByteBarsData(
            fp32, row.rtn, row.gptq, xmax, f"{bits}-bit, {setting}; GPTQ on {windows} windows"
        )
        return View(readout, [], plot)

    return Explorer(
        "Round to nearest against GPTQ on the language model", controls, compute, BitsPerByteBars
    )


@functools.cache
def _default_gptq_runs() -> tuple[list[Comparison], float]:
    """``explore_gptq``'s runs without arguments: the trained model, the lesson's settings, on
    one thread as in the lesson (GPTQ's loop is thousands of small steps), leaving torch's
    global random state alone (building the model draws its initial weights)."""
    with one_thread():
        with torch.random.fork_rng():
            model = load()
        eval_windows = evaluation_windows(EVAL_WINDOWS, model.context_length)
        rows = compare(model, eval_windows, windows=(4, 32))
        return rows, float(helper.window_bits(model, eval_windows).mean())
