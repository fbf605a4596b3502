"""course.lessons.l2a (L2-A, quantize and dequantize a tensor): its plots, widget, checker and runs."""

import matplotlib
import matplotlib.figure
import pytest
import torch
from conftest import COURSE_TENSOR, round_trip_mse, texts

import helper
from course.lessons import l2a


def mae_tensor(original, dequantized):
    return (original - dequantized).abs().mean()


def mae_wrong(original, dequantized):
    return (original - dequantized).square().mean().item()


def test_mae_checker_wants_a_python_float_and_says_how():
    verdict = l2a.check_mean_absolute_error(mae_tensor)
    assert verdict.status == "mismatch"
    assert "should be a Python float, got a tensor of shape () and dtype torch.float32" in (
        verdict.message
    )
    assert ".item()" in verdict.message


def test_mae_checker_reports_a_result_of_several_values():
    verdict = l2a.check_mean_absolute_error(lambda original, dequantized: original - dequantized)
    assert verdict.status == "mismatch"
    assert "got a tensor of shape (3, 3)" in verdict.message


def mae_with_a_floor(original, dequantized):  # wrong: an exact copy gives 1e-12, not 0
    return max((original - dequantized).abs().mean().item(), 1e-12)


def test_the_mae_checker_names_the_exact_copy_apart_from_the_worked_example():
    copy = l2a.check_mean_absolute_error(mae_with_a_floor)
    assert "differs on input 5 of 5, the worked example against an exact copy (an error of 0)" in (
        copy.message
    )
    first = l2a.check_mean_absolute_error(mae_wrong)
    assert "differs on input 1 of 5, the worked example, quantized with scale 3.5" in first.message
    tail = "mean_absolute_error(tensor of shape (3, 3) and dtype torch.float32, tensor of shape"
    assert tail in copy.message and tail in first.message  # the same call: the labels tell apart
    assert (
        copy.message.split(": mean_absolute_error")[0]
        != (first.message.split(": mean_absolute_error")[0])
    )


def test_a_mismatch_names_the_input_the_expected_and_the_received_value():
    verdict = l2a.check_mean_absolute_error(mae_wrong)
    tensor = "tensor of shape (3, 3) and dtype torch.float32"
    first_input = f"mean_absolute_error({tensor}, {tensor})"
    label = "the worked example, quantized with scale 3.5 and zero point -70"
    assert f"differs on input 1 of 5, {label}: {first_input}: the result should be " in (
        verdict.message
    )
    original = COURSE_TENSOR
    restored = helper.linear_dequantization(
        helper.linear_q_with_scale_and_zero_point(original, 3.5, -70), 3.5, -70
    )
    expected = helper.quantization_error(original, restored, "mae")
    assert f"should be {expected!r}, got {mae_wrong(original, restored)!r}" in verdict.message


def test_quantize_dequantize_starts_from_the_course_guess():
    explorer = l2a.explore_quantize_dequantize()
    q = helper.linear_q_with_scale_and_zero_point(COURSE_TENSOR, 3.5, -70)
    assert explorer.readout["scale"] == 3.5 and explorer.readout["zero_point"] == -70
    assert explorer.readout["mse"] == round_trip_mse(COURSE_TENSOR, q, 3.5, -70)
    assert explorer.readout["mse"] == pytest.approx(170.875, abs=1e-3)


@pytest.mark.parametrize(
    ("scale", "zero_point", "dtype"),
    [
        (3.58, -77, torch.int8),
        (3.0, 60, torch.uint8),
        (60.0, 3, torch.uint4),
        (250.0, 0, torch.int2),
    ],
)
def test_quantize_dequantize_readout_is_the_library_error(scale, zero_point, dtype):
    explorer = l2a.explore_quantize_dequantize(COURSE_TENSOR)
    explorer.controls["dtype"].value = dtype
    explorer.controls["scale"].value = scale
    explorer.controls["zero_point"].value = zero_point
    q = helper.linear_q_with_scale_and_zero_point(COURSE_TENSOR, scale, zero_point, dtype)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    assert explorer.readout["mse"] == helper.quantization_error(COURSE_TENSOR, dequantized)
    expected_max = (COURSE_TENSOR - dequantized).abs().max().item()
    assert explorer.readout["max_error"] == pytest.approx(expected_max)
    assert (explorer.readout["q_min"], explorer.readout["q_max"]) == helper.q_range(dtype)


def test_quantize_dequantize_zero_point_follows_the_dtype_range():
    explorer = l2a.explore_quantize_dequantize()
    zero_point = explorer.controls["zero_point"]
    for dtype in (torch.uint4, torch.int2, torch.uint8, torch.int8):
        explorer.controls["dtype"].value = dtype
        assert (zero_point.min, zero_point.max) == helper.q_range(dtype)
        assert helper.q_range(dtype)[0] <= explorer.readout["zero_point"] <= zero_point.max


def test_small_matrices_are_whole_tables_with_every_value():
    html = texts(l2a.explore_quantize_dequantize())
    for tag in ("table", "tr", "td"):
        assert html.count(f"<{tag}>") + html.count(f"<{tag} ") == html.count(f"</{tag}>")
    # The original values and their int8 codes at s = 3.5, z = -70 (minus signs typeset).
    for value in ("191.6", "\N{MINUS SIGN}13.5", "728.6", "\N{MINUS SIGN}74", "\N{MINUS SIGN}123"):
        assert f">{value}</td>" in html


def test_quantize_dequantize_counts_clamped_values():
    # s = 3.5, z = -70 gives back at most 3.5 * (127 + 70) = 689.5: only 728.6 is clamped.
    assert l2a.explore_quantize_dequantize().readout["clipped"] == 1


def test_plot_small_tensor_writes_values_in_cells():
    q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    figure = l2a.plot_quantization_errors(COURSE_TENSOR, q, dequantized)
    assert isinstance(figure, matplotlib.figure.Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == [
        "Original tensor r",
        "Quantized tensor q (int8)",
        "Dequantized tensor r' = s (q \N{MINUS SIGN} z)",
        "Error |r \N{MINUS SIGN} r'|",
    ]
    assert [len(ax.texts) for ax in figure.axes] == [9, 9, 9, 9]
    assert figure.axes[1].texts[0].get_text() == "-23"
    assert figure.get_size_inches()[0] * figure.dpi <= 1000  # readable at 100 % in JupyterLab


def test_plot_outlines_the_blocks_that_share_a_scale():
    q, scale = helper.linear_q_symmetric_per_channel(COURSE_TENSOR, dim=0)
    dequantized = helper.linear_dequantization(q, scale, 0)
    figure = l2a.plot_quantization_errors(COURSE_TENSOR, q, dequantized, block_size=(1, 3))
    for ax in figure.axes:
        (outlines,) = ax.collections
        # two horizontal lines between the three rows, three cells long each
        assert len(outlines.get_segments()) == 6
        assert {tuple(segment[:, 1]) for segment in outlines.get_segments()} == {
            (0.5, 0.5),
            (1.5, 1.5),
        }
    no_outlines = l2a.plot_quantization_errors(COURSE_TENSOR, q, dequantized)
    assert not any(ax.collections for ax in no_outlines.axes)


def test_plot_large_tensor_uses_colour_bars():
    torch.manual_seed(0)
    tensor = torch.randn(32, 32)
    q, scale = helper.linear_q_symmetric(tensor)
    figure = l2a.plot_quantization_errors(tensor, q, helper.linear_dequantization(q, scale, 0))
    heatmaps = [ax for ax in figure.axes if ax.get_title()]
    assert len(heatmaps) == 4 and all(not ax.texts for ax in heatmaps)
    assert len(figure.axes) == 8  # four colour bars


def test_plot_colour_range_follows_dtype_and_n_bits():
    q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR, torch.int4)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    figure = l2a.plot_quantization_errors(COURSE_TENSOR, q, dequantized, torch.int4)
    assert figure.axes[1].images[0].get_clim() == (-8, 7)
    figure = l2a.plot_quantization_errors(COURSE_TENSOR, q, dequantized, torch.int8, n_bits=4)
    assert figure.axes[1].images[0].get_clim() == (-8, 7)


def test_plot_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        l2a.plot_quantization_errors(torch.ones(2, 2), torch.ones(2, 3), torch.ones(2, 2))
