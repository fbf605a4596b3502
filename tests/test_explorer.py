"""The widget framework's live plot: a frame laid from kept layers (the axes' background, each
axis, what moves, the legend) shows what one plain draw of the whole figure shows, that figure
is legible (its fixed margins cut no text), and a setting seen before redraws no axis."""

import io

import numpy as np
import pytest
from conftest import control_settings
from PIL import Image
from test_legibility import legends_over_data, overlapping_texts, texts_cut_off
from test_widgets import BUILDERS, builder

from course.core import live_view
from course.lessons import l2b, l5a

# Two colour levels of 255: where an antialiased edge (a legend's frame, a tick label) is laid
# over the frame rather than drawn on it, the rounding differs by one or two.
TOLERANCE = 2


# The widgets that show numbers and tables only (building the language model's takes long).
WITHOUT_PLOT = {"explore_quantize_dequantize", "explore_granularity", "explore_language_model"}


@pytest.fixture(scope="module", params=sorted(set(BUILDERS) - WITHOUT_PLOT))
def live(request):
    """A widget with a plot, built with its defaults."""
    explorer = builder(request.param)()
    assert explorer._live_plot is not None, f"{request.param} shows no plot: list it above"
    return explorer


def shown(explorer) -> np.ndarray:
    """The pixels of the PNG the widget sends to the browser."""
    return np.asarray(Image.open(io.BytesIO(explorer._live_plot.image.value)))


def test_every_frame_is_the_whole_figure_drawn_at_once(live):
    for control in live.controls.values():
        for value in control_settings(control):
            if control.disabled:
                continue
            control.value = value
            frame = shown(live).astype(int)
            whole = live._live_plot.draw_whole().astype(int)
            assert frame.shape == whole.shape
            worst = np.abs(frame - whole).max()
            assert worst <= TOLERANCE, (
                f"{control.description} = {value}: the frame differs from the whole drawing by "
                f"{worst} in a colour channel"
            )
            figure, renderer = live._live_plot.figure, live._live_plot.figure.canvas.get_renderer()
            faults = [
                *texts_cut_off(figure, renderer),
                *overlapping_texts(figure, renderer),
                *legends_over_data(figure, renderer),
            ]
            assert not faults, f"{control.description} = {value}, the live figure: {faults}"


def test_a_setting_seen_before_draws_no_axis_again(live, monkeypatch):
    drawn = []
    real = live_view._draw_layer
    monkeypatch.setattr(live_view, "_draw_layer", lambda *args: drawn.append(1) or real(*args))
    control = next(c for c in live.controls.values() if not c.disabled)
    first, second = control_settings(control)[:2]
    control.value = first
    control.value = second
    live.forget()  # draw the frame again, from the kept layers
    drawn.clear()
    control.value = first
    assert drawn == [], "the axes of a setting just shown were drawn again"


def test_a_setting_seen_before_is_shown_again_without_computing(live, monkeypatch):
    control = next(c for c in live.controls.values() if not c.disabled)
    first, second = control_settings(control)[:2]
    control.value = first
    picture, readout = live._live_plot.image.value, dict(live.readout)
    control.value = second
    monkeypatch.setattr(live, "_compute", lambda **values: pytest.fail("computed again"))
    control.value = first
    assert live._live_plot.image.value == picture
    assert live.readout == readout


def test_a_widget_that_remembers_every_setting_computes_none_after_it_is_built(monkeypatch):

    explorer = l2b.explore_scale_and_zero_point()
    start = dict(explorer.readout)
    monkeypatch.setattr(explorer, "_compute", lambda **values: pytest.fail("computed again"))
    for index in (1, 0):
        explorer.controls["signed"].index = index
        for bits in range(2, 9):
            explorer.controls["bits"].value = bits
            assert explorer.readout["q_max"] - explorer.readout["q_min"] == 2**bits - 1
    assert explorer.values() == {"bits": 8, "signed": True}  # where it started
    assert explorer.readout == start


def test_only_integer_sliders_and_options_can_all_be_remembered():

    with pytest.raises(ValueError, match="not an integer slider"):
        l5a.explore_clipping().remember_every_setting()
