"""Lesson L5-B's claims about torchao, checked on the digits MLP: where its integers differ from
helper's, that its convention reproduced by hand agrees bit for bit (int8 per row, 4 bits in
groups of 32, and W8A8 with dynamic activations), and that saved models load back. Also the
filter that keeps torchao's known import warnings, and only those, out of the lesson."""

import logging
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

import helper
from course import models
from course import torchao_bridge as ao

TINY = torch.finfo(torch.float32).smallest_normal


def torchao_by_hand(weight: torch.Tensor, bits: int, group_size: int):
    """torchao's symmetric convention: s = max|w| / ((q_max - q_min) / 2), q = round(w * 1/s)."""
    q_min, q_max = helper.q_range(helper.integer_dtype(bits))
    groups = weight.reshape(weight.shape[0], -1, group_size)
    scale = (groups.abs().amax(dim=-1, keepdim=True) / ((q_max - q_min) / 2)).clamp(min=TINY)
    qdata = torch.clamp(torch.round(groups * (1.0 / scale)), q_min, q_max).to(torch.int8)
    return qdata.reshape(weight.shape), scale.reshape(weight.shape[0], -1)


@pytest.fixture(scope="module")
def quantized(trained):
    model, _ = trained
    return {
        "int8": ao.quantized_copy(model, ao.Int8WeightOnlyConfig()),
        "int4": ao.quantized_copy(
            model, ao.IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=ao.PerGroup(32))
        ),
        "w8a8": ao.quantized_copy(model, ao.Int8DynamicActivationInt8WeightConfig()),
    }


LAYERS = (0, 2, 4)


@pytest.mark.parametrize("index", LAYERS)
def test_int8_weight_only_differs_from_helper_and_is_reproduced_exactly(trained, quantized, index):
    weight = trained[0][index].weight.detach()
    stored = ao.stored_tensors(quantized["int8"][index].weight)
    assert list(stored["block_size"]) == [1, weight.shape[1]]
    assert stored["zero_point"].shape == (weight.shape[0], 1) and not stored["zero_point"].any()
    q_helper, s_helper = helper.linear_q_symmetric_per_channel(weight, dim=0)
    equal = (q_helper == stored["qdata"]).float().mean().item()
    assert 0.7 < equal < 0.95  # the lesson's 83.6 % on layer 0
    assert (stored["qdata"].int() - q_helper.int()).abs().max() == 1
    assert torch.allclose(stored["scale"] / s_helper, torch.tensor(127 / 127.5))
    qdata, scale = torchao_by_hand(weight, 8, weight.shape[1])
    assert torch.equal(qdata, stored["qdata"]) and torch.equal(scale, stored["scale"])


@pytest.mark.parametrize("index", LAYERS)
def test_int4_groups_of_32_differ_from_helper_and_are_reproduced_exactly(trained, quantized, index):
    weight = trained[0][index].weight.detach()
    stored = ao.stored_tensors(quantized["int4"][index].weight)
    assert tuple(stored["block_size"]) == (1, 32)
    assert not stored["zero_point"].any()
    q_helper, s_helper = helper.linear_q_symmetric_per_group(weight, 32, torch.int4)
    assert 0.6 < (q_helper == stored["qdata"]).float().mean().item() < 0.95
    assert torch.allclose(stored["scale"] / s_helper, torch.tensor(7 / 7.5))
    qdata, scale = torchao_by_hand(weight, 4, 32)
    assert torch.equal(qdata, stored["qdata"]) and torch.equal(scale, stored["scale"])


def test_dividing_instead_of_multiplying_by_the_reciprocal_changes_some_integers(trained):
    weight = trained[0][0].weight.detach()
    qdata, scale = torchao_by_hand(weight, 8, weight.shape[1])
    divided = torch.clamp(torch.round(weight / scale), -128, 127).to(torch.int8)
    assert 0 < int((divided != qdata).sum()) < 50


def test_w8a8_dynamic_is_reproduced_exactly_and_helpers_w8a8_is_close(trained, quantized):
    model, digits = trained
    layer, x = quantized["w8a8"][0], digits.x_test
    kwargs = layer.weight.act_quant_kwargs
    assert kwargs.mapping_type.name == "SYMMETRIC" and type(kwargs.granularity).__name__ == "PerRow"
    s_x = (x.abs().amax(dim=1, keepdim=True) / 127.5).clamp(min=TINY)
    q_x = torch.clamp(torch.round(x * (1.0 / s_x)), -128, 127).to(torch.int8)
    accumulator = q_x.to(torch.int32) @ layer.weight.qdata.to(torch.int32).t()
    by_hand = accumulator.to(torch.float32) * s_x * layer.weight.scale.reshape(1, -1) + layer.bias
    with torch.no_grad():
        out, fp32 = layer(x), model[0](x)
    assert torch.equal(by_hand, out)
    q_w, s_w = helper.linear_q_symmetric_per_channel(model[0].weight.detach(), dim=0)
    y_helper = helper.quantized_linear_W8A8_without_bias(*helper.linear_quantization(x), q_w, s_w)
    y_helper = y_helper + model[0].bias.detach()
    assert not torch.equal(y_helper, out)
    for y in (y_helper, out):
        assert (y - fp32).norm() / fp32.norm() < 0.01


def test_quantized_models_keep_the_accuracy_and_load_back_with_the_same_outputs(trained, quantized):
    model, digits = trained
    fp32_accuracy = models.accuracy(model, digits.x_test, digits.y_test)
    configs = {
        "int8": ao.Int8WeightOnlyConfig(),
        "int4": ao.IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=ao.PerGroup(32)),
        "w8a8": ao.Int8DynamicActivationInt8WeightConfig(),
    }
    sizes = {}
    for name, config in configs.items():
        size, saved = ao.saved_bytes(quantized[name])
        assert size == ao.saved_bytes(quantized[name])[0]  # the same bytes every time
        fresh = ao.quantized_copy(models.digits_mlp(seed=1), config)
        with torch.no_grad():
            reloaded = ao.load_saved(saved, fresh)(digits.x_test)
            assert torch.equal(reloaded, quantized[name](digits.x_test))
        accuracy = models.accuracy(quantized[name], digits.x_test, digits.y_test)
        assert abs(accuracy - fp32_accuracy) <= 0.02
        sizes[name] = size
    fp32_size = ao.saved_bytes(model)[0]
    helper_4bit = ao.saved_bytes(helper.quantize_model(model, 4, "per-group", 32))[0]
    # The lesson's point: unpacked 4-bit values with float32 scales are not smaller than int8.
    assert helper_4bit < sizes["int8"] < sizes["int4"] < fp32_size


def test_only_the_known_import_warnings_are_filtered():
    imported = subprocess.run(
        [sys.executable, "-c", "from course import torchao_bridge"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stderr == ""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("torchao")
    logger.addHandler(handler)
    try:
        logger.warning("Failed to load /x/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: no")
        logger.warning("Failed to load /x/torchao/_C.abi3.so: a CPU kernel, which must show")
        logger.warning("anything else torchao says")
    finally:
        logger.removeHandler(handler)
    assert [record.getMessage()[:24] for record in records] == [
        "Failed to load /x/torcha",
        "anything else torchao sa",
    ]


# --- the bridge quantizes activations as torchao's W8A8 layer does ---------------------------------


def test_the_bridge_quantizes_activations_as_torchao_s_layer_does():
    from torchao.quantization.quantize_.workflows.intx import intx_unpacked_to_int8_tensor as intx

    x = torch.randn(7, 3, 40, generator=torch.Generator().manual_seed(0))
    q, scale, zero_point = ao.int8_asymmetric_per_token(x)
    assert (q.dtype, scale.dtype, zero_point.dtype) == (torch.int8, torch.float32, torch.int8)
    assert scale.shape == zero_point.shape == (7, 3, 1)
    restored = (q.float() - zero_point.float()) * scale
    assert torch.equal(restored, intx._apply_int8_act_asym_per_token_quant_dequant(x))
