"""course.lessons.l3d (L3-D, per group): its plots, widget, checker and runs."""

import pytest
import torch

from course.core import plotting
from course.lessons import l3d


def test_plot_group_size_tradeoff_error_grows_bits_fall():
    torch.manual_seed(0)
    weight = torch.randn(16, 64)
    figure = l3d.plot_group_size_tradeoff(weight, [8, 16, 32, 64], dtype=torch.int4)
    left, right = figure.axes
    assert left.get_title() == "Quantization error (int4)"
    assert right.get_title() == "Real storage (fp16 scales)"
    assert left.get_ylabel() == "mean squared error"
    assert right.get_ylabel() == "bits per weight"
    assert left.get_xlabel() == "group size (values sharing one scale)"
    errors = list(left.lines[0].get_ydata())
    assert errors == sorted(errors)
    assert list(right.lines[0].get_ydata()) == [6.0, 5.0, 4.5, 4.25]
    # one colour per meaning: an MSE's colour, and that of an fp16 scale's share in L3-D's bars
    assert left.lines[0].get_color() == plotting.TOTAL
    assert right.lines[0].get_color() == plotting.SCALE_SHARE_COLOURS[16] == plotting.ORANGE
    fp32 = l3d.plot_group_size_tradeoff(weight, [8, 16], torch.int4, scale_bits=32)
    assert fp32.axes[1].lines[0].get_color() == plotting.VERMILION


def test_plot_group_size_tradeoff_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one group size"):
        l3d.plot_group_size_tradeoff(torch.randn(4, 8), [])
    with pytest.raises(ValueError, match="group_size 3 must divide"):
        l3d.plot_group_size_tradeoff(torch.randn(4, 8), [3])
    with pytest.raises(TypeError, match="floating-point"):
        l3d.plot_group_size_tradeoff(torch.ones(4, 8, dtype=torch.int8), [4])
