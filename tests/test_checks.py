"""check_exercise (course.core.checker), and every "Your turn" checker against a right answer, a
wrong answer, the unfinished stub and a function that raises."""

import inspect
import math
import re
import sys

import pytest
import torch
from conftest import COURSE_TENSOR, lesson_functions

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


def _not_done(*args):
    raise NotImplementedError  # your code here


def _raises(*args):
    raise RuntimeError("boom")


def mae_right(original, dequantized):
    return (original - dequantized).abs().mean().item()


def mae_tensor(original, dequantized):
    return (original - dequantized).abs().mean()


def mae_wrong(original, dequantized):
    return (original - dequantized).square().mean().item()


def scale_zero_point_right(tensor, dtype=torch.int8):
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = min(tensor.min().item(), 0.0), max(tensor.max().item(), 0.0)
    if r_min == r_max:
        return helper.ZERO_RANGE_SCALE, q_min
    scale = (r_max - r_min) / (q_max - q_min)
    return scale, round(q_min - r_min / scale)


def scale_zero_point_course(tensor, dtype=torch.int8):
    """The course's version: no widening, so it fails on all-positive tensors."""
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = tensor.min().item(), tensor.max().item()
    scale = (r_max - r_min) / (q_max - q_min)
    return scale, min(max(round(q_min - r_min / scale), q_min), q_max)


def symmetric_right(tensor, bits):
    q_max = 2 ** (bits - 1) - 1
    scale = tensor.abs().max().item() / q_max
    return torch.round(tensor / scale).clamp(-q_max - 1, q_max).to(torch.int8), scale


def symmetric_wrong_scale(tensor, bits):
    q_max = 2 ** (bits - 1)  # off by one
    scale = tensor.abs().max().item() / q_max
    return torch.round(tensor / scale).clamp(-q_max, q_max - 1).to(torch.int8), scale


def symmetric_float(tensor, bits):
    quantized, scale = symmetric_right(tensor, bits)
    return quantized.float(), scale


def test_mae_checker_wants_a_python_float_and_says_how():
    verdict = l2a.check_mean_absolute_error(mae_tensor)
    assert verdict.status == "mismatch"
    assert "should be a Python float, got a tensor of shape () and dtype torch.float32" in (
        verdict.message
    )
    assert ".item()" in verdict.message


def test_symmetric_checker_wants_an_int8_tensor():
    verdict = l3a.check_symmetric_quantization(symmetric_float)
    assert verdict.status == "mismatch"
    assert "torch.int8" in verdict.message


def test_scale_checker_wants_the_zero_range_scale():
    def no_zero_range(tensor, dtype=torch.int8):
        q_min, q_max = helper.q_range(dtype)
        r_min, r_max = min(tensor.min().item(), 0.0), max(tensor.max().item(), 0.0)
        scale = (r_max - r_min) / (q_max - q_min)
        return scale, round(q_min - r_min / scale)

    verdict = l2b.check_scale_and_zero_point(no_zero_range)
    assert verdict.status == "error"
    assert "ZeroDivisionError" in verdict.message


def test_mae_checker_reports_a_result_of_several_values():
    verdict = l2a.check_mean_absolute_error(lambda original, dequantized: original - dequantized)
    assert verdict.status == "mismatch"
    assert "got a tensor of shape (3, 3)" in verdict.message


def asymmetric_per_row(tensor, dtype=torch.int8):
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True).clamp(max=0)
    r_max = tensor.double().amax(dim=1, keepdim=True).clamp(min=0)
    scale = ((r_max - r_min) / (q_max - q_min)).clamp(min=helper.ZERO_RANGE_SCALE)
    zero_point = (q_min - r_min / scale).round()
    quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale.float(), zero_point, dtype)
    return quantized, scale.float(), zero_point.to(torch.int32)


def asymmetric_per_row_not_widened(tensor, dtype=torch.int8):  # wrong: the original course's
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True)
    r_max = tensor.double().amax(dim=1, keepdim=True)
    scale = ((r_max - r_min) / (q_max - q_min)).clamp(min=helper.ZERO_RANGE_SCALE)
    zero_point = (q_min - r_min / scale).round().clamp(q_min, q_max)
    quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale.float(), zero_point, dtype)
    return quantized, scale.float(), zero_point.to(torch.int32)


def asymmetric_per_row_float64_scale(tensor, dtype=torch.int8):  # wrong type: float64 scale
    quantized, scale, zero_point = asymmetric_per_row(tensor, dtype)
    return quantized, scale.double(), zero_point


def per_channel_last_axis(tensor, dtype=torch.int8):
    q_max = helper.q_range(dtype)[1]
    scale = tensor.abs().amax(dim=(0, 1), keepdim=True) / q_max
    return helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, dtype), scale


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


def w8a32_with_bias_as_in_course_notebook(input, q_w, s_w, z_w, bias):  # wrong: q s + z
    return torch.nn.functional.linear(input, q_w.float() * s_w + z_w, bias)


def w8a32_forgets_bias(input, q_w, s_w, z_w, bias):
    return helper.quantized_linear_W8A32_without_bias(input, q_w, s_w, z_w)


def test_w8a32_checker_catches_the_course_formula_only_through_a_zero_point():
    """The course's ``q s + z`` passes the symmetric case (input 1) and fails the asymmetric one."""
    verdict = l3e.check_w8a32_with_bias(w8a32_with_bias_as_in_course_notebook)
    assert "differs on input 2 of" in verdict.message


# L4 solutions ------------------------------------------------------------------------------


def w8a8_per_token(q_x, s_x, z_x, q_w, s_w):
    accumulator = q_x.int() @ q_w.int().t() - z_x * q_w.int().sum(dim=1)
    return accumulator.float() * (s_x * s_w.t())


def w8a8_one_activation_scale(q_x, s_x, z_x, q_w, s_w):  # wrong: row 0's scale and zero point
    return w8a8_per_token(q_x, s_x[:1], z_x[:1], q_w, s_w)


def _fields_of_four(q):
    flat = q.flatten().to(torch.uint8)
    return torch.cat([flat, flat.new_zeros(-len(flat) % 4)]).reshape(-1, 4)


def pack_2bit(q):
    fields = _fields_of_four(q)
    return fields[:, 0] | fields[:, 1] << 2 | fields[:, 2] << 4 | fields[:, 3] << 6


def pack_2bit_first_value_highest(q):  # wrong: the first value in the highest bits
    fields = _fields_of_four(q)
    return fields[:, 3] | fields[:, 2] << 2 | fields[:, 1] << 4 | fields[:, 0] << 6


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


def clip_search_no_clip(tensor, bits):  # wrong: never clips
    dtype = helper.integer_dtype(bits)
    q, scale = helper.linear_q_symmetric(tensor, dtype)
    return 1.0, helper.quantization_error(tensor, helper.linear_dequantization(q, scale, 0))


def error_feedback(weight_row, factor, scale, bits):
    row, q_max = weight_row.clone(), 2 ** (bits - 1) - 1
    q = torch.zeros(row.shape, dtype=torch.int8)
    for j in range(len(row)):
        q[j] = int(torch.clamp(torch.round(row[j] / scale), -q_max - 1, q_max))
        error = (row[j] - scale * q[j]) / factor[j, j]
        row[j + 1 :] -= error * factor[j, j + 1 :]
    return q


def error_feedback_without_dividing(weight_row, factor, scale, bits):  # wrong: e = w - s q
    with_unit_diagonal = factor.clone()
    with_unit_diagonal.diagonal().fill_(1.0)
    return error_feedback(weight_row, with_unit_diagonal, scale, bits)


def error_feedback_rounding_only(weight_row, factor, scale, bits):  # wrong: no feedback at all
    return error_feedback(weight_row, torch.eye(len(weight_row), dtype=factor.dtype), scale, bits)


# L7-B: the straight-through backward, right and wrong in each way the checker names.
def straight_through_backward(grad_output, x, scale, zero_point, q_min, q_max):
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)
    return grad_output * ((x >= low) & (x <= high))


def straight_through_like_torchao(grad_output, x, scale, zero_point, q_min, q_max):
    rounded = torch.round(x / scale + zero_point)
    return grad_output * ((rounded >= q_min) & (rounded <= q_max))


def straight_through_ends_left_out(grad_output, x, scale, zero_point, q_min, q_max):
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)
    return grad_output * ((x > low) & (x < high))


def straight_through_mask_only(grad_output, x, scale, zero_point, q_min, q_max):
    low, high = scale * (q_min - zero_point), scale * (q_max - zero_point)
    return ((x >= low) & (x <= high)).float()


def straight_through_no_zero_point(grad_output, x, scale, zero_point, q_min, q_max):
    return grad_output * ((x >= scale * q_min) & (x <= scale * q_max))


@pytest.mark.parametrize(
    "function, status, words",
    [
        (straight_through_backward, "pass", "Well done"),
        (_not_done, "not done yet", "Not done yet"),
        (straight_through_like_torchao, "mismatch", "less than half a step past an end"),
        (straight_through_ends_left_out, "mismatch", "exactly at the ends"),
        (straight_through_no_zero_point, "mismatch", "asymmetric zero point"),
        (straight_through_mask_only, "mismatch", "not all ones"),
    ],
)
def test_the_straight_through_checker_names_the_failing_case(function, status, words):
    verdict = l7b.check_straight_through_backward(function)
    assert verdict.status == status and words in verdict.message, verdict.message


def test_the_straight_through_reference_is_the_answer_key_s_backward():
    for case in l7b.backward_cases()[0]:
        grad_output, x, *rest = case
        x = x.clone().requires_grad_()
        helper.fake_quantize(x, *rest).backward(grad_output)
        assert torch.equal(x.grad, straight_through_backward(grad_output, x.detach(), *rest))


def error_feedback_without_clamp(weight_row, factor, scale, bits):  # wrong: rounds off the grid
    return error_feedback(weight_row, factor, scale, bits=16)


def error_feedback_in_place(weight_row, factor, scale, bits):  # wrong: changes its argument
    q = error_feedback(weight_row, factor, scale, bits)
    weight_row.copy_(weight_row * 0)
    return q


def test_error_feedback_checker_names_the_case_of_a_missing_clamp_and_of_a_changed_row():
    verdict = l6b.check_error_feedback(error_feedback_without_clamp)
    assert verdict.status == "mismatch" and "must be clamped to -2..1" in verdict.message
    verdict = l6b.check_error_feedback(error_feedback_in_place)
    assert verdict.status == "mismatch" and verdict.message.startswith(
        "error_feedback changed weight_row on input 1 of 5, uncorrelated inputs"
    )


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
    verdict = checker(_not_done)
    assert verdict.status == "not done yet"
    assert repr(verdict) == f"Not done yet: fill in {name} and run this cell again."


@pytest.mark.parametrize(("checker", "name", "right", "wrong"), CHECKERS, ids=IDS)
def test_checker_reports_an_exception(checker, name, right, wrong):
    verdict = checker(_raises)
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


def test_the_asymmetric_checker_needs_the_range_widened_to_include_0():
    verdict = l3b.check_asymmetric_per_row(asymmetric_per_row_not_widened)
    assert "differs on input 3 of 7, rows all positive (each range widened down to 0)" in (
        verdict.message
    )


def asymmetric_per_row_max_not_widened(tensor, dtype=torch.int8):  # wrong: only r_min widened
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True).clamp(max=0)
    r_max = tensor.double().amax(dim=1, keepdim=True)
    scale = ((r_max - r_min) / (q_max - q_min)).clamp(min=helper.ZERO_RANGE_SCALE)
    zero_point = (q_min - r_min / scale).round()
    quantized = helper.linear_q_with_scale_and_zero_point(tensor, scale.float(), zero_point, dtype)
    return quantized, scale.float(), zero_point.to(torch.int32)


def asymmetric_per_row_no_zero_range_scale(tensor, dtype=torch.int8):  # wrong: a scale of 0
    q_min, q_max = helper.q_range(dtype)
    r_min = tensor.double().amin(dim=1, keepdim=True).clamp(max=0)
    r_max = tensor.double().amax(dim=1, keepdim=True).clamp(min=0)
    scale = (r_max - r_min) / (q_max - q_min)
    zero_point = (q_min - r_min / scale).round()
    quantized = torch.round(tensor / scale + zero_point).clamp(q_min, q_max)
    return quantized.to(helper.storage_dtype(dtype)), scale.float(), zero_point.to(torch.int32)


@pytest.mark.parametrize(
    ("wrong", "label"),
    [
        (asymmetric_per_row_not_widened, "input 3 of 7, rows all positive"),
        (asymmetric_per_row_max_not_widened, "input 4 of 7, rows all negative"),
        (asymmetric_per_row_no_zero_range_scale, "input 5 of 7, a row all zero"),
    ],
)
def test_the_asymmetric_checker_names_the_kind_of_row_a_wrong_function_fails_on(wrong, label):
    verdict = l3b.check_asymmetric_per_row(wrong)
    assert verdict.status == "mismatch"
    assert f"differs on {label}" in verdict.message


def mae_with_a_floor(original, dequantized):  # wrong: an exact copy gives 1e-12, not 0
    return max((original - dequantized).abs().mean().item(), 1e-12)


def test_the_mae_checker_names_the_exact_copy_apart_from_the_worked_example():
    copy = l2a.check_mean_absolute_error(mae_with_a_floor)
    assert "differs on input 5 of 5, the worked example against an exact copy (an error of 0)" in (
        copy.message
    )
    first = l2a.check_mean_absolute_error(mae_wrong)
    assert "differs on input 1 of 5, the worked example, quantized with scale 3.5" in first.message
    tail = "mean_absolute_error(tensor of shape (3, 3) and dtype torch.float32, tensor of shape"
    assert tail in copy.message and tail in first.message  # the same call: the labels tell apart
    assert (
        copy.message.split(": mean_absolute_error")[0]
        != (first.message.split(": mean_absolute_error")[0])
    )


def scale_zero_point_r_min_only(tensor, dtype=torch.int8):  # wrong: r_max not widened
    q_min, q_max = helper.q_range(dtype)
    r_min, r_max = min(tensor.min().item(), 0.0), tensor.max().item()
    scale = (r_max - r_min) / (q_max - q_min) or helper.ZERO_RANGE_SCALE
    return scale, round(q_min - r_min / scale)


def test_the_scale_checker_names_the_all_negative_case():
    verdict = l2b.check_scale_and_zero_point(scale_zero_point_r_min_only)
    assert "differs on input 6 of 9, an all-negative tensor in int8:" in verdict.message


def test_the_scale_checker_checks_random_values_in_uint8_and_int8():
    """The lesson promises random tensors in int8 and uint8, besides its all-positive one: a
    function wrong only on values of both signs in one of those types fails, named."""

    def wrong_on_mixed_signs_in(wrong_dtype):
        def learner(tensor, dtype):
            if dtype == wrong_dtype and tensor.min() < 0 < tensor.max():
                return helper.get_q_scale_and_zero_point(tensor.clamp(min=0), dtype)
            return helper.get_q_scale_and_zero_point(tensor, dtype)

        return learner

    uint8 = l2b.check_scale_and_zero_point(wrong_on_mixed_signs_in(torch.uint8))
    assert "differs on input 8 of 9, random values in uint8:" in uint8.message
    int8 = l2b.check_scale_and_zero_point(wrong_on_mixed_signs_in(torch.int8))
    assert "differs on input 1 of 9, the worked example in int8:" in int8.message
    only_random = l2b.check_scale_and_zero_point(
        lambda tensor, dtype: helper.get_q_scale_and_zero_point(
            tensor.clamp(min=0) if tensor.shape == (5, 3) else tensor, dtype
        )
    )
    assert "differs on input 9 of 9, random values in int8:" in only_random.message


def test_a_mismatch_names_the_input_the_expected_and_the_received_value():
    verdict = l2a.check_mean_absolute_error(mae_wrong)
    tensor = "tensor of shape (3, 3) and dtype torch.float32"
    first_input = f"mean_absolute_error({tensor}, {tensor})"
    label = "the worked example, quantized with scale 3.5 and zero point -70"
    assert f"differs on input 1 of 5, {label}: {first_input}: the result should be " in (
        verdict.message
    )
    original = COURSE_TENSOR
    restored = helper.linear_dequantization(
        helper.linear_q_with_scale_and_zero_point(original, 3.5, -70), 3.5, -70
    )
    expected = helper.quantization_error(original, restored, "mae")
    assert f"should be {expected!r}, got {mae_wrong(original, restored)!r}" in verdict.message


def test_a_mismatch_of_a_tensor_says_where_and_how_many_values_differ():
    def one_value_off(tensor, dtype=torch.int8):
        q, scale = per_channel_last_axis(tensor, dtype)
        q = q.clone()
        q[0, 0, 0] += 1
        return q, scale

    verdict = l3c.check_per_channel_last_axis(one_value_off)
    assert "the result[0] differs at index (0, 0, 0)" in verdict.message
    assert "(1 of 24 values differ)" in verdict.message


def test_an_int_is_wanted_where_the_reference_gives_an_int():
    def float_zero_point(tensor, dtype=torch.int8):
        scale, zero_point = scale_zero_point_right(tensor, dtype)
        return scale, float(zero_point)

    verdict = l2b.check_scale_and_zero_point(float_zero_point)
    assert verdict.status == "mismatch"
    assert "the result[1] should be an int, -77, got a float: -77.0" in verdict.message


def test_small_inputs_are_shown_in_full():
    verdict = l4b.check_pack_2bit(pack_2bit_first_value_highest)
    assert "pack_2bit(torch.tensor([1, 2, 3, 0], dtype=torch.uint8))" in verdict.message


def test_clip_search_checker_names_the_failing_case():
    verdict = l5a.check_clip_search(clip_search_last_on_a_tie)
    assert "all zeros (every ratio ties: keep the first, 1.0)" in verdict.message


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


def nearest_level_argmin(values, codebook):  # wrong: a tie goes to the lower code
    return (values[..., None] - codebook).abs().argmin(dim=-1)


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


def test_nearest_level_checker_names_the_tie_case():
    verdict = l6c.check_nearest_level(nearest_level_argmin)
    assert "values exactly halfway between two levels (the even code wins)" in verdict.message


def test_the_error_feedback_reference_is_helpers_gptq_on_one_row():
    for row, factor, scale, bits in l6b.error_feedback_cases()[0]:
        expected = l6b._error_feedback_reference(row, factor, scale, bits)
        hessian = torch.cholesky_inverse(factor.T)  # (U^T U)^-1 = H + damp: undamped again below
        hessian -= 0.01 / 1.01 * hessian.diagonal().mean() * torch.eye(len(row), dtype=row.dtype)
        q, helper_scale = helper.gptq_quantize(row[None], hessian, bits)
        assert float(helper_scale) == scale
        assert torch.equal(q[0], expected)


def test_the_error_feedback_checker_names_the_failing_case():
    verdict = l6b.check_error_feedback(error_feedback_rounding_only)
    assert "differs on input 2 of 5, 4 bits, correlated inputs:" in verdict.message
