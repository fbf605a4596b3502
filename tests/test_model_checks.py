"""course.lessons.l6a's checker of the exercise on a whole model, run on the course's language
model with a wrong choice of each kind and a right one."""

import pytest

from course import language_model, texts
from course.lessons import l6a


@pytest.fixture(scope="module")
def language_model_and_text():
    """The course's model and lesson L6-A's sample: the first 8,192 held-out bytes."""
    return language_model.load(), texts.read_text("eval")[:8192]


def BITS_UNDER_BUDGET(model):
    """A solution: 8 bits for the head, paid for by 2 bits for the least sensitive layer of twice
    its weights (the last MLP down projection, 65,536 weights against the head's 32,768)."""
    return {
        **dict.fromkeys(language_model.linear_names(model), 4),
        "head": 8,
        "blocks.5.mlp.down": 2,
    }


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
    ]:
        verdict = l6a.check_bits_under_budget(choice, model, text)
        assert verdict.status == "error" and message in verdict.message, verdict.message


def test_bits_under_budget_measures_bytes_then_bits_per_byte(language_model_and_text):
    model, text = language_model_and_text
    names = language_model.linear_names(model)
    over = l6a.check_bits_under_budget({**dict.fromkeys(names, 4), "head": 3}, model, text)
    assert (
        over.status == "mismatch"
        and over.message.startswith("Over budget")
        and "3 bits" in over.message
    )
    same = l6a.check_bits_under_budget(dict.fromkeys(names, 4), model, text)
    assert same.status == "mismatch" and "is not below" in same.message
    worse = l6a.check_bits_under_budget(dict.fromkeys(names, 2), model, text)
    assert worse.status == "mismatch" and "is not below" in worse.message


def test_bits_under_budget_passes_a_choice_that_beats_4_bits(language_model_and_text):
    model, text = language_model_and_text
    verdict = l6a.check_bits_under_budget(BITS_UNDER_BUDGET(model), model, text)
    assert verdict.status == "pass" and verdict.message.startswith("Well done"), verdict.message
