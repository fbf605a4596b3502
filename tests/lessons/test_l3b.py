"""course.lessons.l3b (L3-B, per tensor): its plots, widget, checker and runs."""

import pytest
import torch

import helper
from course.lessons import l3b


def asymmetric_per_row_not_widened(tensor, dtype=torch.int8):  # wrong: the original course's
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True)
    r_max = tensor.double().amax(dim=1, keepdim=True)
    scale = ((r_max - r_min) / (q_max - q_min)).clamp(min=helper.ZERO_RANGE_SCALE)
    zero_point = (q_min - r_min / scale).round().clamp(q_min, q_max)
    quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale.float(), zero_point, dtype)
    return quantized, scale.float(), zero_point.to(torch.int32)


def test_the_asymmetric_checker_needs_the_range_widened_to_include_0():
    verdict = l3b.check_asymmetric_per_row(asymmetric_per_row_not_widened)
    assert "differs on input 3 of 7, rows all positive (each range widened down to 0)" in (
        verdict.message
    )


def asymmetric_per_row_max_not_widened(tensor, dtype=torch.int8):  # wrong: only r_min widened
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True).clamp(max=0)
    r_max = tensor.double().amax(dim=1, keepdim=True)
    scale = ((r_max - r_min) / (q_max - q_min)).clamp(min=helper.ZERO_RANGE_SCALE)
    zero_point = (q_min - r_min / scale).round()
    quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale.float(), zero_point, dtype)
    return quantized, scale.float(), zero_point.to(torch.int32)


def asymmetric_per_row_no_zero_range_scale(tensor, dtype=torch.int8):  # wrong: a scale of 0
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True).clamp(max=0)
    r_max = tensor.double().amax(dim=1, keepdim=True).clamp(min=0)
    scale = (r_max - r_min) / (q_max - q_min)
    zero_point = (q_min - r_min / scale).round()
    quantized = torch.round(tensor / scale + zero_point).clamp(q_min, q_max)
    return quantized.to(helper.storage_dtype(dtype)), scale.float(), zero_point.to(torch.int32)


@pytest.mark.parametrize(
    ("wrong", "label"),
    [
        (asymmetric_per_row_not_widened, "input 3 of 7, rows all positive"),
        (asymmetric_per_row_max_not_widened, "input 4 of 7, rows all negative"),
        (asymmetric_per_row_no_zero_range_scale, "input 5 of 7, a row all zero"),
    ],
)
def test_the_asymmetric_checker_names_the_kind_of_row_a_wrong_function_fails_on(wrong, label):
    verdict = l3b.check_asymmetric_per_row(wrong)
    assert verdict.status == "mismatch"
    assert f"differs on {label}" in verdict.message


def library_dequantized(tensor, granularity, group_size, dtype):
    if granularity == "per-tensor":
        q, scale = helper.linear_q_symmetric(tensor, dtype)
        return helper.linear_dequantization(q, scale, 0)
    if granularity.startswith("per-channel"):
        q, scale = helper.linear_q_symmetric_per_channel(
            tensor, int("columns" in granularity), dtype
        )
        return helper.linear_dequantization(q, scale, 0)
    q, scale = helper.linear_q_symmetric_per_group(tensor, group_size, dtype)
    return helper.linear_dequantization_per_group(q, scale, group_size)


@pytest.mark.parametrize(
    ("granularity", "values_per_scale"),
    [("per-tensor", 6 * 8), ("per-channel rows", 8), ("per-channel columns", 6), ("per-group", 4)],
)
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_granularity_readout_is_the_library_error_and_storage(granularity, values_per_scale, bits):
    tensor = torch.randn(6, 8, generator=torch.Generator().manual_seed(5))
    explorer = l3b.explore_granularity(tensor, granularity, group_size=4, bits=bits)
    dequantized = library_dequantized(tensor, granularity, 4, helper.integer_dtype(bits))
    readout = explorer.readout
    assert readout["mse"] == pytest.approx(helper.quantization_error(tensor, dequantized))
    assert readout["values_per_scale"] == values_per_scale
    assert readout["n_scales"] == 48 // values_per_scale
    assert readout["bits_per_weight"] == helper.bits_per_weight(bits, values_per_scale, 16)
    explorer.controls["scale_bits"].value = 32
    assert explorer.readout["bits_per_weight"] == helper.bits_per_weight(bits, values_per_scale, 32)


def test_per_group_bits_per_weight_is_the_course_example():
    explorer = l3b.explore_granularity(torch.randn(4, 64), "per-group", group_size=32, bits=4)
    assert explorer.readout["bits_per_weight"] == 4.5


def test_group_size_control_offers_the_divisors_and_is_live_only_per_group():
    explorer = l3b.explore_granularity(torch.randn(3, 12))
    assert list(explorer.controls["group_size"].options) == [1, 2, 3, 4, 6, 12]
    assert explorer.controls["group_size"].disabled
    explorer.controls["granularity"].value = "per-group"
    assert not explorer.controls["group_size"].disabled
    explorer.controls["group_size"].value = 3
    assert explorer.readout["values_per_scale"] == 3


@pytest.mark.parametrize(("dim", "panel"), [(0, "per-channel rows"), (1, "per-channel columns")])
def test_per_channel_with_dim_picks_rows_or_columns(dim, panel):
    explorer = l3b.explore_granularity(torch.randn(4, 8), "per-channel", dim=dim)
    assert explorer.controls["granularity"].value == panel


def test_finer_granularity_lowers_the_error_of_the_default_weights():
    explorer = l3b.explore_granularity()
    errors = {}
    for granularity in ("per-tensor", "per-channel rows", "per-group"):
        explorer.controls["granularity"].value = granularity
        errors[granularity] = explorer.readout["mse"]
    assert errors["per-tensor"] > errors["per-channel rows"] > errors["per-group"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"tensor": torch.randn(12)}, ValueError),
        ({"tensor": torch.randn(2, 3, 4)}, ValueError),
        ({"granularity": "per-row"}, ValueError),
        ({"group_size": 5}, ValueError),
        ({"granularity": "per-channel", "dim": 2}, ValueError),
    ],
)
def test_granularity_bad_arguments(kwargs, error):
    kwargs.setdefault("tensor", torch.randn(4, 8))
    with pytest.raises(error):
        l3b.explore_granularity(**kwargs)
