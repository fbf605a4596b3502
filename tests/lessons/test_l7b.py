"""Lesson L7-B's module (course/lessons/l7b.py and l7b_plots.py): the noise of a comparison, the QAT run
on one layer, the stored comparison (recomputed), the widget and the plots (its checker is
in test_checks.py)."""

import dataclasses

import matplotlib.figure
import pytest
import torch
from conftest import not_done

import helper
from course import language_model, texts
from course.lessons import (
    l6b,
    l7b,
    l7b_plots,
)


@pytest.fixture(scope="module")
def model():
    return language_model.load()


@pytest.fixture(scope="module")
def qat_model():
    return language_model.load("qat")


@pytest.fixture(scope="module")
def stored():
    return l7b.load_comparison()


def test_paired_is_the_mean_difference_and_its_standard_error():
    a, b = torch.tensor([2.0, 3.0, 4.0, 7.0]), torch.tensor([1.0, 1.0, 1.0, 1.0])
    result = l7b.paired(a, b)
    assert result.mean == 3.0 and result.se == pytest.approx(2.160247 / 2)
    assert str(l7b.Paired(-0.12, 0.004)) == "-0.120 ± 0.004"


def test_the_layer_s_hessians_are_float64_and_from_two_texts(model):
    hessians = l7b.layer_hessians(model)
    assert [h.shape for h in hessians] == [(128, 128)] * 2
    assert all(h.dtype == torch.float64 for h in hessians)
    assert not torch.equal(*hessians)  # calibration and held-out inputs
    windows = l6b.calibration_windows(l7b.WINDOWS, model.context_length)
    full = l6b.layer_hessians(language_model.in_float64(model), windows)[l7b.LAYER]
    assert torch.equal(hessians[0], full)


def test_a_short_qat_run_starts_at_round_to_nearest_and_lowers_the_error(model):
    linear = model.get_submodule(l7b.LAYER)
    hessians = l7b.layer_hessians(model)
    run = l7b.train_layer(linear, hessians, steps=5)
    rtn = helper.QuantizedLinear.from_linear(linear, 3).dequantized_weight()
    weight = linear.weight.detach().double()
    assert run.train_error[0] == pytest.approx(l7b.relative_output_error(weight, rtn, hessians[0]))
    assert run.rtn == (run.train_error[0], run.held_out_error[0])
    assert run.train_error[-1] < run.train_error[0] and len(run.steps) == 6
    assert run.gptq[0] < run.rtn[0] and 0 < run.changed[0] < 1


def test_scaled_weights_put_the_levels_on_the_integers(model):
    scaled = l7b.scaled_weights(model)
    assert scaled.numel() == sum(
        m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)
    )
    assert float(scaled.abs().max()) < 3.01  # max|w| / s = q_max, up to the fp16 scale
    offsets = l7b.level_offsets(torch.tensor([0.0, 0.4, 0.6, -1.5, 2.75]))
    assert offsets.tolist() == pytest.approx([0.0, 0.4, -0.4, 0.5, -0.25])


def test_torchao_fake_quantize_is_helper_s_like_torchao(model):
    weight = model.get_submodule("blocks.1.attn.out").weight.detach()
    assert torch.equal(
        l7b.torchao_fake_quantize(weight, 3, 32), helper.fake_quantize_like_torchao(weight, 3, 32)
    )


# --- The stored comparison ----------------------------------------------------------------------


def test_the_stored_comparison_holds_every_setting_and_round_trips(stored, tmp_path):
    rows, eval_bytes = stored
    windows = helper.byte_windows(texts.read_text("eval"), 129)
    assert eval_bytes == windows.shape[0] * 128
    assert {(row.bits, row.scales) for row in rows} == {
        (bits, scales) for bits in (2, 3, 4) for scales in ("per-channel", "groups of 32")
    }
    path = tmp_path / "comparison.json"
    l7b.save_comparison(rows, eval_bytes, path)
    assert l7b.load_comparison(path) == (rows, eval_bytes)


def test_the_issue_s_quality_target_holds_in_the_stored_comparison(stored):
    """3 bits per channel: QAT keeps at most a quarter of round-to-nearest's loss, and beats
    GPTQ by more than three standard errors."""
    row = next(row for row in stored[0] if (row.bits, row.scales) == (3, "per-channel"))
    assert row.kept() <= 0.25
    assert row.qat_minus_gptq.mean < -3 * row.qat_minus_gptq.se


def test_the_stored_3_bit_scores_are_what_the_shipped_models_score(model, qat_model, stored):
    """Round-to-nearest and QAT, recomputed on the whole evaluation text (GPTQ's calibration
    pass is left out: it takes minutes)."""
    row = next(row for row in stored[0] if (row.bits, row.scales) == (3, "per-channel"))
    windows = helper.byte_windows(texts.read_text("eval"), model.context_length + 1)
    for name, source in {"rtn": model, "qat": qat_model}.items():  # fp32's: the same in every row
        quantized = language_model.in_float64(helper.quantize_model(source, 3, "per-channel"))
        score = float(helper.window_bits(quantized, windows).mean())
        assert score == pytest.approx(getattr(row, name), abs=1e-9), name


def test_compare_runs_on_a_short_text(model, qat_model):
    windows = helper.byte_windows(texts.read_text("eval"), model.context_length + 1)[:2]
    (row,) = l7b.compare(
        model, qat_model, windows, bits=(3,), scales=("per-channel",), calibration=2
    )
    assert row.bits == 3 and row.scales == "per-channel"
    assert row.fp32 < row.qat < row.rtn
    assert row.qat_minus_rtn.mean == pytest.approx(row.qat - row.rtn)
    assert all(isinstance(getattr(row, f"{n}_writes"), str) for n in ("fp32", "rtn", "gptq", "qat"))


# --- The widget and the plots -------------------------------------------------------------------


def test_the_widget_shows_the_stored_rows(stored):
    rows, eval_bytes = stored
    explorer = l7b_plots.explore_qat(rows, eval_bytes)
    for row in rows:
        explorer.controls["bits"].value, explorer.controls["scales"].value = row.bits, row.scales
        readout = explorer.readout
        assert (readout["rtn"], readout["gptq"], readout["qat"]) == (row.rtn, row.gptq, row.qat)
        assert readout["qat_minus_gptq"] == str(row.qat_minus_gptq)
        assert readout["qat_writes"] == repr(row.qat_writes[:12])


def test_the_lesson_s_plots_are_figures(model, qat_model):
    curve = language_model.QAT_FILES[1]
    import json

    figures = [
        l7b_plots.plot_straight_through(0.5, 4),
        l7b_plots.plot_training_curve(json.loads(curve.read_text())["curve"]),
        l7b_plots.plot_weights_on_grid(l7b.scaled_weights(model), l7b.scaled_weights(qat_model)),
        l7b_plots.plot_layer_run(l7b.LayerRun([0, 1], [0.02, 0.01], [0.02, 0.011], (0.02, 0.02),
                                              (0.007, 0.007), (0.1, 0.2))),
    ]  # fmt: skip
    assert all(isinstance(figure, matplotlib.figure.Figure) for figure in figures)


def test_rows_are_small_typed_records():
    assert dataclasses.is_dataclass(l7b.Row) and l7b.Row.__dataclass_params__.frozen


# L7-B: the straight-through backward, right and wrong in each way the checker names.
def straight_through_backward(grad_output, x, scale, zero_point, q_min, q_max):
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)
    return grad_output * ((x >= low) & (x <= high))


def straight_through_like_torchao(grad_output, x, scale, zero_point, q_min, q_max):
    rounded = torch.round(x / scale + zero_point)
    return grad_output * ((rounded >= q_min) & (rounded <= q_max))


def straight_through_ends_left_out(grad_output, x, scale, zero_point, q_min, q_max):
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)
    return grad_output * ((x > low) & (x < high))


def straight_through_mask_only(grad_output, x, scale, zero_point, q_min, q_max):
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)
    return ((x >= low) & (x <= high)).float()


def straight_through_no_zero_point(grad_output, x, scale, zero_point, q_min, q_max):
    return grad_output * ((x >= scale * q_min) & (x <= scale * q_max))


@pytest.mark.parametrize(
    "function, status, words",
    [
        (straight_through_backward, "pass", "Well done"),
        (not_done, "not done yet", "Not done yet"),
        (straight_through_like_torchao, "mismatch", "less than half a step past an end"),
        (straight_through_ends_left_out, "mismatch", "exactly at the ends"),
        (straight_through_no_zero_point, "mismatch", "asymmetric zero point"),
        (straight_through_mask_only, "mismatch", "not all ones"),
    ],
)
def test_the_straight_through_checker_names_the_failing_case(function, status, words):
    verdict = l7b.check_straight_through_backward(function)
    assert verdict.status == status and words in verdict.message, verdict.message


def test_the_straight_through_reference_is_the_answer_key_s_backward():
    for case in l7b.backward_cases()[0]:
        grad_output, x, *rest = case
        x = x.clone().requires_grad_()
        helper.fake_quantize(x, *rest).backward(grad_output)
        assert torch.equal(x.grad, straight_through_backward(grad_output, x.detach(), *rest))
