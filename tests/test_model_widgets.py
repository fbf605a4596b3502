"""The widgets of layers and models (course.lessons.l3e to l6b), without a browser: the numbers
each shows are the library's numbers for its settings. (What every widget shares, building,
dragging, snapshots, is tested in test_widgets.py; their speed is measured by `make bench`,
never asserted here.)"""

import matplotlib.figure
import pytest
import torch

import helper
from course import language_model, models, texts
from course.lessons import l3e, l4a, l4b, l4c, l5a, l6a, l6b


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_linear_output_is_the_w8a32_output(bits):
    generator = torch.Generator().manual_seed(7)
    weight, x = torch.randn(5, 8, generator=generator), torch.randn(3, 8, generator=generator)
    explorer = l3e.explore_quantized_linear(weight, x, bits=bits, granularity="per-tensor")
    dtype = helper.integer_dtype(bits)
    reference = torch.nn.functional.linear(x, weight)
    for granularity in ("per-tensor", "per-channel rows"):
        explorer.controls["granularity"].value = granularity
        if granularity == "per-tensor":
            q, scale = helper.linear_q_symmetric(weight, dtype)
        else:
            q, scale = helper.linear_q_symmetric_per_channel(weight, 0, dtype)
        output = helper.quantized_linear_W8A32_without_bias(x, q, scale, 0)
        assert explorer.readout["mse"] == pytest.approx(
            helper.quantization_error(reference, output)
        )
        weight_mse = helper.quantization_error(weight, helper.linear_dequantization(q, scale, 0))
        assert explorer.readout["weight_mse"] == pytest.approx(weight_mse)


def test_quantized_linear_error_grows_as_bits_fall():
    explorer = l3e.explore_quantized_linear()
    errors = []
    for bits in (8, 6, 4, 2):
        explorer.controls["bits"].value = bits
        errors.append(explorer.readout["mse"])
    assert errors == sorted(errors) and errors[0] < errors[-1] / 100


@pytest.mark.parametrize(
    ("weight", "x", "error"),
    [
        (torch.randn(4, 8), torch.randn(2, 7), ValueError),
        (torch.randn(4, 8), [[1.0] * 8], TypeError),
        ("weights", None, TypeError),
        (torch.randn(8), None, ValueError),
        (torch.randn(4, 8), torch.tensor(1.0), ValueError),
    ],
)
def test_quantized_linear_bad_arguments(weight, x, error):
    with pytest.raises(error, match="input|weight"):
        l3e.explore_quantized_linear(weight, x)


def test_quantized_linear_of_a_zero_input_has_no_nan():
    readout = l3e.explore_quantized_linear(torch.randn(4, 8), torch.zeros(2, 8)).readout
    assert readout["mse"] == 0.0 and readout["relative_error"] == 0.0


# --- L4 widgets ------------------------------------------------------------------------------


def test_explore_w8a8_outlier_stretches_the_activation_scale():
    explorer = l4a.explore_w8a8()
    assert set(explorer.controls) == {"bits", "outlier"}
    before = dict(explorer.readout)
    assert before["mse_of_W8A32"] <= before["mse"] < 1e-3
    explorer.controls["outlier"].value = 30.0
    assert explorer.readout["activation_scale"] > 10 * before["activation_scale"]
    assert explorer.readout["mse"] > 10 * before["mse"]
    explorer.controls["bits"].value = 4
    assert explorer.readout["activations"] == "int4"
    assert isinstance(explorer.snapshot(), matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="share k"):
        l4a.explore_w8a8(torch.randn(4, 8), torch.randn(3, 9))


def test_explore_storage_measures_real_bytes():
    explorer = l4b.explore_storage()
    assert set(explorer.controls) == {"bits", "group_size", "scale_bits"}
    assert explorer.readout["bits_per_weight"] == explorer.readout["ideal_bits"] == 4.5
    explorer.controls["bits"].value = 3  # not packed: an int8 container per value
    assert explorer.readout["bits_per_weight"] == 8.5 and explorer.readout["ideal_bits"] == 3.5
    explorer.controls["scale_bits"].value = 32
    explorer.controls["bits"].value = 2
    explorer.controls["group_size"].value = 64
    assert explorer.readout["bits_per_weight"] == 2.5 == helper.bits_per_weight(2, 64, 32)
    with pytest.raises(ValueError, match="group_size"):
        l4b.explore_storage(group_size=48)


def test_explore_trained_network(trained):
    model, digits = trained
    explorer = l4c.explore_trained_network(model, digits, bits=8)
    assert set(explorer.controls) == {"bits", "granularity", "group_size"}
    assert explorer.controls["group_size"].disabled
    assert explorer.readout["accuracy"] == pytest.approx(
        explorer.readout["fp32_accuracy"], abs=0.01
    )
    assert explorer.readout["fp32_bytes"] == helper.model_bytes(model)
    explorer.controls["bits"].value = 2
    explorer.controls["granularity"].value = "per-tensor"
    wrong = explorer.readout["misclassified"]
    accuracy = 1 - wrong / len(digits.y_test)
    assert explorer.readout["accuracy"] == pytest.approx(accuracy)
    expected = helper.quantize_model(model, 2, "per-tensor")
    assert explorer.readout["model_bytes"] == helper.model_bytes(expected)
    assert explorer.readout["accuracy"] == models.accuracy(expected, digits.x_test, digits.y_test)
    explorer.controls["granularity"].value = "per-group"
    assert not explorer.controls["group_size"].disabled
    assert explorer.readout["accuracy"] > accuracy
    assert isinstance(explorer.snapshot(), matplotlib.figure.Figure)


@pytest.fixture(scope="module")
def small_language_model():
    """An untrained model of the course's shape, one block deep: fast, and every group divides."""
    torch.manual_seed(0)
    return language_model.ByteTransformer(language_model.ModelConfig(n_layers=1)).eval()


def test_explore_language_model_looks_up_what_helper_measures(small_language_model):
    model, text = small_language_model, texts.read_text("eval")[:600]
    explorer = l6a.explore_language_model(model, text, bits=4, n_bytes=8)
    setting = l6a.Setting(4, "per-group", 32)
    expected = l6a.measure(model, setting, text)
    assert explorer.readout["bits_per_byte"] == expected.bits_per_byte
    assert explorer.readout["model_bytes"] == expected.bytes
    assert explorer.readout["writes"] == language_model.generate(
        setting.apply(model), "def ", 8
    ).replace("\n", "\N{DOWNWARDS ARROW WITH CORNER LEFTWARDS}")
    explorer.controls["granularity"].value = "per-channel"
    assert explorer.controls["group_size"].disabled
    per_channel = l6a.measure(model, l6a.Setting(4, "per-channel"), text)
    assert explorer.readout["bits_per_byte"] == per_channel.bits_per_byte
    explorer.controls["model"].value = "W8A8, activations per token"
    assert explorer.controls["bits"].disabled and explorer.controls["granularity"].disabled
    w8a8 = l5a.quantize_activations(model, torch.int8)
    assert explorer.readout["bits_per_byte"] == helper.bits_per_byte(w8a8, text)
    int8_weights = l6a.Setting(8, "per-channel").apply(model)
    assert explorer.readout["model_bytes"] == helper.model_bytes(int8_weights)  # not fp32's


def test_explore_language_model_refuses_settings_it_has_not_computed(small_language_model):
    with pytest.raises(ValueError, match="bits must be 2, 3, 4 or 8"):
        l6a.explore_language_model(small_language_model, b"def f(): pass", bits=5)
    with pytest.raises(ValueError, match="group_size must be 32, 64 or 128"):
        l6a.explore_language_model(small_language_model, b"def f(): pass", group_size=16)


def gptq_rows():
    """Rows as gptq_runs.compare returns them, made up: GPTQ is 0.1 bit better everywhere."""
    rows = []
    for bits, loss in ((4, 0.1), (3, 0.5), (2, 3.0)):
        for setting, finer in (
            ("per-channel", 0.0),
            ("groups of 128", 0.01),
            ("groups of 32", 0.1),
        ):
            for windows in (4, 32):
                rtn = 2.0 + loss - finer
                gptq = rtn - 0.05 - windows / 320
                rows.append(
                    l6b.Comparison(
                        bits,
                        setting,
                        windows,
                        rtn,
                        gptq,
                        torch.full((4,), rtn, dtype=torch.float64),
                        torch.full((4,), gptq, dtype=torch.float64),
                        0.01,
                        0.1 * loss,
                        0.05 * loss,
                    )
                )
    return rows


def test_explore_gptq_looks_each_setting_up():
    explorer = l6b.explore_gptq(gptq_rows(), 2.0)
    assert set(explorer.controls) == {"bits", "setting", "windows"}
    assert explorer.values() == {"bits": 3, "setting": "per-channel", "windows": 32}
    assert explorer.readout["round_to_nearest"] == "2.5000"
    assert explorer.readout["GPTQ"] == "2.3500"
    assert explorer.readout["loss_won_back"] == "30%"
    assert explorer.readout["GPTQ_gain"] == "0.1500 ± 0.0100"
    explorer.controls["windows"].value = 4
    explorer.controls["bits"].value = 2
    explorer.controls["setting"].value = "groups of 32"
    assert explorer.readout["round_to_nearest"] == "4.9000"
    assert explorer.readout["GPTQ"] == f"{4.9 - 0.05 - 4 / 320:.4f}"
    assert explorer.readout["output_error_RTN"] == "30.00%"
    assert isinstance(explorer.snapshot(), matplotlib.figure.Figure)


def test_explore_gptq_needs_rows_and_fp32():
    with pytest.raises(ValueError, match="rows must hold l6b.compare's rows"):
        l6b.explore_gptq([], 2.0)
    with pytest.raises(ValueError, match="fp32"):
        l6b.explore_gptq(gptq_rows())


def test_explore_gptq_shows_no_windows_control_for_one_calibration_size():
    rows = [row for row in gptq_rows() if row.windows == 32]
    explorer = l6b.explore_gptq(rows, 2.0)
    assert set(explorer.controls) == {"bits", "setting"}
    assert explorer.readout["GPTQ"] == "2.3500"


def test_reference_grid_rtn_rounds_every_linear_weight_on_the_reference_grid(
    small_language_model,
):
    before = {n: p.clone() for n, p in small_language_model.state_dict().items()}
    rounded = l6b.reference_grid_rtn(small_language_model, 3)
    for name, module in small_language_model.named_modules():
        if isinstance(module, torch.nn.Linear):
            expected = helper.fake_quantize_like_torchao(module.weight.detach(), 3)
            assert torch.equal(rounded.get_submodule(name).weight, expected)
            assert len(expected.unique()) <= 8 * module.weight.shape[0]  # 8 levels a row
    assert all(torch.equal(p, before[n]) for n, p in small_language_model.state_dict().items())
    assert rounded.token_embedding.weight.dtype == torch.float32
