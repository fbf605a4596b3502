"""Lesson L6-C's formats side by side (course.lessons.l6c) and its plots."""

import pytest
import torch
from conftest import assert_readable

import helper
from course import data
from course.lessons import l6c


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


def test_error_table_rows_and_the_lessons_ranking():
    kinds = {"normal": data.seeded_normal(83, 256, 256), "heavy": data.heavy_tailed(65536, 84)}
    kinds["heavy"] = kinds["heavy"].reshape(256, 256)
    rows = l6c.error_table(kinds)
    assert [(r["format"], r["data"]) for r in rows][:2] == [("int4", "normal"), ("int4", "heavy")]
    sqnr = {(r["format"], r["data"]): r["sqnr_db"] for r in rows}
    for kind in kinds:  # the lesson's claims: NF4 first at 4 bits, int8 first at 8 bits
        assert sqnr["NF4", kind] > max(sqnr["int4", kind], sqnr["MXFP4", kind])
        assert sqnr["int8", kind] > sqnr["MXFP8 E4M3", kind] > sqnr["MXFP8 E5M2", kind]


def test_unknown_format_name():
    with pytest.raises(ValueError, match="format must be one of"):
        helper.format_round_trip(torch.ones(2, 32), "fp4")


def test_fp8_on_activations_summary():
    activations = data.seeded_normal(85, 64, 64).relu()
    summary = l6c.fp8_range_and_precision(activations)
    assert summary["e4m3"]["sqnr_db"] > summary["e5m2"]["sqnr_db"]
    assert summary["e4m3"]["scale"] == pytest.approx(float(activations.max()) / 448)
    assert summary["e5m2"]["smallest_normal"] < summary["e4m3"]["smallest_normal"]


def test_plots_are_readable():
    weights = data.layer_weights(86, 64, 128)
    assert_readable(l6c.plot_format_levels(weights))
    rows = l6c.error_table({"weights": weights})
    assert_readable(l6c.plot_format_errors(rows))
    assert_readable(l6c.plot_fp8_activations(data.seeded_normal(87, 32, 32).relu()))


def test_format_model_replaces_every_linear_weight_by_its_round_trip():
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 64))
    copied = l6c.format_model(model, "MXFP4")
    for index in (0, 2):
        expected = helper.format_round_trip(model[index].weight.detach(), "MXFP4").restored
        assert torch.equal(copied[index].weight, expected)
        assert torch.equal(copied[index].bias, model[index].bias)
    assert not torch.equal(copied[0].weight, model[0].weight)  # the original is untouched
