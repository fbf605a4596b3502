"""Unit tests of helper.py: the course's worked examples, bad input and awkward input."""

import math

import matplotlib.figure
import numpy as np
import pytest
import torch

import helper

# The course's 3x3 example tensor (lessons L2 and L3).
COURSE_TENSOR = torch.tensor([[191.6, -13.5, 728.6], [92.14, 295.5, -184], [0, 684.6, 245.5]])


# --- The course's worked examples, exactly ------------------------------------------------


def test_l2a_quantize_with_scale_3_5_and_zero_point_minus_70():
    q = helper.linear_q_with_scale_and_zero_point(COURSE_TENSOR, 3.5, -70)
    expected = torch.tensor([[-15, -74, 127], [-44, 14, -123], [-70, 126, 0]], dtype=torch.int8)
    assert torch.equal(q, expected)
    dequantized = helper.linear_dequantization(q, 3.5, -70)
    assert torch.equal(
        dequantized,
        torch.tensor([[192.5, -14.0, 689.5], [91.0, 294.0, -185.5], [0.0, 686.0, 245.0]]),
    )
    assert helper.quantization_error(COURSE_TENSOR, dequantized) == pytest.approx(170.875, abs=1e-3)


def test_l2b_derived_scale_and_zero_point():
    scale, zero_point = helper.get_q_scale_and_zero_point(COURSE_TENSOR)
    assert scale == pytest.approx((728.6 + 184) / 255, rel=1e-6)
    assert round(scale, 2) == 3.58
    assert zero_point == -77
    assert isinstance(scale, float) and isinstance(zero_point, int)


def test_l2b_full_linear_quantizer_matches_the_course():
    q, scale, _zero_point = helper.linear_quantization(COURSE_TENSOR)
    expected = torch.tensor([[-23, -81, 127], [-51, 6, -128], [-77, 114, -8]], dtype=torch.int8)
    assert torch.equal(q, expected)
    error = helper.quantization_error(COURSE_TENSOR, helper.linear_dequantization(q, scale, -77))
    assert error == pytest.approx(1.573, abs=1e-3)


def test_l2b_course_arithmetic_in_python_floats():
    """The course computes s and z in Python floats; helper gives the same values."""
    r_min, r_max = COURSE_TENSOR.min().item(), COURSE_TENSOR.max().item()
    scale = (r_max - r_min) / (127 - -128)
    zero_point = round(-128 - r_min / scale)
    assert helper.get_q_scale_and_zero_point(COURSE_TENSOR) == (scale, zero_point)
    course_q = torch.round(COURSE_TENSOR / scale + zero_point).clamp(-128, 127).to(torch.int8)
    assert torch.equal(helper.linear_quantization(COURSE_TENSOR)[0], course_q)


def test_l3a_symmetric_scale_is_max_abs_over_q_max():
    scale = helper.get_q_scale_symmetric(COURSE_TENSOR)
    assert scale == COURSE_TENSOR.abs().max().item() / 127
    q, same_scale = helper.linear_q_symmetric(COURSE_TENSOR)
    assert same_scale == scale
    course_q = torch.round(COURSE_TENSOR / scale).clamp(-128, 127).to(torch.int8)
    assert torch.equal(q, course_q)
    assert q.abs().max() == 127


def _course_per_channel(r_tensor, dim, dtype=torch.int8):
    """The course's loop over channels, kept here as the reference."""
    scale = torch.zeros(r_tensor.shape[dim])
    for index in range(r_tensor.shape[dim]):
        sub = r_tensor.select(dim, index)
        scale[index] = sub.abs().max().item() / torch.iinfo(dtype).max
    shape = [1] * r_tensor.dim()
    shape[dim] = -1
    scale = scale.view(shape)
    return torch.round(r_tensor / scale).clamp(-128, 127).to(dtype), scale


@pytest.mark.parametrize("dim", [0, 1])
def test_l3c_per_channel_equals_the_course_loop(dim):
    q, scale = helper.linear_q_symmetric_per_channel(COURSE_TENSOR, dim=dim)
    course_q, course_scale = _course_per_channel(COURSE_TENSOR, dim)
    assert torch.equal(q, course_q)
    assert torch.equal(scale, course_scale)
    assert scale.shape == ((3, 1) if dim == 0 else (1, 3))


def test_l3c_per_channel_errors_are_smaller_than_per_tensor():
    q, s = helper.linear_q_symmetric(COURSE_TENSOR)
    per_tensor = helper.quantization_error(COURSE_TENSOR, helper.linear_dequantization(q, s, 0))
    for dim in (0, 1):
        q, s = helper.linear_q_symmetric_per_channel(COURSE_TENSOR, dim)
        error = helper.quantization_error(COURSE_TENSOR, helper.linear_dequantization(q, s, 0))
        assert error < per_tensor


def test_l3d_per_group_equals_per_channel_on_reshaped_groups():
    torch.manual_seed(123)
    tensor = torch.rand((6, 6))
    q, scale = helper.linear_q_symmetric_per_group(tensor, group_size=3)
    course_q, course_scale = _course_per_channel(tensor.view(-1, 3), dim=0)
    assert torch.equal(q, course_q.view(6, 6))
    assert torch.equal(scale.flatten(), course_scale.flatten())
    assert scale.shape == (6, 2)
    dequantized = helper.linear_dequantization_per_group(q, scale, 3)
    assert torch.equal(dequantized, (course_q * course_scale).view(6, 6))
    assert helper.linear_dequantization_per_group(q, course_scale, 3).equal(dequantized)


def test_l3d_four_bits_group_32_fp16_scale_is_4_5_bits():
    assert helper.bits_per_weight(4, 32, scale_bits=16) == 4.5
    assert helper.bits_per_weight(8, None) == 8.0
    assert helper.bits_per_weight(4, 128, scale_bits=32) == 4.25
    with pytest.raises(ValueError, match="group_size"):
        helper.bits_per_weight(4, 0)


def test_l3e_w8a32_dequantizes_as_s_times_q_minus_z():
    torch.manual_seed(0)
    weight, x = torch.randn(3, 4), torch.randn(2, 4)
    q_w, s_w, z_w = helper.linear_quantization(weight)
    assert z_w != 0
    out = helper.quantized_linear_W8A32_without_bias(x, q_w, s_w, z_w)
    expected = x @ (s_w * (q_w.float() - z_w)).T
    assert torch.allclose(out, expected, atol=1e-6)
    wrong = x @ (q_w.float() * s_w + z_w).T  # the course notebook's formula
    assert not torch.allclose(out, wrong, atol=1e-3)
    assert out.dtype == torch.float32 and out.shape == (2, 3)


def test_l3e_w8a32_with_per_channel_scales():
    torch.manual_seed(1)
    weight, x = torch.randn(5, 8), torch.randn(3, 8)
    q_w, s_w = helper.linear_q_symmetric_per_channel(weight, dim=0)
    out = helper.quantized_linear_W8A32_without_bias(x, q_w, s_w, 0)
    assert torch.allclose(out, x @ weight.T, atol=0.05)


# --- Data types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "expected", "container"),
    [
        (torch.int8, (-128, 127), torch.int8),
        (torch.uint8, (0, 255), torch.uint8),
        (torch.int16, (-32768, 32767), torch.int16),
        (torch.int32, (-(2**31), 2**31 - 1), torch.int32),
        (torch.int4, (-8, 7), torch.int8),
        (torch.uint4, (0, 15), torch.uint8),
        (torch.int3, (-4, 3), torch.int8),
        (torch.uint3, (0, 7), torch.uint8),
        (torch.int2, (-2, 1), torch.int8),
        (torch.uint2, (0, 3), torch.uint8),
        (torch.int1, (-1, 0), torch.int8),
        (torch.uint1, (0, 1), torch.uint8),
    ],
)
def test_dtype_ranges_and_containers(dtype, expected, container):
    assert helper.q_range(dtype) == expected
    assert helper.storage_dtype(dtype) == container
    torch.manual_seed(0)
    q, _, _ = helper.linear_quantization(torch.randn(8, 8), dtype)
    assert q.dtype == container
    assert expected[0] <= int(q.min()) and int(q.max()) <= expected[1]


def test_dtype_bits_and_integer_dtype():
    assert helper.dtype_bits(torch.int8) == 8
    assert helper.dtype_bits(torch.uint4) == 4
    assert helper.integer_dtype(4) is torch.int4
    assert helper.integer_dtype(8, signed=False) is torch.uint8
    with pytest.raises(ValueError, match="bits"):
        helper.integer_dtype(0)


def test_sub_byte_asymmetric_quantization_uses_the_whole_range():
    tensor = torch.linspace(-1, 3, 100)
    q, scale, _zero_point = helper.linear_quantization(tensor, torch.uint4)
    assert int(q.min()) == 0 and int(q.max()) == 15
    assert scale == pytest.approx(4 / 15)


# --- Bad input: clear errors that name the argument --------------------------------------------

BAD_CALLS = [
    (lambda: helper.linear_quantization([1.0, 2.0]), TypeError, "tensor must be a torch.Tensor"),
    (lambda: helper.linear_quantization(torch.tensor([1, 2])), TypeError, "floating-point"),
    (lambda: helper.linear_quantization(torch.empty(0)), ValueError, "empty"),
    (lambda: helper.linear_quantization(torch.tensor([1.0, math.nan])), ValueError, "NaN"),
    (lambda: helper.linear_quantization(torch.tensor([1.0, math.inf])), ValueError, "infinite"),
    (lambda: helper.linear_q_symmetric(torch.tensor([-math.inf])), ValueError, "infinite"),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.tensor([math.nan]), 1.0, 0),
        ValueError,
        "NaN",
    ),
    (lambda: helper.linear_quantization(torch.ones(2), torch.float32), TypeError, "dtype"),
    (lambda: helper.linear_quantization(torch.ones(2), torch.bool), TypeError, "dtype"),
    (lambda: helper.linear_quantization(torch.ones(2), "int8"), TypeError, "dtype"),
    (lambda: helper.linear_q_symmetric(torch.ones(2), torch.uint8), ValueError, "signed"),
    (lambda: helper.linear_q_symmetric(torch.ones(2), torch.int1), ValueError, "2 bits"),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), 0.0, 0),
        ValueError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), -1.0, 0),
        ValueError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), math.nan, 0),
        ValueError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), "1", 0),
        TypeError,
        "scale",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2), 1.0, 0.5),
        ValueError,
        "zero_point",
    ),
    (
        lambda: helper.linear_q_with_scale_and_zero_point(torch.ones(2, 3), torch.ones(2), 0),
        ValueError,
        "scale of shape",
    ),
    (
        lambda: helper.linear_dequantization(
            torch.ones(2, dtype=torch.int8), torch.tensor([0.0]), 0
        ),
        ValueError,
        "scale",
    ),
    (lambda: helper.linear_dequantization(torch.ones(2), 1.0, 0), TypeError, "quantized_tensor"),
    (lambda: helper.linear_q_symmetric_per_channel(torch.ones(2, 3), dim=2), IndexError, "dim"),
    (lambda: helper.linear_q_symmetric_per_channel(torch.ones(2, 3), dim=-3), IndexError, "dim"),
    (lambda: helper.linear_q_symmetric_per_channel(torch.ones(2, 3), dim=0.0), TypeError, "dim"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), 4), ValueError, "group_size"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), 0), ValueError, "group_size"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), 2.0), ValueError, "group_size"),
    (lambda: helper.linear_q_symmetric_per_group(torch.ones(2, 6), True), ValueError, "group_size"),
    (
        lambda: helper.linear_dequantization_per_group(
            torch.ones(2, 6, dtype=torch.int8), torch.ones(3), 3
        ),
        ValueError,
        "scale has 3 values",
    ),
    (
        lambda: helper.linear_dequantization_per_group(
            torch.ones(2, 6, dtype=torch.int8), torch.ones(4), 4
        ),
        ValueError,
        "group_size",
    ),
    (
        lambda: helper.quantized_linear_W8A32_without_bias(
            torch.ones(1, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.int8), 1.0, 0
        ),
        TypeError,
        "input must be a float32",
    ),
    (
        lambda: helper.quantized_linear_W8A32_without_bias(
            torch.ones(1, 2), torch.ones(3, 2, dtype=torch.int16), 1.0, 0
        ),
        TypeError,
        "q_w must be an int8",
    ),
    (
        lambda: helper.quantized_linear_W8A32_without_bias(
            torch.ones(1, 4), torch.ones(3, 2, dtype=torch.int8), 1.0, 0
        ),
        ValueError,
        "shapes do not match",
    ),
    (
        lambda: helper.quantization_error(torch.ones(2), np.ones(2)),
        TypeError,
        "same kind",
    ),
    (lambda: helper.quantization_error([1.0], [1.0]), TypeError, "NumPy"),
    (lambda: helper.quantization_error(torch.ones(2), torch.ones(3)), ValueError, "shapes"),
    (
        lambda: helper.quantization_error(torch.ones(2), torch.ones(2), "rmse"),
        ValueError,
        "error_type",
    ),
    (
        lambda: helper.quantize_blocks(torch.ones(4, 4), (3, 4)),
        ValueError,
        "block_size",
    ),
    (
        lambda: helper.quantize_blocks(torch.ones(4, 4), (4, 4), mode="signed"),
        ValueError,
        "mode",
    ),
    (lambda: helper.block_size_for((4, 4), "per-row"), ValueError, "granularity"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_no_assert_statements_in_helper():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(helper))
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Assert)]


# --- Awkward but valid input ---------------------------------------------------------------


def test_all_zero_tensor_is_exact():
    zeros = torch.zeros(3, 4)
    q, scale, zero_point = helper.linear_quantization(zeros)
    assert scale > 0 and math.isfinite(scale)
    assert torch.equal(helper.linear_dequantization(q, scale, zero_point), zeros)
    q, scale = helper.linear_q_symmetric(zeros)
    assert scale > 0 and torch.equal(helper.linear_dequantization(q, scale, 0), zeros)


def test_all_zero_row_per_channel_and_per_group():
    tensor = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, -2.0, 3.0, 4.0]])
    q, scale = helper.linear_q_symmetric_per_channel(tensor, 0)
    assert bool((scale > 0).all())
    dequantized = helper.linear_dequantization(q, scale, 0)
    assert torch.equal(dequantized[0], torch.zeros(4))
    q, scale = helper.linear_q_symmetric_per_group(tensor, 2)
    assert torch.equal(helper.linear_dequantization_per_group(q, scale, 2)[0], torch.zeros(4))


@pytest.mark.parametrize("value", [5.0, -3.0, 1e-30, 1e30])
def test_constant_tensor(value):
    tensor = torch.full((3, 3), value)
    q, scale, zero_point = helper.linear_quantization(tensor)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    assert torch.allclose(dequantized, tensor, rtol=1e-5)
    q, scale = helper.linear_q_symmetric(tensor)
    assert torch.allclose(helper.linear_dequantization(q, scale, 0), tensor, rtol=1e-5)


def test_all_positive_tensor_keeps_full_resolution():
    """The course's clamped zero point would lose every value near r_min; helper does not."""
    torch.manual_seed(0)
    tensor = 2 + 8 * torch.rand(100)  # r_min = 2 > 0: a ReLU-like tensor
    q, scale, zero_point = helper.linear_quantization(tensor)
    assert zero_point == -128
    error = (helper.linear_dequantization(q, scale, zero_point) - tensor).abs().max()
    assert error <= scale / 2 * (1 + 1e-5)


def test_one_element_and_zero_dim_tensors():
    for tensor in (torch.tensor([2.5]), torch.tensor(2.5)):
        q, scale, zero_point = helper.linear_quantization(tensor)
        assert q.shape == tensor.shape
        assert helper.linear_dequantization(q, scale, zero_point).item() == pytest.approx(2.5, 0.01)
        q, scale = helper.linear_q_symmetric(tensor)
        assert helper.linear_dequantization(q, scale, 0).item() == pytest.approx(2.5)


def test_non_contiguous_views():
    torch.manual_seed(0)
    base = torch.randn(6, 8)
    view = base.T
    assert not view.is_contiguous()
    q, scale = helper.linear_q_symmetric_per_channel(view, dim=0)
    expected_q, expected_scale = helper.linear_q_symmetric_per_channel(view.contiguous(), dim=0)
    assert torch.equal(q, expected_q) and torch.equal(scale, expected_scale)
    q, scale = helper.linear_q_symmetric_per_group(view, 3)
    assert torch.equal(q, helper.linear_q_symmetric_per_group(view.contiguous(), 3)[0])
    sliced = base[:, ::2]
    assert torch.equal(
        helper.linear_quantization(sliced)[0], helper.linear_quantization(sliced.contiguous())[0]
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_inputs(dtype):
    torch.manual_seed(0)
    tensor = torch.randn(4, 8).to(dtype)
    q, scale, zero_point = helper.linear_quantization(tensor)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    assert dequantized.dtype == torch.float32
    assert (dequantized - tensor.float()).abs().max() <= scale / 2 + 1e-2 * scale
    q, scale = helper.linear_q_symmetric_per_group(tensor, 4)
    assert helper.linear_dequantization_per_group(q, scale, 4).dtype == torch.float32


def test_per_channel_on_nd_tensor_with_negative_dim():
    torch.manual_seed(0)
    tensor = torch.randn(2, 3, 4)
    q, scale = helper.linear_q_symmetric_per_channel(tensor, dim=-1)
    assert scale.shape == (1, 1, 4)
    for channel in range(4):
        expected = helper.linear_q_symmetric(tensor[..., channel].contiguous())[0]
        assert torch.equal(q[..., channel], expected)


def test_per_group_on_nd_tensor():
    torch.manual_seed(0)
    tensor = torch.randn(2, 3, 8)
    q, scale = helper.linear_q_symmetric_per_group(tensor, 4)
    assert scale.shape == (2, 3, 2)
    flat_q, _ = helper.linear_q_symmetric_per_channel(tensor.reshape(-1, 4), dim=0)
    assert torch.equal(q, flat_q.view(2, 3, 8))


def test_quantize_blocks_asymmetric_per_channel():
    torch.manual_seed(0)
    tensor = torch.randn(4, 6)
    q, scale, zero_point = helper.quantize_blocks(tensor, (1, 6), torch.uint8)
    assert scale.shape == zero_point.shape == (4, 1)
    for row in range(4):
        row_q, row_scale, row_zero = helper.linear_quantization(tensor[row], torch.uint8)
        assert torch.equal(q[row], row_q)
        assert scale[row].item() == pytest.approx(row_scale, rel=1e-7)
        assert zero_point[row].item() == row_zero
    dequantized = helper.dequantize_blocks(q, scale, zero_point, (1, 6))
    assert torch.equal(dequantized, helper.linear_dequantization(q, scale, zero_point))


# --- quantization_error ----------------------------------------------------------------------


def test_quantization_error_torch_and_numpy_agree():
    torch.manual_seed(0)
    a, b = torch.randn(5, 5), torch.randn(5, 5)
    for kind in ("mse", "mae"):
        from_torch = helper.quantization_error(a, b, kind)
        from_numpy = helper.quantization_error(a.numpy(), b.numpy(), kind)
        assert isinstance(from_torch, float) and isinstance(from_numpy, float)
        assert from_torch == pytest.approx(from_numpy, rel=1e-12)
    assert helper.quantization_error(a, b) == pytest.approx(((a - b) ** 2).mean().item(), 1e-6)
    assert helper.quantization_error(a, b, "mae") == pytest.approx((a - b).abs().mean().item())


# --- plot_quantization_errors ----------------------------------------------------------------


def test_plot_small_tensor_writes_values_in_cells():
    q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    figure = helper.plot_quantization_errors(COURSE_TENSOR, q, dequantized)
    assert isinstance(figure, matplotlib.figure.Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == [
        "Original tensor",
        "Quantized tensor (int8)",
        "Dequantized tensor",
        "Quantization error |r - r'|",
    ]
    assert [len(ax.texts) for ax in figure.axes] == [9, 9, 9, 9]
    assert figure.axes[1].texts[0].get_text() == "-23"


def test_plot_large_tensor_uses_colour_bars():
    torch.manual_seed(0)
    tensor = torch.randn(32, 32)
    q, scale = helper.linear_q_symmetric(tensor)
    figure = helper.plot_quantization_errors(tensor, q, helper.linear_dequantization(q, scale, 0))
    heatmaps = [ax for ax in figure.axes if ax.get_title()]
    assert len(heatmaps) == 4 and all(not ax.texts for ax in heatmaps)
    assert len(figure.axes) == 8  # four colour bars


def test_plot_colour_range_follows_dtype_and_n_bits():
    q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR, torch.int4)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    figure = helper.plot_quantization_errors(COURSE_TENSOR, q, dequantized, torch.int4)
    assert figure.axes[1].images[0].get_clim() == (-8, 7)
    figure = helper.plot_quantization_errors(COURSE_TENSOR, q, dequantized, torch.int8, n_bits=4)
    assert figure.axes[1].images[0].get_clim() == (-8, 7)


def test_plot_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        helper.plot_quantization_errors(torch.ones(2, 2), torch.ones(2, 3), torch.ones(2, 2))


# --- check_exercise: the "Your turn" verdicts ------------------------------------------------

CASES = [(COURSE_TENSOR,), (torch.tensor([[1.0, -2.0], [3.0, 0.5]]),)]


def test_check_exercise_pass():
    verdict = helper.check_exercise(helper.linear_q_symmetric, helper.linear_q_symmetric, CASES)
    assert verdict.status == "pass" and bool(verdict)
    assert "all 2 inputs" in repr(verdict)


def test_check_exercise_not_done_yet():
    def unfinished(tensor):
        raise NotImplementedError

    verdict = helper.check_exercise(unfinished, helper.linear_q_symmetric, CASES, "my_fn")
    assert verdict.status == "not done yet" and not verdict
    assert "my_fn" in verdict.message


def test_check_exercise_mismatch_names_the_first_differing_input_and_index():
    def off_by_one_on_second(tensor):
        q, scale = helper.linear_q_symmetric(tensor)
        return (q + 1, scale) if tensor.shape == (2, 2) else (q, scale)

    verdict = helper.check_exercise(off_by_one_on_second, helper.linear_q_symmetric, CASES)
    assert verdict.status == "mismatch"
    assert "input 2 of 2" in verdict.message and "index (0, 0)" in verdict.message


def test_check_exercise_mismatch_on_type_and_scale():
    verdict = helper.check_exercise(
        lambda t: helper.linear_q_symmetric(t)[0], helper.linear_q_symmetric, CASES
    )
    assert verdict.status == "mismatch" and "tuple of 2" in verdict.message
    verdict = helper.check_exercise(
        lambda t: (helper.linear_q_symmetric(t)[0], 1.0), helper.linear_q_symmetric, CASES
    )
    assert verdict.status == "mismatch" and "result[1]" in verdict.message


def test_check_exercise_reports_an_exception():
    verdict = helper.check_exercise(lambda t: t / 0 + None, helper.linear_q_symmetric, CASES)
    assert verdict.status == "error" and "TypeError" in verdict.message
