"""Live drawing: ``Plot`` and ``PlotData``, the base classes of every plot a widget redraws in
place (a lesson declares its own), ``steady_limits``, and ``LivePlot``: a live plot's figure,
its frame laid from kept layers (background, axes, texts, legend) and sent as PNG.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from PIL import Image


def steady_limits(low: float, high: float, bins: int = 6) -> tuple[float, float]:
    """``[low, high]`` widened to the nearest multiples of a round step (1, 2, 2.5 or 5 times a
    power of ten, about ``(high - low) / bins``): as a slider moves the data a little, the axis
    keeps its limits and its ticks, so the live view has no tick label to redraw
    (``live_view.LivePlot``) and the eye a steady scale to read."""
    ticks = MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    return float(ticks[ticks <= low].max()), float(ticks[ticks >= high].min())


@dataclass(frozen=True)
class PlotData:
    """The record a ``Plot`` draws: each plot subclasses it with the fields it reads."""


class Plot:
    """One matplotlib axes of an explorer: ``__init__`` makes the artists, ``update`` moves them.

    The live view keeps one instance on one figure and re-renders it to PNG; the snapshot makes
    a fresh instance on its own axes, so both draw the same picture. ``Data`` is the record
    ``update`` takes.
    """

    Data: ClassVar[type[PlotData]] = PlotData

    figsize = (6.4, 2.8)
    # Fixed margins (left, bottom, right, top) of the live figure: no layout engine per change.
    margins = (0.1, 0.2, 0.97, 0.85)
    # Points between the top of the axes and the title's baseline (see ``set_title``).
    title_pad = 6.0

    def __init__(self, ax) -> None:
        self.ax = ax
        ax.tick_params(labelsize=9)

    def update(self, data: PlotData) -> None:
        """Move the artists to show ``data``."""
        raise NotImplementedError

    def set_title(self, text: str) -> None:
        """Title the axes ``title_pad`` points above their top. A fixed place, where matplotlib
        would otherwise measure the top axis' labels on every draw to find one."""
        self.ax.set_title(text, fontsize=10, y=1.0, pad=self.title_pad)

    def background_key(self) -> tuple:
        """What, besides the axes' limits and scales, the secondary axes' ticks and labels depend
        on: the live view redraws them only when this or a limit changes (``LivePlot``)."""
        return ()


# Dots per inch of the live plot's PNG: as the snapshot, so text is as large in both.
_LIVE_DPI = 100


# How many drawings of each axis (one per set of limits) a live plot keeps, the latest used,
# and how many of its moving texts (one per string and place).
_LAYERS, _TEXTS = 16, 256


def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG bytes of RGB or RGBA pixels, compressed fast (level 1): a change must stay quick."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


class _Layer(NamedTuple):
    """Pixels drawn alone on a transparent canvas, to lay over a frame: where they go (pixel
    rows and columns, from the top left), their colour times their alpha (0 to 255), and how
    much of the frame shows through them (1 - alpha)."""

    rows: slice
    columns: slice
    paint: np.ndarray
    through: np.ndarray


def _draw_layer(canvas: FigureCanvasAgg, artists: Sequence) -> _Layer:
    """Draw ``artists`` alone on the cleared canvas and keep the pixels they cover."""
    renderer = canvas.get_renderer()
    renderer.clear()
    for artist in artists:
        artist.draw(renderer)
    pixels = np.asarray(canvas.buffer_rgba())
    rows, columns = (np.flatnonzero(pixels[..., 3].any(axis=axis)) for axis in (1, 0))
    if rows.size == 0:
        return _Layer(slice(0, 0), slice(0, 0), np.zeros((0, 0, 3)), np.ones((0, 0, 1)))
    rows, columns = slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1)
    part = pixels[rows, columns].astype(np.float32)
    alpha = part[..., 3:] / 255
    return _Layer(rows, columns, part[..., :3] * alpha, 1 - alpha)


def _lay(canvas: FigureCanvasAgg, layer: _Layer) -> None:
    """Lay ``layer`` over the canvas' current frame, as its alpha says."""
    frame = np.asarray(canvas.buffer_rgba())[layer.rows, layer.columns, :3]
    frame[...] = np.rint(layer.paint + frame * layer.through)


class LivePlot:
    """A ``Plot`` on its own figure, rendered to PNG bytes into an ``ipywidgets.Image``.

    ``show(data)`` takes the plot's own record (``plot_class.Data``, a frozen dataclass) and
    nothing else: a compute function that hands it another kind of data gets a TypeError.

    A change redraws only what moves (blitting): a frame is laid in four layers.
    - The base: the figure's and the axes' backgrounds, drawn once (``copy_from_bbox``).
    - The x axis, the y axis (ticks, tick labels, label) and the secondary axes (a top axis
      in other units): each drawn alone, once per value of its limits and scale (and, for the
      secondary axes, of ``Plot.background_key()``), and kept for the last ``_LAYERS``
      values. Text is what costs in a matplotlib draw, and most changes move the limits of
      one axis only, or of none.
    - The moving artists: everything the plot puts in its axes (lines, collections, patches,
      texts, images), the titles and the spines, in z-order. The texts (labels, titles) are
      drawn alone once per string and place and kept (the last ``_TEXTS``); the rest is drawn
      on every change (``draw_artist``).
    - The legend, drawn once and laid on top.
    The PNG is the one a full ``canvas.draw()`` makes, to within 2 of 255 in a colour channel
    where antialiased edges are laid over others (``tests/core/test_explorer.py``).
    """

    def __init__(self, plot_class: type[Plot]) -> None:

        self.figure = Figure(figsize=plot_class.figsize, dpi=_LIVE_DPI)
        FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(*plot_class.margins)
        self.plot = plot_class(self.figure.add_subplot())
        width, height = (round(inches * _LIVE_DPI) for inches in plot_class.figsize)
        self.image = widgets.Image(
            format="png",
            layout=widgets.Layout(
                width=f"{width}px", height=f"{height}px", align_self="flex-start"
            ),
        )
        ax = self.plot.ax
        self._axes_artists = {"x": [ax.xaxis], "y": [ax.yaxis], "secondary": ax.child_axes}
        self._layers: dict[str, OrderedDict[tuple, _Layer]] = {
            kind: OrderedDict() for kind in [*self._axes_artists, "texts"]
        }
        self._base = self._legend = None  # drawn with the first frame
        self._moving: list = []

    def show(self, data: PlotData) -> None:
        """Move the plot's artists to ``data`` and render the figure into the image."""
        if not isinstance(data, self.plot.Data):
            raise TypeError(
                f"{type(self.plot).__name__} draws a {self.plot.Data.__name__}, "
                f"got {type(data).__name__}"
            )
        self.plot.update(data)
        if self._base is None:
            self._first_frame()
        self._draw_frame()
        self.image.value = png_bytes(self.frame())

    def frame(self) -> np.ndarray:
        """The pixels of the current frame, RGB (the figure is opaque: alpha says nothing)."""
        return np.asarray(self.figure.canvas.buffer_rgba())[..., :3]

    def draw_whole(self) -> np.ndarray:
        """The figure drawn the plain way, every artist in one ``canvas.draw()``: what the
        layered frame stands for. Leaves the canvas holding that drawing."""
        animated = [artist for artist in self.figure.findobj() if artist.get_animated()]
        for artist in animated:
            artist.set_animated(False)
        try:
            self.figure.canvas.draw()
        finally:
            for artist in animated:
                artist.set_animated(True)
        return self.frame().copy()

    def _first_frame(self) -> None:
        """Sort the artists into layers (all but the base are left out of a full draw from now
        on: ``set_animated``), then draw the base and the legend."""
        ax, canvas = self.plot.ax, self.figure.canvas
        legend = ax.get_legend()
        axes = [artist for artists in self._axes_artists.values() for artist in artists]
        still = (ax.patch, legend, *axes)
        moving = [artist for artist in ax.get_children() if artist not in still]
        self._moving = sorted(moving, key=lambda artist: artist.get_zorder())  # as Axes.draw
        for artist in [*self._moving, *axes, *([legend] if legend else [])]:
            artist.set_animated(True)
        canvas.draw()
        self._base = canvas.copy_from_bbox(self.figure.bbox)
        self._legend = _draw_layer(canvas, [legend]) if legend else None

    def _kept(self, kind: str, key: tuple, artists: Sequence) -> _Layer:
        """The layer of ``artists`` (an axis, or a text: ``kind``) at ``key``: kept, or drawn
        now, alone, on the cleared canvas (so before a frame is laid)."""
        layers = self._layers[kind]
        layer = layers.pop(key, None)
        if layer is None:
            layer = _draw_layer(self.figure.canvas, artists)
            if len(layers) >= (_TEXTS if kind == "texts" else _LAYERS):
                layers.popitem(last=False)
        layers[key] = layer
        return layer

    def _draw_frame(self) -> None:
        """Lay the base, the axes and the texts (drawing those not kept), the rest of what
        moves, and the legend."""
        ax, canvas = self.plot.ax, self.figure.canvas
        x, y = (ax.get_xlim(), ax.get_xscale()), (ax.get_ylim(), ax.get_yscale())
        keys = {"x": x, "y": y, "secondary": (*x, *y, *self.plot.background_key())}
        axes = [
            self._kept(name, keys[name], artists)
            for name, artists in self._axes_artists.items()
            if artists
        ]
        texts = {
            artist: self._kept("texts", _text_key(artist), [artist])
            for artist in self._moving
            if type(artist) is Text
        }
        canvas.restore_region(self._base)
        for layer in axes:
            _lay(canvas, layer)
        for artist in self._moving:
            if artist in texts:
                _lay(canvas, texts[artist])
            else:
                ax.draw_artist(artist)
        if self._legend is not None:
            _lay(canvas, self._legend)


def _text_key(text: Text) -> tuple:
    """What a moving text's pixels depend on: the text, its place on the canvas, its colour,
    size, angle and alignment (its font and the rest are set once, when the plot makes it)."""
    place = text.get_transform().transform(text.get_unitless_position())
    return (
        id(text),
        text.get_text(),
        tuple(np.round(place, 3)),
        str(text.get_color()),
        text.get_fontsize(),
        text.get_rotation(),
        text.get_horizontalalignment(),
        text.get_verticalalignment(),
        text.get_alpha(),
        text.get_visible(),
    )
