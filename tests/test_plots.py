"""course.plots: the plots of single tensors the lessons call, their palette and number format."""

import matplotlib
import matplotlib.figure
import numpy as np
import pytest
import torch
from conftest import COURSE_TENSOR, assert_readable, figure_texts, figure_titles

import helper
from course import data, plots


def test_plot_small_tensor_writes_values_in_cells():
    q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    figure = plots.plot_quantization_errors(COURSE_TENSOR, q, dequantized)
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
    figure = plots.plot_quantization_errors(COURSE_TENSOR, q, dequantized, block_size=(1, 3))
    for ax in figure.axes:
        (outlines,) = ax.collections
        # two horizontal lines between the three rows, three cells long each
        assert len(outlines.get_segments()) == 6
        assert {tuple(segment[:, 1]) for segment in outlines.get_segments()} == {
            (0.5, 0.5),
            (1.5, 1.5),
        }
    no_outlines = plots.plot_quantization_errors(COURSE_TENSOR, q, dequantized)
    assert not any(ax.collections for ax in no_outlines.axes)


def test_text_on_a_colour_is_black_on_light_and_white_on_dark():
    assert plots.text_colour("#F0E442") == "black"  # yellow
    assert plots.text_colour("#0072B2") == "white"  # blue
    assert plots.is_light(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])).tolist() == [True, False]


def test_plot_large_tensor_uses_colour_bars():
    torch.manual_seed(0)
    tensor = torch.randn(32, 32)
    q, scale = helper.linear_q_symmetric(tensor)
    figure = plots.plot_quantization_errors(tensor, q, helper.linear_dequantization(q, scale, 0))
    heatmaps = [ax for ax in figure.axes if ax.get_title()]
    assert len(heatmaps) == 4 and all(not ax.texts for ax in heatmaps)
    assert len(figure.axes) == 8  # four colour bars


def test_plot_colour_range_follows_dtype_and_n_bits():
    q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR, torch.int4)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    figure = plots.plot_quantization_errors(COURSE_TENSOR, q, dequantized, torch.int4)
    assert figure.axes[1].images[0].get_clim() == (-8, 7)
    figure = plots.plot_quantization_errors(COURSE_TENSOR, q, dequantized, torch.int8, n_bits=4)
    assert figure.axes[1].images[0].get_clim() == (-8, 7)


def test_plot_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        plots.plot_quantization_errors(torch.ones(2, 2), torch.ones(2, 3), torch.ones(2, 2))


def test_plot_number_line_with_given_parameters_shows_the_clamped_part():
    figure = plots.plot_number_line(-184.0, 728.6, 3.5, -70)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert len(figure.axes) == 1
    assert "s = 3.5" in figure_titles(figure)[0]
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" in legend
    assert "z = \N{MINUS SIGN}70" in figure_texts(figure)


def test_plot_number_line_computes_the_parameters_of_each_mode():
    asymmetric = plots.plot_number_line(-184.0, 728.6)
    assert "z = \N{MINUS SIGN}77" in figure_titles(asymmetric)[0]
    legend = [text.get_text() for text in asymmetric.axes[0].get_legend().get_texts()]
    assert "data clamped (lost)" not in legend  # -184 is within half a step of the window
    symmetric = plots.plot_number_line(-184.0, 728.6, mode="symmetric", title="symmetric")
    assert figure_titles(symmetric) == ["symmetric"]
    assert "$-q_{\\max}$ = \N{MINUS SIGN}127" in figure_texts(symmetric)


def test_plot_number_line_draws_on_a_given_axes():
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1)
    plt.close(figure)
    assert plots.plot_number_line(0.0, 0.0, ax=bottom) is figure
    assert plots.plot_number_line(2.0, 10.0, dtype=torch.uint4, ax=top) is figure


def test_plot_number_line_rejects_bad_input():
    with pytest.raises(ValueError, match="r_min must be <= r_max"):
        plots.plot_number_line(3.0, 1.0)
    with pytest.raises(ValueError, match="both scale and zero_point"):
        plots.plot_number_line(0.0, 1.0, scale=0.1)
    with pytest.raises(TypeError, match="r_max must be a number"):
        plots.plot_number_line(0.0, "1")
    with pytest.raises(ValueError, match="r_min must be finite"):
        plots.plot_number_line(float("nan"), 1.0)
    with pytest.raises(ValueError, match="mode must be"):
        plots.plot_number_line(0.0, 1.0, mode="both")
    with pytest.raises(ValueError, match="symmetric mode needs a signed dtype"):
        plots.plot_number_line(0.0, 1.0, dtype=torch.uint8, mode="symmetric")


def test_plot_mode_errors_has_one_line_per_mode():
    figure = plots.plot_mode_errors(data.skewed_tensor(1000), bits=(2, 4, 8))
    assert figure_titles(figure) == ["Quantization error of each mode, by number of bits"]
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["asymmetric", "symmetric"]
    assert list(ax.get_lines()[0].get_xdata()) == [2, 4, 8]


def test_plot_group_size_tradeoff_error_grows_bits_fall():
    torch.manual_seed(0)
    weight = torch.randn(16, 64)
    figure = plots.plot_group_size_tradeoff(weight, [8, 16, 32, 64], dtype=torch.int4)
    left, right = figure.axes
    assert left.get_title() == "Quantization error (int4)"
    assert right.get_title() == "Real storage (fp16 scales)"
    assert left.get_ylabel() == "mean squared error"
    assert right.get_ylabel() == "bits per weight"
    assert left.get_xlabel() == "group size (values sharing one scale)"
    errors = list(left.lines[0].get_ydata())
    assert errors == sorted(errors)
    assert list(right.lines[0].get_ydata()) == [6.0, 5.0, 4.5, 4.25]


def test_plot_group_size_tradeoff_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one group size"):
        plots.plot_group_size_tradeoff(torch.randn(4, 8), [])
    with pytest.raises(ValueError, match="group_size 3 must divide"):
        plots.plot_group_size_tradeoff(torch.randn(4, 8), [3])
    with pytest.raises(TypeError, match="floating-point"):
        plots.plot_group_size_tradeoff(torch.ones(4, 8, dtype=torch.int8), [4])


def test_granularity_panels_give_the_blocks_they_name():
    blocks = {
        name: helper.block_size_for((4, 8), granularity, dim=dim, group_size=4)
        for name, (granularity, dim) in plots.GRANULARITY_PANELS.items()
    }
    assert blocks == {
        "per-tensor": (4, 8),
        "per-channel rows": (1, 8),
        "per-channel columns": (4, 1),
        "per-group": (1, 4),
    }


def test_block_ids_per_tensor_is_one_block():
    assert torch.equal(plots.granularity_block_ids((3, 4), "per-tensor"), torch.zeros(3, 4).long())


def test_block_ids_per_channel_rows_and_columns():
    rows = plots.granularity_block_ids((3, 4), "per-channel", dim=0)
    columns = plots.granularity_block_ids((3, 4), "per-channel", dim=1)
    assert torch.equal(rows, torch.arange(3).view(3, 1).expand(3, 4))
    assert torch.equal(columns, torch.arange(4).view(1, 4).expand(3, 4))
    assert torch.equal(plots.granularity_block_ids((3, 4), "per-channel", dim=-1), columns)


def test_block_ids_per_group_number_groups_row_by_row():
    ids = plots.granularity_block_ids((2, 6), "per-group", group_size=3)
    assert ids.tolist() == [[0, 0, 0, 1, 1, 1], [2, 2, 2, 3, 3, 3]]


def test_block_ids_match_the_scales_of_quantize_blocks():
    """Values with one block id share one scale in helper's quantizer (3-D, per group)."""
    torch.manual_seed(0)
    tensor = torch.randn(2, 3, 8)
    ids = plots.granularity_block_ids(tensor.shape, "per-group", group_size=4)
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
        plots.granularity_block_ids(shape, granularity, **kwargs)


def _every_plot():
    q, s, z = helper.linear_quantization(COURSE_TENSOR)
    weight = data.seeded_normal(0, 16, 64)
    return {
        "quantization_errors": lambda: plots.plot_quantization_errors(
            COURSE_TENSOR, q, helper.linear_dequantization(q, s, z)
        ),
        "quantization_errors_large": lambda: plots.plot_quantization_errors(
            weight, *helper.linear_q_symmetric(weight)[:1], weight
        ),
        "number_line": lambda: plots.plot_number_line(-184.0, 728.6),
        "mode_errors": lambda: plots.plot_mode_errors(data.skewed_tensor(1000)),
        "group_size_tradeoff": lambda: plots.plot_group_size_tradeoff(weight, [8, 16, 32]),
        "clip_sweep": lambda: plots.plot_clip_sweep(data.heavy_tailed(2000)),
    }


@pytest.mark.parametrize("name", list(_every_plot()))
def test_every_plot_is_readable_at_100_percent(name):
    assert_readable(_every_plot()[name]())


def test_clip_sweep_plot_draws_the_parts_in_their_colours():
    lines = plots.plot_clip_sweep(data.heavy_tailed(3000, seed=5), (3,)).axes[0].lines
    assert [line.get_color() for line in lines[:3]] == [plots.ROUNDING, plots.CLIPPING, plots.TOTAL]
