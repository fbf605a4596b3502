"""course.lessons.l4c (L4-C, quantize a trained network): its plots, widget, checker and runs."""

import matplotlib.figure
import pytest
import torch

import helper
from course import models
from course.core import plotting
from course.lessons import l4c


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


def test_explore_trained_network(trained):
    model, digits = trained
    explorer = l4c.explore_trained_network(model, digits, bits=8)
    assert set(explorer.controls) == {"bits", "granularity", "group_size"}
    assert explorer.controls["group_size"].disabled
    assert explorer.readout["accuracy"] == pytest.approx(
        explorer.readout["fp32_accuracy"], abs=0.01
    )
    assert explorer.readout["fp32_bytes"] == helper.model_bytes(model)
    explorer.controls["bits"].value = 2
    explorer.controls["granularity"].value = "per-tensor"
    wrong = explorer.readout["misclassified"]
    accuracy = 1 - wrong / len(digits.y_test)
    assert explorer.readout["accuracy"] == pytest.approx(accuracy)
    expected = helper.quantize_model(model, 2, "per-tensor")
    assert explorer.readout["model_bytes"] == helper.model_bytes(expected)
    assert explorer.readout["accuracy"] == models.accuracy(expected, digits.x_test, digits.y_test)
    explorer.controls["granularity"].value = "per-group"
    assert not explorer.controls["group_size"].disabled
    assert explorer.readout["accuracy"] > accuracy
    assert isinstance(explorer.snapshot(), matplotlib.figure.Figure)
