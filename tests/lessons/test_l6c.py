"""course.lessons.l6c (L6-C, number formats): its plots, widget, checker and runs."""

import pytest
import torch
from conftest import assert_readable, first_slider, png, texts

import helper
from course import data
from course.lessons import l6c


def nearest_level_argmin(values, codebook):  # wrong: a tie goes to the lower code
    return (values[..., None] - codebook).abs().argmin(dim=-1)


def test_nearest_level_checker_names_the_tie_case():
    verdict = l6c.check_nearest_level(nearest_level_argmin)
    assert "values exactly halfway between two levels (the even code wins)" in verdict.message


@pytest.fixture(scope="module")
def formats_explorer():
    return l6c.explore_number_formats({"normal": data.seeded_normal(80, 64, 256)})


def test_number_formats_readout_is_helpers_error_and_storage(formats_explorer):

    values = data.seeded_normal(80, 64, 256)
    assert set(formats_explorer.controls) == {"fmt", "block_size", "data"}
    for name, block in (("NF4", 64), ("MXFP4", 32), ("int4", 128), ("MXFP8 E5M2", 16)):
        formats_explorer.controls["fmt"].value = name
        formats_explorer.controls["block_size"].value = block
        restored = helper.format_round_trip(values, name, block).restored
        assert formats_explorer.readout["mse"] == helper.quantization_error(values, restored)
        bits = helper.format_bits_per_weight(name, block, values.numel())
        assert formats_explorer.readout["bits_per_weight"] == round(bits, 4)
    formats_explorer.controls["fmt"].value = "MXFP4"
    formats_explorer.controls["block_size"].value = 32
    assert formats_explorer.readout["bits_per_weight"] == 4.25
    assert formats_explorer.readout["levels"] == 15


def test_number_formats_count_as_saturated_only_values_clamped_by_over_half_a_step(
    formats_explorer,
):
    """int's fp16 scale puts a block's largest value a hair past its top level: rounded to it,
    not saturated; MXFP4's floor scale puts values up to 8 X, past 7 X they saturate to 6 X."""
    values = data.seeded_normal(80, 64, 256)
    formats_explorer.controls["block_size"].value = 32
    formats_explorer.controls["fmt"].value = "int4"
    assert bool((helper.format_round_trip(values, "int4", 32).scaled.abs() > 7).any())
    assert formats_explorer.readout["saturated"] == 0
    formats_explorer.controls["fmt"].value = "MXFP4"
    scaled = helper.format_round_trip(values, "MXFP4", 32).scaled
    assert formats_explorer.readout["saturated"] == int((scaled.abs() > 7).sum()) > 0


def test_number_formats_first_slider_is_the_block_size_and_changes_the_text(formats_explorer):
    slider, before = first_slider(formats_explorer), texts(formats_explorer)
    assert slider is formats_explorer.controls["block_size"] and slider.continuous_update
    slider.index = (slider.index + 1) % len(slider.options)
    assert texts(formats_explorer) != before


def test_number_formats_default_data_and_snapshot():
    explorer = l6c.explore_number_formats()
    assert list(explorer.controls["data"].options) == ["normal", "heavy-tailed", "digits weights"]
    assert explorer.readout["format"] == "NF4" and explorer.readout["bits_per_weight"] == 4.127
    assert png(explorer.snapshot()) == png(explorer.snapshot())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fmt": "fp4"}, ValueError, "format must be one of"),
        ({"block_size": 48}, ValueError, "block_size"),
        ({"data": "other"}, ValueError, "data must be one of"),
        ({"datasets": {"x": torch.ones(4, 100)}}, ValueError, "must divide the rows of x"),
        ({"datasets": {"x": torch.tensor([[1.0, float("nan")]])}}, ValueError, "NaN"),
    ],
)
def test_number_formats_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        l6c.explore_number_formats(**{"datasets": {"x": torch.ones(2, 256)}, **kwargs})


def test_number_formats_takes_one_tensor_too():
    explorer = l6c.explore_number_formats(data.seeded_normal(89, 4, 256), "MXFP4", 32)
    assert list(explorer.controls["data"].options) == ["tensor"]
    assert explorer.readout["bits_per_weight"] == 4.25


def test_error_table_rows_and_the_lessons_ranking():
    kinds = {"normal": data.seeded_normal(83, 256, 256), "heavy": data.heavy_tailed(65536, 84)}
    kinds["heavy"] = kinds["heavy"].reshape(256, 256)
    rows = l6c.error_table(kinds)
    assert [(r["format"], r["data"]) for r in rows][:2] == [("int4", "normal"), ("int4", "heavy")]
    sqnr = {(r["format"], r["data"]): r["sqnr_db"] for r in rows}
    for kind in kinds:  # the lesson's claims: NF4 first at 4 bits, int8 first at 8 bits
        assert sqnr["NF4", kind] > max(sqnr["int4", kind], sqnr["MXFP4", kind])
        assert sqnr["int8", kind] > sqnr["MXFP8 E4M3", kind] > sqnr["MXFP8 E5M2", kind]


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
