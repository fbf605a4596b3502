"""The explore_* widgets, without a browser: build each one, move its controls, and check that
the numbers it shows are the library's numbers for those settings."""

import inspect
import io

import ipywidgets
import matplotlib.figure
import pytest
import torch
from conftest import COURSE_TENSOR, assert_readable, l7a_timings, lesson_functions

import helper
from course import data
from course.core.explorer import Explorer
from course.lessons import l2a, l2b, l3a, l3b, l5a, l5b, l6c, l7a

SLIDERS = (
    ipywidgets.IntSlider,
    ipywidgets.FloatSlider,
    ipywidgets.FloatLogSlider,
    ipywidgets.SelectionSlider,
)


# Every lesson's widget builder, found by name: a new explore_* is tested at once.
BUILDERS = sorted(lesson_functions("explore_"))
# Builders whose default measures time on this machine: here they get fixed measurements.
FIXED = {"explore_fast_inference": lambda: l7a.explore_fast_inference(l7a_timings())}


def builder(name: str):
    """What builds the widget ``explore_<name>`` here: the lesson module's function, or, for a
    widget of timings, that function on fixed measurements."""
    return FIXED.get(name) or lesson_functions("explore_")[name]


def takes_a_tensor_first(name: str) -> bool:
    """Whether the builder's first argument is a tensor (the bad-tensor test applies)."""
    first = next(iter(inspect.signature(lesson_functions("explore_")[name]).parameters.values()))
    return "torch.Tensor" in str(first.annotation)


TENSOR_BUILDERS = [name for name in BUILDERS if takes_a_tensor_first(name)]


def round_trip_mse(tensor, quantized, scale, zero_point=0):
    return helper.quantization_error(
        tensor, helper.linear_dequantization(quantized, scale, zero_point)
    )


def first_slider(widget):
    """The first slider of the widget, in the order the browser lays them out."""
    if isinstance(widget, SLIDERS):
        return widget
    for child in getattr(widget, "children", ()):
        if (found := first_slider(child)) is not None:
            return found
    return None


def texts(widget) -> str:
    """All the HTML text the widget shows (its readout numbers, tables and titles)."""
    own = widget.value if isinstance(widget, ipywidgets.HTML) else ""
    return own + "".join(texts(child) for child in getattr(widget, "children", ()))


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50, metadata={"Software": None})
    return buffer.getvalue()


@pytest.mark.parametrize("name", BUILDERS)
def test_builds_with_its_controls_and_a_readout(name):
    explorer = builder(name)()
    assert isinstance(explorer, Explorer) and isinstance(explorer, ipywidgets.VBox)
    assert explorer.controls
    for control in explorer.controls.values():
        assert isinstance(control, ipywidgets.ValueWidget) and control.description
    # the error it shows: a tensor's MSE, or a language model's bits per byte (fp32's beside
    # it), or, for a widget of speed, fp32's time per call
    keys = ("mse", "bits_per_byte", "fp32_bits_per_byte", "fp32_ms")
    error = [explorer.readout.get(key) for key in keys]
    assert any(isinstance(value, float) and value >= 0 for value in error), explorer.readout


@pytest.mark.parametrize("name", BUILDERS)
def test_sliders_update_while_dragging(name):
    explorer = builder(name)()
    sliders = [c for c in explorer.controls.values() if isinstance(c, SLIDERS)]
    assert sliders and all(slider.continuous_update for slider in sliders)


@pytest.mark.parametrize("name", BUILDERS)
def test_moving_the_first_slider_changes_the_text(name):
    """The browser test presses an arrow key on the first slider and waits for text to change."""
    explorer = builder(name)()
    slider, before = first_slider(explorer), texts(explorer)
    assert slider is not None
    if isinstance(slider, ipywidgets.SelectionSlider):
        slider.index = slider.index - 1 if slider.index else 1
    else:
        at_max = slider.value >= slider.max
        slider.value = slider.value - slider.step if at_max else slider.value + slider.step
    assert texts(explorer) != before


@pytest.mark.parametrize("name", BUILDERS)
def test_snapshot_is_a_deterministic_figure(name):
    first, second = builder(name)().snapshot(), builder(name)().snapshot()
    assert isinstance(first, matplotlib.figure.Figure)
    assert png(first) == png(second)


@pytest.mark.parametrize("name", BUILDERS)
def test_default_tensor_is_seeded_and_leaves_the_global_seed_alone(name):
    state = torch.random.get_rng_state()
    first = builder(name)().readout
    assert builder(name)().readout == first
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("name", TENSOR_BUILDERS)
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ([[1.0, 2.0]], TypeError),
        (torch.tensor([[1, 2], [3, 4]]), TypeError),
        (torch.empty(0, 4), ValueError),
        (torch.tensor([[1.0, float("nan")]]), ValueError),
    ],
    ids=["list", "int-tensor", "empty", "nan"],
)
def test_bad_tensor_is_refused_clearly(name, bad, error):
    with pytest.raises(error, match="tensor|weight|input"):
        builder(name)(bad)


def test_quantize_dequantize_starts_from_the_course_guess():
    explorer = l2a.explore_quantize_dequantize()
    q = helper.linear_q_with_scale_and_zero_point(COURSE_TENSOR, 3.5, -70)
    assert explorer.readout["scale"] == 3.5 and explorer.readout["zero_point"] == -70
    assert explorer.readout["mse"] == round_trip_mse(COURSE_TENSOR, q, 3.5, -70)
    assert explorer.readout["mse"] == pytest.approx(170.875, abs=1e-3)


@pytest.mark.parametrize(
    ("scale", "zero_point", "dtype"),
    [
        (3.58, -77, torch.int8),
        (3.0, 60, torch.uint8),
        (60.0, 3, torch.uint4),
        (250.0, 0, torch.int2),
    ],
)
def test_quantize_dequantize_readout_is_the_library_error(scale, zero_point, dtype):
    explorer = l2a.explore_quantize_dequantize(COURSE_TENSOR)
    explorer.controls["dtype"].value = dtype
    explorer.controls["scale"].value = scale
    explorer.controls["zero_point"].value = zero_point
    q = helper.linear_q_with_scale_and_zero_point(COURSE_TENSOR, scale, zero_point, dtype)
    dequantized = helper.linear_dequantization(q, scale, zero_point)
    assert explorer.readout["mse"] == helper.quantization_error(COURSE_TENSOR, dequantized)
    expected_max = (COURSE_TENSOR - dequantized).abs().max().item()
    assert explorer.readout["max_error"] == pytest.approx(expected_max)
    assert (explorer.readout["q_min"], explorer.readout["q_max"]) == helper.q_range(dtype)


def test_quantize_dequantize_zero_point_follows_the_dtype_range():
    explorer = l2a.explore_quantize_dequantize()
    zero_point = explorer.controls["zero_point"]
    for dtype in (torch.uint4, torch.int2, torch.uint8, torch.int8):
        explorer.controls["dtype"].value = dtype
        assert (zero_point.min, zero_point.max) == helper.q_range(dtype)
        assert helper.q_range(dtype)[0] <= explorer.readout["zero_point"] <= zero_point.max


def test_small_matrices_are_whole_tables_with_every_value():
    html = texts(l2a.explore_quantize_dequantize())
    for tag in ("table", "tr", "td"):
        assert html.count(f"<{tag}>") + html.count(f"<{tag} ") == html.count(f"</{tag}>")
    # The original values and their int8 codes at s = 3.5, z = -70 (minus signs typeset).
    for value in ("191.6", "\N{MINUS SIGN}13.5", "728.6", "\N{MINUS SIGN}74", "\N{MINUS SIGN}123"):
        assert f">{value}</td>" in html


def test_quantize_dequantize_counts_clamped_values():
    # s = 3.5, z = -70 gives back at most 3.5 * (127 + 70) = 689.5: only 728.6 is clamped.
    assert l2a.explore_quantize_dequantize().readout["clipped"] == 1


@pytest.mark.parametrize("signed", [True, False])
def test_scale_and_zero_point_follow_the_bits(signed):
    explorer = l2b.explore_scale_and_zero_point(COURSE_TENSOR)
    explorer.controls["signed"].value = signed
    ranges = set()
    for bits in (8, 6, 4, 3, 2):
        explorer.controls["bits"].value = bits
        dtype = helper.integer_dtype(bits, signed)
        q, scale, zero_point = helper.linear_quantization(COURSE_TENSOR, dtype)
        readout = explorer.readout
        assert (readout["q_min"], readout["q_max"]) == helper.q_range(dtype)
        assert (readout["scale"], readout["zero_point"]) == (scale, zero_point)
        assert readout["mse"] == round_trip_mse(COURSE_TENSOR, q, scale, zero_point)
        ranges.add((readout["q_min"], readout["q_max"]))
    assert len(ranges) == 5


def test_scale_and_zero_point_of_the_course_tensor():
    readout = l2b.explore_scale_and_zero_point().readout
    assert readout["zero_point"] == -77 and round(readout["scale"], 2) == 3.58
    assert (readout["r_min"], readout["r_max"]) == pytest.approx((-184.0, 728.6))


def test_wasted_levels_on_a_constructed_tensor():
    """0..7 in int4 (16 levels): symmetric (s = 1) uses 0..7 and never reaches -8..-1;
    asymmetric spreads the 8 values over the whole range (q = -8, -6, ..., 5, 7)."""
    explorer = l3a.explore_symmetric_vs_asymmetric(torch.arange(8.0), bits=4, skew=0.0)
    explorer.controls["mode"].value = "symmetric"
    assert explorer.readout["n_levels"] == 16
    assert explorer.readout["levels_outside_range"] == 8
    assert explorer.readout["unused_levels"] == 8
    explorer.controls["mode"].value = "asymmetric"
    assert explorer.readout["levels_outside_range"] == 0
    assert explorer.readout["unused_levels"] == 8


def test_symmetric_wastes_about_half_the_levels_on_one_sided_data():
    readout = l3a.explore_symmetric_vs_asymmetric(mode="symmetric", bits=8, skew=1.0).readout
    assert readout["levels_outside_range"] >= 128
    assert readout["mse_symmetric"] > 3 * readout["mse_asymmetric"]


@pytest.mark.parametrize("skew", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_mode_errors_are_the_library_errors(skew, bits):
    tensor = torch.linspace(-3.0, 5.0, 50)
    explorer = l3a.explore_symmetric_vs_asymmetric(tensor)
    explorer.controls["bits"].value, explorer.controls["skew"].value = bits, skew
    data = tensor + skew * 3.0  # the skew adds skew * |r_min| to every value
    dtype = helper.integer_dtype(bits)
    q, scale = helper.linear_q_symmetric(data, dtype)
    assert explorer.readout["mse_symmetric"] == pytest.approx(round_trip_mse(data, q, scale))
    q, scale, zero_point = helper.linear_quantization(data, dtype)
    expected = round_trip_mse(data, q, scale, zero_point)
    assert explorer.readout["mse_asymmetric"] == pytest.approx(expected)
    for mode in ("symmetric", "asymmetric"):
        explorer.controls["mode"].value = mode
        assert explorer.readout["mse"] == explorer.readout[f"mse_{mode}"]


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


@pytest.mark.parametrize("name", BUILDERS)
def test_every_snapshot_is_readable_at_100_percent(name):
    assert_readable(builder(name)().snapshot())


def test_explore_clipping_shows_the_library_split_of_the_error():
    explorer = l5a.explore_clipping(bits=4, clip_ratio=0.5, outlier_strength=8)
    values = data.layer_weights(0, 1, 4096, (0.0, 0.0), outlier_factor=8).flatten()
    scale = 0.5 * float(values.abs().max()) / 7
    rounding, clipping = helper.rounding_and_clipping_error(values, scale, 0, torch.int4)
    readout = explorer.readout
    assert readout["rounding_mse"] == rounding and readout["clipping_mse"] == clipping
    assert readout["clipped"] == int(helper.clipped(values, scale, 0, torch.int4).sum()) > 0
    best, _ = helper.search_clip_ratio(values, values.shape, torch.int4)
    assert readout["best_clip_ratio"] == f"{float(best):.2f}"


def test_explore_clipping_draws_the_lopsided_clip_and_never_searches_on_a_change(monkeypatch):
    explorer = l5a.explore_clipping(bits=2, clip_ratio=0.5, outlier_strength=4)
    plot, scale = explorer._view.plot, explorer.readout["scale"]
    # 2 bits: levels -2s .. s, so values clip above s = alpha and below -2s = -2 alpha
    assert explorer.readout["lowest_level"] == -2 * explorer.readout["alpha"] == -2 * scale
    assert (plot.clip_low, plot.clip_high) == (-2.5 * scale, 1.5 * scale)
    values = plot.values
    assert explorer.readout["clipped"] == int(
        ((values < -2.5 * scale) | (values > 1.5 * scale)).sum()
    )
    monkeypatch.setattr(helper, "search_clip_ratio", None)  # a search now would fail
    for name, value in (("bits", 7), ("outlier_strength", 13), ("clip_ratio", 0.3)):
        explorer.controls[name].value = value
    assert explorer.readout["best_clip_ratio"] != ""


def test_explore_clipping_no_clip_means_no_clipping_error_and_outliers_cost_sqnr():
    explorer = l5a.explore_clipping(bits=4, clip_ratio=1.0, outlier_strength=1)
    assert explorer.readout["clipping_mse"] == 0 and explorer.readout["clipped"] == 0
    calm = float(explorer.readout["sqnr_db"])
    explorer.controls["outlier_strength"].value = 16
    assert float(explorer.readout["sqnr_db"]) < calm - 6  # the outliers stretch the step
    explorer.controls["clip_ratio"].value = float(explorer.readout["best_clip_ratio"])
    assert float(explorer.readout["sqnr_db"]) == float(explorer.readout["sqnr_db_at_best"])
    with pytest.raises(ValueError, match="bits"):
        l5a.explore_clipping(bits=1)


# --- L6-C: number formats ------------------------------------------------------------------------


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


# --- L5-B: helper against torchao ----------------------------------------------------------------


def test_explore_torchao_convention_names_each_error_and_never_runs_torchao_on_a_change(
    monkeypatch,
):
    from course import torchao_bridge

    explorer = l5b.explore_torchao_convention(bits=4)
    assert (
        explorer.labels["mse"] == "MSE, helper" and explorer.labels["mse_torchao"] == "MSE, torchao"
    )
    monkeypatch.setattr(torchao_bridge, "quantized_copy", None)  # torchao now would fail
    for bits in range(2, 9):
        explorer.controls["bits"].value = bits
        for name in explorer.controls["granularity"].options:
            explorer.controls["granularity"].value = name
            assert explorer.readout["mse"] > 0 and explorer.readout["mse_torchao"] > 0
