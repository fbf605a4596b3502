"""What several test files share: paths, the worked example, hypothesis settings, the trained
digits network, and a non-interactive matplotlib backend."""

import importlib
import sys
from pathlib import Path

import matplotlib
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
# tools/ holds scripts, not a package: its figures module is imported as make_images does.
sys.path.insert(0, str(ROOT / "tools"))

# One module per notebook: course/lessons/l2a.py ... , in lesson order.
LESSON_MODULES = [
    importlib.import_module(f"course.lessons.{path.stem}")
    for path in sorted((ROOT / "course" / "lessons").glob("l*.py"))
]


def lesson_functions(prefix: str) -> dict:
    """Every function named ``prefix...`` that a lesson module defines (not one it re-exports
    from an earlier lesson), by name, in lesson order."""
    return {
        name: value
        for module in LESSON_MODULES
        for name, value in vars(module).items()
        if name.startswith(prefix) and getattr(value, "__module__", None) == module.__name__
    }


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# The course's 3x3 worked example (lessons L2 and L3), written out again rather than taken from
# course.data, so that the tests check course.data too.
COURSE_TENSOR = torch.tensor([[191.6, -13.5, 728.6], [92.14, 295.5, -184], [0, 684.6, 245.5]])

# Hypothesis: 200 examples a property, no deadline (a slow first call is not a failure).
PROPERTY = settings(max_examples=200, deadline=None)


def signed_range(bits: int) -> tuple[int, int]:
    """``(q_min, q_max)`` of a signed ``bits``-bit integer."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def random_int8(seed: int, *shape: int, low: int = -128, high: int = 127) -> torch.Tensor:
    """Seeded int8 values, uniform in [low, high]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, shape, generator=generator, dtype=torch.int8)


def w8a8_reference(q_x, s_x, z_x, q_w, s_w) -> torch.Tensor:
    """``s_x s_w (q_x - z_x) q_w^T`` in float64."""
    s_w = torch.as_tensor(s_w, dtype=torch.float64).reshape(1, -1)
    return s_x * s_w * ((q_x.double() - z_x) @ q_w.double().t())


@pytest.fixture(scope="session")
def trained():
    """The trained digits MLP (its shipped weights) and the digits: ``(model, digits)``."""
    from course import models

    return models.trained_digits_mlp()


def assert_readable(figure) -> None:
    """A figure JupyterLab shows at 100 % without shrinking it (at most 1,000 px wide at the
    inline backend's 100 dpi), every text in it at 9 pt or more."""
    import matplotlib.text

    width = figure.get_size_inches()[0] * 100
    assert width <= 1000, f"{width:.0f} px wide"
    figure.canvas.draw()  # lays out tick labels, so that they are found below
    small = {
        (text.get_text(), text.get_fontsize())
        for text in figure.findobj(matplotlib.text.Text)
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < 9
    }
    assert not small, f"texts under 9 pt: {sorted(small)[:5]}"


def make_variable(name: str) -> str:
    """The value of ``NAME := ...`` in the Makefile, its continuation lines joined (the
    variables the tests read hold no references to others)."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith(f"{name} :="):
            return " ".join(line.split(":=", 1)[1].split())
    raise KeyError(f"{name} is not set in the Makefile")


_NO_BROWSER_KEY = pytest.StashKey[bool]()
# What `make test` says at its very end when it could not run the browser test.
NO_BROWSER = (
    "Browser test NOT run: no Chromium found. Install it (Debian or Ubuntu: sudo apt-get install "
    "chromium; macOS: brew install --cask chromium; Windows: install Chrome) or set "
    "CHROMIUM=/path/to/chrome, then run it again."
)


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Notes whether the browser test was skipped for want of a browser."""
    skipped = terminalreporter.stats.get("skipped", [])
    config.stash[_NO_BROWSER_KEY] = any("no Chromium" in str(r.longrepr) for r in skipped)


def pytest_unconfigure(config) -> None:
    """Then says so in the run's very last line, after pytest's own summary."""
    if config.stash.get(_NO_BROWSER_KEY, False):
        writer = config.get_terminal_writer()
        writer.line(NO_BROWSER, yellow=True, bold=True)


def figure_titles(figure) -> list[str]:
    """The title of each axes of ``figure``, in order."""
    return [ax.get_title() for ax in figure.axes]


def figure_texts(figure) -> list[str]:
    """Every text artist's string on every axes of ``figure``."""
    return [text.get_text() for ax in figure.axes for text in ax.texts]


def control_settings(control) -> list:
    """A few values of a widget's control: the options of a choice (the first, middle and last
    of a long one); a slider's two ends and its middle."""
    import ipywidgets

    if isinstance(control, ipywidgets.widget_selection._Selection):
        options = [o[1] if isinstance(o, tuple) else o for o in control.options]
        return (
            options if len(options) <= 3 else [options[0], options[len(options) // 2], options[-1]]
        )
    ends = [control.min, (control.min + control.max) / 2, control.max]
    if isinstance(control, ipywidgets.FloatLogSlider):
        return [control.base**end for end in ends]
    return [round(end) for end in ends] if isinstance(control, ipywidgets.IntSlider) else ends
