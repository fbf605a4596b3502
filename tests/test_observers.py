"""course.lessons.l5a's observers against PyTorch's own, calibration, and the digits MLP with
quantized activations (static and dynamic)."""

import pytest
import torch
from torch.ao.quantization import observer as torch_observer

import helper
from course import models
from course.lessons import l5a


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
