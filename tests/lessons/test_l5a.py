"""course.lessons.l5a (L5-A, calibration and clipping): its plots, widget, checker and runs."""

import math

import pytest
import torch
from torch.ao.quantization import observer as torch_observer

import helper
from course import data, models
from course.core import plotting
from course.lessons import l5a


def clip_search(tensor, bits):
    dtype = helper.integer_dtype(bits)
    q_max = helper.q_range(dtype)[1]
    best = (1.0, math.inf)
    for ratio in helper.CLIP_RATIOS.tolist():
        scale = max(ratio * float(tensor.abs().max()) / q_max, helper.ZERO_RANGE_SCALE)
        q = helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, dtype)
        mse = helper.quantization_error(tensor, helper.linear_dequantization(q, scale, 0))
        if mse < best[1]:
            best = (ratio, mse)
    return best


def clip_search_last_on_a_tie(tensor, bits):  # wrong: <= keeps the last of equal ratios
    ratio, mse = clip_search(tensor, bits)
    return (0.05, mse) if mse == 0 else (ratio, mse)


def test_clip_search_checker_names_the_failing_case():
    verdict = l5a.check_clip_search(clip_search_last_on_a_tie)
    assert "all zeros (every ratio ties: keep the first, 1.0)" in verdict.message


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


def test_clip_sweep_plot_draws_the_parts_in_their_colours():
    lines = l5a.plot_clip_sweep(data.heavy_tailed(3000, seed=5), (3,)).axes[0].lines
    assert [line.get_color() for line in lines[:3]] == [
        plotting.ROUNDING,
        plotting.CLIPPING,
        plotting.TOTAL,
    ]


def batches(seed: int, n: int = 12):
    """Activation-like batches whose range moves from batch to batch, one with an outlier."""
    generator = torch.Generator().manual_seed(seed)
    out = [torch.randn(16, 32, generator=generator) * (1 + i / 4) + i / 8 for i in range(n)]
    out[5][0, 0] = 40.0
    return out


# (ours, PyTorch's, helper dtype, PyTorch dtype): settings under which the two agree exactly.
MATCHING = [
    (l5a.MinMaxObserver, torch_observer.MinMaxObserver, torch.uint8, torch.quint8),
    (l5a.MinMaxObserver, torch_observer.MinMaxObserver, torch.int8, torch.qint8),
    (
        l5a.MovingAverageMinMaxObserver,
        torch_observer.MovingAverageMinMaxObserver,
        torch.uint8,
        torch.quint8,
    ),
    (
        l5a.MovingAverageMinMaxObserver,
        torch_observer.MovingAverageMinMaxObserver,
        torch.int8,
        torch.qint8,
    ),
]


@pytest.mark.parametrize(("ours", "theirs", "dtype", "torch_dtype"), MATCHING)
@pytest.mark.parametrize("seed", range(5))
def test_same_scale_and_zero_point_as_pytorchs_observer(ours, theirs, dtype, torch_dtype, seed):
    mine, reference = ours(dtype), theirs(dtype=torch_dtype, qscheme=torch.per_tensor_affine)
    for batch in batches(seed):
        mine.update(batch)
        reference(batch)
        scale, zero_point = mine.scale_and_zero_point()
        torch_scale, torch_zero_point = reference.calculate_qparams()
        assert torch.equal(scale.reshape(1), torch_scale)
        assert int(zero_point) == int(torch_zero_point)


def test_pytorchs_symmetric_observer_divides_by_127_5_not_127():
    mine = l5a.MinMaxObserver(torch.int8, "symmetric")
    reference = torch_observer.MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    batch = batches(0)[0]
    mine.update(batch)
    reference(batch)
    ratio = float(reference.calculate_qparams()[0]) / float(mine.scale_and_zero_point()[0])
    assert ratio == pytest.approx(127 / 127.5)


def test_moving_average_moves_one_hundredth_of_the_way():
    observer = l5a.MovingAverageMinMaxObserver(averaging_constant=0.01)
    observer.update(torch.tensor([-1.0, 1.0]))
    observer.update(torch.tensor([-101.0, 201.0]))
    low, high = observer.range()
    assert float(low) == pytest.approx(-2.0) and float(high) == pytest.approx(3.0)
    minmax = l5a.MinMaxObserver()
    for batch in ([-1.0, 1.0], [-101.0, 201.0]):
        minmax.update(torch.tensor(batch))
    assert [float(v) for v in minmax.range()] == [-101.0, 201.0]


def test_percentile_observer_ignores_a_rare_outlier():
    observer = l5a.PercentileObserver(percentile=99.9)
    minmax = l5a.MinMaxObserver()
    for batch in batches(1):
        observer.update(batch)
        minmax.update(batch)
    assert float(minmax.range()[1]) == 40.0
    assert float(observer.range()[1]) < 15.0
    seen = torch.cat([b.reshape(-1) for b in batches(1)])
    expected = helper.percentile_range(seen, seen.shape, 99.9)
    assert all(torch.equal(a, b) for a, b in zip(observer.range(), expected))


def test_observers_refuse_bad_use():
    with pytest.raises(RuntimeError, match="seen no data"):
        l5a.MinMaxObserver().scale_and_zero_point()
    with pytest.raises(ValueError, match="finite"):
        l5a.MinMaxObserver().update(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="averaging_constant"):
        l5a.MovingAverageMinMaxObserver(averaging_constant=0)
    with pytest.raises(ValueError, match="percentile"):
        l5a.PercentileObserver(percentile=40)
    with pytest.raises(TypeError, match="dtype"):
        l5a.MinMaxObserver(dtype=torch.float32)
    with pytest.raises(ValueError, match="mode"):
        l5a.MinMaxObserver(mode="affine")
    with pytest.raises(ValueError, match="symmetric mode needs a signed dtype"):
        l5a.MinMaxObserver(torch.uint8, "symmetric")
    observer = l5a.MinMaxObserver()
    observer.update(torch.tensor([-1.0, 2.0]))
    assert repr(observer) == "MinMaxObserver(8-bit asymmetric, 1 batches, range [-1, 2])"


def test_calibrate_watches_each_linear_layers_input(trained):
    model, digits = trained
    x = digits.x_train[:64]
    found = l5a.calibrate(model, x.split(16), l5a.MinMaxObserver)
    assert list(found) == ["0", "2", "4"]
    inputs = l5a.layer_inputs(model, x)
    for name, observer in found.items():
        assert observer.batches == 4
        assert [float(v) for v in observer.range()] == [
            float(v) for v in torch.aminmax(inputs[name])
        ]
    with torch.no_grad():
        assert torch.equal(inputs["2"], torch.relu(model[0](x)))
    assert not model[0]._forward_pre_hooks  # the hooks are removed


def test_static_layer_quantizes_its_input_with_the_observers_parameters(trained):
    model, digits = trained
    found = l5a.calibrate(model, [digits.x_train], lambda: l5a.MinMaxObserver(torch.int4))
    quantized = l5a.quantize_activations(model, torch.int4, found)
    layer, x = quantized[2], l5a.layer_inputs(model, digits.x_test)["2"]
    scale, zero_point = found["2"].scale_and_zero_point()
    q = helper.linear_q_with_scale_and_zero_point(x, scale, zero_point, torch.int4)
    assert torch.equal(layer.fake_quantize(x), helper.linear_dequantization(q, scale, zero_point))
    q_w, s_w = helper.linear_q_symmetric_per_channel(model[2].weight.detach(), dim=0)
    assert torch.equal(layer.weight, helper.linear_dequantization(q_w, s_w, 0))
    with pytest.raises(ValueError, match="not torch.int8"):
        l5a.quantize_activations(model, torch.int8, found)


def test_dynamic_layer_quantizes_each_row_with_its_own_range(trained):
    model, digits = trained
    layer = l5a.quantize_activations(model, torch.int8)[0]
    x = digits.x_test[:3]
    rows = [layer.fake_quantize(x[i : i + 1]) for i in range(3)]
    assert torch.equal(layer.fake_quantize(x), torch.cat(rows))  # no row affects another


def test_w8a8_keeps_the_accuracy_and_sqnr_follows_the_bits(trained):
    model, digits = trained
    fp32 = models.accuracy(model, digits.x_test, digits.y_test)
    found = l5a.calibrate(model, digits.x_train[:256].split(32), l5a.MinMaxObserver)
    static = l5a.quantize_activations(model, torch.int8, found)
    dynamic = l5a.quantize_activations(model, torch.int8)
    for quantized in (static, dynamic):
        assert abs(models.accuracy(quantized, digits.x_test, digits.y_test) - fp32) < 0.02
    sqnr8 = l5a.activation_sqnr(static, model, digits.x_test)
    found4 = l5a.calibrate(
        model, digits.x_train[:256].split(32), lambda: l5a.MinMaxObserver(torch.int4)
    )
    static4 = l5a.quantize_activations(model, torch.int4, found4)
    sqnr4 = l5a.activation_sqnr(static4, model, digits.x_test)
    assert 20 < sqnr8 - sqnr4 < 28  # about 6 dB per bit
    assert l5a.activation_sqnr(dynamic, model, digits.x_test) > sqnr8


def test_activation_quantized_layers_compute_in_their_inputs_float_type():
    linear = torch.nn.Linear(8, 4).double()
    x = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for observed in (None, l5a.calibrate(linear, [x], l5a.MinMaxObserver)):
        layer = l5a.quantize_activations(linear, torch.int8, observed)
        assert layer(x).dtype == torch.float64
        assert layer.float()(x.float()).dtype == torch.float32
