"""What several test files share: paths, the worked example, hypothesis settings, the trained
digits network, and a non-interactive matplotlib backend."""

import importlib
import io
import sys
from pathlib import Path

import ipywidgets
import matplotlib
import pytest
import torch
from hypothesis import settings

import helper

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
# tools/ holds scripts, not a package: its figures module is imported as make_images does.
sys.path.insert(0, str(ROOT / "tools"))
# The lessons' test files hold each lesson's exercise answers, which the test of every checker
# (tests/core/test_checker.py) imports.
sys.path.insert(0, str(ROOT / "tests" / "lessons"))

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


@pytest.fixture(scope="session")
def small_language_model():
    """An untrained model of the course's shape, one block deep: fast, and every group divides.
    Tests must leave it as they found it."""
    from course import language_model

    torch.manual_seed(0)
    return language_model.ByteTransformer(language_model.ModelConfig(n_layers=1)).eval()


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


def l7a_timings() -> list:
    """Lesson L7-A's layer timings as a quiet machine might give them (fixed numbers, so that
    its plots and widget are tested deterministically): time = bytes / 10 GB/s, dequantizing
    costs 3 ns a weight more, and a batch of 16 costs the fp32 product's flops at 50 Gflop/s."""
    from course.lessons.l7a import LayerTiming, Timing

    found = []
    for size in (1024, 2048, 4096):
        for bits in (8, 4):
            for batch in (1, 4, 16):
                compute_ms = 2 * batch * size * size / 50e9 * 1e3
                ways = {
                    "fp32": (32, 4 * size * size),
                    "dequantize-then-matmul": (bits, size * size * bits // 8 + 2 * size),
                    "packed kernel": (bits, size * size * bits // 8 + 4 * size * size // 32),
                }
                for way, (width, n_bytes) in ways.items():
                    if way == "fp32" and bits == 4:
                        continue
                    ms = max(n_bytes / 10e9 * 1e3, compute_ms)
                    if way == "dequantize-then-matmul":
                        ms += 3e-6 * size * size
                    found.append(
                        LayerTiming(size, width, batch, way, n_bytes, Timing(ms, ms / 10, 3))
                    )
    return found


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


# What the tests of several lessons share: exercise stubs, a widget's sliders, texts and picture.
def not_done(*args):
    raise NotImplementedError  # your code here


def raises_an_error(*args):
    raise RuntimeError("boom")


SLIDERS = (
    ipywidgets.IntSlider,
    ipywidgets.FloatSlider,
    ipywidgets.FloatLogSlider,
    ipywidgets.SelectionSlider,
)


def round_trip_mse(tensor, quantized, scale, zero_point=0):
    return helper.quantization_error(
        tensor, helper.linear_dequantization(quantized, scale, zero_point)
    )


def first_slider(widget):
    """The first slider of the widget, in the order the browser lays them out."""
    if isinstance(widget, SLIDERS):
        return widget
    for child in getattr(widget, "children", ()):
        if (found := first_slider(child)) is not None:
            return found
    return None


def texts(widget) -> str:
    """All the HTML text the widget shows (its readout numbers, tables and titles)."""
    own = widget.value if isinstance(widget, ipywidgets.HTML) else ""
    return own + "".join(texts(child) for child in getattr(widget, "children", ()))


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50, metadata={"Software": None})
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def close_figures():
    """Close the figures each test opens with pyplot, so that none piles up."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
