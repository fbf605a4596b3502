"""Lesson L6-C's number formats in helper: the float formats' levels, the nearest-level
quantizer, NF4 and MX; matched bit for bit with torch's float8 casts and torchao 0.18's
``to_nf4`` and ``MXTensor``, and the places where they differ, pinned; the lesson's block formats
side by side (each one's bits per weight and round trip)."""

import math

import pytest
import torch
from conftest import PROPERTY
from hypothesis import given
from hypothesis import strategies as st

import helper
from answer_key import l6c_number_formats
from course import data
from course import torchao_bridge as ao

FLOAT8 = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}


def seeded(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- float formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FLOAT8)
def test_float_levels_are_every_finite_value_of_torchs_float8(fmt):
    every = torch.arange(256, dtype=torch.uint8).view(FLOAT8[fmt]).float()
    finite = every[torch.isfinite(every)].unique()  # -0 and +0 are one value
    assert torch.equal(helper.float_levels(fmt), finite)


@pytest.mark.parametrize(
    ("fmt", "count", "largest", "smallest"),
    [
        ("e4m3", 253, 448.0, 2.0**-9),
        ("e5m2", 247, 57344.0, 2.0**-16),
        ("e3m2", 63, 28.0, 2.0**-4),
        ("e2m3", 63, 7.5, 2.0**-3),
        ("e2m1", 15, 6.0, 0.5),
    ],
)
def test_float_levels_count_range_and_subnormals(fmt, count, largest, smallest):
    levels = helper.float_levels(fmt)
    assert levels.numel() == count and levels.dtype == torch.float32
    assert float(levels[-1]) == largest and float(levels[0]) == -largest
    assert float(levels[levels > 0][0]) == smallest
    assert torch.equal(levels, -levels.flip(0))


def test_e2m1_levels_and_bits():
    assert helper.float_levels("e2m1").tolist()[7:] == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    assert [helper.float_bits(f) for f in helper.FLOAT_FORMATS] == [8, 8, 6, 6, 4]


@pytest.mark.parametrize("fmt", FLOAT8)
def test_float_quantize_is_torchs_cast_on_every_value_in_range_ties_included(fmt):
    levels = helper.float_levels(fmt).double()
    midpoints = (levels[1:] + levels[:-1]) / 2  # every tie, exact in float32
    smallest = float(levels[levels > 0][0])
    values = torch.cat(
        [
            levels,
            midpoints,
            seeded(0, 200_000).double() * float(levels[-1]) / 4,
            seeded(1, 200_000).double() * smallest * 16,  # the subnormals and their ties
        ]
    ).float()
    values = values[values.abs() <= levels[-1]]
    assert torch.equal(helper.float_quantize(values, fmt), values.to(FLOAT8[fmt]).float())


def test_beyond_the_range_helper_saturates_and_torch_too_except_e5m2_which_overflows():
    big = torch.tensor([449.0, 1e6, -1e6])
    assert helper.float_quantize(big, "e4m3").tolist() == [448.0, 448.0, -448.0]
    assert big.to(torch.float8_e4m3fn).float().tolist() == [448.0, 448.0, -448.0]
    huge = torch.tensor([61439.0, 61440.0])  # 61440 is halfway from 57344 to 2**16
    assert helper.float_quantize(huge, "e5m2").tolist() == [57344.0, 57344.0]
    assert huge.to(torch.float8_e5m2).float().tolist() == [57344.0, math.inf]


def test_quantize_to_levels_nearest_ties_to_the_even_code():
    levels = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    values = torch.tensor([-0.5, 0.25, 0.3, 1.25, 1.26, 9.0, -9.0, 0.75])
    assert helper.quantize_to_levels(values, levels).tolist() == [0, 2, 2, 2, 3, 3, 0, 2]
    codes = torch.tensor([3, 4, 5, 6])  # the even code of each pair flips
    assert helper.quantize_to_levels(values, levels, codes).tolist() == [1, 1, 2, 3, 3, 3, 0, 2]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: helper.float_levels("e4m4"), ValueError, "fmt must be one of"),
        (lambda: helper.float_quantize(torch.tensor([math.inf]), "e4m3"), ValueError, "no infin"),
        (lambda: helper.float_quantize(torch.tensor([math.nan]), "e2m1"), ValueError, "no NaN"),
        (lambda: helper.float_quantize(torch.tensor([1]), "e2m1"), TypeError, "floating-point"),
        (lambda: helper.quantize_to_levels(torch.ones(2), torch.ones(3)), ValueError, "increas"),
        (lambda: helper.quantize_to_levels(torch.ones(2), torch.ones(1)), ValueError, "2 values"),
        (
            lambda: helper.quantize_to_levels(torch.tensor([math.nan]), helper.NF4_LEVELS),
            ValueError,
            "NaN",
        ),
        (lambda: helper.nf4_quantize(torch.ones(100)), ValueError, "block_size 64 must divide"),
        (lambda: helper.nf4_quantize(torch.ones(640)), ValueError, "scaler_block_size 256"),
        (lambda: helper.nf4_quantize(torch.full((16384,), math.nan)), ValueError, "absmax"),
        (lambda: helper.mx_quantize(torch.ones(4, 48)), ValueError, "block_size 32 must divide"),
        (lambda: helper.mx_quantize(torch.ones(4, 32), "fp4"), ValueError, "fmt must be"),
        (lambda: helper.mx_quantize(torch.tensor([[math.inf] * 32])), ValueError, "0xFF"),
    ],
)
def test_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- NF4 ---------------------------------------------------------------------------------------


def test_nf4_levels_are_normal_quantiles_and_torchaos_table():
    assert torch.equal(helper.NF4_LEVELS, ao.to_nf4(torch.zeros(16384)).nf4)
    assert helper.NF4_LEVELS[7] == 0 and helper.NF4_LEVELS.abs().max() == 1
    assert (helper.NF4_LEVELS < 0).sum() == 7 and (helper.NF4_LEVELS > 0).sum() == 8
    # The unrounded quantiles: the table to 4 decimals; the 7th sits on a rounding boundary.
    exact = l6c_number_formats._nf4_levels(decimals=12)
    assert (exact - helper.NF4_LEVELS.double()).abs().max() < 5e-5
    assert abs(float(exact[6]) + 0.09105) < 1e-7


@pytest.mark.parametrize("kind", ["normal", "heavy-tailed", "scaled rows"])
def test_nf4_matches_torchaos_to_nf4_bit_for_bit(kind):
    x = seeded(2, 128, 512)
    if kind == "heavy-tailed":
        x = x / (seeded(3, 128, 512).square() + seeded(4, 128, 512).square()).sqrt()
    elif kind == "scaled rows":
        x = x * torch.logspace(-3, 1, 128)[:, None]
    codes, q_scales, factors, mean = helper.nf4_quantize(x)
    theirs = ao.to_nf4(x)
    assert torch.equal(codes, ao.nf4_codes(theirs))
    assert torch.equal(q_scales, theirs.quantized_scalers)
    assert torch.equal(factors, theirs.quantization_factor)
    assert torch.equal(mean, theirs.scaler_mean)
    restored = helper.nf4_dequantize(codes, q_scales, factors, mean)
    assert restored.shape == x.shape and restored.dtype == torch.float32
    assert torch.equal(restored, theirs.get_original_weight())


def test_nf4_an_all_zero_block_gets_the_code_of_0_where_torchao_takes_code_0():
    """0 / 0 is NaN, and torchao's nearest level to NaN is its first, -1 (code 0); helper
    gives the block the code of the level 0 (code 7). Both come back as zeros here, because
    the block's scale, the smallest of all, dequantizes to 0."""
    x = seeded(5, 64, 256)
    x[0] = 0.0
    quantized = helper.nf4_quantize(x)
    assert (quantized[0][0] == 7).all()
    assert (ao.nf4_codes(ao.to_nf4(x))[0] == 0).all()
    assert torch.equal(helper.nf4_dequantize(*quantized)[0], torch.zeros(256))


def test_nf4_bits_per_weight():
    assert helper.nf4_bits_per_weight() == pytest.approx(4.127, abs=5e-4)
    assert helper.nf4_bits_per_weight(64, 256) == 4 + 8 / 64 + 32 / (64 * 256)


# --- MX ----------------------------------------------------------------------------------------


def mx_data() -> torch.Tensor:
    x = seeded(6, 64, 256) * torch.logspace(-3, 3, 64)[:, None]
    x[3] = 0.0
    x[7, :32] = 6.0 * 2.0**-20  # the largest value lands on the element's max exactly
    x[8, 5] = 7.9  # floor scale: max|r| / X up to 8 > 6, saturated
    return x


@pytest.mark.parametrize("fmt", list(helper.FLOAT_FORMATS))
def test_mx_matches_torchaos_mxtensor_bit_for_bit(fmt):
    x = mx_data()
    elements, codes = helper.mx_quantize(x, fmt, 32)
    theirs = ao.MXTensor.to_mx(x, ao.MX_ELEMENT_DTYPES[fmt], 32)
    assert torch.equal(codes, theirs.scale.view(torch.uint8))
    restored = helper.mx_dequantize(elements, codes)
    assert restored.shape == x.shape and restored.dtype == torch.float32
    assert torch.equal(restored, theirs.dequantize(torch.float32))
    assert torch.isin(elements, helper.float_levels(fmt)).all()


def test_mx_scale_is_the_spec_power_of_two():
    x = mx_data()
    elements, codes = helper.mx_quantize(x)
    assert codes.shape == (64, 8) and codes.dtype == torch.uint8
    absmax = x.reshape(64, 8, 32).abs().amax(-1)
    live = absmax > 0
    expected = torch.floor(torch.log2(absmax[live].double())) - 2 + helper.E8M0_BIAS
    assert torch.equal(codes[live].double(), expected)
    assert elements.abs().max() == 6.0
    assert helper.bits_per_weight(helper.float_bits("e2m1"), 32, scale_bits=8) == 4.25


def test_mx_a_block_of_tiny_values_torchao_halves_where_helper_follows_the_spec():
    """Scale code 0 (X = 2**-127): torchao divides by 2**-126 (the smallest normal float32)
    but multiplies back by 2**-127, so such a block comes back at half its size."""
    x = seeded(7, 1, 32) * 1e-39
    elements, codes = helper.mx_quantize(x, "e4m3")
    assert codes.tolist() == [[0]]
    theirs = ao.MXTensor.to_mx(x, torch.float8_e4m3fn, 32).dequantize(torch.float32)
    ours = helper.mx_dequantize(elements, codes)
    assert torch.allclose(theirs, ours / 2, rtol=0.07, atol=0)
    assert (ours - x).abs().max() < (theirs - x).abs().max()


# --- properties --------------------------------------------------------------------------------


@PROPERTY
@given(bits=st.integers(0, 2**32 - 1), fmt=st.sampled_from(list(FLOAT8)))
def test_float_quantize_is_torchs_cast_on_any_float32_in_range(bits, fmt):
    value = torch.tensor([bits], dtype=torch.int64).to(torch.int32).view(torch.float32)
    if not torch.isfinite(value).all() or value.abs() > helper.float_levels(fmt)[-1]:
        return
    assert torch.equal(helper.float_quantize(value, fmt), value.to(FLOAT8[fmt]).float())


@PROPERTY
@given(
    levels=st.lists(st.floats(-100, 100, width=32), min_size=2, max_size=20, unique=True),
    values=st.lists(st.floats(-200, 200, width=32), min_size=1, max_size=20),
)
def test_quantize_to_levels_gives_a_nearest_level(levels, values):
    levels = torch.tensor(sorted(levels))
    values = torch.tensor(values)
    index = helper.quantize_to_levels(values, levels)
    distance = (values[:, None].double() - levels.double()).abs()
    assert torch.equal(distance.gather(1, index[:, None])[:, 0], distance.min(dim=1).values)


def test_nf4_dequantize_refuses_scales_of_other_blocks_and_bits_per_weight_checks_its_sizes():
    codes, q_scales, factors, mean = helper.nf4_quantize(data.seeded_normal(5, 128, 256))
    with pytest.raises(ValueError, match="do not come from one nf4_quantize with blocks of 64"):
        helper.nf4_dequantize(codes, q_scales[:256], factors[:1], mean)  # blocks of 128
    with pytest.raises(ValueError, match="block_size"):
        helper.nf4_bits_per_weight(0)
    with pytest.raises(ValueError, match="scaler_block_size"):
        helper.nf4_bits_per_weight(64, 2.5)


def test_mx_dequantize_gives_nan_for_e8m0s_nan_code():
    elements = torch.ones(2, 32)
    codes = torch.tensor([[127], [255]], dtype=torch.uint8)
    restored = helper.mx_dequantize(elements, codes)
    assert torch.equal(restored[0], torch.ones(32)) and bool(restored[1].isnan().all())


def test_bits_per_weight_of_each_format():
    expected = {
        "int4": 4.5,
        "NF4": 4 + 8 / 64 + 32 / (64 * 256),
        "MXFP4": 4.25,
        "int8": 8.5,
        "MXFP8 E4M3": 8.25,
        "MXFP8 E5M2": 8.25,
    }
    assert {name: helper.format_bits_per_weight(name) for name in helper.BLOCK_FORMATS} == expected
    assert helper.format_bits_per_weight("NF4", 64, numel=8192) == 4 + 8 / 64 + 32 / (64 * 128)
    assert helper.scaler_block_size(1024) == 256 and helper.scaler_block_size(96) == 32


@pytest.mark.parametrize("name", list(helper.BLOCK_FORMATS))
def test_round_trip_is_helpers_and_scaled_values_fit_the_levels(name):
    values = data.seeded_normal(81, 32, 256)
    trip = helper.format_round_trip(values, name)
    assert trip.restored.shape == values.shape and trip.restored.dtype == torch.float32
    assert helper.quantization_error(values, trip.restored) < 0.02
    nearest = trip.levels[helper.quantize_to_levels(trip.scaled, trip.levels)]
    if name.startswith("int") or name == "NF4":  # the absmax onto the largest level (an fp16
        assert trip.scaled.abs().max() <= trip.levels.max() * (1 + 2**-10)  # scale, rounded)
    else:  # MX: the power-of-two scale leaves max|r| / X in [2**emax, 2**(emax + 1))
        assert trip.levels.max() / 2 < trip.scaled.abs().max() < 2 * trip.levels.max()
    assert nearest.shape == values.shape


def test_round_trip_of_mx_and_nf4_is_helpers():
    values = data.seeded_normal(82, 64, 256)
    mx = helper.mx_dequantize(*helper.mx_quantize(values, "e2m1", 32))
    assert torch.equal(helper.format_round_trip(values, "MXFP4").restored, mx)
    nf4 = helper.nf4_dequantize(*helper.nf4_quantize(values))
    assert torch.equal(helper.format_round_trip(values, "NF4").restored, nf4)


def test_unknown_format_name():
    with pytest.raises(ValueError, match="format must be one of"):
        helper.format_round_trip(torch.ones(2, 32), "fp4")
