"""The plots of single tensors the lessons call (course.lessons), the palette, the number format."""

import matplotlib
import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import COURSE_TENSOR, assert_readable, figure_texts, figure_titles
from matplotlib.backends.backend_agg import FigureCanvasAgg

import helper
from course import data
from course.core import plotting
from course.lessons import l2a, l3a, l3d, l3e, l5a


@pytest.fixture(autouse=True)
def close_figures():
    """Close the figures each test opens with pyplot, so that none piles up."""
    yield
    plt.close("all")


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


def test_text_on_a_colour_is_black_on_light_and_white_on_dark():
    assert plotting.text_colour("#F0E442") == "black"  # yellow
    assert plotting.text_colour("#0072B2") == "white"  # blue
    assert plotting.is_light(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])).tolist() == [True, False]


def test_plot_large_tensor_uses_colour_bars():
    torch.manual_seed(0)
    tensor = torch.randn(32, 32)
    q, scale = helper.linear_q_symmetric(tensor)
    figure = l2a.plot_quantization_errors(tensor, q, helper.linear_dequantization(q, scale, 0))
    heatmaps = [ax for ax in figure.axes if ax.get_title()]
    assert len(heatmaps) == 4 and all(not ax.texts for ax in heatmaps)
    assert len(figure.axes) == 8  # four colour bars


def assert_values_fit_their_cells(figure) -> None:
    """Every value written in a heatmap, drawn, is narrower and shorter than its cell."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        if not ax.images or not ax.texts:
            continue
        rows, cols = ax.images[0].get_array().shape
        box = ax.get_window_extent(renderer)
        for text in ax.texts:
            extent = text.get_window_extent(renderer)
            assert extent.width < box.width / cols, (ax.get_title(), text.get_text())
            assert extent.height < box.height / rows, (ax.get_title(), text.get_text())


def test_heatmap_writes_values_only_in_cells_wide_enough_for_them():
    values = np.round(np.linspace(-9.87654, 9.87654, 16), 3).reshape(1, 16)
    wide, narrow = (
        plt.figure(figsize=(9.5, 1.2), layout="constrained"),
        plt.figure(figsize=(3.2, 0.9), layout="constrained"),
    )
    plotting.heatmap(wide.add_subplot(), values, "wide cells", fmt=".4g")
    plotting.heatmap(narrow.add_subplot(), values, "narrow cells", fmt=".4g")
    assert len(wide.axes[0].texts) == 16  # about 0.55 inch a cell: "-9.877" fits
    assert not narrow.axes[0].texts  # about 0.19 inch a cell: it does not
    assert len(narrow.axes) == 1  # and under 0.8 inch tall, no room for a colour bar either
    assert_values_fit_their_cells(wide)
    tall = plt.figure(figsize=(3.2, 3.0), layout="constrained")
    plotting.heatmap(tall.add_subplot(), values.reshape(2, 8) * 1000, "tall", fmt=".6g")
    assert not tall.axes[0].texts and len(tall.axes) == 2  # a colour bar instead
    for figure in (wide, narrow, tall):
        plt.close(figure)


def test_a_widget_picture_writes_no_value_wider_than_its_cell():
    """L3-E's picture: three 1x16 strips of outputs under the plot, too narrow for numbers."""
    from course.lessons import l2a

    weight, inputs = data.seeded_normal(0, 16, 32), data.seeded_normal(1, 32)
    figure = l3e.explore_quantized_linear(weight, inputs).snapshot()
    FigureCanvasAgg(figure)
    strips = [ax for ax in figure.axes if ax.images]
    assert len(strips) == 3 and not any(ax.texts for ax in strips)
    assert_values_fit_their_cells(figure)
    q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR)
    errors = l2a.plot_quantization_errors(
        COURSE_TENSOR, q, helper.linear_dequantization(q, scale, zero_point)
    )
    FigureCanvasAgg(errors)
    assert_values_fit_their_cells(errors)


def test_the_number_line_ticks_each_integer_only_when_few_and_shows_every_dot():
    """int8's 256 integers would merge into a solid comb of ticks; int4's 16 are each ticked.
    The dots sit on thin range lines with white edges, so that each one shows."""
    from course.lessons.l2a import NumberLine, NumberLineData

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


def test_plot_number_line_with_given_parameters_shows_the_clamped_part():
    figure = l2a.plot_number_line(-184.0, 728.6, 3.5, -70)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert len(figure.axes) == 1
    assert "s = 3.5" in figure_titles(figure)[0]
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" in legend
    assert "z = \N{MINUS SIGN}70" in figure_texts(figure)


def test_plot_number_line_computes_the_parameters_of_each_mode():
    asymmetric = l2a.plot_number_line(-184.0, 728.6)
    assert "z = \N{MINUS SIGN}77" in figure_titles(asymmetric)[0]
    legend = [text.get_text() for text in asymmetric.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" not in legend  # -184 is within half a step of the window
    symmetric = l2a.plot_number_line(-184.0, 728.6, mode="symmetric", title="symmetric")
    assert figure_titles(symmetric) == ["symmetric"]
    assert "$-q_{\\max}$ = \N{MINUS SIGN}127" in figure_texts(symmetric)


def test_plot_number_line_draws_on_a_given_axes():
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1)
    plt.close(figure)
    assert l2a.plot_number_line(0.0, 0.0, ax=bottom) is figure
    assert l2a.plot_number_line(2.0, 10.0, dtype=torch.uint4, ax=top) is figure


def test_plot_number_line_rejects_bad_input():
    with pytest.raises(ValueError, match="r_min must be <= r_max"):
        l2a.plot_number_line(3.0, 1.0)
    with pytest.raises(ValueError, match="both scale and zero_point"):
        l2a.plot_number_line(0.0, 1.0, scale=0.1)
    with pytest.raises(TypeError, match="r_max must be a number"):
        l2a.plot_number_line(0.0, "1")
    with pytest.raises(ValueError, match="r_min must be finite"):
        l2a.plot_number_line(float("nan"), 1.0)
    with pytest.raises(ValueError, match="mode must be"):
        l2a.plot_number_line(0.0, 1.0, mode="both")
    with pytest.raises(ValueError, match="symmetric mode needs a signed dtype"):
        l2a.plot_number_line(0.0, 1.0, dtype=torch.uint8, mode="symmetric")


def test_plot_mode_errors_has_one_line_per_mode():
    figure = l3a.plot_mode_errors(data.skewed_tensor(1000), bits=(2, 4, 8))
    assert figure_titles(figure) == ["Quantization error of each mode, by number of bits"]
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["asymmetric", "symmetric"]
    assert list(ax.get_lines()[0].get_xdata()) == [2, 4, 8]


def test_plot_group_size_tradeoff_error_grows_bits_fall():
    torch.manual_seed(0)
    weight = torch.randn(16, 64)
    figure = l3d.plot_group_size_tradeoff(weight, [8, 16, 32, 64], dtype=torch.int4)
    left, right = figure.axes
    assert left.get_title() == "Quantization error (int4)"
    assert right.get_title() == "Real storage (fp16 scales)"
    assert left.get_ylabel() == "mean squared error"
    assert right.get_ylabel() == "bits per weight"
    assert left.get_xlabel() == "group size (values sharing one scale)"
    errors = list(left.lines[0].get_ydata())
    assert errors == sorted(errors)
    assert list(right.lines[0].get_ydata()) == [6.0, 5.0, 4.5, 4.25]
    # one colour per meaning: an MSE's colour, and that of an fp16 scale's share in L3-D's bars
    assert left.lines[0].get_color() == plotting.TOTAL
    assert right.lines[0].get_color() == plotting.SCALE_SHARE_COLOURS[16] == plotting.ORANGE
    fp32 = l3d.plot_group_size_tradeoff(weight, [8, 16], torch.int4, scale_bits=32)
    assert fp32.axes[1].lines[0].get_color() == plotting.VERMILION


def test_plot_group_size_tradeoff_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one group size"):
        l3d.plot_group_size_tradeoff(torch.randn(4, 8), [])
    with pytest.raises(ValueError, match="group_size 3 must divide"):
        l3d.plot_group_size_tradeoff(torch.randn(4, 8), [3])
    with pytest.raises(TypeError, match="floating-point"):
        l3d.plot_group_size_tradeoff(torch.ones(4, 8, dtype=torch.int8), [4])


def test_granularity_panels_give_the_blocks_they_name():
    blocks = {
        name: helper.block_size_for((4, 8), granularity, dim=dim, group_size=4)
        for name, (granularity, dim) in plotting.GRANULARITY_PANELS.items()
    }
    assert blocks == {
        "per-tensor": (4, 8),
        "per-channel rows": (1, 8),
        "per-channel columns": (4, 1),
        "per-group": (1, 4),
    }


def test_block_ids_per_tensor_is_one_block():
    assert torch.equal(
        plotting.granularity_block_ids((3, 4), "per-tensor"), torch.zeros(3, 4).long()
    )


def test_block_ids_per_channel_rows_and_columns():
    rows = plotting.granularity_block_ids((3, 4), "per-channel", dim=0)
    columns = plotting.granularity_block_ids((3, 4), "per-channel", dim=1)
    assert torch.equal(rows, torch.arange(3).view(3, 1).expand(3, 4))
    assert torch.equal(columns, torch.arange(4).view(1, 4).expand(3, 4))
    assert torch.equal(plotting.granularity_block_ids((3, 4), "per-channel", dim=-1), columns)


def test_block_ids_per_group_number_groups_row_by_row():
    ids = plotting.granularity_block_ids((2, 6), "per-group", group_size=3)
    assert ids.tolist() == [[0, 0, 0, 1, 1, 1], [2, 2, 2, 3, 3, 3]]


def test_block_ids_match_the_scales_of_quantize_blocks():
    """Values with one block id share one scale in helper's quantizer (3-D, per group)."""
    torch.manual_seed(0)
    tensor = torch.randn(2, 3, 8)
    ids = plotting.granularity_block_ids(tensor.shape, "per-group", group_size=4)
    _, scale = helper.linear_q_symmetric_per_group(tensor, 4)
    assert ids.max().item() + 1 == scale.numel()
    spread = scale.flatten()[ids]
    expected = tensor.abs().view(-1, 4).amax(dim=1).repeat_interleave(4).view(tensor.shape) / 127
    assert torch.allclose(spread, expected)


@pytest.mark.parametrize(
    ("shape", "granularity", "kwargs", "error", "match"),
    [
        ((3, 0), "per-tensor", {}, ValueError, "shape must hold positive ints"),
        ((3, 2.0), "per-tensor", {}, ValueError, "shape must hold positive ints"),
        ((3, 5), "per-group", {"group_size": 2}, ValueError, "group_size 2 must divide"),
        ((3, 5), "per-channel", {"dim": 2}, IndexError, "dim 2 is out of range"),
        ((3, 5), "per-row", {}, ValueError, "granularity must be"),
    ],
)
def test_block_ids_reject_bad_input(shape, granularity, kwargs, error, match):
    with pytest.raises(error, match=match):
        plotting.granularity_block_ids(shape, granularity, **kwargs)


def _every_plot():
    q, s, z = helper.linear_quantization(COURSE_TENSOR)
    weight = data.seeded_normal(0, 16, 64)
    return {
        "quantization_errors": lambda: l2a.plot_quantization_errors(
            COURSE_TENSOR, q, helper.linear_dequantization(q, s, z)
        ),
        "quantization_errors_large": lambda: l2a.plot_quantization_errors(
            weight, *helper.linear_q_symmetric(weight)[:1], weight
        ),
        "number_line": lambda: l2a.plot_number_line(-184.0, 728.6),
        "mode_errors": lambda: l3a.plot_mode_errors(data.skewed_tensor(1000)),
        "group_size_tradeoff": lambda: l3d.plot_group_size_tradeoff(weight, [8, 16, 32]),
        "clip_sweep": lambda: l5a.plot_clip_sweep(data.heavy_tailed(2000)),
    }


@pytest.mark.parametrize("name", list(_every_plot()))
def test_every_plot_is_readable_at_100_percent(name):
    assert_readable(_every_plot()[name]())


def test_clip_sweep_plot_draws_the_parts_in_their_colours():
    lines = l5a.plot_clip_sweep(data.heavy_tailed(3000, seed=5), (3,)).axes[0].lines
    assert [line.get_color() for line in lines[:3]] == [
        plotting.ROUNDING,
        plotting.CLIPPING,
        plotting.TOTAL,
    ]
