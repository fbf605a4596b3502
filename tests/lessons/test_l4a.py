"""course.lessons.l4a (L4-A, integer inference (W8A8)): its plots, widget, checker and runs."""

import matplotlib.figure
import pytest
import torch

from course.core import plotting
from course.lessons import l4a


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
