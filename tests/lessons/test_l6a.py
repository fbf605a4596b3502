"""course.lessons.l6a (L6-A, a language model): its plots, widget, checker and runs."""

import numpy as np
import pytest
import torch

import helper
from course import language_model, texts
from course.language_model import LAYER_KINDS
from course.lessons import l5a, l6a
from course.lessons.l6a import Result, Setting


@pytest.fixture(scope="module")
def language_model_and_text():
    """The course's model and held-out text the exercise does not tune on: 16 KB of the
    evaluation text after lesson L6-A's 8,192-byte sample."""
    return language_model.load(), texts.read_text("eval")[8192 : 8192 + 16384]


# A solution: from 4 bits everywhere, the layers whose 2-bit loss on the sample is smallest for
# their size go to 2 bits until the model fits (lesson L6-A's solution finds these 13).
TWO_BITS = [
    *(f"blocks.{b}.attn.out" for b in (1, 3, 4, 5)),
    *(f"blocks.{b}.attn.qkv" for b in (1, 2, 3)),
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
    assert "768,000 bytes of a 768,000-byte budget" in verdict.message


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


def test_bits_per_byte_plot_marks_each_granularity_and_labels_each_bit_column():
    results, fp32 = _language_model_results()
    fig = l6a.plot_bits_per_byte_vs_bytes(results, fp32)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["fp32", "2-bit", "3-bit", "4-bit", "8-bit"]
    assert len(fig.axes[0].lines) == len(results) + 1
    assert {h.get_label() for h in fig.axes[0].get_legend().legend_handles} >= {
        "per-tensor", "per-channel", "group 32"
    }  # fmt: skip


def test_sensitivity_bars_are_the_loss_over_fp32():
    losses = {3: dict.fromkeys(LAYER_KINDS, 2.0), 2: dict.fromkeys(LAYER_KINDS, 2.5)}
    fig = l6a.plot_layer_sensitivity(losses, 1.75)
    heights = sorted({round(p.get_height(), 6) for p in fig.axes[0].patches})
    assert heights == [0.25, 0.75]


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
