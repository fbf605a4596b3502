"""The lessons' plots of layers and models the lessons call."""

import pytest
import torch
from conftest import assert_readable
from matplotlib.container import BarContainer

from course.core import plotting
from course.language_model import LAYER_KINDS
from course.lessons import l3e, l4a, l4b, l4c, l5a, l6a, l6b
from course.lessons.l6a import Result, Setting


def _outputs():
    generator = torch.Generator().manual_seed(3)
    reference = torch.randn(64, 8, generator=generator)
    noise = torch.randn(64, 8, generator=generator)
    return reference, {"W8A32": reference + 0.01 * noise, "W8A8": reference + 0.02 * noise}


def test_output_errors_use_the_colour_of_each_recipe():
    reference, outputs = _outputs()
    figure = l4a.plot_output_errors(reference, outputs)
    left, right = figure.axes
    assert [line.get_color() for line in right.lines] == [plotting.W8A32, plotting.W8A8]
    assert [text.get_text() for text in left.get_legend().get_texts()] == ["W8A32", "W8A8"]
    shares = right.lines[0].get_ydata()
    assert shares[0] > 0 and shares[-1] == 100  # the share of outputs, up to all of them
    assert "MSE" in right.get_legend().get_texts()[0].get_text()


def test_storage_plot_has_one_line_per_bit_width_and_scale_and_the_formula():
    rows = [
        {"bits": bits, "group_size": g, "scale_bits": scale_bits, "measured": bits + 16 / g}
        for bits in (2, 4)
        for scale_bits in (16, 32)
        for g in (32, 64)
    ]
    (ax,) = l4b.plot_storage(rows).axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "2-bit, fp16 scales",
        "2-bit, fp32 scales",
        "4-bit, fp16 scales",
        "4-bit, fp32 scales",
        "the formula",
    ]
    colours = {line.get_label(): line.get_color() for line in ax.lines}
    # one colour per bit width; the scale's dtype is the line's style
    assert colours["2-bit, fp16 scales"] == colours["2-bit, fp32 scales"]
    assert colours["2-bit, fp16 scales"] != colours["4-bit, fp16 scales"]


def test_digits_and_accuracy_plots():
    images = torch.rand(5, 64, generator=torch.Generator().manual_seed(0))
    figure = l4c.plot_digits(images, list("01234"), "five digits")
    assert [ax.get_title() for ax in figure.axes] == list("01234")
    results = [
        {"bits": bits, "granularity": granularity, "accuracy": 0.9, "bytes": 1000 * bits}
        for bits in (8, 4)
        for granularity in ("per-tensor", "per-channel", "per-group")
    ]
    (ax,) = l4c.plot_accuracy_vs_bytes(results, 0.95, 64_000).axes
    colours = {line.get_color() for line in ax.lines[:-1]}
    assert colours == {plotting.PER_TENSOR, plotting.PER_CHANNEL, plotting.PER_GROUP}
    assert ax.lines[-1].get_color() == plotting.FP32


def test_plot_layer_outputs_draws_outputs_and_their_difference():
    reference = torch.tensor([-3.0, 3.85, -1.23])
    quantized = torch.tensor([-2.9921, 3.8583, -1.1969])
    figure = l3e.plot_layer_outputs(reference, quantized)
    left, right = figure.axes
    assert left.get_title() == "Outputs of the two layers"
    assert right.get_title() == "Error: W8A32 layer - fp32 layer"
    assert left.get_xlabel() == right.get_xlabel() == "output index"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["fp32 layer", "W8A32 layer"]
    heights = [patch.get_height() for patch in right.patches]
    assert heights == pytest.approx((quantized - reference).tolist(), abs=1e-6)


def test_plot_layer_outputs_rejects_bad_input():
    with pytest.raises(ValueError, match="one shape"):
        l3e.plot_layer_outputs(torch.zeros(3), torch.zeros(4))
    with pytest.raises(TypeError, match="quantized_output must be a floating-point"):
        l3e.plot_layer_outputs(torch.zeros(3), torch.zeros(3, dtype=torch.int8))
    with pytest.raises(TypeError, match="reference_output must be a floating-point"):
        l3e.plot_layer_outputs([0.0, 1.0], torch.zeros(2))


def _language_model_results():
    settings = [
        Setting(bits, granularity, size)
        for bits in (8, 4, 3, 2)
        for granularity, size in (("per-tensor", None), ("per-channel", None), ("per-group", 32))
    ]
    sizes = {8: 1_450_000, 4: 850_000, 3: 1_450_000, 2: 560_000}
    results = [
        Result(s, 1.8 + (8 - s.bits) ** 2 / 10, sizes[s.bits] + 1000 * i)
        for i, s in enumerate(settings)
    ]
    return results, Result(Setting(), 1.8, 5_087_232)


def test_bits_per_byte_plot_has_a_panel_per_bit_width_and_a_labelled_bar_per_setting():
    results, fp32 = _language_model_results()
    fig = l6a.plot_bits_per_byte_vs_bytes(results, fp32)
    assert [ax.get_title() for ax in fig.axes] == ["8 bits", "4 bits", "3 bits", "2 bits"]
    for ax, bits in zip(fig.axes, (8, 4, 3, 2)):
        lost = [r.bits_per_byte - fp32.bits_per_byte for r in results if r.setting.bits == bits]
        assert [p.get_height() for p in ax.patches] == pytest.approx(lost)
        assert [t.get_text() for t in ax.texts] == [f"{value:+.3f}" for value in lost]
        assert ax.get_xticklabels()[0].get_text().startswith("tensor\n")


def _kind_costs():
    return {
        3: {kind: l6a.Cost(0.25, 0.01) for kind in LAYER_KINDS},
        2: {kind: l6a.Cost(0.75, 0.03) for kind in LAYER_KINDS},
    }


def test_sensitivity_bars_are_the_loss_over_fp32_with_its_noise():
    fig = l6a.plot_layer_sensitivity(_kind_costs())
    heights = sorted({round(p.get_height(), 6) for p in fig.axes[0].patches})
    assert heights == [0.25, 0.75]
    bars = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(c.errorbar is not None for c in bars)


def test_layer_costs_plot_a_row_per_layer_with_its_noise():
    costs = {f"blocks.{b}.mlp.down": l6a.Cost(0.1 / (b + 1), 0.002) for b in range(6)}
    costs["head"] = l6a.Cost(-0.001, 0.002)  # below the axis' floor: drawn at 0.001
    fig = l6a.plot_layer_costs(costs)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == list(costs)  # the first at the top
    assert [t.get_text() for t in fig.axes[0].texts][-1] == "-0.001 ± 0.002"


def _every_plot():
    reference, outputs = _outputs()
    results, fp32 = _language_model_results()
    rows = [{"bits": 4, "group_size": g, "scale_bits": 16, "measured": 4.5} for g in (32, 64)]
    return {
        "layer_outputs": lambda: l3e.plot_layer_outputs(reference[0], outputs["W8A32"][0]),
        "output_errors": lambda: l4a.plot_output_errors(reference, outputs),
        "storage": lambda: l4b.plot_storage(rows),
        "digits": lambda: l4c.plot_digits(torch.rand(10, 64), list("0123456789")),
        "gptq_bits_per_byte": lambda: l6b.plot_gptq_bits_per_byte(
            [
                l6b.Comparison(
                    bits,
                    setting,
                    32,
                    2 + loss,
                    2 + loss / 2,
                    *(torch.ones(2),) * 2,
                    0.01,
                    0.1,
                    0.05,
                )
                for bits, loss in ((4, 0.05), (3, 0.4), (2, 4.2))
                for setting in ("per-channel", "groups of 128", "groups of 32")
            ],
            1.987,
        ),
        "calibration": lambda: l5a.plot_calibration(
            [1, 4, 16],
            {"min/max": {"sqnr": [20, 19, 18], "accuracy": [0.95, 0.96, 0.94]}},
            {"sqnr": 21.0, "accuracy": 0.96},
        ),
        "bits_per_byte": lambda: l6a.plot_bits_per_byte_vs_bytes(results, fp32),
        "sensitivity": lambda: l6a.plot_layer_sensitivity(_kind_costs()),
        "layer_costs": lambda: l6a.plot_layer_costs(
            {f"blocks.{b}.{k}": l6a.Cost(0.3 / (b + 1), 0.01) for b in range(6) for k in "ab"}
        ),
        "channel_ranges": lambda: l6a.plot_channel_ranges(
            torch.rand(128) + torch.eye(128)[5] * 20, "blocks.3.mlp.down"
        ),
    }


@pytest.mark.parametrize("name", list(_every_plot()))
def test_every_plot_is_readable_at_100_percent(name):
    assert_readable(_every_plot()[name]())
