"""course.lessons.l6a's checker of the exercise on a whole model, run on the course's language
model with a wrong choice of each kind and a right one."""

import numpy as np
import pytest
import torch

import helper
from course import language_model, texts
from course.lessons import l6a


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
