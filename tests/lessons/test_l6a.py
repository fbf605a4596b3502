"""course.lessons.l6a (L6-A, a language model): its plots, widget, checker and runs."""

import numpy as np
import pytest
import torch
from matplotlib.container import BarContainer

import helper
from course import language_model, texts
from course.language_model import LAYER_KINDS
from course.lessons import l5a, l6a
from course.lessons.l6a import Result, Setting


@pytest.fixture(scope="module")
def language_model_and_text():
    """The course's model and held-out text the exercise does not tune on: 16 KB of the
    evaluation text after lesson L6-A's 64 windows of 129 bytes."""
    return language_model.load(), texts.read_text("eval")[64 * 129 : 64 * 129 + 16384]


# A solution: from 4 bits everywhere, the layers whose 2-bit loss on those windows is smallest for
# their size go to 2 bits until the model fits (lesson L6-A's solution finds these 13).
TWO_BITS = [
    *(f"blocks.{b}.attn.out" for b in (1, 4, 5)),
    *(f"blocks.{b}.attn.qkv" for b in (1, 2, 3, 5)),
    *(f"blocks.{b}.mlp.down" for b in (1, 2, 3, 4, 5)),
    "blocks.4.mlp.up",
]


def BITS_UNDER_BUDGET(model):
    return {**dict.fromkeys(language_model.linear_names(model), 4), **dict.fromkeys(TWO_BITS, 2)}


def test_bits_under_budget_names_what_is_missing_unknown_or_out_of_range(language_model_and_text):
    model, text = language_model_and_text
    names = language_model.linear_names(model)
    verdict = l6a.check_bits_under_budget(None, model, text)
    assert verdict.status == "not done yet" and "fill in bits_per_layer" in verdict.message
    uniform = dict.fromkeys(names, 4)
    for choice, message in [
        ([4] * len(names), "should be a dict, got list"),
        (
            {**uniform, "blocks.9.mlp.up": 4},
            "names layers the model does not have: ['blocks.9.mlp.up']",
        ),
        ({k: v for k, v in uniform.items() if k != "head"}, "has no width for ['head']"),
        ({**uniform, "head": 9}, "not ints from 2 to 8: {'head': 9}"),
        ({**uniform, "head": True}, "not ints from 2 to 8: {'head': True}"),
        ({**uniform, "head": 4.0}, "not ints from 2 to 8: {'head': 4.0}"),
        ({**uniform, "head": np.int64(8)}, "not ints from 2 to 8: {'head': "),
        ({**uniform, "head": torch.tensor(8)}, "not ints from 2 to 8: {'head': tensor(8)}"),
    ]:
        verdict = l6a.check_bits_under_budget(choice, model, text)
        assert verdict.status == "error" and message in verdict.message, verdict.message


def test_bits_under_budget_measures_bytes_then_the_loss_on_text_not_tuned_on(
    language_model_and_text,
):
    model, text = language_model_and_text
    names = language_model.linear_names(model)
    over = l6a.check_bits_under_budget(dict.fromkeys(names, 4), model, text)
    assert over.status == "mismatch" and over.message.startswith("Over budget: your model takes")
    # The early blocks and the head kept at 4 bits, the rest at 2: within budget, and broken.
    naive = {n: 4 if n.startswith(("blocks.0.", "blocks.1.", "head")) else 2 for n in names}
    verdict = l6a.check_bits_under_budget(naive, model, text)
    assert verdict.status == "mismatch" and "not less than 0.5" in verdict.message
    assert "16,384 bytes you did not tune on" in verdict.message


def test_bits_under_budget_passes_a_choice_measured_layer_by_layer(language_model_and_text):
    model, text = language_model_and_text
    verdict = l6a.check_bits_under_budget(BITS_UNDER_BUDGET(model), model, text)
    assert verdict.status == "pass" and verdict.message.startswith("Well done"), verdict.message
    assert "759,808 bytes of a 768,000-byte budget" in verdict.message


def test_layer_costs_match_a_full_run_of_each_quantized_model(language_model_and_text):
    model, text = language_model_and_text
    windows = helper.byte_windows(text[: 8 * 129], 129)
    costs = l6a.layer_costs(model, windows)
    assert list(costs) == language_model.linear_names(model)
    fp32 = helper.window_bits(model, windows)
    for name in ("blocks.0.attn.qkv", "blocks.3.mlp.up", "head"):
        quantized = helper.quantize_model(model, {name: 2}, "per-group", 32)
        expected = helper.paired_difference(helper.window_bits(quantized, windows), fp32)
        assert costs[name] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    by_kind = l6a.kind_costs(model, windows, 3)
    assert list(by_kind) == list(language_model.LAYER_KINDS)
    quantized = helper.quantize_model(
        model, dict.fromkeys(language_model.linear_names(model, "head"), 3), "per-channel"
    )
    assert by_kind["head"] == helper.paired_difference(helper.window_bits(quantized, windows), fp32)


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
