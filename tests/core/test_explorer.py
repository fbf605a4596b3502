"""course.core.explorer and live_view: every lesson's widget built, dragged and drawn without a
browser (found by name: a new explore_* is tested at once), and the live figure's frames."""

import inspect
import io

import ipywidgets
import matplotlib.figure
import numpy as np
import pytest
import torch
from conftest import (
    SLIDERS,
    assert_readable,
    control_settings,
    first_slider,
    l7a_timings,
    lesson_functions,
    png,
    texts,
)
from PIL import Image
from test_legibility import legends_over_data, overlapping_texts, texts_cut_off

from course.core import live_view
from course.core.explorer import Explorer
from course.lessons import l2b, l5a, l7a

# Every lesson's widget builder, found by name: a new explore_* is tested at once.
BUILDERS = sorted(lesson_functions("explore_"))


# Builders whose default measures time on this machine: here they get fixed measurements.
FIXED = {"explore_fast_inference": lambda: l7a.explore_fast_inference(l7a_timings())}


def builder(name: str):
    """What builds the widget ``explore_<name>`` here: the lesson module's function, or, for a
    widget of timings, that function on fixed measurements."""
    return FIXED.get(name) or lesson_functions("explore_")[name]


def takes_a_tensor_first(name: str) -> bool:
    """Whether the builder's first argument is a tensor (the bad-tensor test applies)."""
    first = next(iter(inspect.signature(lesson_functions("explore_")[name]).parameters.values()))
    return "torch.Tensor" in str(first.annotation)


TENSOR_BUILDERS = [name for name in BUILDERS if takes_a_tensor_first(name)]


@pytest.mark.parametrize("name", BUILDERS)
def test_builds_with_its_controls_and_a_readout(name):
    explorer = builder(name)()
    assert isinstance(explorer, Explorer) and isinstance(explorer, ipywidgets.VBox)
    assert explorer.controls
    for control in explorer.controls.values():
        assert isinstance(control, ipywidgets.ValueWidget) and control.description
    # the error it shows: a tensor's MSE, or a language model's bits per byte (fp32's beside
    # it), or, for a widget of speed, fp32's time per call
    # (a number, or the text of one as the widget prints it)
    keys = ("mse", "bits_per_byte", "fp32_bits_per_byte", "fp32_ms")
    error = [explorer.readout.get(key) for key in keys]
    assert any(_non_negative_number(value) for value in error), explorer.readout


def _non_negative_number(value) -> bool:
    """Whether ``value`` is a float >= 0, or a string that reads as one (``"1.6972"``)."""
    try:
        return isinstance(value, (float, str)) and float(value) >= 0
    except ValueError:
        return False


@pytest.mark.parametrize("name", BUILDERS)
def test_sliders_update_while_dragging(name):
    explorer = builder(name)()
    sliders = [c for c in explorer.controls.values() if isinstance(c, SLIDERS)]
    assert sliders and all(slider.continuous_update for slider in sliders)


@pytest.mark.parametrize("name", BUILDERS)
def test_moving_the_first_slider_changes_the_text(name):
    """The browser test presses an arrow key on the first slider and waits for text to change."""
    explorer = builder(name)()
    slider, before = first_slider(explorer), texts(explorer)
    assert slider is not None
    if isinstance(slider, ipywidgets.SelectionSlider):
        slider.index = slider.index - 1 if slider.index else 1
    else:
        at_max = slider.value >= slider.max
        slider.value = slider.value - slider.step if at_max else slider.value + slider.step
    assert texts(explorer) != before


@pytest.mark.parametrize("name", BUILDERS)
def test_snapshot_is_a_deterministic_figure(name):
    first, second = builder(name)().snapshot(), builder(name)().snapshot()
    assert isinstance(first, matplotlib.figure.Figure)
    assert png(first) == png(second)


@pytest.mark.parametrize("name", BUILDERS)
def test_default_tensor_is_seeded_and_leaves_the_global_seed_alone(name):
    state = torch.random.get_rng_state()
    first = builder(name)().readout
    assert builder(name)().readout == first
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("name", TENSOR_BUILDERS)
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ([[1.0, 2.0]], TypeError),
        (torch.tensor([[1, 2], [3, 4]]), TypeError),
        (torch.empty(0, 4), ValueError),
        (torch.tensor([[1.0, float("nan")]]), ValueError),
    ],
    ids=["list", "int-tensor", "empty", "nan"],
)
def test_bad_tensor_is_refused_clearly(name, bad, error):
    with pytest.raises(error, match="tensor|weight|input"):
        builder(name)(bad)


@pytest.mark.parametrize("name", BUILDERS)
def test_every_snapshot_is_readable_at_100_percent(name):
    assert_readable(builder(name)().snapshot())


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
