"""answer_key.l3_linear_II (L3-A to L3-E): symmetric mode, one block primitive for every
granularity, per channel, per group, W8A32; awkward shapes and values."""

import math

import pytest
import torch
from conftest import COURSE_TENSOR

import helper
from course import data


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


@pytest.mark.parametrize("mode", ["symmetric", "asymmetric"])
@pytest.mark.parametrize("block", [(1, 8), (4, 1), (4, 8), (2, 4)])
def test_quantize_blocks_is_choose_then_quantize_and_dequantize_undoes_it(mode, block):
    tensor = torch.randn(4, 8, generator=torch.Generator().manual_seed(3)) + 0.5
    q, scale, zero_point = helper.quantize_blocks(tensor, block, torch.int4, mode)
    chosen = helper.choose_block_scale_and_zero_point(tensor, block, torch.int4, mode)
    assert torch.equal(chosen[0], scale) and torch.equal(chosen[1], zero_point)
    again = helper.quantize_with_block_scale(tensor, scale, zero_point, block, torch.int4)
    assert torch.equal(again, q)
    restored = helper.dequantize_blocks(q, scale, zero_point, block)
    assert torch.equal(restored, helper.fake_quantize_blocks(tensor, block, torch.int4, mode))


def test_quantize_with_block_scale_checks_its_scale_and_zero_point():
    tensor = torch.randn(4, 8)
    with pytest.raises(ValueError, match="scale"):
        helper.quantize_with_block_scale(tensor, torch.zeros(4, 1), 0, (1, 8))
    with pytest.raises(ValueError, match="zero_point has 3 values"):
        helper.quantize_with_block_scale(tensor, torch.ones(4, 1), torch.zeros(3), (1, 8))
