"""The widget framework: ``Explorer``, ``View``, ``Matrix``, its sliders and buttons, its HTML
tables and heatmaps. Nothing of quantization: a lesson gives it controls, a compute function
and a ``Plot``.
"""

from __future__ import annotations

import base64
import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from course.core.live_view import LivePlot, Plot, PlotData, png_bytes
from course.core.plotting import MAX_ANNOTATED_CELLS, block_ids, format_number, heatmap, is_light
from course.timing import one_thread

# Matrices with at most this many cells are shown as tables with their values written in.
_TABLE_MAX_CELLS = MAX_ANNOTATED_CELLS


# The longest side, in pixels, of the live heatmap of a large matrix.
_HEATMAP_PIXELS = 384


class Matrix(NamedTuple):
    """A 2-D array to show as a heatmap, with its colour range, number format and blocks."""

    title: str
    values: np.ndarray
    vmin: float
    vmax: float
    fmt: str = ".4g"
    cmap: str = "viridis"
    block: tuple[int, int] | None = None


class View(NamedTuple):
    """Everything an explorer shows for one setting of its controls.

    ``readout``: the numbers, by key (labelled by the explorer's ``labels``); ``matrices``: the
    heatmaps; ``plot``: the record its live plot draws (``plot_class.Data``), or None.
    """

    readout: dict
    matrices: list[Matrix]
    plot: PlotData | None = None


def _colours(matrix: Matrix) -> np.ndarray:
    """RGBA bytes (rows, cols, 4) of the matrix's values in its colormap over [vmin, vmax]."""

    span = matrix.vmax - matrix.vmin
    normed = (matrix.values - matrix.vmin) / (span if span > 0 else 1.0)
    return matplotlib.colormaps[matrix.cmap](normed, bytes=True)


def _hex(rgba: np.ndarray) -> np.ndarray:
    """CSS colours ``#rrggbb`` (an object array of str) of RGBA bytes (..., 4)."""
    rgb = rgba[..., :3].astype(np.int64)
    return np.strings.mod("#%06x", (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]).astype(
        object
    )


def _html_table(matrix: Matrix) -> str:
    """The matrix as an HTML table: each cell its value, on its colour (black or white text).

    Built with element-wise string operations on object arrays (no loop over the cells).
    """
    rgba = _colours(matrix)
    light = is_light(rgba / 255)
    texts = np.strings.replace(
        np.strings.mod(f"%{matrix.fmt}", matrix.values), "-", "\N{MINUS SIGN}"
    )
    cells = (
        '<td style="padding:2px 6px;text-align:right;background:'
        + _hex(rgba)
        + ";color:"
        + np.where(light, "#000", "#fff").astype(object)
        + '">'
        + texts.astype(object)
        + "</td>"
    )
    rows = "<tr>" + cells.sum(axis=1) + "</tr>"
    return (
        '<table style="border-collapse:collapse;font-family:monospace;font-size:12px">'
        + "".join(rows)
        + "</table>"
    )


def _html_heatmap(matrix: Matrix) -> str:
    """A large matrix as an inline PNG heatmap (white lines between blocks) and a colour bar."""
    rows, cols = matrix.values.shape
    step = max(1, math.ceil(max(rows, cols) / _HEATMAP_PIXELS))
    sampled = matrix._replace(values=matrix.values[::step, ::step])
    zoom = max(1, _HEATMAP_PIXELS // max(sampled.values.shape))
    rgba = _colours(sampled).repeat(zoom, axis=0).repeat(zoom, axis=1)
    if matrix.block is not None and step == 1:
        block_rows, block_cols = matrix.block
        if block_rows < rows:
            rgba[zoom * block_rows :: zoom * block_rows, :, :3] = 255
        if block_cols < cols:
            rgba[:, zoom * block_cols :: zoom * block_cols, :3] = 255
    image = base64.b64encode(png_bytes(rgba[..., :3])).decode("ascii")  # opaque: RGB
    stops = _colours(matrix._replace(values=np.linspace(matrix.vmin, matrix.vmax, 9)))
    gradient = ",".join(_hex(stops))
    return (
        f'<img src="data:image/png;base64,{image}" style="image-rendering:pixelated;'
        f'max-width:{_HEATMAP_PIXELS}px"><div style="display:flex;align-items:center;gap:4px;'
        f'font-size:11px"><span>{matrix.vmin:.3g}</span><span style="flex:1;height:8px;'
        f'background:linear-gradient(to right,{gradient})"></span><span>{matrix.vmax:.3g}</span>'
        "</div>"
    )


def _html_matrices(matrices: Sequence[Matrix]) -> str:
    """The matrices side by side, each with its title: tables when small, heatmaps when large."""
    panels = "".join(
        f'<div style="margin:0 12px 8px 0"><div style="font-weight:bold;margin-bottom:2px">'
        f"{m.title}</div>"
        f"{_html_table(m) if m.values.size <= _TABLE_MAX_CELLS else _html_heatmap(m)}</div>"
        for m in matrices
    )
    return f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{panels}</div>'


def _readout_lines(readout: dict, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(label, number)`` for each readout key: its label, or the key with spaces for ``_``."""
    return [
        (labels.get(key, key.replace("_", " ")), format_number(value))
        for key, value in readout.items()
    ]


def _html_readout(lines: list[tuple[str, str]]) -> str:
    """The readout's lines as a two-column HTML table of labels and numbers."""
    rows = "".join(
        f'<tr><td style="padding:1px 8px 1px 0;white-space:nowrap">{label}</td>'
        f'<td style="text-align:right;font-family:monospace;white-space:nowrap">{value}</td></tr>'
        for label, value in lines
    )
    return f'<table style="font-size:13px;border-collapse:collapse">{rows}</table>'


class _Shown(NamedTuple):
    """What an explorer showed for one setting: its view, the numbers' and the matrices' HTML,
    and the plot's PNG bytes (None without a plot)."""

    view: View
    numbers: str
    matrices: str
    picture: bytes | None


# How many settings an explorer remembers what it showed for, the latest used: a slider moved
# back to one of them shows it again at once, without computing or drawing.
_SHOWN = 64


class Explorer(widgets.VBox):
    """An interactive view of a quantization setting: controls, numbers, matrices and a plot.

    ``controls`` maps a name to an ipywidgets control; on every change of a control's value,
    ``sync(controls)`` (optional) adjusts dependent controls, then ``compute(**values)`` returns
    the ``View`` that is shown. ``View.plot`` is the record ``plot_class.Data`` declares (a
    frozen dataclass a lesson module declares), or None without a plot. ``labels`` names the
    readout's keys in the numbers panel (a key without a label is shown with spaces for
    underscores): each widget declares its own, beside it. ``readout`` holds the numbers shown;
    ``snapshot()`` returns a static matplotlib Figure of the current view.
    """

    def __init__(
        self,
        title: str,
        controls: dict[str, widgets.ValueWidget],
        compute: Callable[..., View],
        plot_class: type[Plot] | None = None,
        sync: Callable[[dict], None] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.title, self.controls, self.readout = title, controls, {}
        self.labels = dict(labels or {})
        self._compute, self._sync, self._plot_class, self._busy = compute, sync, plot_class, False
        self._shown: OrderedDict[tuple, _Shown] = OrderedDict()
        self._numbers = widgets.HTML(layout=widgets.Layout(min_width="230px"))
        self._matrices = widgets.HTML()
        self._live_plot = LivePlot(plot_class) if plot_class else None
        pictures = [self._live_plot.image] if self._live_plot else []
        super().__init__(
            [
                widgets.HTML(f"<b>{title}</b>"),
                widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox([self._numbers, widgets.VBox([*pictures, self._matrices])]),
            ]
        )
        if sync:
            sync(controls)
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.render()

    def remember_every_setting(self) -> None:
        """Show each combination of the controls' values once, so that each is remembered and
        no later change computes or draws (for controls that are integer sliders and options,
        at most ``_SHOWN`` combinations). Ends on the values it started from."""
        start, controls = self.values(), list(self.controls.values())
        indices = [_indices(control) for control in controls]
        if math.prod(len(choices) for choices in indices) > _SHOWN:
            raise ValueError(f"more than {_SHOWN} settings: too many to remember them all")
        for combination in itertools.product(*indices):
            for control, index in zip(controls, combination):
                _move(control, index)
        for name, value in start.items():
            self.controls[name].value = value

    def forget(self) -> None:
        """Forget what was shown for earlier settings: the next change computes and draws."""
        self._shown.clear()

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def render(self) -> None:
        """Show the view of the current values (the observer of every control): computed and
        drawn, or, for one of the last ``_SHOWN`` settings, as it was shown then.

        The compute runs on one torch thread: a widget's tensors are small, and on a busy
        2-core machine (the browser drawing, the kernel computing) a second thread that waits
        for a core can turn a 5 microsecond matrix product into 20 milliseconds."""
        key = tuple(self.values().items())
        shown = self._shown.pop(key, None)
        if shown is None:
            with one_thread():
                view = self._compute(**self.values())
            numbers = _html_readout(_readout_lines(view.readout, self.labels))
            shown = _Shown(view, numbers, _html_matrices(view.matrices), None)
            if self._live_plot:
                self._live_plot.show(view.plot)
                shown = shown._replace(picture=self._live_plot.image.value)
        elif self._live_plot:  # the plot's artists follow, for the next change and snapshot
            self._live_plot.plot.update(shown.view.plot)
            self._live_plot.image.value = shown.picture
        self._shown[key] = shown
        if len(self._shown) > _SHOWN:
            self._shown.popitem(last=False)
        self._view, self.readout = shown.view, dict(shown.view.readout)
        self._numbers.value, self._matrices.value = shown.numbers, shown.matrices

    def _on_change(self, change: dict) -> None:
        if self._busy:  # a sync() moving a dependent control: render once, below
            return
        self._busy = True
        try:
            if self._sync:
                self._sync(self.controls)
            self.render()
        finally:
            self._busy = False

    def snapshot(self):
        """A static matplotlib Figure of the current view, 10 inches wide: the numbers and the
        plot side by side, then the matrices (four small or two large ones to a row)."""
        view, width = self._view, 10.0
        per_row, matrix_height = _matrix_grid(view.matrices, width)
        grid_rows = math.ceil(len(view.matrices) / per_row) if per_row else 0
        plot_height = self._plot_class.figsize[1] if self._plot_class else 0.0
        columns = 1 if self._plot_class else 2
        readout_height = 0.21 * math.ceil(len(self.readout) / columns) + 0.2
        heights = [max(plot_height, readout_height)] + ([matrix_height] if grid_rows else [])
        fig = plt.figure(figsize=(width, sum(heights) + 0.4), layout="constrained")
        fig.suptitle(self.title, fontsize=11)
        parts = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
        if self._plot_class:
            numbers, plot = parts[0].subfigures(1, 2, width_ratios=[1, 2.1])
            _draw_readout(numbers, _readout_lines(self.readout, self.labels), columns)
            self._plot_class(plot.add_subplot()).update(view.plot)
        else:
            _draw_readout(parts[0], _readout_lines(self.readout, self.labels), columns)
        if grid_rows:
            axes = parts[1].subplots(grid_rows, per_row, squeeze=False).flat
            for ax, matrix in zip(axes, view.matrices):
                _draw_matrix(ax, matrix)
            for ax in list(axes):
                ax.axis("off")
        plt.close(fig)
        return fig


def _indices(control: widgets.ValueWidget) -> range:
    """The positions an integer slider or a control of options can take."""
    if isinstance(control, widgets.widget_selection._Selection):
        return range(len(control.options))
    if isinstance(control, widgets.IntSlider):
        return range(control.max - control.min + 1)
    raise ValueError(f"{control.description!r} is not an integer slider or a choice of options")


def _move(control: widgets.ValueWidget, index: int) -> None:
    """Put ``control`` at position ``index`` of ``_indices(control)``."""
    if isinstance(control, widgets.widget_selection._Selection):
        control.index = index
    else:
        control.value = control.min + index


def _matrix_grid(matrices: Sequence[Matrix], width: float) -> tuple[int, float]:
    """How many matrices go in a row of the snapshot, and the height of all their rows: small
    matrices (their values written in) get cells of at most 0.6 inch, four to a row."""
    if not matrices:
        return 0, 0.0
    rows, cols = matrices[0].values.shape
    small = matrices[0].values.size <= MAX_ANNOTATED_CELLS
    per_row = min(len(matrices), 4 if small else 2)
    panel_width = width / per_row
    if small:
        height = rows * min(0.6, (panel_width - 0.3) / cols) + 0.5
    else:  # one large matrix stays 6 inches wide at most
        height = max(1.8, (min(panel_width, 6.0) - 1.0) * min(1.0, rows / cols) + 0.7)
    return per_row, math.ceil(len(matrices) / per_row) * height


def _draw_readout(subfigure, lines: list[tuple[str, str]], columns: int = 1) -> None:
    """The readout's lines as aligned "label  value" lines, in ``columns`` columns."""
    per_column = math.ceil(len(lines) / columns)
    for column, ax in enumerate(subfigure.subplots(1, columns, squeeze=False)[0]):
        ax.axis("off")
        part = lines[column * per_column : (column + 1) * per_column]
        width = max(len(label) for label, _ in part)
        text = "\n".join(f"{label:<{width}}  {value}" for label, value in part)
        ax.text(0, 1, text, va="top", ha="left", family="monospace", fontsize=10)


def _draw_matrix(ax, matrix: Matrix) -> None:
    """The snapshot's heatmap of one matrix, with the blocks that share a scale outlined."""
    ids = None if matrix.block is None else block_ids(matrix.values.shape, matrix.block).numpy()
    heatmap(ax, matrix.values, matrix.title, matrix.cmap, matrix.vmin, matrix.vmax, matrix.fmt, ids)


STYLE = {"description_width": "initial"}


def int_slider(description: str, value: int, low: int, high: int) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value,
        min=low,
        max=high,
        description=description,
        continuous_update=True,
        style=STYLE,
    )


def float_slider(
    description: str, value: float, low: float, high: float, step: float
) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=True,
        style=STYLE,
    )


def buttons(description: str, options: Sequence, value) -> widgets.ToggleButtons:
    return widgets.ToggleButtons(
        options=options,
        value=value,
        description=description,
        style={**STYLE, "button_width": "auto"},
        # ipywidgets 8 lays ToggleButtons out as a block (label above the buttons): one line.
        layout=widgets.Layout(display="flex", align_items="center"),
    )


def set_bounds(slider: widgets.IntSlider, low: int, high: int) -> None:
    """Give ``slider`` the bounds [low, high] (in the order that keeps min <= max)."""
    if low > slider.max:
        slider.max, slider.min = high, low
    else:
        slider.min, slider.max = low, high
