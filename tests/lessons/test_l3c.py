"""course.lessons.l3c (L3-C, per channel): its plots, widget, checker and runs."""

import torch

import helper
from course.lessons import l3c


def per_channel_last_axis(tensor, dtype=torch.int8):
    q_max = helper.q_range(dtype)[1]
    scale = tensor.abs().amax(dim=(0, 1), keepdim=True) / q_max
    return helper.linear_q_with_scale_and_zero_point(tensor, scale, 0, dtype), scale


def test_a_mismatch_of_a_tensor_says_where_and_how_many_values_differ():
    def one_value_off(tensor, dtype=torch.int8):
        q, scale = per_channel_last_axis(tensor, dtype)
        q = q.clone()
        q[0, 0, 0] += 1
        return q, scale

    verdict = l3c.check_per_channel_last_axis(one_value_off)
    assert "the result[0] differs at index (0, 0, 0)" in verdict.message
    assert "(1 of 24 values differ)" in verdict.message
