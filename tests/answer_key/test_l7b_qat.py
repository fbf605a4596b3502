"""Lesson L7-B's answer key (answer_key/l7b_qat.py, re-exported by helper): fake quantization
with the straight-through estimator, torchao's QAT matched bit for bit, QATLinear and the
prepare/convert pair, and clear errors on bad input."""

import pytest
import torch

import helper
from course import language_model, texts
from course import torchao_bridge as ao


@pytest.fixture(scope="module")
def model():
    return language_model.load()


def seeded(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- fake_quantize: the forward is helper's quantize-dequantize ----------------------------------


@pytest.mark.parametrize(
    "dtype, mode",
    [(dtype, "symmetric") for dtype in (torch.int8, torch.int4, torch.int3, torch.int2)]
    + [(dtype, "asymmetric") for dtype in (torch.int8, torch.uint8, torch.uint4, torch.int2)],
)
def test_forward_is_quantize_then_dequantize(dtype, mode):
    x = (seeded(16, 24, seed=1) * 3).float()
    block = helper.block_size_for(x.shape, "per-channel", dim=0)
    q, scale, zero_point = helper.quantize_blocks(x, block, dtype, mode)
    z = 0 if mode == "symmetric" else zero_point.float()
    expected = helper.linear_dequantization(q, scale, 0 if mode == "symmetric" else zero_point)
    got = helper.fake_quantize(x, scale, z, *helper.q_range(dtype))
    assert torch.equal(got, expected)


def test_forward_with_numbers_and_float64():
    x = seeded(50) * 4
    got = helper.fake_quantize(x, 0.5, 3, -8, 7)
    expected = 0.5 * (torch.clamp(torch.round(x / 0.5 + 3), -8, 7) - 3)
    assert got.dtype == torch.float64 and torch.equal(got, expected)


# --- the straight-through estimator ------------------------------------------------------------


def gradient(x, scale, zero_point, q_min, q_max, upstream=None):
    x = x.clone().requires_grad_()
    out = helper.fake_quantize(x, scale, zero_point, q_min, q_max)
    out.backward(torch.ones_like(out) if upstream is None else upstream)
    return x.grad


def test_the_gradient_passes_inside_the_representable_range_ends_included():
    scale, zero_point, q_min, q_max = 0.25, -2, -8, 7  # range [s(q_min - z), s(q_max - z)]
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)  # -1.5, 2.25
    x = torch.tensor([low - 0.2, low - 1e-6, low, 0.0, 0.1, high, high + 1e-6, high + 0.1, 9.0])
    expected = torch.tensor([0.0, 0, 1, 1, 1, 1, 0, 0, 0])
    assert torch.equal(gradient(x, scale, zero_point, q_min, q_max), expected)


def test_the_gradient_is_upstream_times_the_mask_per_channel():
    x = seeded(8, 32, seed=2).float() * 2
    scale = torch.linspace(0.05, 0.5, 8).reshape(8, 1)
    upstream = seeded(8, 32, seed=3).float()
    mask = helper.straight_through_mask(x, scale, 0, -4, 3)
    assert 0 < int(mask.sum()) < mask.numel()  # both cases occur
    assert torch.equal(gradient(x, scale, 0, -4, 3, upstream), upstream * mask)


def test_inside_the_range_the_gradient_matches_finite_differences_of_the_unrounded_line():
    """Away from the clamp, the STE's gradient is the derivative of x -> x (what rounding
    approximates): the finite difference of s (x / s + z - z) with a step far below s."""
    x = torch.linspace(-0.9, 0.9, 41, dtype=torch.float64)
    scale, step = 0.25, 1e-6

    def line(v):  # the forward without its rounding
        return scale * ((v / scale + 1) - 1)

    finite = (line(x + step) - line(x - step)) / (2 * step)
    assert torch.allclose(gradient(x, scale, 1, -8, 7), finite, atol=1e-8)


def test_scale_and_zero_point_get_no_gradient():
    scale = torch.tensor(0.3, requires_grad=True)
    x = seeded(10).requires_grad_()
    helper.fake_quantize(x, scale, 0, -4, 3).sum().backward()
    assert scale.grad is None and x.grad is not None


# --- torchao, bit for bit -----------------------------------------------------------------------


def torchao_fake_quantize(weight, bits, group_size):
    config = ao.IntxFakeQuantizeConfig(
        getattr(torch, f"int{bits}"), group_size=group_size or weight.shape[1], is_symmetric=True
    )
    return ao.IntxFakeQuantizer(config)(weight)


def bits_of(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().contiguous().view(torch.int32)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [None, 32])
@pytest.mark.parametrize("layer", ["blocks.0.attn.qkv", "blocks.3.mlp.down", "head"])
def test_like_torchao_is_torchao_bit_for_bit_values_and_gradients(model, bits, group_size, layer):
    weight = model.get_submodule(layer).weight.detach()
    upstream = seeded(*weight.shape, seed=bits).float()
    ours, theirs = weight.clone().requires_grad_(), weight.clone().requires_grad_()
    out_ours = helper.fake_quantize_like_torchao(ours, bits, group_size)
    out_theirs = torchao_fake_quantize(theirs, bits, group_size)
    out_ours.backward(upstream)
    out_theirs.backward(upstream)
    assert torch.equal(bits_of(out_ours), bits_of(out_theirs))
    assert torch.equal(bits_of(ours.grad), bits_of(theirs.grad))


def test_like_torchao_on_awkward_rows():
    """A zero row, a negative maximum, a positive maximum, a tie at half a step."""
    weight = torch.zeros(4, 8)
    weight[1] = torch.tensor([-1.0, 0.5, 0.2, -0.3, 0.1, 0.0, 0.7, -0.9])
    weight[2] = -weight[1]
    weight[3] = torch.tensor([3.5, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -3.5])  # scale 1: ties
    for bits in (2, 3, 4):
        ours = helper.fake_quantize_like_torchao(weight, bits)
        assert torch.equal(bits_of(ours), bits_of(torchao_fake_quantize(weight, bits, None)))


def test_torchao_scale_divides_by_q_max_plus_a_half():
    weight = torch.tensor([[0.7, -0.35], [-2.0, 1.0]])
    scale = helper.torchao_weight_scale(weight, 3)
    assert torch.equal(scale, torch.tensor([[0.2], [2.0 / 3.5]]))
    # helper's convention: max|w| / q_max, so the largest weight lands on a level
    _, helper_scale = helper.quantize_weight_symmetric(weight, 3, scale_dtype=torch.float32)
    assert torch.equal(helper_scale, torch.tensor([[0.7 / 3], [2.0 / 3]]))


def test_torchao_passes_the_gradient_half_a_step_further_than_fake_quantize():
    """With the same scale, torchao's mask is on the rounded value: a weight between
    s q_max and s (q_max + 1/2) is clamped by neither, and only fake_quantize zeroes it."""
    weight = torch.tensor([[3.5, 3.4, -3.5, 3.2, 0.0]])  # torchao's scale: 3.5 / 3.5 = 1
    x = weight.clone().requires_grad_()
    helper.fake_quantize_like_torchao(x, 3).sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 1.0, 1.0, 1.0]]  # round(3.5) = 4 > q_max clamps
    assert gradient(weight, 1.0, 0, -4, 3).tolist() == [[0.0, 0.0, 1.0, 0.0, 1.0]]


# --- QATLinear, prepare_qat, convert_qat ---------------------------------------------------------


@pytest.mark.parametrize(
    "bits, granularity, group_size",
    [
        (3, "per-channel", None),
        (4, "per-group", 32),
        (2, "per-tensor", None),
        (8, "per-channel", None),
    ],
)
def test_qat_linear_computes_what_quantized_linear_will(bits, granularity, group_size):
    linear = torch.nn.Linear(64, 12)
    with torch.no_grad():
        linear.weight.copy_(seeded(12, 64, seed=bits).float() * 0.1)
    layer = helper.QATLinear.from_linear(linear, bits, granularity, group_size)
    reference = helper.QuantizedLinear.from_linear(linear, bits, granularity, group_size)
    x = seeded(5, 64, seed=9).float()
    assert torch.equal(layer.fake_quantized_weight(), reference.dequantized_weight())
    assert torch.equal(layer(x), reference(x))
    assert set(layer.state_dict()) == set(linear.state_dict())


def test_qat_linear_learns_through_the_straight_through_estimator():
    linear = torch.nn.Linear(16, 4)
    layer = helper.QATLinear.from_linear(linear, 3)
    x = seeded(7, 16, seed=4).float()
    layer(x).square().sum().backward()
    scale = layer.weight_scale()
    mask = helper.straight_through_mask(layer.weight.detach(), scale, 0, -4, 3)
    dense = torch.nn.functional.linear(x, layer.fake_quantized_weight().detach(), layer.bias)
    upstream = 2 * dense  # d(sum y^2)/dy
    assert torch.allclose(layer.weight.grad, (upstream.T @ x) * mask)
    assert torch.allclose(layer.bias.grad, upstream.sum(0))


@pytest.mark.parametrize("granularity, group_size", [("per-channel", None), ("per-group", 32)])
def test_prepare_then_convert_is_quantize_model(model, granularity, group_size):
    before = {name: t.clone() for name, t in model.state_dict().items()}
    prepared = helper.prepare_qat(model, 3, granularity, group_size)
    assert sum(isinstance(m, helper.QATLinear) for m in prepared.modules()) == 25
    converted = helper.convert_qat(prepared)
    expected = helper.quantize_model(model, 3, granularity, group_size)
    ids = helper.byte_windows(texts.read_text("eval")[:512], 64)
    with torch.no_grad():
        assert torch.equal(prepared(ids), converted(ids))
        assert torch.equal(converted(ids), expected(ids))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert prepared.state_dict().keys() == model.state_dict().keys()


def test_convert_leaves_other_linear_layers_alone():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    prepared = helper.prepare_qat(model, 4)
    prepared[2] = torch.nn.Linear(8, 2)
    converted = helper.convert_qat(prepared)
    assert isinstance(converted[0], helper.QuantizedLinear)
    assert type(converted[2]) is torch.nn.Linear


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: helper.fake_quantize(torch.arange(3), 1.0, 0, -4, 3), TypeError, "x must"),
        (lambda: helper.fake_quantize(torch.ones(3), -1.0, 0, -4, 3), ValueError, "scale"),
        (lambda: helper.fake_quantize(torch.ones(3), torch.ones(4), 0, -4, 3), ValueError, "scale"),
        (lambda: helper.fake_quantize(torch.ones(3), 1.0, 0.5, -4, 3), ValueError, "zero_point"),
        (lambda: helper.fake_quantize(torch.ones(3), 1.0, 0, 3, 3), ValueError, "q_max"),
        (lambda: helper.fake_quantize(torch.ones(3), 1.0, 0, -4.0, 3), ValueError, "q_min"),
        (lambda: helper.fake_quantize_like_torchao(torch.ones(4), 3), ValueError, "2-D"),
        (lambda: helper.fake_quantize_like_torchao(torch.ones(2, 6), 3, 4), ValueError, "group_"),
        (lambda: helper.fake_quantize_like_torchao(torch.ones(2, 6), 9), ValueError, "bits"),
        (lambda: helper.prepare_qat(torch.nn.Linear(4, 2), 1), ValueError, "bits"),
        (lambda: helper.prepare_qat(torch.nn.Linear(6, 2), 3, "per-group", 4), ValueError, "group"),
        (lambda: helper.prepare_qat(torch.nn.Linear(4, 2), 3, "per-row"), ValueError, "granul"),
        (lambda: helper.convert_qat(torch.nn.Linear(4, 2)), ValueError, "prepare_qat"),
        (lambda: helper.convert_qat("model"), TypeError, "model must"),
        (lambda: helper.QATLinear.from_linear(torch.nn.Conv1d(1, 1, 1)), TypeError, "linear"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, words):
    with pytest.raises(error, match=words):
        call()
