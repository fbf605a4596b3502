"""answer_key.l4c_quantize_a_network (L4-C): QuantizedLinear, convert_linears, quantize_model,
model_bytes and real storage per weight."""

import pytest
import torch
from conftest import signed_range

import helper
from course import models


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


def test_linear_layers_lists_every_linear_by_name_in_order():
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(8, 2))
    )
    layers = helper.linear_layers(model)
    assert list(layers) == ["0", "2.0"] and layers["2.0"] is model[2][0]
    bare = torch.nn.Linear(3, 3)
    assert helper.linear_layers(bare) == {"": bare}
    assert helper.linear_layers(torch.nn.ReLU()) == {}
    with pytest.raises(TypeError, match="model"):
        helper.linear_layers("not a model")


def test_layer_like_builds_an_empty_layer_of_the_same_shape_and_bias():
    linear = torch.nn.Linear(64, 4, bias=False)
    layer = helper.layer_like(helper.QuantizedLinear, linear, 4, "per-group", 32, torch.float16)
    assert (layer.in_features, layer.out_features, layer.bias) == (64, 4, None)
    assert layer.block_size == (1, 32) and layer.scale.shape == (4, 2)
    with pytest.raises(TypeError, match="linear"):
        helper.layer_like(helper.QATLinear, torch.nn.Conv1d(1, 1, 1), 4, "per-channel", None, None)
