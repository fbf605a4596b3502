"""course.core.checker: check_exercise, and every lesson's checker against right and wrong answers
(the answers of each lesson are in its own test file)."""

import inspect
import re
import sys

import pytest
import torch
from conftest import COURSE_TENSOR, lesson_functions, not_done, raises_an_error
from test_l2a import mae_tensor, mae_wrong
from test_l2b import scale_zero_point_right
from test_l3a import symmetric_float, symmetric_right
from test_l3b import asymmetric_per_row_not_widened
from test_l3c import per_channel_last_axis
from test_l3e import w8a32_with_bias_as_in_course_notebook
from test_l4b import _fields_of_four, pack_2bit_first_value_highest
from test_l5a import clip_search, clip_search_last_on_a_tie
from test_l6b import error_feedback, error_feedback_rounding_only, error_feedback_without_clamp
from test_l6c import nearest_level_argmin
from test_l7b import (
    straight_through_backward,
    straight_through_like_torchao,
    straight_through_mask_only,
)

import helper
from course.core import checker
from course.lessons import l2a, l2b, l3a, l3b, l3c, l3d, l3e, l4a, l4b, l4c, l5a, l6b, l6c, l7b

CASES = [(COURSE_TENSOR,), (torch.tensor([[1.0, -2.0], [3.0, 0.5]]),)]


def test_check_exercise_pass():
    verdict = checker.check_exercise(helper.linear_q_symmetric, helper.linear_q_symmetric, CASES)
    assert verdict.status == "pass" and bool(verdict)
    assert "all 2 inputs" in repr(verdict)


def test_check_exercise_not_done_yet():
    def unfinished(tensor):
        raise NotImplementedError

    verdict = checker.check_exercise(unfinished, helper.linear_q_symmetric, CASES, "my_fn")
    assert verdict.status == "not done yet" and not verdict
    assert "my_fn" in verdict.message


def test_check_exercise_mismatch_names_the_first_differing_input_and_index():
    def off_by_one_on_second(tensor):
        q, scale = helper.linear_q_symmetric(tensor)
        return (q + 1, scale) if tensor.shape == (2, 2) else (q, scale)

    verdict = checker.check_exercise(off_by_one_on_second, helper.linear_q_symmetric, CASES)
    assert verdict.status == "mismatch"
    assert "input 2 of 2" in verdict.message and "index (0, 0)" in verdict.message


def test_check_exercise_mismatch_on_type_and_scale():
    verdict = checker.check_exercise(
        lambda t: helper.linear_q_symmetric(t)[0], helper.linear_q_symmetric, CASES
    )
    assert verdict.status == "mismatch" and "tuple of 2" in verdict.message
    verdict = checker.check_exercise(
        lambda t: (helper.linear_q_symmetric(t)[0], 1.0), helper.linear_q_symmetric, CASES
    )
    assert verdict.status == "mismatch" and "result[1]" in verdict.message


def test_check_exercise_reports_an_exception():
    verdict = checker.check_exercise(lambda t: t / 0 + None, helper.linear_q_symmetric, CASES)
    assert verdict.status == "error" and "TypeError" in verdict.message


def mae_right(original, dequantized):
    return (original - dequantized).abs().mean().item()


def scale_zero_point_course(tensor, dtype=torch.int8):
    """The course's version: no widening, so it fails on all-positive tensors."""
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = tensor.min().item(), tensor.max().item()
    scale = (r_max - r_min) / (q_max - q_min)
    return scale, min(max(round(q_min - r_min / scale), q_min), q_max)


def symmetric_wrong_scale(tensor, bits):
    q_max = 2 ** (bits - 1)  # off by one
    scale = tensor.abs().max().item() / q_max
    return torch.round(tensor / scale).clamp(-q_max, q_max - 1).to(torch.int8), scale


def asymmetric_per_row(tensor, dtype=torch.int8):
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True).clamp(max=0)
    r_max = tensor.double().amax(dim=1, keepdim=True).clamp(min=0)
    scale = ((r_max - r_min) / (q_max - q_min)).clamp(min=helper.ZERO_RANGE_SCALE)
    zero_point = (q_min - r_min / scale).round()
    quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale.float(), zero_point, dtype)
    return quantized, scale.float(), zero_point.to(torch.int32)


def asymmetric_per_row_float64_scale(tensor, dtype=torch.int8):  # wrong type: float64 scale
    quantized, scale, zero_point = asymmetric_per_row(tensor, dtype)
    return quantized, scale.double(), zero_point


def per_channel_first_axis(tensor, dtype=torch.int8):  # wrong: one scale per batch entry
    return helper.linear_q_symmetric_per_channel(tensor, dim=0, dtype=dtype)


def dequantize_per_group(quantized_tensor, scale, group_size):
    grouped = quantized_tensor.view(-1, group_size)
    dequantized = helper.linear_dequantization(grouped, scale.reshape(-1, 1), 0)
    return dequantized.view(quantized_tensor.shape)


def dequantize_per_group_one_scale(quantized_tensor, scale, group_size):  # wrong: first scale
    return scale.flatten()[0].item() * quantized_tensor.float()


def w8a32_with_bias(input, q_w, s_w, z_w, bias):
    return torch.nn.functional.linear(input, s_w * (q_w.float() - z_w), bias)


def w8a32_forgets_bias(input, q_w, s_w, z_w, bias):
    return helper.quantized_linear_W8A32_without_bias(input, q_w, s_w, z_w)


def w8a8_per_token(q_x, s_x, z_x, q_w, s_w):
    accumulator = q_x.int() @ q_w.int().t() - z_x * q_w.int().sum(dim=1)
    return accumulator.float() * (s_x * s_w.t())


def w8a8_one_activation_scale(q_x, s_x, z_x, q_w, s_w):  # wrong: row 0's scale and zero point
    return w8a8_per_token(q_x, s_x[:1], z_x[:1], q_w, s_w)


def pack_2bit(q):
    fields = _fields_of_four(q)
    return fields[:, 0] | fields[:, 1] << 2 | fields[:, 2] << 4 | fields[:, 3] << 6


def to_linear(layer):
    linear = torch.nn.Linear(layer.in_features, layer.out_features)
    with torch.no_grad():
        linear.weight.copy_(layer.dequantized_weight())
        linear.bias.copy_(layer.bias)
    return linear


def to_linear_without_scale(layer):  # wrong: the integers, not s q
    linear = to_linear(layer)
    with torch.no_grad():
        linear.weight.copy_(layer.int_weight().float())
    return linear


def clip_search_no_clip(tensor, bits):  # wrong: never clips
    dtype = helper.integer_dtype(bits)
    q, scale = helper.linear_q_symmetric(tensor, dtype)
    return 1.0, helper.quantization_error(tensor, helper.linear_dequantization(q, scale, 0))


def error_feedback_without_dividing(weight_row, factor, scale, bits):  # wrong: e = w - s q
    with_unit_diagonal = factor.clone()
    with_unit_diagonal.diagonal().fill_(1.0)
    return error_feedback(weight_row, with_unit_diagonal, scale, bits)


# Every checker: (checker, the name it reports, right answers, wrong answers).
CHECKERS = [
    (l2a.check_mean_absolute_error, "mean_absolute_error", [mae_right], [mae_wrong, mae_tensor]),
    (
        l2b.check_scale_and_zero_point,
        "get_q_scale_and_zero_point_with_zero",
        [scale_zero_point_right],
        [scale_zero_point_course],
    ),
    (
        l3a.check_symmetric_quantization,
        "linear_q_symmetric_bits",
        [symmetric_right],
        [symmetric_wrong_scale, symmetric_float],
    ),
    (
        l3b.check_asymmetric_per_row,
        "asymmetric_per_row",
        [asymmetric_per_row],
        [asymmetric_per_row_not_widened, asymmetric_per_row_float64_scale],
    ),
    (
        l3c.check_per_channel_last_axis,
        "per_channel_last_axis",
        [per_channel_last_axis],
        [per_channel_first_axis],
    ),
    (
        l3d.check_per_group_dequantization,
        "dequantize_per_group",
        [dequantize_per_group],
        [dequantize_per_group_one_scale],
    ),
    (
        l3e.check_w8a32_with_bias,
        "quantized_linear_W8A32_with_bias",
        [w8a32_with_bias],
        [w8a32_with_bias_as_in_course_notebook, w8a32_forgets_bias],
    ),
    (l4a.check_w8a8_per_token, "w8a8_per_token", [w8a8_per_token], [w8a8_one_activation_scale]),
    (l4b.check_pack_2bit, "pack_2bit", [pack_2bit], [pack_2bit_first_value_highest]),
    (l4c.check_to_linear, "to_linear", [to_linear], [to_linear_without_scale]),
    (
        l5a.check_clip_search,
        "clip_search",
        [clip_search],
        [clip_search_last_on_a_tie, clip_search_no_clip],
    ),
    (
        l6b.check_error_feedback,
        "error_feedback",
        [error_feedback],
        [
            error_feedback_without_dividing,
            error_feedback_rounding_only,
            error_feedback_without_clamp,
        ],
    ),
    (
        l7b.check_straight_through_backward,
        "straight_through_backward",
        [straight_through_backward],
        [straight_through_like_torchao, straight_through_mask_only],
    ),
]


IDS = [name for _, name, _, _ in CHECKERS]


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS, ids=IDS)
def test_checker_passes_a_right_answer(checker, name, right, wrong):
    for solution in right:
        verdict = checker(solution)
        assert verdict.status == "pass", verdict.message
        assert bool(verdict)
        assert repr(verdict).startswith(f"Well done: {name} matches")


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS, ids=IDS)
def test_checker_reports_a_wrong_answer(checker, name, right, wrong):
    for solution in wrong:
        verdict = checker(solution)
        assert verdict.status == "mismatch", verdict.message
        assert not verdict
        assert verdict.message.startswith(f"{name} differs on input")


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS, ids=IDS)
def test_checker_says_not_done_yet_for_the_stub(checker, name, right, wrong):
    verdict = checker(not_done)
    assert verdict.status == "not done yet"
    assert repr(verdict) == f"Not done yet: fill in {name} and run this cell again."


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS, ids=IDS)
def test_checker_reports_an_exception(checker, name, right, wrong):
    verdict = checker(raises_an_error)
    assert verdict.status == "error"
    assert verdict.message.startswith(f"{name} raised RuntimeError: boom on input 1 of")


# Every lesson's checker but the three with tests of their own: L5-B's (which needs torchao),
# L6-A's (which measures a whole model rather than comparing with helper) and L7-A's (whose cases
# depend on the machine's int4 layout; tests/lessons/test_l7a.py).
CASE_CHECKERS = sorted(
    name
    for name, function in lesson_functions("check_").items()
    if "learner_function" in inspect.signature(function).parameters
    and name
    not in {"check_torchao_asymmetric_per_token", "check_bits_under_budget", "check_pack_int4"}
)


def test_every_checker_is_in_the_table():
    names = set(CASE_CHECKERS)
    assert names == {checker.__name__ for checker, _, _, _ in CHECKERS}


@pytest.mark.parametrize("name", CASE_CHECKERS)
def test_every_checker_names_its_cases_in_words(name):
    """A failing case is named in words before its call, as L5-A's checker does: the learner
    sees which kind of input failed, not only its shape."""
    verdict = lesson_functions("check_")[name](lambda *args: None)
    assert verdict.status == "mismatch", verdict.message
    label = re.search(r"on input 1 of \d+, (.+?): \w+\(", verdict.message)
    assert label is not None and label.group(1).strip(), verdict.message


@pytest.mark.parametrize("name", CASE_CHECKERS)
def test_every_checker_case_has_its_own_label(name, monkeypatch):
    """Every case has a label, and no two cases of one checker share one, so that no two
    failures read alike."""
    seen = []
    check_exercise = checker.check_exercise

    def spy(learner, reference, cases, name="f", labels=None):
        seen.append((len(cases), labels))
        return check_exercise(learner, reference, cases, name, labels)

    function = lesson_functions("check_")[name]
    monkeypatch.setattr(sys.modules[function.__module__], "check_exercise", spy)
    function(lambda *args: None)
    ((n_cases, labels),) = seen
    assert labels is not None and len(labels) == n_cases
    assert len(set(labels)) == n_cases, f"two cases share a label: {labels}"


def nearest_level(values, codebook):
    levels = codebook.double()
    midpoints = (levels[1:] + levels[:-1]) / 2
    wide = values.double()
    index = torch.bucketize(wide, midpoints)
    tie = wide == midpoints[index.clamp(max=len(midpoints) - 1)]
    return index + (tie & (index % 2 == 1)).long()


def nearest_level_float32_midpoints(values, codebook):  # wrong: rounded midpoints make ties
    midpoints = (codebook[1:] + codebook[:-1]) / 2
    index = torch.bucketize(values, midpoints)
    tie = values == midpoints[index.clamp(max=len(midpoints) - 1)]
    return index + (tie & (index % 2 == 1)).long()


CHECKERS.append(
    (
        l6c.check_nearest_level,
        "nearest_level",
        [nearest_level],
        [nearest_level_argmin, nearest_level_float32_midpoints],
    )
)
IDS.append("nearest_level")
