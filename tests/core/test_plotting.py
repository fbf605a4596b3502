"""course.core.plotting (the heatmaps, text colours, block outlines), and every plot of the
lessons readable at JupyterLab size."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import COURSE_TENSOR, assert_readable
from matplotlib.backends.backend_agg import FigureCanvasAgg
from test_l4a import _outputs
from test_l6a import _kind_costs, _language_model_results

import helper
from course import data
from course.core import plotting
from course.lessons import l2a, l2b, l3a, l3d, l3e, l4a, l4b, l4c, l5a, l6a, l6b


def test_text_on_a_colour_is_black_on_light_and_white_on_dark():
    assert plotting.text_colour("#F0E442") == "black"  # yellow
    assert plotting.text_colour("#0072B2") == "white"  # blue
    assert plotting.is_light(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])).tolist() == [True, False]


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
        "number_line": lambda: l2b.plot_number_line(-184.0, 728.6),
        "mode_errors": lambda: l3a.plot_mode_errors(data.skewed_tensor(1000)),
        "group_size_tradeoff": lambda: l3d.plot_group_size_tradeoff(weight, [8, 16, 32]),
        "clip_sweep": lambda: l5a.plot_clip_sweep(data.heavy_tailed(2000)),
    }


@pytest.mark.parametrize("name", list(_every_plot()))
def test_every_plot_is_readable_at_100_percent(name):
    assert_readable(_every_plot()[name]())


def _every_model_plot():
    reference, outputs = _outputs()
    results, fp32 = _language_model_results()
    rows = [{"bits": 4, "group_size": g, "scale_bits": 16, "measured": 4.5} for g in (32, 64)]
    return {
        "layer_outputs": lambda: l3e.plot_layer_outputs(reference[0], outputs["W8A32"][0]),
        "output_errors": lambda: l4a.plot_output_errors(reference, outputs),
        "storage": lambda: l4b.plot_storage(rows),
        "digits": lambda: l4c.plot_digits(torch.rand(10, 64), list("0123456789")),
        "gptq_bits_per_byte": lambda: l6b.plot_gptq_bits_per_byte(
            [
                l6b.Comparison(
                    bits,
                    setting,
                    32,
                    2 + loss,
                    2 + loss / 2,
                    *(torch.ones(2),) * 2,
                    0.01,
                    0.1,
                    0.05,
                )
                for bits, loss in ((4, 0.05), (3, 0.4), (2, 4.2))
                for setting in ("per-channel", "groups of 128", "groups of 32")
            ],
            1.987,
        ),
        "calibration": lambda: l5a.plot_calibration(
            [1, 4, 16],
            {"min/max": {"sqnr": [20, 19, 18], "accuracy": [0.95, 0.96, 0.94]}},
            {"sqnr": 21.0, "accuracy": 0.96},
        ),
        "bits_per_byte": lambda: l6a.plot_bits_per_byte_vs_bytes(results, fp32),
        "sensitivity": lambda: l6a.plot_layer_sensitivity(_kind_costs()),
        "layer_costs": lambda: l6a.plot_layer_costs(
            {f"blocks.{b}.{k}": l6a.Cost(0.3 / (b + 1), 0.01) for b in range(6) for k in "ab"}
        ),
        "channel_ranges": lambda: l6a.plot_channel_ranges(
            torch.rand(128) + torch.eye(128)[5] * 20, "blocks.3.mlp.down"
        ),
    }


@pytest.mark.parametrize("name", list(_every_model_plot()))
def test_every_model_plot_is_readable_at_100_percent(name):
    assert_readable(_every_model_plot()[name]())
