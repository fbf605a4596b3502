"""course.lessons.l6b (L6-B, GPTQ): its plots, widget, checker and runs."""

import matplotlib.figure
import pytest
import torch

import helper
from course.lessons import l6b


def error_feedback(weight_row, factor, scale, bits):
    row, q_max = weight_row.clone(), 2 ** (bits - 1) - 1
    q = torch.zeros(row.shape, dtype=torch.int8)
    for j in range(len(row)):
        q[j] = int(torch.clamp(torch.round(row[j] / scale), -q_max - 1, q_max))
        error = (row[j] - scale * q[j]) / factor[j, j]
        row[j + 1 :] -= error * factor[j, j + 1 :]
    return q


def error_feedback_rounding_only(weight_row, factor, scale, bits):  # wrong: no feedback at all
    return error_feedback(weight_row, torch.eye(len(weight_row), dtype=factor.dtype), scale, bits)


def error_feedback_without_clamp(weight_row, factor, scale, bits):  # wrong: rounds off the grid
    return error_feedback(weight_row, factor, scale, bits=16)


def error_feedback_in_place(weight_row, factor, scale, bits):  # wrong: changes its argument
    q = error_feedback(weight_row, factor, scale, bits)
    weight_row.copy_(weight_row * 0)
    return q


def test_error_feedback_checker_names_the_case_of_a_missing_clamp_and_of_a_changed_row():
    verdict = l6b.check_error_feedback(error_feedback_without_clamp)
    assert verdict.status == "mismatch" and "must be clamped to -2..1" in verdict.message
    verdict = l6b.check_error_feedback(error_feedback_in_place)
    assert verdict.status == "mismatch" and verdict.message.startswith(
        "error_feedback changed weight_row on input 1 of 5, uncorrelated inputs"
    )


def test_the_error_feedback_reference_is_helpers_gptq_on_one_row():
    for row, factor, scale, bits in l6b.error_feedback_cases()[0]:
        expected = l6b._error_feedback_reference(row, factor, scale, bits)
        hessian = torch.cholesky_inverse(factor.T)  # (U^T U)^-1 = H + damp: undamped again below
        hessian -= 0.01 / 1.01 * hessian.diagonal().mean() * torch.eye(len(row), dtype=row.dtype)
        q, helper_scale = helper.gptq_quantize(row[None], hessian, bits)
        assert float(helper_scale) == scale
        assert torch.equal(q[0], expected)


def test_the_error_feedback_checker_names_the_failing_case():
    verdict = l6b.check_error_feedback(error_feedback_rounding_only)
    assert "differs on input 2 of 5, 4 bits, correlated inputs:" in verdict.message


def gptq_rows():
    """Rows as gptq_runs.compare returns them, made up: GPTQ is 0.1 bit better everywhere."""
    rows = []
    for bits, loss in ((4, 0.1), (3, 0.5), (2, 3.0)):
        for setting, finer in (
            ("per-channel", 0.0),
            ("groups of 128", 0.01),
            ("groups of 32", 0.1),
        ):
            for windows in (4, 32):
                rtn = 2.0 + loss - finer
                gptq = rtn - 0.05 - windows / 320
                rows.append(
                    l6b.Comparison(
                        bits,
                        setting,
                        windows,
                        rtn,
                        gptq,
                        torch.full((4,), rtn, dtype=torch.float64),
                        torch.full((4,), gptq, dtype=torch.float64),
                        0.01,
                        0.1 * loss,
                        0.05 * loss,
                    )
                )
    return rows


def test_explore_gptq_looks_each_setting_up():
    explorer = l6b.explore_gptq(gptq_rows(), 2.0)
    assert set(explorer.controls) == {"bits", "setting", "windows"}
    assert explorer.values() == {"bits": 3, "setting": "per-channel", "windows": 32}
    assert explorer.readout["round_to_nearest"] == "2.5000"
    assert explorer.readout["GPTQ"] == "2.3500"
    assert explorer.readout["loss_won_back"] == "30%"
    assert explorer.readout["GPTQ_gain"] == "0.1500 ± 0.0100"
    explorer.controls["windows"].value = 4
    explorer.controls["bits"].value = 2
    explorer.controls["setting"].value = "groups of 32"
    assert explorer.readout["round_to_nearest"] == "4.9000"
    assert explorer.readout["GPTQ"] == f"{4.9 - 0.05 - 4 / 320:.4f}"
    assert explorer.readout["output_error_RTN"] == "30.00%"
    assert isinstance(explorer.snapshot(), matplotlib.figure.Figure)


def test_explore_gptq_needs_rows_and_fp32():
    with pytest.raises(ValueError, match="rows must hold l6b.compare's rows"):
        l6b.explore_gptq([], 2.0)
    with pytest.raises(ValueError, match="fp32"):
        l6b.explore_gptq(gptq_rows())


def test_explore_gptq_shows_no_windows_control_for_one_calibration_size():
    rows = [row for row in gptq_rows() if row.windows == 32]
    explorer = l6b.explore_gptq(rows, 2.0)
    assert set(explorer.controls) == {"bits", "setting"}
    assert explorer.readout["GPTQ"] == "2.3500"


def test_reference_grid_rtn_rounds_every_linear_weight_on_the_reference_grid(
    small_language_model,
):
    before = {n: p.clone() for n, p in small_language_model.state_dict().items()}
    rounded = l6b.reference_grid_rtn(small_language_model, 3)
    for name, module in small_language_model.named_modules():
        if isinstance(module, torch.nn.Linear):
            expected = helper.fake_quantize_like_torchao(module.weight.detach(), 3)
            assert torch.equal(rounded.get_submodule(name).weight, expected)
            assert len(expected.unique()) <= 8 * module.weight.shape[0]  # 8 levels a row
    assert all(torch.equal(p, before[n]) for n, p in small_language_model.state_dict().items())
    assert rounded.token_embedding.weight.dtype == torch.float32
