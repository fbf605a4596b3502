"""Tests of the lesson helpers of L2-A, L2-B and L3-A: figures, plots and "Your turn" checkers."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure
import pytest
import torch

import helper

# --- Data ----------------------------------------------------------------------------------


def test_course_tensor_is_the_worked_example():
    tensor = helper.course_tensor()
    assert tensor.dtype == torch.float32
    assert tensor.shape == (3, 3)
    assert tensor[0, 2].item() == pytest.approx(728.6)
    assert tensor.min().item() == -184.0
    tensor[0, 0] = 0.0  # a new tensor each call
    assert helper.course_tensor()[0, 0].item() == pytest.approx(191.6)


def test_skewed_tensor_is_one_sided_and_seeded():
    tensor = helper.skewed_tensor(500, seed=3)
    assert tensor.shape == (500,)
    assert bool((tensor >= 0).all())
    assert torch.equal(tensor, helper.skewed_tensor(500, seed=3))
    assert not torch.equal(tensor, helper.skewed_tensor(500, seed=4))


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_skewed_tensor_rejects_a_bad_size(n):
    with pytest.raises(ValueError, match="n must be a positive int"):
        helper.skewed_tensor(n)


# --- representable_range and levels_used ---------------------------------------------------


def test_representable_range_of_the_l2a_example():
    assert helper.representable_range(3.5, -70) == (-203.0, 689.5)
    assert helper.representable_range(1.0, 0, torch.uint8) == (0.0, 255.0)
    assert helper.representable_range(0.5, 0, torch.int4) == (-4.0, 3.5)


def test_representable_range_rejects_bad_input():
    with pytest.raises(ValueError, match="scale"):
        helper.representable_range(0.0, 0)
    with pytest.raises(ValueError, match="zero_point"):
        helper.representable_range(1.0, 0.5)
    with pytest.raises(TypeError, match="not tensors"):
        helper.representable_range(torch.tensor([1.0]), 0)
    with pytest.raises(TypeError, match="dtype"):
        helper.representable_range(1.0, 0, torch.float32)


def test_levels_used_counts_the_span_of_the_data():
    skewed = helper.skewed_tensor()
    asymmetric, _, _ = helper.linear_quantization(skewed, torch.int8)
    symmetric, _ = helper.linear_q_symmetric(skewed, torch.int8)
    assert helper.levels_used(asymmetric, torch.int8) == (256, 256)
    assert helper.levels_used(symmetric, torch.int8) == (128, 256)
    four_bit, _ = helper.linear_q_symmetric(skewed, torch.int4)
    assert helper.levels_used(four_bit, torch.int4) == (8, 16)


def test_levels_used_rejects_a_float_tensor():
    with pytest.raises(TypeError, match="quantized_tensor must be an integer tensor"):
        helper.levels_used(torch.zeros(3))


# --- mode_errors ----------------------------------------------------------------------------


def test_mode_errors_symmetric_costs_one_bit_on_a_one_sided_tensor():
    table = helper.mode_errors(helper.skewed_tensor(), bits=(8, 4, 3, 2))
    assert table["bits"] == [8, 4, 3, 2]
    asymmetric, symmetric = table["asymmetric"], table["symmetric"]
    assert all(s > a for a, s in zip(asymmetric, symmetric))
    # symmetric with b bits spends half its levels on negatives: it equals asymmetric with b - 1
    assert symmetric[1] == pytest.approx(asymmetric[2])
    assert symmetric[2] == pytest.approx(asymmetric[3])


def test_mode_errors_are_close_on_a_centred_tensor():
    torch.manual_seed(0)
    table = helper.mode_errors(torch.randn(10_000), bits=(8,))
    assert table["symmetric"][0] == pytest.approx(table["asymmetric"][0], rel=0.2)


@pytest.mark.parametrize("bits", [8, (), (1,), (8, 17), (4.0,)])
def test_mode_errors_rejects_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        helper.mode_errors(torch.randn(4), bits=bits)


def test_mode_errors_rejects_a_non_tensor():
    with pytest.raises(TypeError, match="tensor must be a torch.Tensor"):
        helper.mode_errors([1.0, 2.0])


# --- Plots ----------------------------------------------------------------------------------


def _titles(figure):
    return [ax.get_title() for ax in figure.axes]


def _texts(figure):
    return [text.get_text() for ax in figure.axes for text in ax.texts]


def test_plot_number_line_with_given_parameters_shows_the_clamped_part():
    figure = helper.plot_number_line(-184.0, 728.6, 3.5, -70)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert len(figure.axes) == 1
    assert "s = 3.5" in _titles(figure)[0]
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" in legend
    assert "z = \N{MINUS SIGN}70" in _texts(figure)


def test_plot_number_line_computes_the_parameters_of_each_mode():
    asymmetric = helper.plot_number_line(-184.0, 728.6)
    assert "z = \N{MINUS SIGN}77" in _titles(asymmetric)[0]
    legend = [text.get_text() for text in asymmetric.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" not in legend  # -184 is within half a step of the window
    symmetric = helper.plot_number_line(-184.0, 728.6, mode="symmetric", title="symmetric")
    assert _titles(symmetric) == ["symmetric"]
    assert "\N{MINUS SIGN}q_max = \N{MINUS SIGN}127" in _texts(symmetric)


def test_plot_number_line_draws_on_a_given_axes():
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1)
    plt.close(figure)
    assert helper.plot_number_line(0.0, 0.0, ax=bottom) is figure
    assert helper.plot_number_line(2.0, 10.0, dtype=torch.uint4, ax=top) is figure


def test_plot_number_line_rejects_bad_input():
    with pytest.raises(ValueError, match="r_min must be <= r_max"):
        helper.plot_number_line(3.0, 1.0)
    with pytest.raises(ValueError, match="both scale and zero_point"):
        helper.plot_number_line(0.0, 1.0, scale=0.1)
    with pytest.raises(TypeError, match="r_max must be a number"):
        helper.plot_number_line(0.0, "1")
    with pytest.raises(ValueError, match="r_min must be finite"):
        helper.plot_number_line(float("nan"), 1.0)
    with pytest.raises(ValueError, match="mode must be"):
        helper.plot_number_line(0.0, 1.0, mode="both")
    with pytest.raises(ValueError, match="symmetric mode needs a signed dtype"):
        helper.plot_number_line(0.0, 1.0, dtype=torch.uint8, mode="symmetric")


def test_plot_levels_histogram_has_one_panel_per_mode():
    figure = helper.plot_levels_histogram(helper.skewed_tensor(), torch.int4)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert _titles(figure) == [
        "Asymmetric mode, int4: 16 of 16 levels fall inside the data",
        "Symmetric mode, int4: 8 of 16 levels fall inside the data",
    ]
    single = helper.plot_levels_histogram(torch.randn(50), torch.int8, modes=("symmetric",))
    assert len(single.axes) == 1


def test_plot_levels_histogram_rejects_bad_input():
    with pytest.raises(ValueError, match="modes must be"):
        helper.plot_levels_histogram(torch.randn(5), modes="symmetric")
    with pytest.raises(ValueError, match="mode must be"):
        helper.plot_levels_histogram(torch.randn(5), modes=("affine",))
    with pytest.raises(TypeError, match="floating-point"):
        helper.plot_levels_histogram(torch.arange(5))


def test_plot_mode_errors_has_one_line_per_mode():
    figure = helper.plot_mode_errors(helper.skewed_tensor(1000), bits=(2, 4, 8))
    assert _titles(figure) == ["Quantization error of each mode, by number of bits"]
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["asymmetric", "symmetric"]
    assert list(ax.get_lines()[0].get_xdata()) == [2, 4, 8]


@pytest.mark.parametrize(
    "name",
    [
        "figure_l2a_number_line",
        "figure_l2b_number_line",
        "figure_l2b_clamped_zero_point",
        "figure_l3a_number_line",
        "figure_l3a_levels_histogram",
    ],
)
def test_lesson_figures_are_figures_with_titles(name):
    figure = getattr(helper, name)()
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure.axes and all(_titles(figure))


def test_clamped_zero_point_figure_contrasts_the_course_and_the_fix():
    titles = _titles(helper.figure_l2b_clamped_zero_point())
    assert len(titles) == 2
    assert titles[0].startswith("The course") and "lost" in titles[0]
    assert titles[1].startswith("helper")


# --- "Your turn" checkers -------------------------------------------------------------------


def _not_done(*args):
    raise NotImplementedError  # your code here


def _raises(*args):
    raise RuntimeError("boom")


def mae_right(original, dequantized):
    return (original - dequantized).abs().mean().item()


def mae_tensor(original, dequantized):
    return (original - dequantized).abs().mean()


def mae_wrong(original, dequantized):
    return (original - dequantized).square().mean().item()


def scale_zero_point_right(tensor, dtype=torch.int8):
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = min(tensor.min().item(), 0.0), max(tensor.max().item(), 0.0)
    if r_min == r_max:
        return helper.ZERO_RANGE_SCALE, q_min
    scale = (r_max - r_min) / (q_max - q_min)
    return scale, round(q_min - r_min / scale)


def scale_zero_point_course(tensor, dtype=torch.int8):
    """The course's version: no widening, so it fails on all-positive tensors."""
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = tensor.min().item(), tensor.max().item()
    scale = (r_max - r_min) / (q_max - q_min)
    return scale, min(max(round(q_min - r_min / scale), q_min), q_max)


def symmetric_right(tensor, bits):
    q_max = 2 ** (bits - 1) - 1
    scale = tensor.abs().max().item() / q_max
    return torch.round(tensor / scale).clamp(-q_max - 1, q_max).to(torch.int8), scale


def symmetric_wrong_scale(tensor, bits):
    q_max = 2 ** (bits - 1)  # off by one
    scale = tensor.abs().max().item() / q_max
    return torch.round(tensor / scale).clamp(-q_max, q_max - 1).to(torch.int8), scale


def symmetric_float(tensor, bits):
    quantized, scale = symmetric_right(tensor, bits)
    return quantized.float(), scale


CHECKS = {
    "mae": (helper.check_mean_absolute_error, mae_right, mae_wrong),
    "scale": (helper.check_scale_and_zero_point, scale_zero_point_right, scale_zero_point_course),
    "symmetric": (helper.check_symmetric_quantization, symmetric_right, symmetric_wrong_scale),
}


@pytest.mark.parametrize("exercise", CHECKS)
def test_checker_passes_a_correct_solution(exercise):
    check, right, _ = CHECKS[exercise]
    verdict = check(right)
    assert verdict.status == "pass", verdict.message
    assert bool(verdict)
    assert repr(verdict).startswith("Well done")


@pytest.mark.parametrize("exercise", CHECKS)
def test_checker_reports_a_wrong_solution(exercise):
    check, _, wrong = CHECKS[exercise]
    verdict = check(wrong)
    assert verdict.status == "mismatch"
    assert not verdict
    assert "differs on input" in verdict.message


@pytest.mark.parametrize("exercise", CHECKS)
def test_checker_says_not_done_yet_for_the_stub(exercise):
    check = CHECKS[exercise][0]
    verdict = check(_not_done)
    assert verdict.status == "not done yet"
    assert verdict.message.startswith("Not done yet")


@pytest.mark.parametrize("exercise", CHECKS)
def test_checker_reports_an_exception(exercise):
    check = CHECKS[exercise][0]
    verdict = check(_raises)
    assert verdict.status == "error"
    assert "RuntimeError: boom" in verdict.message


def test_mae_checker_accepts_a_one_value_tensor():
    assert helper.check_mean_absolute_error(mae_tensor).status == "pass"


def test_symmetric_checker_wants_an_int8_tensor():
    verdict = helper.check_symmetric_quantization(symmetric_float)
    assert verdict.status == "mismatch"
    assert "torch.int8" in verdict.message


def test_scale_checker_wants_the_zero_range_scale():
    def no_zero_range(tensor, dtype=torch.int8):
        q_min, q_max = helper.q_range(dtype)
        r_min, r_max = min(tensor.min().item(), 0.0), max(tensor.max().item(), 0.0)
        scale = (r_max - r_min) / (q_max - q_min)
        return scale, round(q_min - r_min / scale)

    verdict = helper.check_scale_and_zero_point(no_zero_range)
    assert verdict.status == "error"
    assert "ZeroDivisionError" in verdict.message


def test_mae_checker_reports_a_result_of_several_values():
    verdict = helper.check_mean_absolute_error(lambda original, dequantized: original - dequantized)
    assert verdict.status == "error"
    assert "shape (3, 3), not one number" in verdict.message
