"""What several test files share: paths, the worked example, hypothesis settings, the trained
digits network, and a non-interactive matplotlib backend."""

from pathlib import Path

import matplotlib
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
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
    """The digits MLP, trained once for the whole session: ``(model, digits)``."""
    from course import data

    return data.train_digits_mlp()


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
