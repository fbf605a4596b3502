"""course.lessons.l3e (L3-E, weights and activations): its plots, widget, checker and runs."""

import pytest
import torch

import helper
from course.lessons import l3e


def w8a32_with_bias_as_in_course_notebook(input, q_w, s_w, z_w, bias):  # wrong: q s + z
    return torch.nn.functional.linear(input, q_w.float() * s_w + z_w, bias)


def test_w8a32_checker_catches_the_course_formula_only_through_a_zero_point():
    """The course's ``q s + z`` passes the symmetric case (input 1) and fails the asymmetric one."""
    verdict = l3e.check_w8a32_with_bias(w8a32_with_bias_as_in_course_notebook)
    assert "differs on input 2 of" in verdict.message


def test_plot_layer_outputs_draws_outputs_and_their_difference():
    reference = torch.tensor([-3.0, 3.85, -1.23])
    quantized = torch.tensor([-2.9921, 3.8583, -1.1969])
    figure = l3e.plot_layer_outputs(reference, quantized)
    left, right = figure.axes
    assert left.get_title() == "Outputs of the two layers"
    assert right.get_title() == "Error: W8A32 layer - fp32 layer"
    assert left.get_xlabel() == right.get_xlabel() == "output index"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["fp32 layer", "W8A32 layer"]
    heights = [patch.get_height() for patch in right.patches]
    assert heights == pytest.approx((quantized - reference).tolist(), abs=1e-6)


def test_plot_layer_outputs_rejects_bad_input():
    with pytest.raises(ValueError, match="one shape"):
        l3e.plot_layer_outputs(torch.zeros(3), torch.zeros(4))
    with pytest.raises(TypeError, match="quantized_output must be a floating-point"):
        l3e.plot_layer_outputs(torch.zeros(3), torch.zeros(3, dtype=torch.int8))
    with pytest.raises(TypeError, match="reference_output must be a floating-point"):
        l3e.plot_layer_outputs([0.0, 1.0], torch.zeros(2))


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_linear_output_is_the_w8a32_output(bits):
    generator = torch.Generator().manual_seed(7)
    weight, x = torch.randn(5, 8, generator=generator), torch.randn(3, 8, generator=generator)
    explorer = l3e.explore_quantized_linear(weight, x, bits=bits, granularity="per-tensor")
    dtype = helper.integer_dtype(bits)
    reference = torch.nn.functional.linear(x, weight)
    for granularity in ("per-tensor", "per-channel rows"):
        explorer.controls["granularity"].value = granularity
        if granularity == "per-tensor":
            q, scale = helper.linear_q_symmetric(weight, dtype)
        else:
            q, scale = helper.linear_q_symmetric_per_channel(weight, 0, dtype)
        output = helper.quantized_linear_W8A32_without_bias(x, q, scale, 0)
        assert explorer.readout["mse"] == pytest.approx(
            helper.quantization_error(reference, output)
        )
        weight_mse = helper.quantization_error(weight, helper.linear_dequantization(q, scale, 0))
        assert explorer.readout["weight_mse"] == pytest.approx(weight_mse)


def test_quantized_linear_error_grows_as_bits_fall():
    explorer = l3e.explore_quantized_linear()
    errors = []
    for bits in (8, 6, 4, 2):
        explorer.controls["bits"].value = bits
        errors.append(explorer.readout["mse"])
    assert errors == sorted(errors) and errors[0] < errors[-1] / 100


@pytest.mark.parametrize(
    ("weight", "x", "error"),
    [
        (torch.randn(4, 8), torch.randn(2, 7), ValueError),
        (torch.randn(4, 8), [[1.0] * 8], TypeError),
        ("weights", None, TypeError),
        (torch.randn(8), None, ValueError),
        (torch.randn(4, 8), torch.tensor(1.0), ValueError),
    ],
)
def test_quantized_linear_bad_arguments(weight, x, error):
    with pytest.raises(error, match="input|weight"):
        l3e.explore_quantized_linear(weight, x)


def test_quantized_linear_of_a_zero_input_has_no_nan():
    readout = l3e.explore_quantized_linear(torch.randn(4, 8), torch.zeros(2, 8)).readout
    assert readout["mse"] == 0.0 and readout["relative_error"] == 0.0
