"""The maths of helper.py, lesson by lesson: the course's worked examples, bad and awkward
input, and the lessons past the course (W8A8, packing, QuantizedLinear)."""

import math
import statistics

import numpy as np
import pytest
import torch
from conftest import COURSE_TENSOR, random_int8, signed_range, w8a8_reference

import helper
from course import data, models


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


def test_a_float_zero_point_is_taken_when_whole_and_refused_when_not():
    """L2-A's formulas take z = -77.0 as -77; z = -76.5 is no zero point (z is an integer)."""
    assert helper.check_zero_point(-77.0) == -77
    assert isinstance(helper.check_zero_point(-77.0), int)
    as_float = helper.linear_q_with_scale_and_zero_point(COURSE_TENSOR, 3.5, -70.0)
    assert torch.equal(as_float, helper.linear_q_with_scale_and_zero_point(COURSE_TENSOR, 3.5, -70))
    whole = torch.tensor([3.0, -2.0])
    assert helper.check_zero_point(whole) is whole
    with pytest.raises(ValueError, match="whole number"):
        helper.check_zero_point(-76.5)
    with pytest.raises(ValueError, match="whole numbers"):
        helper.check_zero_point(torch.tensor([3.0, 0.5]))
    with pytest.raises(ValueError, match="zero_point"):
        helper.linear_dequantization(torch.zeros(2, dtype=torch.int8), 0.5, -76.5)
    with pytest.raises(TypeError, match="zero_point"):
        helper.check_zero_point(True)


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


def test_quantize_blocks_takes_a_0_d_tensor():
    """A single number is one block of shape (): quantized, dequantized, shapes ()."""
    for value in (2.5, -3.0):
        tensor = torch.tensor(value)
        for mode in ("asymmetric", "symmetric"):
            q, scale, zero_point = helper.quantize_blocks(tensor, (), torch.int8, mode)
            assert q.shape == scale.shape == zero_point.shape == ()
            restored = helper.dequantize_blocks(q, scale, zero_point, ())
            assert restored.shape == () and float(restored) == pytest.approx(value, rel=1e-6)


def test_fp16_scales_below_the_smallest_normal_stay_subnormal_and_never_reach_0():
    """A scale below float16's smallest normal (6.1e-5) is stored as the nearest subnormal, not
    raised to the smallest normal; one that float16 would round to 0 becomes the smallest
    subnormal, 2**-24, so that the values still divide by it."""
    smallest_normal = torch.finfo(torch.float16).smallest_normal
    tiny = torch.tensor([127e-6, -63e-6])  # scale 1e-6: subnormal in float16
    q, scale, _ = helper.quantize_blocks(tiny, (2,), torch.int8, "symmetric", torch.float16)
    assert scale.dtype == torch.float16 and 0 < float(scale) < smallest_normal
    assert torch.equal(scale, torch.tensor([1e-6]).to(torch.float16))
    assert torch.equal(q, torch.round(tiny / scale.float()).to(torch.int8))
    tinier = torch.tensor([127e-8, -64e-8])  # scale 1e-8: 0 in float16
    assert float(torch.tensor(1e-8).to(torch.float16)) == 0
    q, scale, _ = helper.quantize_blocks(tinier, (2,), torch.int8, "symmetric", torch.float16)
    assert float(scale) == 2.0**-24
    assert q.tolist() == [21, -11]


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
    skewed = data.skewed_tensor()
    asymmetric, _, _ = helper.linear_quantization(skewed, torch.int8)
    symmetric, _ = helper.linear_q_symmetric(skewed, torch.int8)
    assert helper.levels_used(asymmetric, torch.int8) == (256, 256)
    assert helper.levels_used(symmetric, torch.int8) == (128, 256)
    four_bit, _ = helper.linear_q_symmetric(skewed, torch.int4)
    assert helper.levels_used(four_bit, torch.int4) == (8, 16)


def test_levels_used_rejects_a_float_tensor():
    with pytest.raises(TypeError, match="quantized_tensor must be an integer tensor"):
        helper.levels_used(torch.zeros(3))


SIZES = [(1, 1, 1), (1, 1, 5), (4, 1, 3), (1, 7, 1), (3, 5, 7), (16, 16, 8), (17, 32, 24)]


@pytest.mark.parametrize("m, k, n", [*SIZES, (33, 12, 9), (2, 300, 3)])
def test_int_mm_applies_to_any_size_on_cpu_and_equals_the_int32_matmul(m, k, n):
    """torch 2.13's CPU _int_mm has no size rule (CUDA's m > 16, k and n multiples of 8)."""
    a, b = random_int8(m * 100 + k, m, k), random_int8(n, n, k)
    assert helper.int_mm_supported(a, b)
    via_int_mm = helper.int8_matmul(a, b, method="int_mm")
    via_int32 = helper.int8_matmul(a, b, method="int32")
    assert via_int_mm.dtype == via_int32.dtype == torch.int32
    assert torch.equal(via_int_mm, via_int32)
    assert torch.equal(via_int32, (a.long() @ b.long().t()).int())


@pytest.mark.parametrize("m, k, n", SIZES)
def test_int_mm_path_is_right_whatever_the_strides(m, k, n):
    """The CPU kernel reads leading dimensions from strides: k = 1, or a size-1 axis with
    stride 0, gave uninitialised memory before int8_matmul handed it row-major copies."""
    a, b = random_int8(m + 7, m, k), random_int8(n + 8, n, k)
    expected = a.int() @ b.int().t()
    variants = [(a, b), (a.t().contiguous().t(), b), (a, b.t().contiguous().t())]
    variants += [(a[:1].expand(m, k), b[:1].expand(n, k))]
    variants += [(a.as_strided(a.shape, (0 if m == 1 else k, 1)), b)]
    variants += [(a, b.as_strided(b.shape, (0 if n == 1 else k, 1)))]
    for left, right in variants:
        reference = left.int() @ right.int().t()
        assert torch.equal(helper.int8_matmul(left, right, "int_mm"), reference)
    assert torch.equal(helper.int8_matmul(a, b, "int_mm"), expected)


def test_int_mm_is_not_used_on_what_it_does_not_take():
    a = random_int8(0, 4, 8)
    assert not helper.int_mm_supported(a.int(), a.int())
    assert not helper.int_mm_supported(a[None], a[None])


@pytest.mark.parametrize("granularity", ["per-tensor", "per-channel"])
@pytest.mark.parametrize("method", ["auto", "int_mm", "int32"])
def test_w8a8_equals_the_float64_reference(granularity, method):
    torch.manual_seed(0)
    x = torch.randn(20, 48).relu() + 0.05
    w = torch.randn(12, 48) * 0.1
    q_x, s_x, z_x = helper.linear_quantization(x)
    if granularity == "per-tensor":
        q_w, s_w = helper.linear_q_symmetric(w)
    else:
        q_w, s_w = helper.linear_q_symmetric_per_channel(w, dim=0)
    assert z_x != 0  # the zero-point correction is exercised
    y = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w, method=method)
    assert y.dtype == torch.float32 and y.shape == (20, 12)
    torch.testing.assert_close(y.double(), w8a8_reference(q_x, s_x, z_x, q_w, s_w))


def test_w8a8_int_mm_path_equals_int32_fallback_exactly():
    q_x, q_w = random_int8(1, 40, 64), random_int8(2, 24, 64)
    s_w = torch.rand(24, 1, generator=torch.Generator().manual_seed(3)) + 0.01
    fast = helper.quantized_linear_W8A8_without_bias(q_x, 0.02, -7, q_w, s_w, method="int_mm")
    slow = helper.quantized_linear_W8A8_without_bias(q_x, 0.02, -7, q_w, s_w, method="int32")
    assert torch.equal(fast, slow)


def test_w8a8_with_precomputed_row_sums():
    q_x, q_w = random_int8(6, 5, 16), random_int8(7, 4, 16)
    row_sums = q_w.sum(dim=1, dtype=torch.int32)
    y = helper.quantized_linear_W8A8_without_bias(q_x, 0.1, -9, q_w, 0.02, w_row_sums=row_sums)
    assert torch.equal(y, helper.quantized_linear_W8A8_without_bias(q_x, 0.1, -9, q_w, 0.02))
    for bad in (row_sums[:3], row_sums.long(), row_sums.tolist()):
        with pytest.raises(ValueError, match="w_row_sums"):
            helper.quantized_linear_W8A8_without_bias(q_x, 0.1, -9, q_w, 0.02, w_row_sums=bad)


def test_w8a8_keeps_leading_batch_axes():
    q_x, q_w = random_int8(4, 2, 3, 16), random_int8(5, 8, 16)
    y = helper.quantized_linear_W8A8_without_bias(q_x, 0.1, 3, q_w, 0.05)
    flat = helper.quantized_linear_W8A8_without_bias(q_x.reshape(6, 16), 0.1, 3, q_w, 0.05)
    assert y.shape == (2, 3, 8) and torch.equal(y.reshape(6, 8), flat)


def test_w8a8_is_close_to_w8a32_and_fp32():
    torch.manual_seed(1)
    x, w = torch.randn(32, 64), torch.randn(16, 64) * 0.1
    q_x, s_x, z_x = helper.linear_quantization(x)
    q_w, s_w = helper.linear_q_symmetric_per_channel(w, dim=0)
    w8a8 = helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w)
    w8a32 = helper.quantized_linear_W8A32_without_bias(x, q_w, s_w, 0)
    fp32 = x @ w.t()
    assert helper.quantization_error(fp32, w8a32) < helper.quantization_error(fp32, w8a8) < 1e-3


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"q_x": torch.zeros(2, 4)}, TypeError, "q_x"),
        ({"q_x": torch.zeros(2, 4, dtype=torch.uint8)}, TypeError, "q_x"),
        ({"q_w": torch.zeros(3, 4, dtype=torch.int32)}, TypeError, "q_w"),
        ({"q_w": [[1, 2, 3, 4]]}, TypeError, "q_w"),
        ({"q_w": torch.zeros(3, 5, dtype=torch.int8)}, ValueError, "shapes"),
        ({"q_w": torch.zeros(4, dtype=torch.int8)}, ValueError, "shapes"),
        ({"s_x": 0.0}, ValueError, "scale"),
        ({"s_x": -1.0}, ValueError, "scale"),
        ({"s_x": float("nan")}, ValueError, "scale"),
        ({"s_x": "0.1"}, TypeError, "scale"),
        ({"s_x": torch.ones(2)}, ValueError, "s_x"),
        ({"z_x": 200}, ValueError, "z_x"),
        ({"z_x": 0.5}, ValueError, "zero_point"),
        ({"s_w": torch.ones(2, 1)}, ValueError, "s_w"),
        ({"s_w": torch.tensor([[0.1], [0.0], [0.1]])}, ValueError, "scale"),
        ({"s_w": torch.ones(3, 1, dtype=torch.int32)}, TypeError, "scale"),
        ({"method": "fast"}, ValueError, "method"),
    ],
)
def test_w8a8_bad_input(change, error, words):
    arguments = {
        "q_x": torch.zeros(2, 4, dtype=torch.int8),
        "s_x": 0.1,
        "z_x": 0,
        "q_w": torch.zeros(3, 4, dtype=torch.int8),
        "s_w": torch.ones(3, 1),
    } | change
    method = arguments.pop("method", "auto")
    with pytest.raises(error, match=words):
        helper.quantized_linear_W8A8_without_bias(**arguments, method=method)


def test_int8_matmul_bad_input():
    a = torch.zeros(2, 4, dtype=torch.int8)
    with pytest.raises(TypeError, match="b must be an int8"):
        helper.int8_matmul(a, a.float())
    with pytest.raises(ValueError, match="2-D"):
        helper.int8_matmul(a[0], a)
    with pytest.raises(ValueError, match="columns"):
        helper.int8_matmul(a, a[:, :3])
    with pytest.raises(ValueError, match="_int_mm does not apply"):
        helper.int8_matmul(a, a.cuda() if torch.cuda.is_available() else a.to("meta"), "int_mm")


def test_int16_accumulator_overflows_after_one_worst_case_product():
    """Why int32: two int8 products of 16384 already wrap in int16."""
    assert torch.iinfo(torch.int16).max // helper.INT8_PRODUCT_MAX == 1
    assert torch.iinfo(torch.int32).max // helper.INT8_PRODUCT_MAX == 131071
    products = torch.full((2,), helper.INT8_PRODUCT_MAX, dtype=torch.int16)
    assert products.sum(dtype=torch.int16).item() == -32768


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 11), (64, 64)])
def test_pack_unpack_round_trip(bits, signed, shape):
    low, high = signed_range(bits) if signed else (0, 2**bits - 1)
    dtype = torch.int8 if signed else torch.uint8
    generator = torch.Generator().manual_seed(bits * 10 + len(shape))
    q = torch.randint(low, high + 1, shape, generator=generator).to(dtype)
    packed = helper.pack_weights(q, bits)
    n = q.numel()
    assert packed.dtype == torch.uint8 and packed.shape == (math.ceil(n * bits / 8),)
    assert packed.numel() == helper.packed_length(n, bits)
    restored = helper.unpack_weights(packed, bits, shape, signed=signed)
    assert restored.dtype == dtype and torch.equal(restored, q)


def test_pack_layout_first_value_in_the_lowest_bits():
    assert helper.pack_weights(torch.tensor([5, -3], dtype=torch.int8), 4).tolist() == [0xD5]
    q = torch.tensor([1, 2, 3, 0, 1], dtype=torch.uint8)
    assert helper.pack_weights(q, 2).tolist() == [0b00111001, 0b00000001]
    bits = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1], dtype=torch.uint8)
    assert helper.pack_weights(bits, 1).tolist() == [0b01001101, 1]


def test_pack_wider_integer_dtypes_and_explicit_signedness():
    q = torch.tensor([0, 15, 7, 8], dtype=torch.int64)
    packed = helper.pack_weights(q, 4, signed=False)
    assert torch.equal(helper.unpack_weights(packed, 4, (4,)), q.to(torch.uint8))
    with pytest.raises(ValueError, match="signed=False"):
        helper.pack_weights(q, 4)


@pytest.mark.parametrize("bits", [0, 3, 8, -1, 2.0, True, "4", None])
def test_pack_bad_bits(bits):
    with pytest.raises(ValueError, match="bits must be 1, 2 or 4"):
        helper.pack_weights(torch.zeros(4, dtype=torch.int8), bits)
    with pytest.raises(ValueError, match="bits must be 1, 2 or 4"):
        helper.unpack_weights(torch.zeros(2, dtype=torch.uint8), bits, (4,))


@pytest.mark.parametrize(
    "values, dtype, bits",
    [
        ([8], torch.int8, 4),
        ([-9], torch.int8, 4),
        ([16], torch.uint8, 4),
        ([2], torch.int8, 2),
        ([-3], torch.int8, 2),
        ([4], torch.uint8, 2),
        ([1], torch.int8, 1),
        ([2], torch.uint8, 1),
        ([-1], torch.int64, 1),
    ],
)
def test_pack_values_out_of_range(values, dtype, bits):
    q = torch.tensor(values).to(dtype)
    with pytest.raises(ValueError, match="outside the"):
        helper.pack_weights(q, bits, signed=None if dtype != torch.int64 else False)


@pytest.mark.parametrize("q", [torch.zeros(4), torch.zeros(4, dtype=torch.bool), [1, 2]])
def test_pack_non_integer_input(q):
    with pytest.raises(TypeError, match="q must be"):
        helper.pack_weights(q, 4)


def test_pack_empty_input():
    with pytest.raises(ValueError, match="empty"):
        helper.pack_weights(torch.zeros(0, dtype=torch.int8), 4)


def test_unpack_bad_input():
    packed = helper.pack_weights(torch.zeros(10, dtype=torch.int8), 4)  # 5 bytes
    with pytest.raises(ValueError, match="needs ceil"):
        helper.unpack_weights(packed, 4, (12,))
    with pytest.raises(ValueError, match="needs ceil"):
        helper.unpack_weights(packed, 2, (10,))
    assert helper.unpack_weights(packed, 4, (9,)).shape == (9,)  # 9 values need 5 bytes too
    with pytest.raises(TypeError, match="uint8"):
        helper.unpack_weights(packed.to(torch.int8), 4, (10,))
    with pytest.raises(ValueError, match="shape"):
        helper.unpack_weights(packed, 4, 10)
    with pytest.raises(ValueError, match="shape"):
        helper.unpack_weights(packed, 4, (2, -5))


def test_unpack_a_shape_with_a_0_in_it():
    """No values need no bytes: an empty packed tensor unpacks to any shape holding a 0."""
    empty = torch.zeros(0, dtype=torch.uint8)
    for bits in (1, 2, 4):
        for shape in ((0,), (0, 8), (8, 0)):
            for signed in (False, True):
                values = helper.unpack_weights(empty, bits, shape, signed=signed)
                assert values.shape == shape
                assert values.dtype == (torch.int8 if signed else torch.uint8)
    with pytest.raises(ValueError, match="needs ceil"):
        helper.unpack_weights(torch.zeros(1, dtype=torch.uint8), 4, (0, 8))


def test_real_storage_of_4_bit_group_32_fp16_is_4_5_bits_per_weight():
    torch.manual_seed(0)
    weight = torch.randn(256, 512)
    q, scale = helper.linear_q_symmetric_per_group(weight, 32, torch.int4)
    packed, scale16 = helper.pack_weights(q, 4), scale.to(torch.float16)
    bits = 8 * helper.tensor_bytes(packed, scale16) / weight.numel()
    assert bits == 4.5 == helper.bits_per_weight(4, 32, scale_bits=16)


SETTINGS = [
    (bits, granularity, group_size)
    for bits in (8, 4, 3, 2)
    for granularity, group_size in (("per-tensor", None), ("per-channel", None), ("per-group", 16))
]


@pytest.mark.parametrize("bits, granularity, group_size", SETTINGS)
def test_quantized_linear_forward_equals_dequantize_then_nn_linear(bits, granularity, group_size):
    torch.manual_seed(bits)
    linear = torch.nn.Linear(48, 20)
    layer = helper.QuantizedLinear.from_linear(linear, bits, granularity, group_size)
    q = layer.int_weight()
    low, high = signed_range(bits)
    assert q.dtype == torch.int8 and q.shape == (20, 48)
    assert low <= int(q.min()) and int(q.max()) <= high
    block = helper.block_size_for((20, 48), granularity, dim=0, group_size=group_size)
    weight = helper.dequantize_blocks(q, layer.scale.float(), 0, block)
    reference = torch.nn.Linear(48, 20)
    with torch.no_grad():
        reference.weight.copy_(weight)
        reference.bias.copy_(linear.bias)
    x = torch.randn(7, 48)
    with torch.no_grad():
        assert torch.equal(layer(x), reference(x))
    assert torch.equal(layer.dequantized_weight(), weight)


@pytest.mark.parametrize("bits, granularity, group_size", SETTINGS)
def test_quantized_linear_storage(bits, granularity, group_size):
    layer = helper.QuantizedLinear.from_linear(
        torch.nn.Linear(64, 32), bits, granularity, group_size
    )
    weight_bytes = 64 * 32 * bits // 8 if bits in (1, 2, 4) else 64 * 32
    scales = {"per-tensor": 1, "per-channel": 32, "per-group": 32 * 64 // 16}[granularity]
    expected = weight_bytes + 2 * scales + 4 * 32
    assert layer.storage_bytes == expected
    assert layer.weight_q.dtype == (torch.uint8 if bits in (1, 2, 4) else torch.int8)
    assert layer.scale.dtype == torch.float16


def test_quantized_linear_stored_scale_is_the_one_used_and_error_is_small():
    torch.manual_seed(2)
    linear = torch.nn.Linear(64, 16)
    for scale_dtype in (torch.float16, torch.float32):
        layer = helper.QuantizedLinear.from_linear(linear, 8, scale_dtype=scale_dtype)
        assert layer.scale.dtype == scale_dtype and layer.scale.shape == (16, 1)
        error = (layer.dequantized_weight() - linear.weight).abs()
        assert bool((error <= layer.scale.float() * 0.5 + 1e-7).all())


def test_quantized_linear_without_bias_and_tiny_weights():
    linear = torch.nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        linear.weight.fill_(1e-12)
        linear.weight[0] = 0.0
    layer = helper.QuantizedLinear.from_linear(linear, 4, "per-channel")
    assert layer.bias is None and bool((layer.scale > 0).all())
    assert torch.isfinite(layer(torch.ones(2, 8))).all()


def test_quantized_linear_bad_input():
    with pytest.raises(TypeError, match="nn.Linear"):
        helper.QuantizedLinear.from_linear(torch.nn.Conv1d(2, 2, 1))
    for bits in (1, 9, 4.0):
        with pytest.raises(ValueError, match="bits"):
            helper.QuantizedLinear.from_linear(torch.nn.Linear(8, 4), bits)
    with pytest.raises(ValueError, match="group_size"):
        helper.QuantizedLinear.from_linear(torch.nn.Linear(12, 4), 4, "per-group", 8)
    with pytest.raises(ValueError, match="granularity"):
        helper.QuantizedLinear.from_linear(torch.nn.Linear(8, 4), 4, "per-row")
    with pytest.raises(TypeError, match="scale_dtype"):
        helper.QuantizedLinear.from_linear(torch.nn.Linear(8, 4), 4, scale_dtype=torch.int8)


def test_quantize_model_swaps_every_linear_and_keeps_the_original(trained):
    model, digits = trained
    before = [p.clone() for p in model.parameters()]
    quantized = helper.quantize_model(model, 4, "per-group", 32)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    swapped = [m for m in quantized.modules() if isinstance(m, helper.QuantizedLinear)]
    assert len(linears) == len(swapped) == 3
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.modules())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert models.accuracy(quantized, digits.x_test, digits.y_test) > 0.9
    assert models.accuracy(
        helper.quantize_model(model, 8, "per-channel"), digits.x_test, digits.y_test
    ) == (pytest.approx(models.accuracy(model, digits.x_test, digits.y_test), abs=0.01))


def test_quantize_model_of_a_bare_linear():
    layer = helper.quantize_model(torch.nn.Linear(8, 2), 8, "per-tensor")
    assert isinstance(layer, helper.QuantizedLinear)
    with pytest.raises(TypeError, match="model"):
        helper.quantize_model("model", 8, "per-tensor")


def test_model_bytes(trained):
    model, _ = trained
    n_parameters = sum(p.numel() for p in model.parameters())
    assert n_parameters == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert helper.model_bytes(model) == 4 * n_parameters
    quantized = helper.quantize_model(model, 4, "per-channel")
    weights = 64 * 128 + 128 * 64 + 64 * 10
    scales, biases = 128 + 64 + 10, 128 + 64 + 10
    assert helper.model_bytes(quantized) == weights // 2 + 2 * scales + 4 * biases
    tied = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False))
    tied.append(tied[0])  # the same layer twice: counted once
    assert helper.model_bytes(tied) == 64
    with pytest.raises(TypeError, match="model"):
        helper.model_bytes(torch.zeros(3))


# ---------------------------------------------------------------------------------------------
# L5-A: SQNR, ranges, the split of the error, the clip search
# ---------------------------------------------------------------------------------------------


def test_sqnr_is_signal_over_noise_in_decibels():
    original = torch.tensor([3.0, -4.0])  # mean square 12.5
    assert helper.sqnr_db(original, original + 0.5) == pytest.approx(10 * math.log10(12.5 / 0.25))
    assert helper.sqnr_db(original, original) == math.inf


def test_sqnr_gains_about_six_decibels_per_bit():
    values = torch.rand(100_000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    sqnr = []
    for bits in range(3, 9):
        q, s = helper.linear_q_symmetric(values, helper.integer_dtype(bits))
        sqnr.append(helper.sqnr_db(values, helper.linear_dequantization(q, s, 0)))
    steps = np.diff(sqnr)
    # The step shrinks by q_max(b + 1) / q_max(b) = (2**b - 1) / (2**(b - 1) - 1), a bit more
    # than 2 (6.02 dB) at few bits: 7 / 3 from 3 to 4 bits, 7.4 dB.
    expected = [20 * math.log10((2**b - 1) / (2 ** (b - 1) - 1)) for b in range(3, 8)]
    assert np.allclose(steps, expected, atol=0.1), steps
    assert steps[-1] == pytest.approx(20 * math.log10(2), abs=0.1)


@pytest.mark.parametrize("block", [(1, 12), (8, 1), (8, 12), (1, 4), (2, 3)])
def test_percentile_100_is_the_min_and_max_of_each_block(block):
    tensor = torch.randn(8, 12, generator=torch.Generator().manual_seed(1))
    r_min, r_max = helper.percentile_range(tensor, block, 100)
    grid = (8 // block[0], 12 // block[1])
    assert r_min.shape == r_max.shape == grid
    blocks = tensor.reshape(grid[0], block[0], grid[1], block[1])
    assert torch.equal(r_min, blocks.amin(dim=(1, 3)))
    assert torch.equal(r_max, blocks.amax(dim=(1, 3)))


@pytest.mark.parametrize("percentile", [99.9, 99, 90, 75.5, 100])
def test_percentile_range_is_numpy_percentile_per_block(percentile):
    tensor = torch.randn(6, 64, generator=torch.Generator().manual_seed(2))
    for block, rows in (((1, 64), tensor.numpy()), ((1, 16), tensor.reshape(-1, 16).numpy())):
        r_min, r_max = helper.percentile_range(tensor, block, percentile)
        assert np.allclose(r_max.reshape(-1), np.percentile(rows, percentile, axis=1), atol=1e-6)
        assert np.allclose(
            r_min.reshape(-1), np.percentile(rows, 100 - percentile, axis=1), atol=1e-6
        )
    whole = helper.percentile_range(tensor, tensor.shape, 100)
    assert [float(v) for v in whole] == [float(v) for v in torch.aminmax(tensor)]


@pytest.mark.parametrize(
    ("percentile", "error"),
    [(50, ValueError), (100.5, ValueError), ("99", TypeError), (True, TypeError)],
)
def test_percentile_range_rejects_a_bad_percentile(percentile, error):
    with pytest.raises(error, match="percentile"):
        helper.percentile_range(torch.randn(8), (8,), percentile)


def test_range_scale_and_zero_point_is_l2b_and_l3a_on_a_given_range():
    tensor = torch.tensor([-1.5, 0.25, 3.0], dtype=torch.float64)
    scale, zero_point = helper.range_scale_and_zero_point(tensor.min(), tensor.max())
    assert (float(scale), int(zero_point)) == helper.get_q_scale_and_zero_point(tensor)
    scale, zero_point = helper.range_scale_and_zero_point(
        torch.tensor(-1.5), torch.tensor(3.0), mode="symmetric"
    )
    assert float(scale) == pytest.approx(3.0 / 127) and int(zero_point) == 0
    scale, zero_point = helper.range_scale_and_zero_point(torch.tensor(2.0), torch.tensor(4.0))
    assert float(scale) == pytest.approx(4.0 / 255)  # widened to include 0
    with pytest.raises(ValueError, match="r_min must not exceed r_max"):
        helper.range_scale_and_zero_point(torch.tensor(1.0), torch.tensor(0.0))


def test_quantize_blocks_with_a_value_range_clips_outside_it():
    tensor = torch.tensor([[-4.0, -1.0, 0.5, 1.0], [2.0, -2.0, 0.0, 8.0]])
    block = (1, 4)
    q, scale, _ = helper.quantize_blocks(
        tensor,
        block,
        torch.int8,
        "symmetric",
        value_range=(torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 2.0])),
    )
    assert torch.allclose(scale.reshape(-1), torch.tensor([1 / 127, 2 / 127]))
    assert q[0, 0] == -128 and q[1, 3] == 127  # clipped to the ends of the int8 range
    with pytest.raises(ValueError, match="value_range has 1 values, but the tensor has 2 blocks"):
        helper.quantize_blocks(
            tensor, block, value_range=(torch.tensor([0.0]), torch.tensor([1.0]))
        )


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.1])
def test_rounding_and_clipping_error_add_up_to_the_mse(ratio):
    tensor = data.heavy_tailed(5000, seed=3)
    scale = ratio * float(tensor.abs().max()) / 7
    rounding, clipping = helper.rounding_and_clipping_error(tensor, scale, 0, torch.int4)
    q = helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, torch.int4)
    mse = helper.quantization_error(tensor, helper.linear_dequantization(q, scale, 0))
    assert rounding + clipping == pytest.approx(mse, rel=1e-9)
    assert rounding <= scale**2 / 4  # each rounded value is at most half a step off
    assert (clipping == 0) == (ratio == 1.0)


def test_clip_search_trades_rounding_for_clipping_at_low_bits():
    tensor = data.heavy_tailed(20_000, seed=4).reshape(1, -1)
    ratios = {}
    for bits in (8, 4, 2):
        ratio, mse = helper.search_clip_ratio(tensor, tensor.shape, helper.integer_dtype(bits))
        q, s, z = helper.quantize_blocks(
            tensor, tensor.shape, helper.integer_dtype(bits), "symmetric"
        )
        full = helper.quantization_error(tensor, helper.dequantize_blocks(q, s, z, tensor.shape))
        assert float(mse) <= full
        ratios[bits] = float(ratio)
    assert ratios[8] > ratios[4] > ratios[2]
    assert ratios[2] < 0.25


@pytest.mark.parametrize("mode", ["symmetric", "asymmetric"])
def test_clip_search_per_channel_is_each_rows_own_search(mode):
    weight = data.layer_weights(5, 6, 64)
    ratio, mse = helper.search_clip_ratio(weight, (1, 64), torch.int4, mode)
    assert ratio.shape == mse.shape == (6, 1)
    for row in range(6):
        own_ratio, own_mse = helper.search_clip_ratio(
            weight[row : row + 1], (1, 64), torch.int4, mode
        )
        assert float(own_ratio) == float(ratio[row, 0])
        assert float(own_mse) == pytest.approx(float(mse[row, 0]))


@pytest.mark.parametrize(
    ("shape", "block", "bits", "mode"),
    [((4096,), (4096,), 4, "symmetric"), ((8, 64), (1, 64), 3, "asymmetric"),
     ((8, 64), (4, 16), 2, "symmetric"), ((6, 32), (1, 32), 8, "asymmetric")],
)  # fmt: skip
def test_clip_search_is_one_quantization_per_ratio_computed_at_once(shape, block, bits, mode):
    tensor = data.heavy_tailed(math.prod(shape), seed=bits).reshape(shape)
    dtype = helper.integer_dtype(bits)
    ratio, mse = helper.search_clip_ratio(tensor, block, dtype, mode)
    r_min, r_max = helper._blocks_last(tensor, block).aminmax(dim=-1)
    per_ratio = []
    for c in helper.CLIP_RATIOS.tolist():  # the search as a loop: one fake quantization a ratio
        restored = helper.fake_quantize_blocks(tensor, block, dtype, mode, (c * r_min, c * r_max))
        error = helper._blocks_last(restored.sub_(tensor).square_(), block)
        per_ratio.append(error.mean(dim=-1, dtype=torch.float64))
    per_ratio = torch.stack(per_ratio)
    assert torch.equal(mse, per_ratio.min(dim=0).values)
    assert torch.equal(ratio, helper.CLIP_RATIOS[per_ratio.argmin(dim=0)])


def test_symmetric_clip_is_lopsided_q_min_s_below_and_c_max_above():
    # 2 bits: levels -2, -1, 0, 1; c = 0.5 of max|r| = 4 gives s = 2: the range is [-4, 2]
    tensor = torch.tensor([-4.0, -3.9, 4.0, 2.0])
    scale = helper.clip_scale(tensor, 0.5, torch.int2)
    restored = helper.linear_dequantization(
        helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, torch.int2), scale, 0
    )
    assert scale == 2.0 and restored.tolist() == [-4.0, -4.0, 2.0, 2.0]
    assert helper.clipped(tensor, scale, 0, torch.int2).tolist() == [False, False, True, False]


def test_clip_search_of_zeros_keeps_the_first_ratio_and_rejects_bad_ratios():
    ratio, mse = helper.search_clip_ratio(torch.zeros(4, 8), (1, 8), ratios=[1.0, 0.5])
    assert torch.all(ratio == 1.0) and torch.all(mse == 0)
    for bad in ([], [0.0], [1.5], [[0.5]]):
        with pytest.raises(ValueError, match="ratios"):
            helper.search_clip_ratio(torch.ones(8), (8,), ratios=bad)


def test_convert_linears_passes_each_layers_name_and_keeps_the_original():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    seen = []
    copied = helper.convert_linears(
        model, lambda name, linear: seen.append(name) or torch.nn.Identity()
    )
    assert seen == ["0", "2"]
    assert isinstance(copied[0], torch.nn.Identity) and isinstance(model[0], torch.nn.Linear)
    assert helper.convert_linears(model[0], lambda name, linear: name) == ""
    with pytest.raises(TypeError, match="model"):
        helper.convert_linears("model", lambda name, linear: linear)


def test_mode_errors_symmetric_costs_one_bit_on_a_one_sided_tensor():
    table = helper.mode_errors(data.skewed_tensor(), bits=(8, 4, 3, 2))
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


def test_clip_sweep_parts_add_up_to_the_mse_and_the_search_finds_its_minimum():
    tensor = data.heavy_tailed(3000, seed=5)
    sweep = helper.clip_sweep(tensor, 3)
    assert sweep["clipping"][0] == 0  # ratio 1: nothing clipped
    total = sweep["rounding"] + sweep["clipping"]
    dtype = helper.integer_dtype(3)
    for index in (0, 40, 90):  # the two parts add up to the MSE at that ratio
        scale = helper.clip_scale(tensor, float(sweep["ratios"][index]), dtype)
        restored = helper.linear_dequantization(
            helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, dtype), scale, 0
        )
        assert total[index] == pytest.approx(helper.quantization_error(tensor, restored))
    ratio, mse = helper.search_clip_ratio(tensor, tensor.shape, dtype)
    assert sweep["ratios"][total.argmin()] == pytest.approx(float(ratio))
    assert total.min() == pytest.approx(float(mse), rel=1e-5)


def test_clipped_marks_the_values_the_clamp_moves():
    tensor = torch.tensor([-10.0, -1.0, 0.0, 0.5, 1.26, 1.3, 5.0])
    # scale 0.01, int8: round(r / 0.01) beyond [-128, 127] is clipped; 1.26 -> 126, 1.3 -> 130
    expected = torch.tensor([True, False, False, False, False, True, True])
    assert torch.equal(helper.clipped(tensor, 0.01, 0, torch.int8), expected)
    rounding, clipping = helper.rounding_and_clipping_error(tensor, 0.01, 0, torch.int8)
    assert clipping > 0 and rounding < 0.01**2


def test_clip_scale_is_c_max_over_q_max_and_checks_the_ratio():
    tensor = torch.tensor([-3.0, 1.0, 2.5])
    assert helper.clip_scale(tensor, 0.5, torch.int8) == 0.5 * 3.0 / 127
    assert helper.clip_scale(torch.zeros(3), 1.0) == helper.ZERO_RANGE_SCALE
    for bad, error in ((0.0, ValueError), (1.5, ValueError), ("1", TypeError)):
        with pytest.raises(error, match="clip_ratio"):
            helper.clip_scale(tensor, bad)


def test_fake_quantize_blocks_is_quantize_then_dequantize():
    tensor = data.seeded_normal(3, 4, 8)
    for block in ((4, 8), (1, 8), (1, 4)):
        q, scale, zero_point = helper.quantize_blocks(tensor, block, torch.int4, "symmetric")
        expected = helper.dequantize_blocks(q, scale, zero_point, block)
        assert torch.equal(
            helper.fake_quantize_blocks(tensor, block, torch.int4, "symmetric"), expected
        )


def test_expand_blocks_spreads_one_entry_per_block_over_its_values():
    grid = torch.tensor([[1, 2], [3, 4]])
    expected = torch.tensor([[1, 1, 1, 2, 2, 2], [3, 3, 3, 4, 4, 4]])
    assert torch.equal(helper.expand_blocks(grid, (1, 3)), expected)
    assert helper.expand_blocks(torch.ones(2, 1), (1, 5)).shape == (2, 5)
    with pytest.raises(ValueError, match="block_size"):
        helper.expand_blocks(grid, (3,))


@pytest.mark.parametrize("mode", ["symmetric", "asymmetric"])
def test_quantize_per_tensor_is_the_mode_s_quantizer(mode):
    tensor = data.skewed_tensor(100)
    q, scale, zero_point = helper.quantize_per_tensor(tensor, torch.int8, mode)
    if mode == "asymmetric":
        expected = helper.linear_quantization(tensor)
    else:
        expected = (*helper.linear_q_symmetric(tensor), 0)
    assert torch.equal(q, expected[0]) and (scale, zero_point) == expected[1:]
    with pytest.raises(ValueError, match="mode"):
        helper.quantize_per_tensor(tensor, torch.int8, "affine")


# --- L6-A: bits per byte, byte windows, activation outliers, mixed precision --------------------


class UniformBytes(torch.nn.Module):
    """A model that knows nothing: every byte equally likely, whatever came before."""

    context_length = 16

    def forward(self, ids):
        return torch.zeros(*ids.shape, 256)


class Oracle(torch.nn.Module):
    """A model that puts all its weight on the true next byte of one fixed text."""

    context_length = 8

    def __init__(self, text: bytes):
        super().__init__()
        self.text = torch.tensor(list(text))
        self.calls = []

    def forward(self, ids):
        self.calls.append(tuple(ids.shape))
        logits = torch.full((*ids.shape, 256), -1e4)
        # each window starts where its first byte first occurs in the text (the text is distinct)
        starts = [int((self.text == int(row[0])).nonzero()[0]) for row in ids]
        for b, start in enumerate(starts):
            following = self.text[start + 1 : start + 1 + ids.shape[1]]
            logits[b, torch.arange(len(following)), following] = 0.0
        return logits


def test_l6a_a_model_that_knows_nothing_scores_8_bits_per_byte():
    data = bytes(range(100))
    assert helper.bits_per_byte(UniformBytes(), data) == pytest.approx(8.0, abs=1e-5)
    assert helper.bits_per_byte(UniformBytes(), torch.arange(100)) == pytest.approx(8.0, abs=1e-5)


def test_l6a_bits_per_byte_scores_every_byte_but_the_first_once_in_batched_windows():
    text = bytes(range(0, 250, 3))  # 84 distinct bytes: 83 predicted, in windows of 8
    oracle = Oracle(text)
    assert helper.bits_per_byte(oracle, text, batch_size=4) == pytest.approx(0.0, abs=1e-6)
    # 83 = 10 windows of 8 (in batches of 4, 4, 2) and a last window of 3
    assert oracle.calls == [(4, 8), (4, 8), (2, 8), (1, 3)]


def test_l6a_bits_per_byte_rejects_what_it_cannot_score():
    with pytest.raises(ValueError, match="at least 2 bytes"):
        helper.bits_per_byte(UniformBytes(), b"x")
    with pytest.raises(ValueError, match="byte values 0 to 255"):
        helper.bits_per_byte(UniformBytes(), torch.tensor([1, 256]))
    with pytest.raises(TypeError, match="bytes or a 1-D integer tensor"):
        helper.bits_per_byte(UniformBytes(), "text")
    with pytest.raises(ValueError, match="model.context_length"):
        helper.bits_per_byte(torch.nn.Linear(2, 2), b"abc")
    with pytest.raises(ValueError, match="batch_size"):
        helper.bits_per_byte(UniformBytes(), b"abc", batch_size=0)


def test_l6a_window_bits_scores_each_window_and_bits_per_byte_is_their_mean():
    text = bytes(range(0, 250, 3))[:81]  # 80 predicted bytes: 10 windows of 8
    windows = torch.tensor(list(text))[:81].unfold(0, 9, 8)
    assert helper.window_bits(Oracle(text), windows).abs().max() < 1e-6
    uniform = helper.window_bits(UniformBytes(), windows)
    assert uniform.dtype == torch.float64 and uniform.shape == (10,)
    assert torch.allclose(uniform, torch.full((10,), 8.0, dtype=torch.float64))
    with pytest.raises(TypeError, match="windows must be a 2-D integer tensor"):
        helper.window_bits(UniformBytes(), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="windows must be 2 to 17 bytes long"):
        helper.window_bits(UniformBytes(), torch.zeros(3, 18, dtype=torch.long))


def test_l6a_byte_windows_cut_consecutive_windows_and_drop_the_tail():
    windows = helper.byte_windows(bytes(range(10)), 3)
    assert torch.equal(windows, torch.arange(9).view(3, 3))
    with pytest.raises(ValueError, match="fewer than one window"):
        helper.byte_windows(b"ab", 3)
    with pytest.raises(ValueError, match="length"):
        helper.byte_windows(b"abc", 0)


def test_l6a_channel_absmax_and_outlier_ratio():
    x = torch.tensor([[[1.0, -2.0, 0.5, 1.0]], [[-3.0, 1.0, 0.25, 40.0]]])  # (2, 1, 4)
    assert torch.equal(helper.channel_absmax(x), torch.tensor([3.0, 2.0, 0.5, 40.0]))
    assert helper.outlier_ratio(x) == pytest.approx(40.0 / 2.0)  # torch's median: the lower one
    assert helper.outlier_ratio(torch.zeros(3, 4)) == 0.0
    with pytest.raises(ValueError, match="at least one token"):
        helper.channel_absmax(torch.tensor(1.0))
    with pytest.raises(ValueError, match="empty"):
        helper.channel_absmax(torch.zeros(0, 4))


def test_l6a_quantize_model_with_bits_per_layer_leaves_the_others_float():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    mixed = helper.quantize_model(model, {"0": 2}, "per-group", 32)
    assert isinstance(mixed[0], helper.QuantizedLinear) and mixed[0].bits == 2
    assert type(mixed[2]) is torch.nn.Linear and mixed[2] is not model[2]
    assert torch.equal(mixed[2].weight, model[2].weight)
    alone = helper.quantize_model(model[0], 2, "per-group", 32)
    assert torch.equal(mixed[0].dequantized_weight(), alone.dequantized_weight())
    both = helper.quantize_model(model, {"0": 8, "2": 4}, "per-channel")
    assert [m.bits for m in both if isinstance(m, helper.QuantizedLinear)] == [8, 4]
    with pytest.raises(ValueError, match=r"does not have: \['1'\].*\['0', '2'\]"):
        helper.quantize_model(model, {"1": 4}, "per-channel")
    with pytest.raises(ValueError, match="bits"):
        helper.quantize_model(model, {"0": 9}, "per-channel")


def test_paired_difference_is_the_mean_difference_and_its_standard_error():
    a = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0])
    b = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    mean, error = helper.paired_difference(a, b)
    d = [0.0, 1.0, 0.0, 0.0, -1.0]
    assert mean == pytest.approx(sum(d) / 5)
    assert error == pytest.approx(statistics.stdev(d) / math.sqrt(5))
    # Pairing: a shared offset per item does not count as noise.
    items = torch.linspace(0, 10, 50, dtype=torch.float64)
    assert helper.paired_difference(items + 0.5, items) == pytest.approx((0.5, 0.0))


@pytest.mark.parametrize(
    ("a", "b", "error"),
    [
        ([1.0, 0.0], torch.zeros(2), TypeError),
        (torch.ones(3), torch.ones(2), ValueError),
        (torch.ones(1), torch.ones(1), ValueError),
        (torch.ones(2, dtype=torch.int64), torch.ones(2), TypeError),
    ],
)
def test_paired_difference_rejects_unpaired_scores(a, b, error):
    with pytest.raises(error, match="a|b"):
        helper.paired_difference(a, b)
