"""Legibility, measured from matplotlib's own extents: in every figure, plot and widget snapshot
that the course makes, no two texts overlap, and no legend covers plotted data.

Each figure is drawn on an Agg canvas; every artist's place on it is then its
``get_window_extent(renderer)``, in pixels. What counts:

- *texts*: every visible, non-empty ``Text`` of the figure (titles, suptitles, axis labels,
  the tick labels that are drawn, annotations, texts, legend texts and titles);
- *data*: what an axes plots, in display coordinates and inside the axes: the points of a
  ``Line2D`` (a marker's radius around each, a line's segments sampled every pixel), the
  offsets of a scatter's ``PathCollection``, the segments of a ``LineCollection``, the boxes of
  bars (``Rectangle``) and the outlines of other patches, the extents of images, and the texts
  written in the axes (bar labels, values).

One exemption, on purpose: artists drawn in axes coordinates along one direction (``axhline``,
``axvline``, ``axhspan``, ``axvspan``: reference levels and background bands that span the whole
axes) are not data a legend must avoid: no legend placed inside the axes could avoid them, and
they stay readable on both sides of it.

The calls below are the lessons' own (the arguments their notebooks pass). Where a lesson's
input takes minutes to compute (a sweep over the language model), the table of numbers the
lesson prints stands in for it, typed here. The first tests build broken figures on purpose, to
show that each check fails where it should.
"""

from __future__ import annotations

import functools
import itertools
import json

import figures
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import control_settings, l7a_timings, lesson_functions
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.image import AxesImage
from matplotlib.markers import MarkerStyle
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import helper
from course import data, language_model, models, texts
from course.lessons import (
    l2a,
    l2b,
    l3a,
    l3d,
    l3e,
    l4a,
    l4b,
    l4c,
    l5a,
    l5b,
    l6a,
    l6b,
    l6c,
    l7a,
    l7b,
    l7b_plots,
)
from course.lessons.l6a import Cost, Result, Setting

# Two boxes overlap when they share more than this many pixels in both directions.
TOLERANCE = 1.5


# ---------------------------------------------------------------------------------------------
# The measurements


def draw(figure):
    """Lay ``figure`` out on an Agg canvas, as the inline backend would draw it (every artist
    placed, no pixel painted), and return the canvas' renderer."""
    canvas = FigureCanvasAgg(figure)
    figure.draw_without_rendering()
    return canvas.get_renderer()


def _axis_texts(figure) -> tuple[set[int], list[Text]]:
    """The ids of every tick label and axis label of the figure, and those that are drawn: the
    tick labels inside the view, and only on the axes whose axis is on (``ax.axis("off")``
    leaves them visible, but undrawn)."""
    every, drawn = set(), []
    for ax in _with_child_axes(figure.get_axes()):
        for axis in ax._axis_map.values():
            labels = [axis.label] + [
                label
                for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                for label in (tick.label1, tick.label2)
            ]
            every.update(map(id, labels))
            if not (ax.axison and axis.get_visible()):
                continue
            drawn.append(axis.label)
            for tick in axis._update_ticks():  # the ticks inside the view, which are drawn
                drawn += [label for label in (tick.label1, tick.label2) if label.get_visible()]
    return every, drawn


def _with_child_axes(axes) -> list:
    """The axes and, after each, its child axes (a secondary axis, an inset), recursively."""
    return [a for ax in axes for a in [ax, *_with_child_axes(ax.child_axes)]]


def _shown(text: Text) -> bool:
    return text.get_visible() and bool(text.get_text().strip())


def text_boxes(figure, renderer) -> list[tuple[str, np.ndarray]]:
    """``(string, [x0, y0, x1, y1])`` in pixels for every text the figure shows."""
    axis_ids, axis_texts = _axis_texts(figure)
    texts = [
        text
        for text in figure.findobj(Text)
        if id(text) not in axis_ids and _shown(text) and _all_visible(text)
    ]
    texts += [text for text in axis_texts if _shown(text)]
    return [(text.get_text(), text.get_window_extent(renderer).extents) for text in texts]


def _all_visible(artist) -> bool:
    """Whether ``artist`` and each artist (legend, axes, subfigure) holding it are visible."""
    legend = getattr(artist, "_legend", None) or _legend_of(artist)
    axes = artist.axes
    return (
        artist.get_visible()
        and (legend is None or legend.get_visible())
        and (axes is None or axes.get_visible())
    )


def _legend_of(artist):
    figure = artist.get_figure()
    for legend in all_legends(figure) if figure is not None else ():
        if artist in legend.texts or artist is legend.get_title():
            return legend
    return None


def all_legends(figure) -> list:
    """Every legend of the figure: its axes' and its (sub)figures'."""
    legends = [ax.get_legend() for ax in figure.get_axes() if ax.get_legend() is not None]
    for fig in [figure, *figure.subfigs]:
        legends += list(fig.legends)
        for sub in fig.subfigs:
            legends += list(sub.legends)
    return legends


def overlapping_texts(figure, renderer=None) -> list[tuple[str, str]]:
    """Every pair of texts of ``figure`` whose boxes overlap by more than ``TOLERANCE``."""
    boxes = text_boxes(figure, renderer or draw(figure))
    if len(boxes) < 2:
        return []
    names, extents = zip(*boxes)
    b = np.array(extents)
    width = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    height = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    first, second = np.nonzero(np.triu((width > TOLERANCE) & (height > TOLERANCE), k=1))
    return [(names[i], names[j]) for i, j in zip(first, second)]


def texts_cut_off(figure, renderer=None) -> list[str]:
    """Every text that runs past the figure's edge, by more than ``TOLERANCE``: the saved
    picture cuts it."""
    renderer = renderer or draw(figure)
    width, height = figure.canvas.get_width_height()
    return [
        name
        for name, (x0, y0, x1, y1) in text_boxes(figure, renderer)
        if x0 < -TOLERANCE or y0 < -TOLERANCE or x1 > width + TOLERANCE or y1 > height + TOLERANCE
    ]


def _in_axes_coordinates(transform, ax) -> bool:
    """Whether an artist placed by ``transform`` sits in the axes' own coordinates along x or y
    (axhline, axvspan, ...) rather than in data coordinates along both."""
    return not all(transform.contains_branch_seperately(ax.transData))


def _sample(points: np.ndarray) -> np.ndarray:
    """The points of a polyline, with more between them: about one a pixel (at most 400 a
    segment)."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 2:
        return points
    starts, steps = points[:-1], points[1:] - points[:-1]
    counts = np.clip(np.ceil(np.abs(steps).max(axis=1)), 1, 400).astype(int)
    which = np.repeat(np.arange(len(starts)), counts)
    fraction = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) / counts[
        which
    ]
    return np.concatenate([starts[which] + steps[which] * fraction[:, None], points[-1:]])


def data_in_pixels(ax, renderer) -> tuple[list[tuple[np.ndarray, float]], list[np.ndarray]]:
    """What ``ax`` plots, in pixels: ``(points, radius)`` groups, and boxes ``[x0, y0, x1, y1]``
    (bars, images, texts). Only what falls inside the axes counts."""
    pixels = ax.get_window_extent(renderer).extents
    points, boxes = [], []

    def inside(p: np.ndarray) -> np.ndarray:
        x_in = (p[:, 0] >= pixels[0]) & (p[:, 0] <= pixels[2])
        return p[x_in & (p[:, 1] >= pixels[1]) & (p[:, 1] <= pixels[3])]

    dpi_scale = ax.figure.dpi / 72
    for line in ax.get_lines():
        if not line.get_visible() or _in_axes_coordinates(line.get_transform(), ax):
            continue
        xy = line.get_transform().transform(line.get_xydata())
        if line.get_marker() not in (None, "", " ", "None"):
            points.append((inside(xy), line.get_markersize() * dpi_scale / 2))
        if line.get_linestyle() not in ("None", "", " "):
            points.append((inside(_sample(xy)), line.get_linewidth() * dpi_scale / 2))
    for collection in ax.collections:
        scatter = isinstance(collection, PathCollection)
        placed = collection.get_offset_transform() if scatter else collection.get_transform()
        if not collection.get_visible() or _in_axes_coordinates(placed, ax):
            continue
        if isinstance(collection, LineCollection):
            transform = collection.get_transform()
            for segment in collection.get_segments():
                if len(segment):
                    points.append((inside(_sample(transform.transform(segment))), 1.0))
        elif isinstance(collection, PathCollection):
            offsets = collection.get_offset_transform().transform(collection.get_offsets())
            sizes = collection.get_sizes()
            radius = np.sqrt(sizes.max() if len(sizes) else 36.0) * dpi_scale / 2
            points.append((inside(offsets), radius))
        else:  # fills (fill_between, stairs with fill): their outlines
            for path in collection.get_paths():
                xy = collection.get_transform().transform(path.vertices)
                points.append((inside(_sample(xy)), 1.0))
    for patch in ax.patches:
        if not patch.get_visible() or _in_axes_coordinates(patch.get_data_transform(), ax):
            continue
        if isinstance(patch, Rectangle):
            box = patch.get_window_extent(renderer).extents
            if box[2] - box[0] > 0.5 and box[3] - box[1] > 0.5:
                boxes.append(box)
        else:  # outlines: histogram steps, polygons
            xy = patch.get_transform().transform(patch.get_path().vertices)
            points.append((inside(_sample(xy)), patch.get_linewidth() * dpi_scale / 2))
    for image in ax.images:
        if isinstance(image, AxesImage) and image.get_visible():
            boxes.append(image.get_window_extent(renderer).extents)
    for text in ax.texts:
        if _shown(text):
            boxes.append(text.get_window_extent(renderer).extents)
    return points, boxes


def legends_over_data(figure, renderer=None) -> list[str]:
    """Every legend of ``figure`` that covers data of an axes it sits on: a point within its
    box (a marker's radius counts), or a bar, image or text that shares more than
    ``TOLERANCE`` pixels with it in both directions."""
    renderer = renderer or draw(figure)
    faults = []
    for legend in all_legends(figure):
        if not legend.get_visible():
            continue
        x0, y0, x1, y1 = legend.get_window_extent(renderer).extents
        for ax in figure.get_axes():
            if not ax.get_visible():
                continue
            points, boxes = data_in_pixels(ax, renderer)
            covered = [
                xy
                for xy, radius in points
                for xy in [
                    xy[
                        (xy[:, 0] > x0 - radius + TOLERANCE)
                        & (xy[:, 0] < x1 + radius - TOLERANCE)
                        & (xy[:, 1] > y0 - radius + TOLERANCE)
                        & (xy[:, 1] < y1 + radius - TOLERANCE)
                    ]
                ]
                if len(xy)
            ]
            covered += [
                box
                for box in boxes
                if min(x1, box[2]) - max(x0, box[0]) > TOLERANCE
                and min(y1, box[3]) - max(y0, box[1]) > TOLERANCE
            ]
            if covered:
                labels = [text.get_text() for text in legend.texts]
                faults.append(f"legend {labels} covers data of the axes {ax.get_title()!r}")
    return faults


def _marker_series(ax, renderer) -> list[tuple[str, np.ndarray, float, bool]]:
    """Each series of markers of ``ax`` in the order they are drawn: ``(label, pixels, radius,
    filled)``. A marker is filled when its face is painted (not a ring, not a cross)."""
    series = []
    artists = sorted(
        [*ax.get_lines(), *(c for c in ax.collections if isinstance(c, PathCollection))],
        key=lambda artist: artist.get_zorder(),
    )  # matplotlib draws by zorder, then in the order the artists were added
    dpi_scale = ax.figure.dpi / 72
    for artist in artists:
        if not artist.get_visible():
            continue
        if isinstance(artist, PathCollection):
            xy = artist.get_offset_transform().transform(artist.get_offsets())
            sizes = artist.get_sizes()
            radius = np.sqrt(sizes.min() if len(sizes) else 36.0) * dpi_scale / 2
            filled = len(artist.get_facecolors()) > 0 and artist.get_facecolors()[:, 3].min() > 0.5
        else:
            if artist.get_marker() in (None, "", " ", "None") or not len(artist.get_xydata()):
                continue
            xy = artist.get_transform().transform(artist.get_xydata())
            radius = artist.get_markersize() * dpi_scale / 2
            face = artist.get_markerfacecolor()
            filled = (
                MarkerStyle(artist.get_marker()).is_filled()
                and artist.get_fillstyle() == "full"
                and not (isinstance(face, str) and face.lower() == "none")
            )
        series.append((artist.get_label(), xy[np.isfinite(xy).all(axis=1)], radius, filled))
    return series


def hidden_markers(figure, renderer=None) -> list[str]:
    """Every series of markers that another hides: a marker wholly under a filled marker, drawn
    after it, at least as large; or two markers of one size (within a pixel), filled or not,
    less than half a radius apart, whose outlines then tangle into one. A ring under a smaller
    dot, or markers of clearly different sizes, leave both visible."""
    renderer = renderer or draw(figure)
    faults = []
    for ax in figure.get_axes():
        series = _marker_series(ax, renderer)
        for (below, xy, radius, _), (above, other, other_radius, filled) in itertools.combinations(
            series, 2
        ):
            if not len(xy) or not len(other):
                continue
            distance = np.sqrt(((xy[:, None, :] - other[None, :, :]) ** 2).sum(axis=2)).min(1)
            under = filled and other_radius >= radius
            hidden = int((distance + radius <= other_radius + 0.5).sum()) if under else 0
            if abs(other_radius - radius) < 1:
                hidden = max(hidden, int((distance < max(radius, other_radius) / 2).sum()))
            if hidden:
                faults.append(f"{hidden} of {len(xy)} markers of {below!r} hidden by {above!r}")
    return faults


def assert_legible(figure) -> None:
    """No two texts overlap, none runs past the figure's edge, no legend covers data, no series
    of markers hides another."""
    renderer = draw(figure)
    overlaps = overlapping_texts(figure, renderer)
    assert not overlaps, f"texts overlap: {overlaps[:6]}"
    cut = texts_cut_off(figure, renderer)
    assert not cut, f"texts cut by the figure's edge: {cut[:6]}"
    covers = legends_over_data(figure, renderer)
    assert not covers, "; ".join(covers)
    hidden = hidden_markers(figure, renderer)
    assert not hidden, "; ".join(hidden)


# ---------------------------------------------------------------------------------------------
# The checks can fail: figures broken on purpose


def test_two_texts_at_one_place_are_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "one label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "another label", transform=ax.transAxes)
    assert ("one label", "another label") in overlapping_texts(fig)
    with pytest.raises(AssertionError, match="texts overlap"):
        assert_legible(fig)


def test_a_title_on_a_tick_label_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_xticks([0.5], ["a tick"])
    ax.set_title("a title on the tick", y=-0.09)
    assert overlapping_texts(fig)


def test_a_title_past_the_figure_edge_is_found():
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.set_title("a title far too long for a figure this narrow, cut at its edge")
    assert texts_cut_off(fig) == ["a title far too long for a figure this narrow, cut at its edge"]
    with pytest.raises(AssertionError, match="cut by the figure's edge"):
        assert_legible(fig)


def test_texts_side_by_side_and_hidden_ones_pass():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.1, 0.5, "left", transform=ax.transAxes)
    ax.text(0.6, 0.5, "right", transform=ax.transAxes)
    ax.text(0.1, 0.5, "hidden", transform=ax.transAxes, visible=False)
    ax.text(0.6, 0.5, "", transform=ax.transAxes)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.5, 1, 5])  # the tick at 5 is outside the view, and not drawn
    assert overlapping_texts(fig) == []


def test_markers_hidden_by_a_series_drawn_alike_over_them_are_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 20)
    ax.plot(x, x, "o", ms=4, label="first")
    ax.plot(x, x + 0.001, "o", ms=4, label="second, on the first")
    assert hidden_markers(fig) == ["20 of 20 markers of 'first' hidden by 'second, on the first'"]
    with pytest.raises(AssertionError, match="hidden by"):
        assert_legible(fig)


def test_a_ring_under_a_smaller_dot_is_not_hidden():
    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0, 1, 20)
    ax.plot(x, x, "o", ms=10, mfc="none", label="rings")
    ax.plot(x, x, "o", ms=3, label="dots")
    ax.plot(x, x, "x", ms=6, label="crosses of another size")
    assert hidden_markers(fig) == []


def test_rings_of_one_size_at_one_place_are_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0.5], [0.5], "o", ms=9, mfc="none", label="a circle")
    ax.plot([0.5], [0.505], "D", ms=9, mfc="none", label="a diamond on it")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    assert hidden_markers(fig) == ["1 of 1 markers of 'a circle' hidden by 'a diamond on it'"]


@pytest.mark.parametrize(
    "draw_data",
    [
        lambda ax: ax.plot([0, 1], [1, 0], color="C0", label="a line"),
        lambda ax: ax.plot([0.1, 0.9], [0.9, 0.1], "o", ls="", label="markers"),
        lambda ax: ax.scatter([0.1, 0.9], [0.9, 0.1], label="scatter"),
        lambda ax: ax.bar([0.1, 0.9], [0.95, 0.2], 0.15, label="bars"),
        lambda ax: ax.hist(np.linspace(0, 1, 50), 5, weights=np.full(50, 0.09), histtype="step"),
        lambda ax: ax.add_collection(LineCollection([[(0, 0.9), (1, 0.9)]], label="segments")),
        lambda ax: ax.imshow(np.ones((4, 4)), extent=(0, 1, 0, 1), label="image"),
    ],
    ids=["line", "markers", "scatter", "bars", "histogram", "line-collection", "image"],
)
def test_a_legend_over_data_is_found(draw_data):
    fig, ax = plt.subplots(figsize=(4, 3))
    draw_data(ax)
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.plot([], [], label="a legend entry with a long label")
    ax.legend(loc="upper left")
    assert legends_over_data(fig)
    with pytest.raises(AssertionError, match="covers data"):
        assert_legible(fig)


def test_a_legend_beside_data_and_over_reference_lines_passes():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 0.3], "o-", label="low data")
    ax.axhline(0.9, color="grey", label="a level across the axes")
    ax.axvspan(0.0, 0.2, alpha=0.2)
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper right")
    assert legends_over_data(fig) == []


def test_the_live_figure_of_a_widget_is_checked_as_well():
    """A widget's snapshot holds its plot: a legend put on the plot's data is found there."""
    explorer = l4a.explore_w8a8()
    figure = explorer.snapshot()
    plot_axes = next(ax for ax in figure.get_axes() if ax.get_legend() is not None)
    plot_axes.legend(loc="center", fontsize=9)
    assert legends_over_data(figure)


# ---------------------------------------------------------------------------------------------
# Every figure of images/


FIGURES = sorted(name for name in dir(figures) if name.startswith("figure_"))


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_legible(name):
    assert_legible(getattr(figures, name)())


# ---------------------------------------------------------------------------------------------
# The plots the lessons call, with the lessons' arguments


def _round_trip(tensor, quantize, block_size=None):
    quantized, scale, zero_point = quantize(tensor)
    dequantized = helper.linear_dequantization(quantized, scale, zero_point)
    extra = {} if block_size is None else {"block_size": block_size}
    return l2a.plot_quantization_errors(tensor, quantized, dequantized, **extra)


def _asymmetric(tensor):
    return helper.linear_quantization(tensor)


def _symmetric(tensor):
    return (*helper.linear_q_symmetric(tensor), 0)


def _per_channel(dim):
    return lambda tensor: (*helper.linear_q_symmetric_per_channel(tensor, dim=dim), 0)


def _seeded(seed, *shape, kind="randn"):
    torch.manual_seed(seed)
    return getattr(torch, kind)(shape)


def _l3d_per_group():
    tensor = _seeded(123, 6, 6, kind="rand")
    quantized, scale = helper.linear_q_symmetric_per_group(tensor, 3)
    dequantized = helper.linear_dequantization_per_group(quantized, scale, 3)
    block = helper.block_size_for(tensor.shape, "per-group", group_size=3)
    return l2a.plot_quantization_errors(tensor, quantized, dequantized, block_size=block)


def _l3e_weight():
    return torch.tensor([[-2, -1.13, 0.42], [-1.51, 0.25, 1.62], [0.23, 1.52, -1.5]])


def _l3e_layer_outputs():
    weight, layer_input = _seeded(1, 16, 32), None
    layer_input = torch.randn(32)
    q, s = helper.linear_q_symmetric_per_channel(weight, dim=0)
    reference = torch.nn.functional.linear(layer_input, weight)
    return l3e.plot_layer_outputs(
        reference, helper.quantized_linear_W8A32_without_bias(layer_input, q, s, 0)
    )


def _l4a_output_errors():
    torch.manual_seed(0)
    x, weight = torch.randn(32, 512).relu(), torch.randn(256, 512) * 0.05
    q_x, s_x, z_x = helper.linear_quantization(x)
    q_w, s_w = helper.linear_q_symmetric_per_channel(weight, dim=0)
    return l4a.plot_output_errors(
        torch.nn.functional.linear(x, weight),
        {
            "W8A32": helper.quantized_linear_W8A32_without_bias(x, q_w, s_w, 0),
            "W8A8": helper.quantized_linear_W8A8_without_bias(q_x, s_x, z_x, q_w, s_w),
        },
    )


def _l4b_storage():
    weight = _seeded(1, 256, 1024)
    rows = []
    for bits, scale_dtype, group_size in itertools.product(
        (1, 2, 4), (torch.float16, torch.float32), (32, 64, 128)
    ):
        dtype = helper.integer_dtype(bits, signed=False)
        q, scale, _ = helper.quantize_blocks(weight, (1, group_size), dtype, "asymmetric")
        codes, scales = helper.pack_weights(q, bits), scale.to(scale_dtype)
        measured = 8 * (codes.numel() + scales.numel() * scales.element_size()) / weight.numel()
        rows.append(
            {
                "bits": bits,
                "group_size": group_size,
                "scale_bits": 8 * scales.element_size(),
                "measured": measured,
            }
        )
    return l4b.plot_storage(rows)


@pytest.fixture(scope="module")
def digits_mlp():
    """The trained digits MLP (its shipped weights) and its digits."""
    return models.trained_digits_mlp()


def _l4c_digits(digits_mlp):
    _, digits = digits_mlp
    labels = [str(int(label)) for label in digits.y_train[:10]]
    return l4c.plot_digits(
        digits.x_train[:10], labels, "The first ten training digits, with their labels"
    )


def _l4c_accuracy_vs_bytes(digits_mlp):
    model, digits = digits_mlp
    results = []
    for bits, granularity in itertools.product(
        (8, 4, 3, 2), ("per-tensor", "per-channel", "per-group")
    ):
        group_size = 32 if granularity == "per-group" else None
        quantized = helper.quantize_model(model, bits, granularity, group_size)
        results.append(
            {
                "bits": bits,
                "granularity": granularity,
                "accuracy": models.accuracy(quantized, digits.x_test, digits.y_test),
                "bytes": helper.model_bytes(quantized),
            }
        )
    return l4c.plot_accuracy_vs_bytes(
        results, models.accuracy(model, digits.x_test, digits.y_test), helper.model_bytes(model)
    )


# Lesson L5-A's calibration sweep takes a minute: its values, as its plot draws them (SQNR in
# dB and accuracy per observer, over 11 calibration sizes; min/max and the moving average agree
# up to 32 digits), stand in for it, with the dynamic ranges.
_L5A_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
_L5A_RESULTS = {
    "min/max": {
        "sqnr": [24.96, 24.96, 24.96, 24.78, 24.78, 24.73, 24.22, 23.83, 23.83, 23.83, 23.78],
        "accuracy": [0.9639] * 6 + [0.9611] * 5,
    },
    "moving average": {
        "sqnr": [24.96, 24.96, 24.96, 24.78, 24.78, 24.73, 24.73, 24.72, 24.72, 24.72, 24.71],
        "accuracy": [0.9639] * 10 + [0.9611],
    },
    "percentile 99.9": {
        "sqnr": [25.11, 25.27, 25.34, 25.28, 25.35, 25.04, 25.03, 25.04, 25.13, 25.17, 25.17],
        "accuracy": [0.9639, 0.9556, 0.9583, 0.9639, 0.9694, 0.9639, 0.9639, 0.9639, 0.9583,
                     0.9583, 0.9611],
    },
}  # fmt: skip
_L5A_DYNAMIC = {"sqnr": 27.05, "accuracy": 0.9611}

# Lesson L5-B's table of saved models, as it prints it.
_L5B_ROWS = [
    {"name": "fp32", "library": "fp32", "accuracy": 0.9583, "bytes": 71573},
    {"name": "helper 8-bit per channel", "library": "helper", "accuracy": 0.9611, "bytes": 21513},
    {"name": "helper 4-bit groups of 32", "library": "helper", "accuracy": 0.9639, "bytes": 13641},
    {"name": "torchao int8 weight-only", "library": "torchao", "accuracy": 0.9611, "bytes": 23295},
    {"name": "torchao int4 groups of 32", "library": "torchao", "accuracy": 0.9639, "bytes": 24895},
    {"name": "torchao int8 dynamic W8A8", "library": "torchao", "accuracy": 0.9611, "bytes": 23615},
]

# Lesson L6-A's sweep over the language model, as it prints it (bits per byte, bytes).
_L6A_FP32 = Result(Setting(), 1.7195, 5_087_232)
_L6A_TABLE = {
    8: [(1.720, 1_450_034), (1.720, 1_464_320), (1.720, 1_468_928), (1.719, 1_487_872), (1.720, 1_525_760)],
    4: [(2.096, 843_826), (1.771, 858_112), (1.772, 862_720), (1.753, 881_664), (1.748, 919_552)],
    3: [(4.747, 1_450_034), (2.139, 1_464_320), (2.092, 1_468_928), (2.027, 1_487_872), (1.949, 1_525_760)],
    2: [(6.673, 540_722), (6.377, 555_008), (6.444, 559_616), (5.817, 578_560), (5.077, 616_448)],
}  # fmt: skip
_L6A_GRANULARITIES = [
    ("per-tensor", None),
    ("per-channel", None),
    ("per-group", 128),
    ("per-group", 64),
    ("per-group", 32),
]
_L6A_RESULTS = [
    Result(Setting(bits, granularity, size), value, size_in_bytes)
    for bits, row in _L6A_TABLE.items()
    for (granularity, size), (value, size_in_bytes) in zip(_L6A_GRANULARITIES, row)
]
_L6A_KIND_COSTS = {
    3: {"qkv": Cost(0.077, 0.006), "out": Cost(0.027, 0.004), "up": Cost(0.103, 0.008),
        "down": Cost(0.088, 0.007), "head": Cost(0.050, 0.006)},
    2: {"qkv": Cost(1.897, 0.062), "out": Cost(0.428, 0.016), "up": Cost(1.788, 0.058),
        "down": Cost(1.224, 0.052), "head": Cost(0.747, 0.024)},
}  # fmt: skip
# And each layer alone at 2 bits, in groups of 32 (block by block: qkv, out, up, down; head).
_L6A_LAYER_COSTS = dict(
    zip(
        [f"blocks.{b}.{k}" for b in range(6) for k in ("attn.qkv", "attn.out", "mlp.up", "mlp.down")]
        + ["head"],
        [Cost(*pair) for pair in [
            (0.600, 0.031), (0.136, 0.010), (0.343, 0.014), (0.314, 0.013),
            (0.032, 0.004), (0.008, 0.003), (0.100, 0.009), (0.040, 0.004),
            (0.024, 0.003), (0.012, 0.001), (0.091, 0.006), (0.017, 0.003),
            (0.030, 0.005), (0.012, 0.002), (0.072, 0.007), (0.012, 0.003),
            (0.078, 0.006), (0.010, 0.002), (0.047, 0.006), (0.005, 0.002),
            (0.034, 0.004), (0.008, 0.002), (0.057, 0.005), (0.002, 0.002),
            (0.356, 0.015),
        ]],
    )
)  # fmt: skip

# Lesson L6-B's table (32 calibration windows), as it prints it.
_L6B_FP32 = 1.5317
_L6B_ROWS = [
    l6b.Comparison(bits, setting, 32, rtn, gptq, torch.full((2,), rtn), torch.full((2,), gptq),
                   0.002, rtn_error, gptq_error)
    for bits, setting, rtn, gptq, rtn_error, gptq_error in [
        (4, "per-channel", 1.571, 1.554, 0.0066, 0.0026),
        (4, "groups of 128", 1.581, 1.553, 0.0058, 0.0023),
        (4, "groups of 32", 1.554, 1.536, 0.0038, 0.0014),
        (3, "per-channel", 1.972, 1.686, 0.0366, 0.0151),
        (3, "groups of 128", 1.937, 1.687, 0.0323, 0.0133),
        (3, "groups of 32", 1.762, 1.622, 0.0206, 0.0086),
        (2, "per-channel", 6.261, 3.534, 0.3041, 0.1810),
        (2, "groups of 128", 6.343, 3.423, 0.2741, 0.1898),
        (2, "groups of 32", 4.894, 3.286, 0.1753, 0.1446),
    ]
]  # fmt: skip

# Lesson L7-B's run on one layer, as it prints it (60 steps, drawn here as a straight fall).
_L7B_RUN = l7b.LayerRun(
    list(range(61)),
    [0.024 - 0.013 * step / 60 for step in range(61)],
    [0.024 - 0.0131 * step / 60 for step in range(61)],
    (0.024, 0.024),
    (0.007, 0.0071),
    (0.09, 0.219),
)


def _l7b_curve():
    return json.loads(language_model.QAT_FILES[1].read_text())["curve"]


# Lesson L6-C's error table, as it prints it: (format, bits per weight, SQNR in dB per data).
_L6C_DATA = ("normal", "heavy-tailed", "digits weights", "LM weights")
_L6C_ROWS = [
    {"format": fmt, "data": kind, "bits": bits, "sqnr_db": sqnr}
    for fmt, bits, sqnrs in [
        ("int4", 4.5, (20.3, 16.9, 19.8, 20.2)),
        ("NF4", 4.127, (20.7, 18.2, 20.7, 20.7)),
        ("MXFP4", 4.25, (18.8, 17.2, 18.6, 18.8)),
        ("int8", 8.5, (45.5, 41.7, 45.0, 45.3)),
        ("MXFP8 E4M3", 8.25, (30.8, 29.9, 30.3, 30.7)),
        ("MXFP8 E5M2", 8.25, (25.3, 25.1, 25.2, 25.3)),
    ]
    for kind, sqnr in zip(_L6C_DATA, sqnrs)
]


@functools.cache
def _language_model():
    """Lesson L6's trained model, loaded once for this file (loading leaves torch's global
    random state as it was)."""

    with torch.random.fork_rng():
        return language_model.load()


@functools.cache
def _qat_model():
    """Lesson L7-B's QAT model, loaded once for this file."""
    with torch.random.fork_rng():
        return language_model.load("qat")


@pytest.fixture(scope="module")
def language_model_parts():
    """Lesson L6's model: the weights of its first MLP layer, and the inputs of its last MLP
    layer and of its head on 8 windows of held-out text (L6-C's, rows of one byte each)."""
    from course.lessons import l5a

    model = _language_model()
    text = texts.read_text("eval")
    ids = texts.encode(text[: 8 * model.context_length]).reshape(-1, model.context_length)
    inputs = l5a.layer_inputs(model, ids)
    return {
        "weights": model.get_submodule("blocks.0.mlp.up").weight.detach(),
        "down": inputs["blocks.5.mlp.down"].flatten(0, -2),
        "head": inputs["head"].flatten(0, -2),
    }


PLOTS = {
    # L2-A, L2-B: the worked example and the others, asymmetric per tensor
    "L2 course tensor": lambda: _round_trip(data.course_tensor(), _asymmetric),
    "L2-B random 4x4": lambda: _round_trip(_seeded(0, 4, 4), _asymmetric),
    "L2-B ReLU-like": lambda: _round_trip(torch.linspace(2, 10, 9).reshape(3, 3), _asymmetric),
    "L2-B number line": lambda: l2b.plot_number_line(
        _seeded(0, 4, 4).min().item(), _seeded(0, 4, 4).max().item()
    ),
    # L3-A, L3-B, L3-C, L3-D
    "L3-A symmetric 4x4": lambda: _round_trip(_seeded(0, 4, 4), _symmetric),
    "L3-A mode errors": lambda: l3a.plot_mode_errors(_seeded(0, 10_000).abs()),
    "L3-B per tensor": lambda: _round_trip(data.course_tensor(), _symmetric),
    "L3-C rows": lambda: _round_trip(
        data.course_tensor(), _per_channel(0), helper.block_size_for((3, 3), "per-channel", dim=0)
    ),
    "L3-C columns": lambda: _round_trip(
        data.course_tensor(), _per_channel(1), helper.block_size_for((3, 3), "per-channel", dim=1)
    ),
    "L3-D per group": _l3d_per_group,
    "L3-D group size trade-off": lambda: l3d.plot_group_size_tradeoff(
        _seeded(0, 64, 256), [8, 16, 32, 64, 128, 256], dtype=torch.int4
    ),
    # L3-E
    "L3-E weight": lambda: _round_trip(_l3e_weight(), _symmetric),
    "L3-E layer per channel": lambda: _round_trip(
        _seeded(1, 16, 32), _per_channel(0), helper.block_size_for((16, 32), "per-channel", dim=0)
    ),
    "L3-E layer outputs": _l3e_layer_outputs,
    # L4-A, L4-B
    "L4-A output errors": _l4a_output_errors,
    "L4-B storage": _l4b_storage,
    # L5-A, L5-B
    "L5-A clip sweep": lambda: l5a.plot_clip_sweep(data.heavy_tailed(4096, seed=0)),
    "L5-A calibration": lambda: l5a.plot_calibration(_L5A_SIZES, _L5A_RESULTS, _L5A_DYNAMIC),
    "L5-B accuracy and size": lambda: l5b.plot_accuracy_and_size(_L5B_ROWS),
    # L6-A, L6-B, L6-C (their tables as the lessons print them)
    "L6-A bits per byte vs bytes": lambda: l6a.plot_bits_per_byte_vs_bytes(_L6A_RESULTS, _L6A_FP32),
    "L6-A layer sensitivity": lambda: l6a.plot_layer_sensitivity(_L6A_KIND_COSTS),
    "L6-A each layer at 2 bits": lambda: l6a.plot_layer_costs(_L6A_LAYER_COSTS),
    "L6-B GPTQ": lambda: l6b.plot_gptq_bits_per_byte(_L6B_ROWS, _L6B_FP32),
    "L6-C format errors": lambda: l6c.plot_format_errors(_L6C_ROWS),
    # L7-A (fixed timings: a quiet machine's, as conftest.l7a_timings makes them)
    "L7-A time against bytes": lambda: l7a.plot_time_against_bytes(l7a_timings(), 10e9),
    "L7-A roofline": lambda: l7a.plot_roofline(l7a_timings(), 10e9, 50e9),
    # L7-B: the STE, the shipped training curve, one layer's run as the lesson prints it
    "L7-B straight-through": lambda: l7b_plots.plot_straight_through(1.0, 3),
    "L7-B training curve": lambda: l7b_plots.plot_training_curve(_l7b_curve()),
    "L7-B layer run": lambda: l7b_plots.plot_layer_run(_L7B_RUN),
}

# Plots that need the trained digits MLP or the language model.
DIGITS_PLOTS = {"L4-C digits": _l4c_digits, "L4-C accuracy vs bytes": _l4c_accuracy_vs_bytes}
LANGUAGE_MODEL_PLOTS = {
    "L6-A channel ranges": lambda parts: l6a.plot_channel_ranges(
        helper.channel_absmax(parts["down"]), "blocks.5.mlp.down"
    ),
    "L6-C format levels": lambda parts: l6c.plot_format_levels(
        parts["weights"], "language model's first MLP weights"
    ),
    "L6-C FP8 activations": lambda parts: l6c.plot_fp8_activations(
        parts["down"], "last MLP's inputs"
    ),
    "L7-B weights on the grid": lambda parts: l7b_plots.plot_weights_on_grid(
        l7b.scaled_weights(_language_model()), l7b.scaled_weights(_qat_model())
    ),
}

# Faults in plots that this file's author does not own: each is expected to fail, strictly, so
# that the mark goes when its owner fixes the plot.
KNOWN_FAULTS: dict[str, str] = {}


def _cases(names):
    return [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAULTS[name])]
            if name in KNOWN_FAULTS
            else [],
        )
        for name in names
    ]


@pytest.mark.parametrize("name", _cases(PLOTS))
def test_lesson_plot_is_legible(name):
    assert_legible(PLOTS[name]())


@pytest.mark.parametrize("name", _cases(DIGITS_PLOTS))
def test_digits_plot_is_legible(name, digits_mlp):
    assert_legible(DIGITS_PLOTS[name](digits_mlp))


@pytest.mark.parametrize("name", _cases(LANGUAGE_MODEL_PLOTS))
def test_language_model_plot_is_legible(name, language_model_parts):
    assert_legible(LANGUAGE_MODEL_PLOTS[name](language_model_parts))


# ---------------------------------------------------------------------------------------------
# Every widget's snapshot: at its start, then with each control moved to a few values


def _language_model_widget():
    """Lesson L6-A's widget shows numbers and text only, no plot. Built as the lesson builds it,
    it quantizes the model 17 ways and makes each write 32 bytes, which takes minutes: here each
    setting is the fp32 model, and each writes the same 32 bytes, so that the readout has its
    real lines at their real lengths in a second or two."""
    from course.lessons import l6a

    model = _language_model()
    text = texts.read_text("eval")
    written = text[:32].decode("utf-8", "replace")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(l6a.Setting, "apply", lambda setting, model: model)
        patch.setattr(l6a, "quantize_activations", lambda model, dtype: model)
        patch.setattr(l6a, "generate", lambda model, prompt, n_bytes: written)
        return l6a.explore_language_model(model, text[:64])


def _gptq_widget():
    rows = _L6B_ROWS + [row._replace(windows=4, gptq=row.gptq * 1.01) for row in _L6B_ROWS]
    return l6b.explore_gptq(rows, _L6B_FP32)


# The widgets whose default build takes minutes get the lessons' own (smaller) arguments.
WIDGET_BUILDERS = {
    name: builder
    for name, builder in lesson_functions("explore_").items()
    if name.startswith("explore_")
} | {
    "explore_language_model": _language_model_widget,
    "explore_gptq": _gptq_widget,
    "explore_fast_inference": lambda: l7a.explore_fast_inference(l7a_timings()),
}

# Widget settings whose snapshot breaks a check, in plots this file's author does not own.
KNOWN_WIDGET_FAULTS = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_WIDGET_FAULTS[name])]
            if name in KNOWN_WIDGET_FAULTS
            else [],
        )
        for name in sorted(WIDGET_BUILDERS)
    ],
)
def test_widget_snapshots_are_legible(name):
    explorer = WIDGET_BUILDERS[name]()

    def check(setting: str) -> None:
        try:
            assert_legible(explorer.snapshot())
        except AssertionError as error:
            raise AssertionError(f"{name}, {setting}: {error}") from None

    check("at its start")
    start = {key: control.value for key, control in explorer.controls.items()}
    for key, control in explorer.controls.items():
        for value in control_settings(control):
            if value != control.value:
                control.value = value
                check(f"{key}={value!r}")
        control.value = start[key]
