"""answer_key.l2_linear_I (L2-A, L2-B): the course's worked examples of quantize and dequantize,
the scale and zero point from a range, the quantization error."""

import pytest
import torch
from conftest import COURSE_TENSOR

import helper


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


def test_sub_byte_asymmetric_quantization_uses_the_whole_range():
    tensor = torch.linspace(-1, 3, 100)
    q, scale, _zero_point = helper.linear_quantization(tensor, torch.uint4)
    assert int(q.min()) == 0 and int(q.max()) == 15
    assert scale == pytest.approx(4 / 15)


def test_all_positive_tensor_keeps_full_resolution():
    """The course's clamped zero point would lose every value near r_min; helper does not."""
    torch.manual_seed(0)
    tensor = 2 + 8 * torch.rand(100)  # r_min = 2 > 0: a ReLU-like tensor
    q, scale, zero_point = helper.linear_quantization(tensor)
    assert zero_point == -128
    error = (helper.linear_dequantization(q, scale, zero_point) - tensor).abs().max()
    assert error <= scale / 2 * (1 + 1e-5)


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
