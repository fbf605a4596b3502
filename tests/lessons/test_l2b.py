"""course.lessons.l2b (L2-B, the scale and zero point): its plots, widget, checker and runs."""

import matplotlib
import matplotlib.figure
import matplotlib.pyplot as plt
import pytest
import torch
from conftest import COURSE_TENSOR, figure_texts, figure_titles, round_trip_mse

import helper
from course.core import plotting
from course.lessons import l2b


def scale_zero_point_right(tensor, dtype=torch.int8):
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = min(tensor.min().item(), 0.0), max(tensor.max().item(), 0.0)
    if r_min == r_max:
        return helper.ZERO_RANGE_SCALE, q_min
    scale = (r_max - r_min) / (q_max - q_min)
    return scale, round(q_min - r_min / scale)


def test_scale_checker_wants_the_zero_range_scale():
    def no_zero_range(tensor, dtype=torch.int8):
        q_min, q_max = helper.q_range(dtype)
        r_min, r_max = min(tensor.min().item(), 0.0), max(tensor.max().item(), 0.0)
        scale = (r_max - r_min) / (q_max - q_min)
        return scale, round(q_min - r_min / scale)

    verdict = l2b.check_scale_and_zero_point(no_zero_range)
    assert verdict.status == "error"
    assert "ZeroDivisionError" in verdict.message


def scale_zero_point_r_min_only(tensor, dtype=torch.int8):  # wrong: r_max not widened
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = min(tensor.min().item(), 0.0), tensor.max().item()
    scale = (r_max - r_min) / (q_max - q_min) or helper.ZERO_RANGE_SCALE
    return scale, round(q_min - r_min / scale)


def test_the_scale_checker_names_the_all_negative_case():
    verdict = l2b.check_scale_and_zero_point(scale_zero_point_r_min_only)
    assert "differs on input 6 of 9, an all-negative tensor in int8:" in verdict.message


def test_the_scale_checker_checks_random_values_in_uint8_and_int8():
    """The lesson promises random tensors in int8 and uint8, besides its all-positive one: a
    function wrong only on values of both signs in one of those types fails, named."""

    def wrong_on_mixed_signs_in(wrong_dtype):
        def learner(tensor, dtype):
            if dtype == wrong_dtype and tensor.min() < 0 < tensor.max():
                return helper.get_q_scale_and_zero_point(tensor.clamp(min=0), dtype)
            return helper.get_q_scale_and_zero_point(tensor, dtype)

        return learner

    uint8 = l2b.check_scale_and_zero_point(wrong_on_mixed_signs_in(torch.uint8))
    assert "differs on input 8 of 9, random values in uint8:" in uint8.message
    int8 = l2b.check_scale_and_zero_point(wrong_on_mixed_signs_in(torch.int8))
    assert "differs on input 1 of 9, the worked example in int8:" in int8.message
    only_random = l2b.check_scale_and_zero_point(
        lambda tensor, dtype: helper.get_q_scale_and_zero_point(
            tensor.clamp(min=0) if tensor.shape == (5, 3) else tensor, dtype
        )
    )
    assert "differs on input 9 of 9, random values in int8:" in only_random.message


def test_an_int_is_wanted_where_the_reference_gives_an_int():
    def float_zero_point(tensor, dtype=torch.int8):
        scale, zero_point = scale_zero_point_right(tensor, dtype)
        return scale, float(zero_point)

    verdict = l2b.check_scale_and_zero_point(float_zero_point)
    assert verdict.status == "mismatch"
    assert "the result[1] should be an int, -77, got a float: -77.0" in verdict.message


@pytest.mark.parametrize("signed", [True, False])
def test_scale_and_zero_point_follow_the_bits(signed):
    explorer = l2b.explore_scale_and_zero_point(COURSE_TENSOR)
    explorer.controls["signed"].value = signed
    ranges = set()
    for bits in (8, 6, 4, 3, 2):
        explorer.controls["bits"].value = bits
        dtype = helper.integer_dtype(bits, signed)
        q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR, dtype)
        readout = explorer.readout
        assert (readout["q_min"], readout["q_max"]) == helper.q_range(dtype)
        assert (readout["scale"], readout["zero_point"]) == (scale, zero_point)
        assert readout["mse"] == round_trip_mse(COURSE_TENSOR, q, scale, zero_point)
        ranges.add((readout["q_min"], readout["q_max"]))
    assert len(ranges) == 5


def test_scale_and_zero_point_of_the_course_tensor():
    readout = l2b.explore_scale_and_zero_point().readout
    assert readout["zero_point"] == -77 and round(readout["scale"], 2) == 3.58
    assert (readout["r_min"], readout["r_max"]) == pytest.approx((-184.0, 728.6))


def test_the_number_line_ticks_each_integer_only_when_few_and_shows_every_dot():
    """int8's 256 integers would merge into a solid comb of ticks; int4's 16 are each ticked.
    The dots sit on thin range lines with white edges, so that each one shows."""
    from course.lessons.l2b import NumberLine, NumberLineData

    for dtype, n_ticks in ((torch.int8, 0), (torch.int4, 16), (torch.uint8, 0)):
        q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR, dtype)
        q_min, q_max = helper.q_range(dtype)
        figure = plt.figure()
        line = NumberLine(figure.add_subplot())
        line.update(
            NumberLineData(
                COURSE_TENSOR.flatten().double().numpy(),
                q.flatten().numpy(),
                scale,
                zero_point,
                q_min,
                q_max,
                float(COURSE_TENSOR.min()),
                float(COURSE_TENSOR.max()),
            )
        )
        assert len(line.ticks.get_segments()) == n_ticks, dtype
        for dots, bar in ((line.values, line.reals), (line.rounded, line.integers)):
            assert dots.get_color() == bar.get_color()  # one colour per meaning
            assert dots.get_markeredgecolor() == "white"
            assert dots.get_markersize() > 3 * bar.get_linewidth()
        assert line.restored.get_markeredgecolor() == plotting.WINDOW  # what comes back
        assert line.restored.get_markerfacecolor() == "none"
        plt.close(figure)


def test_plot_number_line_with_given_parameters_shows_the_clamped_part():
    figure = l2b.plot_number_line(-184.0, 728.6, 3.5, -70)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert len(figure.axes) == 1
    assert "s = 3.5" in figure_titles(figure)[0]
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" in legend
    assert "z = \N{MINUS SIGN}70" in figure_texts(figure)


def test_plot_number_line_computes_the_parameters_of_each_mode():
    asymmetric = l2b.plot_number_line(-184.0, 728.6)
    assert "z = \N{MINUS SIGN}77" in figure_titles(asymmetric)[0]
    legend = [text.get_text() for text in asymmetric.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" not in legend  # -184 is within half a step of the window
    symmetric = l2b.plot_number_line(-184.0, 728.6, mode="symmetric", title="symmetric")
    assert figure_titles(symmetric) == ["symmetric"]
    assert "$-q_{\\max}$ = \N{MINUS SIGN}127" in figure_texts(symmetric)


def test_plot_number_line_draws_on_a_given_axes():
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1)
    plt.close(figure)
    assert l2b.plot_number_line(0.0, 0.0, ax=bottom) is figure
    assert l2b.plot_number_line(2.0, 10.0, dtype=torch.uint4, ax=top) is figure


def test_plot_number_line_rejects_bad_input():
    with pytest.raises(ValueError, match="r_min must be <= r_max"):
        l2b.plot_number_line(3.0, 1.0)
    with pytest.raises(ValueError, match="both scale and zero_point"):
        l2b.plot_number_line(0.0, 1.0, scale=0.1)
    with pytest.raises(TypeError, match="r_max must be a number"):
        l2b.plot_number_line(0.0, "1")
    with pytest.raises(ValueError, match="r_min must be finite"):
        l2b.plot_number_line(float("nan"), 1.0)
    with pytest.raises(ValueError, match="mode must be"):
        l2b.plot_number_line(0.0, 1.0, mode="both")
    with pytest.raises(ValueError, match="symmetric mode needs a signed dtype"):
        l2b.plot_number_line(0.0, 1.0, dtype=torch.uint8, mode="symmetric")
