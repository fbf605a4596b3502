"""course.lessons.l3a (L3-A, symmetric against asymmetric): its plots, widget, checker and runs."""

import pytest
import torch
from conftest import figure_titles, round_trip_mse

import helper
from course import data
from course.lessons import l3a


def symmetric_right(tensor, bits):
    q_max = 2 ** (bits - 1) - 1
    scale = tensor.abs().max().item() / q_max
    return torch.round(tensor / scale).clamp(-q_max - 1, q_max).to(torch.int8), scale


def symmetric_float(tensor, bits):
    quantized, scale = symmetric_right(tensor, bits)
    return quantized.float(), scale


def test_symmetric_checker_wants_an_int8_tensor():
    verdict = l3a.check_symmetric_quantization(symmetric_float)
    assert verdict.status == "mismatch"
    assert "torch.int8" in verdict.message


def test_wasted_levels_on_a_constructed_tensor():
    """0..7 in int4 (16 levels): symmetric (s = 1) uses 0..7 and never reaches -8..-1;
    asymmetric spreads the 8 values over the whole range (q = -8, -6, ..., 5, 7)."""
    explorer = l3a.explore_symmetric_vs_asymmetric(torch.arange(8.0), bits=4, skew=0.0)
    explorer.controls["mode"].value = "symmetric"
    assert explorer.readout["n_levels"] == 16
    assert explorer.readout["levels_outside_range"] == 8
    assert explorer.readout["unused_levels"] == 8
    explorer.controls["mode"].value = "asymmetric"
    assert explorer.readout["levels_outside_range"] == 0
    assert explorer.readout["unused_levels"] == 8


def test_symmetric_wastes_about_half_the_levels_on_one_sided_data():
    readout = l3a.explore_symmetric_vs_asymmetric(mode="symmetric", bits=8, skew=1.0).readout
    assert readout["levels_outside_range"] >= 128
    assert readout["mse_symmetric"] > 3 * readout["mse_asymmetric"]


@pytest.mark.parametrize("skew", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_mode_errors_are_the_library_errors(skew, bits):
    tensor = torch.linspace(-3.0, 5.0, 50)
    explorer = l3a.explore_symmetric_vs_asymmetric(tensor)
    explorer.controls["bits"].value, explorer.controls["skew"].value = bits, skew
    data = tensor + skew * 3.0  # the skew adds skew * |r_min| to every value
    dtype = helper.integer_dtype(bits)
    q, scale = helper.linear_q_symmetric(data, dtype)
    assert explorer.readout["mse_symmetric"] == pytest.approx(round_trip_mse(data, q, scale))
    q, scale, zero_point = helper.linear_quantization(data, dtype)
    expected = round_trip_mse(data, q, scale, zero_point)
    assert explorer.readout["mse_asymmetric"] == pytest.approx(expected)
    for mode in ("symmetric", "asymmetric"):
        explorer.controls["mode"].value = mode
        assert explorer.readout["mse"] == explorer.readout[f"mse_{mode}"]


def test_plot_mode_errors_has_one_line_per_mode():
    figure = l3a.plot_mode_errors(data.skewed_tensor(1000), bits=(2, 4, 8))
    assert figure_titles(figure) == ["Quantization error of each mode, by number of bits"]
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["asymmetric", "symmetric"]
    assert list(ax.get_lines()[0].get_xdata()) == [2, 4, 8]
